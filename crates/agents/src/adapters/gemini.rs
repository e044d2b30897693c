//! Gemini CLI: `gemini --output-format stream-json --yolo`.

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

/// The Gemini CLI versions this adapter is tested with. `pinned` is the one
/// tools/agent-clis/package.json installs for the test suite (a test
/// checks); `newest` the newest one scripts/test-agents-latest passed with.
pub const GEMINI_TESTED: TestedVersions = TestedVersions { pinned: "0.61.0", newest: "0.61.0" };

/// Without `-m` against another server, the "auto" router first asks a
/// flash model for a routing decision; a fixed model skips that.
const ENDPOINT_DEFAULT_MODEL: &str = "gemini-2.5-pro";

const CREDENTIALS: &[&str] = &[
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_GENAI_USE_VERTEXAI",
];

/// The Gemini CLI adapter.
#[derive(Debug, Clone)]
pub struct GeminiAdapter {
    program: PathBuf,
}

impl Default for GeminiAdapter {
    fn default() -> Self {
        GeminiAdapter { program: PathBuf::from("gemini") }
    }
}

impl GeminiAdapter {
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }
}

impl Adapter for GeminiAdapter {
    fn name(&self) -> &str {
        "gemini"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<TestedVersions> {
        Some(GEMINI_TESTED)
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        check_prompt_fits_argv("gemini", &request.prompt)?;
        let mut args: Vec<OsString> = ["--output-format", "stream-json", "--yolo", "--skip-trust"]
            .into_iter()
            .map(OsString::from)
            .collect();
        let model = request
            .model
            .clone()
            .or_else(|| request.endpoint.as_ref().map(|_| ENDPOINT_DEFAULT_MODEL.to_string()));
        if let Some(model) = model {
            args.push("-m".into());
            args.push(model.into());
        }
        if let Some(session) = &request.resume_session {
            args.push("--resume".into());
            args.push(session.into());
        }
        args.extend(request.extra_args.iter().cloned());
        // Attached with `=` so a prompt starting with `-` stays the value.
        let mut prompt = OsString::from("--prompt=");
        prompt.push(&request.prompt);
        args.push(prompt);

        // Settings the CLI reads no other way: usage statistics and telemetry
        // off, and API-key auth when pointed at another server (else the
        // base URL selects a gateway auth type and the run fails).
        let mut settings = json!({
            "privacy": { "usageStatisticsEnabled": false },
            "telemetry": { "enabled": false },
        });
        let mut env = EnvBuilder::new(host, request);
        if request.disable_cli_retries {
            // One attempt per request: the CLI otherwise retries a 429 or
            // 5xx up to 10 times with backoff, and a failed fetch as well.
            settings["general"] = json!({ "maxAttempts": 1, "retryFetchErrors": false });
        }
        if let Some(endpoint) = &request.endpoint {
            settings["security"] = json!({ "auth": { "selectedType": "gemini-api-key" } });
            env.set("GOOGLE_GEMINI_BASE_URL", endpoint.root());
            env.set("GEMINI_API_KEY", &endpoint.api_key);
        } else {
            env.pass(host, CREDENTIALS);
        }
        let settings = serde_json::to_vec_pretty(&settings)
            .map_err(|source| BuildError::Json { what: "gemini settings", source })?;
        let settings_path = run_dir.join("gemini-settings.json");
        env.set("GEMINI_CLI_SYSTEM_SETTINGS_PATH", settings_path.as_os_str());
        let mut files = vec![FileToWrite { path: settings_path, contents: settings.clone() }];
        if let Some(home) = &request.home {
            files
                .push(FileToWrite { path: home.join(".gemini/settings.json"), contents: settings });
        }

        Ok(Invocation {
            program: self.program.clone(),
            args,
            env: env.finish(request),
            cwd: request.workdir.clone(),
            dirs: request.home.iter().chain(&request.tmpdir).cloned().collect(),
            files,
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(GeminiParser::default())
    }
}

/// Parses `--output-format stream-json` lines.
#[derive(Debug, Default)]
pub struct GeminiParser {
    report: Report,
}

impl EventParser for GeminiParser {
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
            Some("init") => {
                if let Some(id) = value["session_id"].as_str() {
                    events.push(AgentEvent::Started {
                        session_id: id.to_string(),
                        model: value["model"].as_str().map(str::to_string),
                    });
                }
            }
            Some("message") => {
                if value["role"].as_str() == Some("assistant")
                    && let Some(text) = value["content"].as_str()
                    && !text.is_empty()
                {
                    events.push(AgentEvent::Text { text: text.to_string() });
                }
            }
            Some("tool_use") => events.push(AgentEvent::ToolUse {
                id: value["tool_id"].as_str().map(str::to_string),
                name: value["tool_name"].as_str().unwrap_or("tool").to_string(),
                summary: summary::tool_input(&value["parameters"]),
            }),
            Some("tool_result") => {
                let ok = value["status"].as_str() == Some("success");
                let summary = (!ok).then(|| {
                    value["error"]["message"]
                        .as_str()
                        .or(value["output"].as_str())
                        .map(summary::first_line)
                        .unwrap_or_else(|| value["status"].as_str().unwrap_or("failed").to_string())
                });
                events.push(AgentEvent::ToolResult {
                    id: value["tool_id"].as_str().map(str::to_string),
                    ok,
                    summary,
                });
            }
            Some("error") => {
                let message = value["message"].as_str().unwrap_or("error").to_string();
                if value["severity"].as_str() != Some("warning") {
                    let (kind, _) = classify_api_error(None, &message);
                    self.report.error(kind, message.clone());
                }
                events.push(AgentEvent::Warning { message });
            }
            Some("result") => self.result(&value, &mut events),
            _ => events.push(AgentEvent::Unknown { raw: summary::raw(line) }),
        }
        events
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        if !self.report.has_terminal() {
            // gemini-cli's documented fatal exit codes.
            match exit.code {
                Some(41) => {
                    self.report.error(ErrorKind::Authentication, "authentication failed (exit 41)")
                }
                Some(53) => self.report.error(ErrorKind::TurnLimit, "turn limit reached (exit 53)"),
                _ => {}
            }
        }
        self.report.conclude(exit)
    }
}

impl GeminiParser {
    fn result(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        let stats = &value["stats"];
        if stats.is_object() {
            events.push(AgentEvent::Usage(Usage {
                input_tokens: stats["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: stats["output_tokens"].as_u64().unwrap_or(0),
                cached_tokens: stats["cached"].as_u64().unwrap_or(0),
            }));
        }
        if value["status"].as_str() == Some("success") {
            self.report.terminal(Finish::Success);
        } else {
            let message =
                value["error"]["message"].as_str().unwrap_or("the agent reported an error");
            let (kind, limit) = classify_api_error(None, message);
            if let Some(limit) = limit {
                events.push(AgentEvent::Limited(limit));
            }
            self.report.terminal(Finish::failed(kind, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_writes_api_key_settings_and_fixes_the_model() {
        let host = HostEnv::from_vars([("PATH", "/bin"), ("GEMINI_API_KEY", "real")], false);
        let request = AgentRequest::new("-rf", "/w").with_endpoint("http://127.0.0.1:7", "k");
        let inv = GeminiAdapter::default().invocation(&request, &host, Path::new("/r")).unwrap();
        let args: Vec<&str> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "--output-format",
                "stream-json",
                "--yolo",
                "--skip-trust",
                "-m",
                "gemini-2.5-pro",
                "--prompt=-rf"
            ]
        );
        assert_eq!(inv.env["GEMINI_API_KEY"], "k");
        assert_eq!(inv.env["GOOGLE_GEMINI_BASE_URL"], "http://127.0.0.1:7");
        let settings: Value = serde_json::from_slice(&inv.files[0].contents).unwrap();
        assert_eq!(settings["security"]["auth"]["selectedType"], "gemini-api-key");
        assert_eq!(settings["privacy"]["usageStatisticsEnabled"], false);
        assert_eq!(settings["general"]["maxAttempts"], 1);
    }

    #[test]
    fn exit_41_without_result_is_authentication() {
        let mut parser = GeminiParser::default();
        assert_eq!(
            parser.conclude(&ExitInfo::code(41)).error_kind(),
            Some(ErrorKind::Authentication)
        );
    }
}
