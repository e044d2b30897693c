//! Qwen Code: `qwen --output-format stream-json --yolo --prompt=PROMPT`.
//!
//! Its headless stream is Claude Code's shape (`system/init`, one
//! `assistant` line per message, `user` tool results, a final `result`),
//! so tool results are read by the claude adapter's code.

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

/// The Qwen Code versions this adapter is tested with. `pinned` is the one
/// tools/agent-clis/package.json installs for the test suite (a test
/// checks); `newest` the newest one scripts/test-agents-latest passed with.
pub const QWEN_TESTED: TestedVersions = TestedVersions { pinned: "0.24.4", newest: "0.24.4" };

/// The model asked for against another server when the request names none:
/// with OpenAI auth Qwen Code needs one.
const ENDPOINT_DEFAULT_MODEL: &str = "qwen3-coder-plus";

/// Credentials and settings a user's qwen needs from the host (only passed
/// when no endpoint override is given).
const CREDENTIALS: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "DASHSCOPE_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "QWEN_HOME",
];

/// Qwen Code's exit code when `--max-session-turns`, `--max-wall-time` or
/// `--max-tool-calls` ran out.
const EXIT_TURN_LIMIT: [i32; 2] = [53, 55];

/// The Qwen Code adapter.
#[derive(Debug, Clone)]
pub struct QwenAdapter {
    program: PathBuf,
}

impl Default for QwenAdapter {
    fn default() -> Self {
        QwenAdapter { program: PathBuf::from("qwen") }
    }
}

impl QwenAdapter {
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }
}

impl Adapter for QwenAdapter {
    fn name(&self) -> &str {
        "qwen"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<TestedVersions> {
        Some(QWEN_TESTED)
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        check_prompt_fits_argv("qwen", &request.prompt)?;
        let mut args: Vec<OsString> =
            ["--output-format", "stream-json", "--yolo"].into_iter().map(OsString::from).collect();
        let mut env = EnvBuilder::new(host, request);
        // Usage statistics and telemetry off: without these settings the CLI
        // resolves telemetry hosts on every start. Background memory and
        // skill agents off: after a turn they send more model requests
        // (tokens the task did not ask for) and write what they extract
        // from orca's task into the user's own memory.
        let mut settings = json!({
            "privacy": { "usageStatisticsEnabled": false },
            "telemetry": { "enabled": false },
            "memory": {
                "enableManagedAutoMemory": false,
                "enableManagedAutoDream": false,
                "enableAutoSkill": false,
            },
        });
        if request.disable_cli_retries {
            // Off: the SDK's own retries and the rate-limit loop (10 tries,
            // a minute apart). A 429 or 5xx is still retried a few times by
            // an inner loop no setting reaches (docs/agents.md).
            settings["model"] = json!({ "generationConfig": { "maxRetries": 0 } });
        }
        let model = match &request.endpoint {
            Some(endpoint) => {
                args.push("--auth-type".into());
                args.push("openai".into());
                env.set("OPENAI_BASE_URL", endpoint.v1());
                env.set("OPENAI_API_KEY", &endpoint.api_key);
                Some(request.model.clone().unwrap_or_else(|| ENDPOINT_DEFAULT_MODEL.to_string()))
            }
            None => {
                env.pass(host, CREDENTIALS);
                request.model.clone()
            }
        };
        if let Some(model) = model {
            args.push("-m".into());
            args.push(model.into());
        }
        if let Some(session) = &request.resume_session {
            args.push("--resume".into());
            args.push(session.into());
        }
        args.extend(request.extra_args.iter().cloned());
        // The prompt is attached with `=`: qwen reads no positional prompt
        // after `--`, and a prompt starting with `-` stays the value.
        let mut prompt = OsString::from("--prompt=");
        prompt.push(&request.prompt);
        args.push(prompt);

        // System settings win over the user's own and are read from a file
        // orca owns, so the user's ~/.qwen stays untouched.
        let settings = serde_json::to_vec_pretty(&settings)
            .map_err(|source| BuildError::Json { what: "qwen settings", source })?;
        let settings_path = run_dir.join("qwen-settings.json");
        env.set("QWEN_CODE_SYSTEM_SETTINGS_PATH", settings_path.as_os_str());
        Ok(Invocation {
            program: self.program.clone(),
            args,
            env: env.finish(request),
            cwd: request.workdir.clone(),
            dirs: request.home.iter().chain(&request.tmpdir).cloned().collect(),
            files: vec![FileToWrite { path: settings_path, contents: settings }],
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(QwenParser::default())
    }
}

/// Parses `--output-format stream-json` lines.
#[derive(Debug, Default)]
pub struct QwenParser {
    report: Report,
}

impl EventParser for QwenParser {
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
            Some("system") => system(&value, &mut events),
            Some("assistant") => self.assistant(&value, &mut events),
            Some("user") => super::claude::user(&value, &mut events),
            Some("result") => self.result(&value, &mut events),
            // Partial messages and goal-state updates.
            Some("stream_event") => {}
            _ => events.push(AgentEvent::Unknown { raw: summary::raw(line) }),
        }
        events
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        if !self.report.has_terminal()
            && let Some(code) = exit.code
            && EXIT_TURN_LIMIT.contains(&code)
        {
            self.report
                .error(ErrorKind::TurnLimit, format!("a run limit was reached (exit {code})"));
        }
        self.report.conclude(exit)
    }
}

fn system(value: &Value, events: &mut Vec<AgentEvent>) {
    match value["subtype"].as_str() {
        Some("init") => {
            if let Some(session_id) = value["session_id"].as_str() {
                events.push(AgentEvent::Started {
                    session_id: session_id.to_string(),
                    model: value["model"].as_str().map(str::to_string),
                });
            }
            if let Some(message) = value["qwen_code_version"]
                .as_str()
                .and_then(|version| QWEN_TESTED.warning("qwen", version))
            {
                events.push(AgentEvent::Warning { message });
            }
        }
        // Each retry of a rate-limited request; the attempt count is on the
        // first line of a pair only.
        Some("retry") => {
            let data = &value["data"];
            if let Some(attempt) = data["attempt"].as_u64() {
                events.push(AgentEvent::Warning {
                    message: format!(
                        "API retry {attempt}/{} in {} s",
                        data["maxRetries"].as_u64().unwrap_or(0),
                        data["delayMs"].as_u64().unwrap_or(0) / 1000
                    ),
                });
            }
        }
        _ => {}
    }
}

impl QwenParser {
    fn assistant(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        let Some(blocks) = value["message"]["content"].as_array() else {
            return;
        };
        for block in blocks {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or_default();
                    // An API error arrives as assistant text, then again in
                    // the result: keep it out of the agent's words.
                    if text.starts_with("[API Error") {
                        let (kind, _) = classify_api_error(None, text);
                        self.report.error(kind, text);
                    } else if !text.trim().is_empty() {
                        events.push(AgentEvent::Text { text: text.to_string() });
                    }
                }
                Some("tool_use") => events.push(AgentEvent::ToolUse {
                    id: block["id"].as_str().map(str::to_string),
                    name: block["name"].as_str().unwrap_or("tool").to_string(),
                    summary: summary::tool_input(&block["input"]),
                }),
                _ => {}
            }
        }
    }

    fn result(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        let usage = &value["usage"];
        if usage.is_object() {
            // `input_tokens` already counts the cached ones.
            events.push(AgentEvent::Usage(Usage {
                input_tokens: usage["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
                cached_tokens: usage["cache_read_input_tokens"].as_u64().unwrap_or(0),
            }));
        }
        if let Some(usd) = value["total_cost_usd"].as_f64() {
            events.push(AgentEvent::Cost { usd });
        }
        let finish = if value["is_error"].as_bool() == Some(true) {
            let message = value["error"]["message"]
                .as_str()
                .or(value["result"].as_str())
                .filter(|text| !text.is_empty())
                .unwrap_or("the agent reported an error");
            let (kind, limit) = match value["subtype"].as_str() {
                Some("error_max_turns") => (ErrorKind::TurnLimit, None),
                _ => classify_api_error(None, message),
            };
            if let Some(limit) = limit {
                events.push(AgentEvent::Limited(limit));
            }
            Finish::failed(kind, message)
        } else {
            match value["permission_denials"].as_array() {
                Some(denials) if !denials.is_empty() => {
                    let tools: Vec<&str> = denials
                        .iter()
                        .map(|denial| denial["tool_name"].as_str().unwrap_or("tool"))
                        .collect();
                    Finish::failed(
                        ErrorKind::PermissionDenied,
                        format!("denied: {}", tools.join(", ")),
                    )
                }
                _ => Finish::Success,
            }
        };
        self.report.terminal(finish);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LimitKind;

    #[test]
    fn endpoint_argv_settings_and_environment() {
        let host = HostEnv::from_vars([("PATH", "/bin"), ("OPENAI_API_KEY", "real")], false);
        let request = AgentRequest::new("-h", "/w").with_endpoint("http://127.0.0.1:7", "k");
        let inv = QwenAdapter::default().invocation(&request, &host, Path::new("/r")).unwrap();
        let args: Vec<&str> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "--output-format",
                "stream-json",
                "--yolo",
                "--auth-type",
                "openai",
                "-m",
                "qwen3-coder-plus",
                "--prompt=-h"
            ]
        );
        assert_eq!(inv.env["OPENAI_BASE_URL"], "http://127.0.0.1:7/v1");
        assert_eq!(inv.env["OPENAI_API_KEY"], "k");
        assert_eq!(inv.env["QWEN_CODE_SYSTEM_SETTINGS_PATH"], "/r/qwen-settings.json");
        let settings: Value = serde_json::from_slice(&inv.files[0].contents).unwrap();
        assert_eq!(settings["model"]["generationConfig"]["maxRetries"], 0);
        assert_eq!(settings["telemetry"]["enabled"], false);
        assert_eq!(settings["memory"]["enableManagedAutoMemory"], false);
    }

    #[test]
    fn without_an_endpoint_the_users_credentials_and_retries_stay() {
        let host = HostEnv::from_vars([("PATH", "/bin"), ("DASHSCOPE_API_KEY", "real")], false);
        let request = AgentRequest::new("go", "/w").with_resume("s-1");
        let inv = QwenAdapter::default().invocation(&request, &host, Path::new("/r")).unwrap();
        let args: Vec<&str> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            ["--output-format", "stream-json", "--yolo", "--resume", "s-1", "--prompt=go"]
        );
        assert_eq!(inv.env["DASHSCOPE_API_KEY"], "real");
        let settings: Value = serde_json::from_slice(&inv.files[0].contents).unwrap();
        assert!(settings.get("model").is_none());
    }

    #[test]
    fn a_rate_limit_result_is_classified_and_the_error_text_is_not_the_agents() {
        let mut parser = QwenParser::default();
        let text = "[API Error: 429 slow down]\nPossible quota limitations in place or slow response times detected. Please wait and try again later.";
        let said = parser.parse_line(
            &json!({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
                .to_string(),
        );
        assert!(said.is_empty(), "{said:?}");
        let events = parser.parse_line(
            &json!({"type": "result", "subtype": "error_during_execution", "is_error": true,
                    "usage": {"input_tokens": 0, "output_tokens": 0}, "error": {"message": text}})
            .to_string(),
        );
        let limit = events.iter().find_map(|event| match event {
            AgentEvent::Limited(limit) => Some(limit.kind),
            _ => None,
        });
        assert_eq!(limit, Some(LimitKind::Rate));
        assert_eq!(parser.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::UsageLimit));
    }

    #[test]
    fn a_run_limit_exit_without_a_result_is_a_turn_limit() {
        let mut parser = QwenParser::default();
        assert_eq!(parser.conclude(&ExitInfo::code(55)).error_kind(), Some(ErrorKind::TurnLimit));
    }
}
