//! `command`: any program, from an argv template. The prompt travels in a
//! file; the exit code decides.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::adapter::{Adapter, BuildError, EventParser, ExitInfo, Invocation};
use crate::environment::{EnvBuilder, HostEnv};
use crate::event::{AgentEvent, ErrorKind, Finish};
use crate::request::AgentRequest;
use crate::run_files::RunFiles;

/// Runs `argv` with `{prompt}`, `{prompt_file}`, `{workdir}`, `{task_id}`
/// and `{model}` replaced inside each element. Each template element stays one argument: nothing
/// is split or interpreted by a shell.
#[derive(Debug, Clone)]
pub struct CommandAdapter {
    template: Vec<String>,
    program: PathBuf,
}

impl CommandAdapter {
    /// `template[0]` is the program.
    pub fn new(template: Vec<String>) -> Result<Self, BuildError> {
        let program = PathBuf::from(template.first().ok_or(BuildError::EmptyTemplate)?);
        Ok(CommandAdapter { template, program })
    }

    pub fn template(&self) -> &[String] {
        &self.template
    }
}

impl Adapter for CommandAdapter {
    fn name(&self) -> &str {
        "command"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<crate::version::TestedVersions> {
        None
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        let prompt_file = RunFiles::new(run_dir).prompt();
        let uses_task_id = self.template.iter().any(|part| part.contains("{task_id}"));
        if uses_task_id && request.task_id.is_none() {
            return Err(BuildError::MissingTaskId);
        }
        let expand = |part: &str| -> OsString {
            let text = part
                .replace("{prompt_file}", &prompt_file.to_string_lossy())
                .replace("{workdir}", &request.workdir.to_string_lossy())
                .replace("{task_id}", request.task_id.as_deref().unwrap_or(""))
                .replace("{model}", request.model.as_deref().unwrap_or(""))
                .replace("{prompt}", &request.prompt);
            text.into()
        };
        let program = PathBuf::from(expand(&self.template[0]));
        let mut args: Vec<OsString> = self.template[1..].iter().map(|part| expand(part)).collect();
        args.extend(request.extra_args.iter().cloned());

        let mut env = EnvBuilder::new(host, request);
        env.set("ORCA_PROMPT_FILE", prompt_file.as_os_str())
            .set("ORCA_WORKDIR", request.workdir.as_os_str());
        if let Some(task_id) = &request.task_id {
            env.set("ORCA_TASK_ID", task_id);
        }
        if let Some(model) = &request.model {
            env.set("ORCA_MODEL", model);
        }
        if let Some(endpoint) = &request.endpoint {
            env.set("ORCA_BASE_URL", endpoint.root()).set("ORCA_API_KEY", &endpoint.api_key);
        }

        Ok(Invocation {
            program,
            args,
            env: env.finish(request),
            cwd: request.workdir.clone(),
            dirs: request.home.iter().chain(&request.tmpdir).cloned().collect(),
            // The supervisor writes the prompt file for every run.
            files: Vec::new(),
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(CommandParser)
    }

    fn stderr_is_activity(&self) -> bool {
        // Any program: builds and test runners often talk on stderr only.
        true
    }
}

/// Each stdout line is text, except a line that is one of orca's own
/// normalized events as JSON (`{"type":"tool_use","name":"Edit","summary":
/// "src/lib.rs"}`; also `tool_result`, `usage`, `cost`, `warning`): a
/// script or wrapper can report its tool calls and spending the way the
/// built-in adapters do, and they show in the dashboard and the report.
/// The exit code is the verdict.
#[derive(Debug, Default)]
pub struct CommandParser;

impl EventParser for CommandParser {
    fn parse_line(&mut self, line: &str) -> Vec<AgentEvent> {
        let line = line.trim_end();
        if line.is_empty() {
            return Vec::new();
        }
        if line.starts_with('{')
            && let Ok(event) = serde_json::from_str::<AgentEvent>(line)
            && reported(&event)
        {
            return vec![event];
        }
        vec![AgentEvent::Text { text: line.to_string() }]
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        match (exit.code, exit.signal) {
            (Some(0), _) => Finish::Success,
            (Some(_), _) => Finish::failed(ErrorKind::Failed, exit.describe()),
            _ => Finish::failed(ErrorKind::Crashed, exit.describe()),
        }
    }
}

/// The events a command may report itself. The rest (start, limits, the
/// verdict) stay orca's to decide: the exit code says how the run ended.
fn reported(event: &AgentEvent) -> bool {
    matches!(
        event,
        AgentEvent::ToolUse { .. }
            | AgentEvent::ToolResult { .. }
            | AgentEvent::Usage(_)
            | AgentEvent::Cost { .. }
            | AgentEvent::Warning { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_inside_elements() {
        let adapter = CommandAdapter::new(vec![
            "my-agent".into(),
            "--file={prompt_file}".into(),
            "{workdir}".into(),
            "task-{task_id}".into(),
        ])
        .unwrap();
        let host = HostEnv::from_vars([("PATH", "/bin")], false);
        let request = AgentRequest::new("$(rm -rf /)", "/w").with_task_id("T1");
        let inv = adapter.invocation(&request, &host, Path::new("/run")).unwrap();
        assert_eq!(inv.program, PathBuf::from("my-agent"));
        let args: Vec<&str> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(args, ["--file=/run/prompt.md", "/w", "task-T1"]);
        assert_eq!(inv.env["ORCA_TASK_ID"], "T1");
    }

    #[test]
    fn task_id_placeholder_needs_a_task_id() {
        let adapter = CommandAdapter::new(vec!["x".into(), "{task_id}".into()]).unwrap();
        let host = HostEnv::default();
        let result = adapter.invocation(&AgentRequest::new("p", "/w"), &host, Path::new("/r"));
        assert!(matches!(result, Err(BuildError::MissingTaskId)));
        assert!(matches!(CommandAdapter::new(Vec::new()), Err(BuildError::EmptyTemplate)));
    }

    #[test]
    fn a_line_of_orca_event_json_is_that_event_and_other_json_is_text() {
        let mut parser = CommandParser;
        assert_eq!(
            parser.parse_line(r#"{"type":"tool_use","name":"Edit","summary":"src/lib.rs"}"#),
            [AgentEvent::ToolUse { id: None, name: "Edit".into(), summary: "src/lib.rs".into() }]
        );
        let usage = r#"{"type":"usage","input_tokens":10,"output_tokens":2,"cached_tokens":0}"#;
        assert!(matches!(parser.parse_line(usage)[..], [AgentEvent::Usage(_)]));
        // The verdict stays the exit code's; other JSON is what it says.
        for line in [
            r#"{"type":"finished","status":"success"}"#,
            r#"{"name":"Edit"}"#,
            r#"{"type":"tool_use""#,
        ] {
            assert_eq!(parser.parse_line(line), [AgentEvent::Text { text: line.into() }]);
        }
    }

    #[test]
    fn exit_code_decides() {
        assert!(CommandParser.conclude(&ExitInfo::code(0)).is_success());
        assert_eq!(
            CommandParser.conclude(&ExitInfo::code(3)).error_kind(),
            Some(ErrorKind::Failed)
        );
        assert_eq!(
            CommandParser.conclude(&ExitInfo::signal(9)).error_kind(),
            Some(ErrorKind::Crashed)
        );
    }
}
