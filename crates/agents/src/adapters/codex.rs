//! Codex: `codex exec --json` (and `codex exec resume <id>`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::adapter::{
    Adapter, BuildError, EventParser, ExitInfo, Invocation, check_prompt_fits_argv,
};
use crate::environment::{EnvBuilder, HostEnv};
use crate::event::{AgentEvent, Finish, Usage};
use crate::request::AgentRequest;
use crate::summary;
use crate::verdict::{Report, classify_api_error};
use crate::version::TestedVersions;

/// The Codex CLI versions this adapter is tested with. `pinned` is the one
/// tools/agent-clis/package.json installs for the test suite (a test
/// checks); `newest` the newest one scripts/test-agents-latest passed with.
pub const CODEX_TESTED: TestedVersions = TestedVersions { pinned: "0.169.0", newest: "0.171.0" };

/// The provider name orca registers when pointing codex at an endpoint.
const PROVIDER: &str = "orca";
/// The variable that carries the endpoint's key to codex.
const KEY_VAR: &str = "ORCA_CODEX_API_KEY";

/// Where codex may write when it runs model-generated commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodexSandbox {
    ReadOnly,
    /// The workdir is writable; `.git` stays read-only (orca commits itself).
    WorkspaceWrite,
    DangerFullAccess,
    /// No sandbox and no approvals, for machines that are a sandbox already.
    Bypass,
}

impl CodexSandbox {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read-only" => Some(CodexSandbox::ReadOnly),
            "workspace-write" => Some(CodexSandbox::WorkspaceWrite),
            "danger-full-access" => Some(CodexSandbox::DangerFullAccess),
            "bypass" => Some(CodexSandbox::Bypass),
            _ => None,
        }
    }
}

/// The Codex adapter.
#[derive(Debug, Clone)]
pub struct CodexAdapter {
    program: PathBuf,
    sandbox: CodexSandbox,
}

impl Default for CodexAdapter {
    fn default() -> Self {
        // `exec` defaults to read-only, where writes fail inside the tool
        // and the run still exits 0.
        CodexAdapter { program: PathBuf::from("codex"), sandbox: CodexSandbox::WorkspaceWrite }
    }
}

impl CodexAdapter {
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    pub fn with_sandbox(mut self, sandbox: CodexSandbox) -> Self {
        self.sandbox = sandbox;
        self
    }
}

impl Adapter for CodexAdapter {
    fn name(&self) -> &str {
        "codex"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<TestedVersions> {
        Some(CODEX_TESTED)
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        _run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        check_prompt_fits_argv("codex", &request.prompt)?;
        if request.prompt == "-" {
            // codex reads its prompt from stdin when given "-".
            return Err(BuildError::UnsupportedPrompt {
                adapter: "codex".into(),
                prompt: request.prompt.clone(),
            });
        }
        let mut args: Vec<OsString> = vec!["exec".into()];
        if request.resume_session.is_some() {
            args.push("resume".into());
        }
        args.push("--json".into());
        // `exec resume` has no `-s`; the config key works for both.
        match self.sandbox {
            CodexSandbox::ReadOnly => push_config(&mut args, r#"sandbox_mode="read-only""#),
            CodexSandbox::WorkspaceWrite => {
                push_config(&mut args, r#"sandbox_mode="workspace-write""#)
            }
            CodexSandbox::DangerFullAccess => {
                push_config(&mut args, r#"sandbox_mode="danger-full-access""#)
            }
            CodexSandbox::Bypass => args.push("--dangerously-bypass-approvals-and-sandbox".into()),
        }
        args.push("--skip-git-repo-check".into());
        // No plugin sync (git ls-remote, api.github.com), no analytics, and
        // no endless "waiting for network" when the server is gone.
        for feature in ["plugins", "unbounded_connection_retries"] {
            args.push("--disable".into());
            args.push(feature.into());
        }
        push_config(&mut args, "analytics.enabled=false");
        if let Some(model) = &request.model {
            args.push("-m".into());
            args.push(model.into());
        }

        let mut env = EnvBuilder::new(host, request);
        if let Some(endpoint) = &request.endpoint {
            // OPENAI_BASE_URL is not honoured: a custom provider is the way.
            let retries = if request.disable_cli_retries {
                ", request_max_retries=0, stream_max_retries=0"
            } else {
                ""
            };
            let url = serde_json::to_string(&endpoint.v1())
                .map_err(|source| BuildError::Json { what: "the base URL", source })?;
            push_config(&mut args, &format!("model_provider={PROVIDER}"));
            push_config(
                &mut args,
                &format!(
                    r#"model_providers.{PROVIDER}={{name="{PROVIDER}", base_url={url}, env_key="{KEY_VAR}", wire_api="responses"{retries}}}"#
                ),
            );
            env.set(KEY_VAR, &endpoint.api_key);
        } else {
            env.pass(host, &["OPENAI_API_KEY", "CODEX_API_KEY"]);
            if request.home.is_none() {
                env.pass(host, &["CODEX_HOME"]);
            }
        }
        args.extend(request.extra_args.iter().cloned());
        args.push("--".into());
        if let Some(session) = &request.resume_session {
            args.push(session.into());
        }
        args.push(request.prompt.clone().into());

        Ok(Invocation {
            program: self.program.clone(),
            args,
            env: env.finish(request),
            cwd: request.workdir.clone(),
            dirs: request.home.iter().chain(&request.tmpdir).cloned().collect(),
            files: Vec::new(),
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(CodexParser::default())
    }
}

fn push_config(args: &mut Vec<OsString>, setting: &str) {
    args.push("-c".into());
    args.push(setting.into());
}

/// Parses `codex exec --json` lines.
#[derive(Debug, Default)]
pub struct CodexParser {
    report: Report,
    /// Items whose start was reported, so completion does not repeat it.
    started_items: HashSet<String>,
}

impl EventParser for CodexParser {
    fn parse_line(&mut self, line: &str) -> Vec<AgentEvent> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return vec![AgentEvent::Unknown { raw: summary::raw(line) }];
        };
        let mut events = Vec::new();
        match value["type"].as_str() {
            Some("thread.started") => {
                if let Some(id) = value["thread_id"].as_str() {
                    events.push(AgentEvent::Started { session_id: id.to_string(), model: None });
                }
            }
            Some("turn.started" | "item.updated") => {}
            Some("item.started") => self.item_started(&value["item"], &mut events),
            Some("item.completed") => self.item_completed(&value["item"], &mut events),
            Some("turn.completed") => {
                let usage = &value["usage"];
                events.push(AgentEvent::Usage(Usage {
                    input_tokens: usage["input_tokens"].as_u64().unwrap_or(0),
                    output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                    cached_tokens: usage["cached_input_tokens"].as_u64().unwrap_or(0),
                }));
                self.report.terminal(Finish::Success);
            }
            Some("turn.failed") => {
                let message = value["error"]["message"].as_str().unwrap_or("turn failed");
                let (kind, limit) = classify_api_error(None, message);
                if let Some(limit) = limit {
                    events.push(AgentEvent::Limited(limit));
                }
                self.report.terminal(Finish::failed(kind, message));
            }
            Some("error") => {
                let message = value["message"].as_str().unwrap_or("error").to_string();
                let (kind, _) = classify_api_error(None, &message);
                self.report.error(kind, message.clone());
                events.push(AgentEvent::Warning { message });
            }
            _ => events.push(AgentEvent::Unknown { raw: summary::raw(line) }),
        }
        events
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        self.report.conclude(exit)
    }
}

impl CodexParser {
    fn item_started(&mut self, item: &Value, events: &mut Vec<AgentEvent>) {
        if let Some(tool_use) = tool_use(item) {
            if let Some(id) = item["id"].as_str() {
                self.started_items.insert(id.to_string());
            }
            events.push(tool_use);
        }
    }

    fn item_completed(&mut self, item: &Value, events: &mut Vec<AgentEvent>) {
        let id = item["id"].as_str().map(str::to_string);
        match item["type"].as_str() {
            Some("agent_message") => {
                if let Some(text) = item["text"].as_str()
                    && !text.trim().is_empty()
                {
                    events.push(AgentEvent::Text { text: text.to_string() });
                }
            }
            Some("error") => events.push(AgentEvent::Warning {
                message: item["message"].as_str().unwrap_or("error").to_string(),
            }),
            Some("command_execution" | "file_change" | "mcp_tool_call" | "web_search") => {
                let seen = id.as_ref().is_some_and(|id| self.started_items.remove(id));
                if !seen && let Some(tool_use) = tool_use(item) {
                    events.push(tool_use);
                }
                let ok = item["status"].as_str() == Some("completed")
                    && item["exit_code"].as_i64().is_none_or(|code| code == 0);
                let summary = (!ok).then(|| failure_summary(item));
                events.push(AgentEvent::ToolResult { id, ok, summary });
            }
            // Reasoning and plan updates are the model's notes, not actions.
            _ => {}
        }
    }
}

/// The tool-use event an item stands for, if it is a tool.
fn tool_use(item: &Value) -> Option<AgentEvent> {
    let id = item["id"].as_str().map(str::to_string);
    let (name, summary) = match item["type"].as_str()? {
        "command_execution" => {
            ("exec_command".to_string(), command_summary(item["command"].as_str()?))
        }
        "file_change" => {
            let changes: Vec<String> = item["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["kind"].as_str().unwrap_or("change"),
                        c["path"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            ("apply_patch".to_string(), summary::one_line(&changes.join(", "), 160))
        }
        "mcp_tool_call" => (
            format!(
                "{}.{}",
                item["server"].as_str().unwrap_or("mcp"),
                item["tool"].as_str().unwrap_or("tool")
            ),
            summary::tool_input(&item["arguments"]),
        ),
        "web_search" => {
            ("web_search".to_string(), summary::one_line(item["query"].as_str().unwrap_or(""), 160))
        }
        _ => return None,
    };
    Some(AgentEvent::ToolUse { id, name, summary })
}

/// `/bin/bash -lc "printf hi > a"` → `printf hi > a`.
fn command_summary(command: &str) -> String {
    let inner = command
        .strip_prefix("/bin/bash -lc ")
        .or_else(|| command.strip_prefix("bash -lc "))
        .map(|rest| rest.trim_matches('"').trim_matches('\''))
        .unwrap_or(command);
    summary::one_line(inner, 160)
}

fn failure_summary(item: &Value) -> String {
    let output = item["aggregated_output"].as_str().unwrap_or_default();
    match item["exit_code"].as_i64() {
        Some(code) if output.trim().is_empty() => format!("exit {code}"),
        Some(code) => format!("exit {code}: {}", summary::first_line(output)),
        None => item["status"].as_str().unwrap_or("failed").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ErrorKind;

    fn host() -> HostEnv {
        HostEnv::from_vars([("PATH", "/usr/bin"), ("OPENAI_API_KEY", "real")], false)
    }

    fn args(inv: &Invocation) -> Vec<&str> {
        inv.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn new_session_argv() {
        let request = AgentRequest::new("resume", "/w");
        let inv = CodexAdapter::default().invocation(&request, &host(), Path::new("/r")).unwrap();
        assert_eq!(
            args(&inv),
            [
                "exec",
                "--json",
                "-c",
                "sandbox_mode=\"workspace-write\"",
                "--skip-git-repo-check",
                "--disable",
                "plugins",
                "--disable",
                "unbounded_connection_retries",
                "-c",
                "analytics.enabled=false",
                "--",
                "resume"
            ]
        );
        assert_eq!(inv.env["OPENAI_API_KEY"], "real");
    }

    #[test]
    fn endpoint_and_resume_argv() {
        let request = AgentRequest::new("go on", "/w")
            .with_endpoint("http://127.0.0.1:5", "k")
            .with_resume("01ab")
            .with_model("gpt-5.5");
        let inv = CodexAdapter::default().invocation(&request, &host(), Path::new("/r")).unwrap();
        let args = args(&inv);
        assert_eq!(&args[..3], ["exec", "resume", "--json"]);
        assert_eq!(&args[args.len() - 3..], ["--", "01ab", "go on"]);
        assert!(args.contains(&"model_provider=orca"));
        assert!(args.contains(
            &r#"model_providers.orca={name="orca", base_url="http://127.0.0.1:5/v1", env_key="ORCA_CODEX_API_KEY", wire_api="responses", request_max_retries=0, stream_max_retries=0}"#
        ));
        assert_eq!(inv.env["ORCA_CODEX_API_KEY"], "k");
        assert!(!inv.env.contains_key("OPENAI_API_KEY"));
    }

    #[test]
    fn dash_prompt_is_refused() {
        let request = AgentRequest::new("-", "/w");
        assert!(CodexAdapter::default().invocation(&request, &host(), Path::new("/r")).is_err());
    }

    #[test]
    fn turn_failed_is_classified() {
        let mut parser = CodexParser::default();
        parser.parse_line(r#"{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests"}}"#);
        assert_eq!(parser.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::UsageLimit));
    }
}
