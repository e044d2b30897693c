//! opencode: `opencode run --format json`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::adapter::{
    Adapter, BuildError, EventParser, ExitInfo, FileToWrite, Invocation, check_prompt_fits_argv,
};
use crate::environment::{EnvBuilder, HostEnv};
use crate::event::{AgentEvent, ErrorKind, Finish, Usage};
use crate::request::AgentRequest;
use crate::summary;
use crate::verdict::{Report, classify_api_error};
use crate::version::TestedVersions;

/// The opencode versions this adapter is tested with. `pinned` is the one
/// tools/agent-clis/package.json installs for the test suite (a test
/// checks); `newest` the newest one scripts/test-agents-latest passed with.
pub const OPENCODE_TESTED: TestedVersions = TestedVersions { pinned: "1.18.33", newest: "1.18.33" };

/// The provider orca configures when pointing opencode at an endpoint.
const PROVIDER: &str = "orca";
const ENDPOINT_DEFAULT_MODEL: &str = "orca-model";

/// The longest session title orca gives (opencode's own titles stay under 50).
const TITLE_CHARS: usize = 50;

/// opencode installs its plugin SDK with npm into every config directory
/// that has none, at each start. In a fresh HOME that is a registry fetch
/// per run (and a failed connection offline); a lock file naming the
/// package, next to a `node_modules`, tells it the SDK is there. Nothing
/// uses the SDK unless the user adds plugins or custom tools.
const PLUGIN_SDK_LOCK: &str =
    r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"*"}}}}"#;

const CREDENTIALS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "GEMINI_API_KEY",
    "OPENCODE_CONFIG",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
];

/// The opencode adapter.
#[derive(Debug, Clone)]
pub struct OpencodeAdapter {
    program: PathBuf,
}

impl Default for OpencodeAdapter {
    fn default() -> Self {
        OpencodeAdapter { program: PathBuf::from("opencode") }
    }
}

impl OpencodeAdapter {
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }
}

impl Adapter for OpencodeAdapter {
    fn name(&self) -> &str {
        "opencode"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<TestedVersions> {
        Some(OPENCODE_TESTED)
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        _run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        check_prompt_fits_argv("opencode", &request.prompt)?;
        let mut args: Vec<OsString> =
            ["run", "--format", "json", "--auto"].into_iter().map(OsString::from).collect();
        let mut env = EnvBuilder::new(host, request);
        env.set("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .set("OPENCODE_DISABLE_SHARE", "1")
            .set("OPENCODE_DISABLE_LSP_DOWNLOAD", "1");
        match &request.endpoint {
            Some(endpoint) => {
                let model = request.model.as_deref().unwrap_or(ENDPOINT_DEFAULT_MODEL);
                let qualified = format!("{PROVIDER}/{model}");
                let config = json!({
                    "provider": { PROVIDER: {
                        "npm": "@ai-sdk/openai-compatible",
                        "options": { "baseURL": endpoint.v1(), "apiKey": endpoint.api_key },
                        "models": { model: { "tool_call": true } },
                    }},
                    "model": qualified,
                    "small_model": qualified,
                });
                let config = serde_json::to_string(&config)
                    .map_err(|source| BuildError::Json { what: "opencode config", source })?;
                env.set("OPENCODE_CONFIG_CONTENT", config)
                    .set("OPENCODE_DISABLE_MODELS_FETCH", "1")
                    .set("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1");
                args.push("-m".into());
                args.push(qualified.into());
            }
            None => {
                env.pass(host, CREDENTIALS);
                if let Some(model) = &request.model {
                    args.push("-m".into());
                    args.push(model.into());
                }
            }
        }
        match &request.resume_session {
            Some(session) => {
                args.push("--session".into());
                args.push(session.into());
            }
            // A new session without a title costs a second model request
            // (a small model writes one); orca names it instead.
            None => {
                let mut title = OsString::from("--title=");
                title.push(session_title(request));
                args.push(title);
            }
        }
        args.extend(request.extra_args.iter().cloned());
        args.push("--".into());
        // opencode joins its message arguments with spaces, wrapping each
        // one that holds a space in quotes (and escaping its quotes). Split
        // at every space, the pieces hold none and the join gives back the
        // prompt exactly.
        args.extend(request.prompt.split(' ').map(OsString::from));

        let mut dirs: Vec<PathBuf> = request.home.iter().chain(&request.tmpdir).cloned().collect();
        let mut files = Vec::new();
        if let Some(home) = &request.home {
            let config = home.join(".config/opencode");
            dirs.push(config.join("node_modules"));
            files.push(FileToWrite {
                path: config.join("package-lock.json"),
                contents: PLUGIN_SDK_LOCK.as_bytes().to_vec(),
            });
        }
        Ok(Invocation {
            program: self.program.clone(),
            args,
            env: env.finish(request),
            cwd: request.workdir.clone(),
            dirs,
            files,
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(OpencodeParser::default())
    }
}

/// `orca TASK` for a task, else the prompt's first line, cut short.
fn session_title(request: &AgentRequest) -> String {
    match &request.task_id {
        Some(task) => format!("orca {task}"),
        None => {
            let first =
                request.prompt.lines().find(|line| !line.trim().is_empty()).unwrap_or("orca");
            summary::one_line(first, TITLE_CHARS)
        }
    }
}

/// Parses `opencode run --format json` lines.
#[derive(Debug, Default)]
pub struct OpencodeParser {
    report: Report,
    session_reported: bool,
}

impl EventParser for OpencodeParser {
    fn parse_line(&mut self, line: &str) -> Vec<AgentEvent> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return vec![AgentEvent::Unknown { raw: summary::raw(line) }];
        };
        let mut events = Vec::new();
        // There is no init event: the first line names the session.
        if !self.session_reported
            && let Some(id) = value["sessionID"].as_str()
        {
            self.session_reported = true;
            events.push(AgentEvent::Started { session_id: id.to_string(), model: None });
        }
        let part = &value["part"];
        match value["type"].as_str() {
            Some("step_start") => {}
            Some("text") => {
                if let Some(text) = part["text"].as_str()
                    && !text.trim().is_empty()
                {
                    events.push(AgentEvent::Text { text: text.to_string() });
                }
            }
            Some("tool_use") => {
                let id = part["callID"].as_str().map(str::to_string);
                let state = &part["state"];
                events.push(AgentEvent::ToolUse {
                    id: id.clone(),
                    name: part["tool"].as_str().unwrap_or("tool").to_string(),
                    summary: summary::tool_input(&state["input"]),
                });
                match state["status"].as_str() {
                    Some("completed") => {
                        events.push(AgentEvent::ToolResult { id, ok: true, summary: None })
                    }
                    Some("error") => events.push(AgentEvent::ToolResult {
                        id,
                        ok: false,
                        summary: state["error"].as_str().map(summary::first_line),
                    }),
                    _ => {}
                }
            }
            Some("step_finish") => self.step_finish(part, &mut events),
            Some("error") => {
                let error = &value["error"];
                let message = error["data"]["message"]
                    .as_str()
                    .or(error["message"].as_str())
                    .or(error["name"].as_str())
                    .unwrap_or("error");
                let status =
                    error["data"]["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok());
                let (kind, limit) = classify_api_error(status, message);
                if let Some(limit) = limit {
                    events.push(AgentEvent::Limited(limit));
                }
                self.report.terminal(Finish::failed(kind, message));
            }
            _ => events.push(AgentEvent::Unknown { raw: summary::raw(line) }),
        }
        events
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        self.report.conclude(exit)
    }
}

impl OpencodeParser {
    fn step_finish(&mut self, part: &Value, events: &mut Vec<AgentEvent>) {
        let tokens = &part["tokens"];
        if tokens.is_object() {
            let read = tokens["cache"]["read"].as_u64().unwrap_or(0);
            let written = tokens["cache"]["write"].as_u64().unwrap_or(0);
            events.push(AgentEvent::Usage(Usage {
                input_tokens: tokens["input"].as_u64().unwrap_or(0) + read + written,
                output_tokens: tokens["output"].as_u64().unwrap_or(0)
                    + tokens["reasoning"].as_u64().unwrap_or(0),
                cached_tokens: read,
            }));
        }
        if let Some(usd) = part["cost"].as_f64() {
            events.push(AgentEvent::Cost { usd });
        }
        // A step ends with tool calls (more steps follow) or with the answer.
        match part["reason"].as_str() {
            Some("stop") => self.report.terminal(Finish::Success),
            Some("length") => self
                .report
                .terminal(Finish::failed(ErrorKind::TurnLimit, "the model hit its output limit")),
            Some("error") => {
                self.report.terminal(Finish::failed(ErrorKind::Failed, "the step failed"))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(inv: &Invocation) -> Vec<&str> {
        inv.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn endpoint_config_title_and_plugin_lock() {
        let host = HostEnv::from_vars([("PATH", "/bin"), ("OPENAI_API_KEY", "real")], false);
        let request = AgentRequest::new("-v\nsecond line", "/w")
            .with_endpoint("http://127.0.0.1:9/v1", "k")
            .with_isolation("/h", "/t");
        let inv = OpencodeAdapter::default().invocation(&request, &host, Path::new("/r")).unwrap();
        assert_eq!(
            args(&inv),
            [
                "run",
                "--format",
                "json",
                "--auto",
                "-m",
                "orca/orca-model",
                "--title=-v",
                "--",
                "-v\nsecond",
                "line"
            ]
        );
        let config: Value =
            serde_json::from_str(inv.env["OPENCODE_CONFIG_CONTENT"].to_str().unwrap()).unwrap();
        assert_eq!(config["provider"]["orca"]["options"]["baseURL"], "http://127.0.0.1:9/v1");
        assert!(!inv.env.contains_key("OPENAI_API_KEY"));
        assert!(inv.dirs.contains(&PathBuf::from("/h/.config/opencode/node_modules")));
        assert_eq!(inv.files[0].path, Path::new("/h/.config/opencode/package-lock.json"));
        let lock: Value = serde_json::from_slice(&inv.files[0].contents).unwrap();
        assert!(lock["packages"][""]["dependencies"]["@opencode-ai/plugin"].is_string());
    }

    #[test]
    fn the_prompt_is_split_at_spaces_so_opencode_joins_it_back_unquoted() {
        let host = HostEnv::from_vars([("PATH", "/bin")], false);
        let prompt = " say \"hi\"  to\tme ";
        let inv = OpencodeAdapter::default()
            .invocation(&AgentRequest::new(prompt, "/w"), &host, Path::new("/r"))
            .unwrap();
        let args = args(&inv);
        let message = &args[args.iter().position(|a| *a == "--").unwrap() + 1..];
        assert!(message.iter().all(|piece| !piece.contains(' ')), "{message:?}");
        assert_eq!(message.join(" "), prompt);
    }

    #[test]
    fn a_task_names_the_session_and_a_resumed_one_keeps_its_title() {
        let host = HostEnv::from_vars([("PATH", "/bin")], false);
        let request = AgentRequest::new("do it", "/w").with_task_id("T-7");
        let inv = OpencodeAdapter::default().invocation(&request, &host, Path::new("/r")).unwrap();
        assert!(args(&inv).contains(&"--title=orca T-7"));
        assert!(inv.files.is_empty(), "the user's own HOME is left alone");
        let resumed = request.with_resume("ses_1");
        let inv = OpencodeAdapter::default().invocation(&resumed, &host, Path::new("/r")).unwrap();
        let args = args(&inv);
        assert!(args.windows(2).any(|pair| pair == ["--session", "ses_1"]));
        assert!(!args.iter().any(|arg| arg.starts_with("--title")));
    }
}
