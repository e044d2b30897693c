//! opencode: `opencode run --format json`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::adapter::{
    Adapter, BuildError, EventParser, ExitInfo, Invocation, check_prompt_fits_argv,
};
use crate::environment::{EnvBuilder, HostEnv};
use crate::event::{AgentEvent, ErrorKind, Finish, Usage};
use crate::request::AgentRequest;
use crate::summary;
use crate::verdict::{Report, classify_api_error};

/// The opencode version this adapter is tested with (parsers only: the
/// test suite does not install it).
pub const OPENCODE_TESTED_VERSION: &str = "1.18.33";

/// The provider orca configures when pointing opencode at an endpoint.
const PROVIDER: &str = "orca";
const ENDPOINT_DEFAULT_MODEL: &str = "orca-model";

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

    fn tested_version(&self) -> Option<&'static str> {
        Some(OPENCODE_TESTED_VERSION)
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
        if let Some(session) = &request.resume_session {
            args.push("--session".into());
            args.push(session.into());
        }
        args.extend(request.extra_args.iter().cloned());
        args.push("--".into());
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
        Box::new(OpencodeParser::default())
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
