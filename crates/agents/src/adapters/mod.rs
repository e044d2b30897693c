//! One module per agent CLI, and the table of built-in adapters.

pub mod claude;
pub mod codex;
pub mod command;
pub mod gemini;
pub mod opencode;
pub mod qwen;

use std::path::PathBuf;
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::environment::HostEnv;

/// The adapters for known agent CLIs (the `command` adapter needs a
/// template and is built with [`command::CommandAdapter::new`]).
pub const BUILTIN_NAMES: &[&str] = &["claude", "codex", "gemini", "opencode", "qwen"];

/// The variable that overrides where adapter `name`'s program lives, e.g.
/// `ORCA_AGENT_CLAUDE=/opt/claude/bin/claude`.
pub fn program_variable(name: &str) -> String {
    format!("ORCA_AGENT_{}", name.to_uppercase())
}

/// The built-in adapter `name` with its default settings; its program
/// comes from `ORCA_AGENT_<NAME>` when set, else PATH.
pub fn builtin(name: &str, host: &HostEnv) -> Option<Arc<dyn Adapter>> {
    let program = host.get(&program_variable(name)).map(PathBuf::from);
    let adapter: Arc<dyn Adapter> = match name {
        "claude" => {
            let adapter = claude::ClaudeAdapter::default();
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "codex" => {
            let adapter = codex::CodexAdapter::default();
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "gemini" => {
            let adapter = gemini::GeminiAdapter::default();
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "opencode" => {
            let adapter = opencode::OpencodeAdapter::default();
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "qwen" => {
            let adapter = qwen::QwenAdapter::default();
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        _ => return None,
    };
    Some(adapter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_builtin_name_resolves_and_honours_its_variable() {
        let host = HostEnv::from_vars([("ORCA_AGENT_CODEX", "/opt/codex")], false);
        for name in BUILTIN_NAMES {
            let adapter = builtin(name, &host).unwrap();
            assert_eq!(adapter.name(), *name);
            assert!(adapter.tested_versions().is_some());
        }
        assert_eq!(builtin("codex", &host).unwrap().program(), Path::new("/opt/codex"));
        assert_eq!(builtin("claude", &host).unwrap().program(), Path::new("claude"));
        assert!(builtin("nope", &host).is_none());
    }
}
