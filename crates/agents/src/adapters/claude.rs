//! Claude Code: `claude -p --output-format stream-json --verbose`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::adapter::{
    Adapter, BuildError, EventParser, ExitInfo, Invocation, check_prompt_fits_argv,
};
use crate::environment::{EnvBuilder, HostEnv};
use crate::event::{AgentEvent, ErrorKind, Finish, Limit, LimitKind, Usage};
use crate::request::AgentRequest;
use crate::summary;
use crate::verdict::{Report, classify_api_error};
use crate::version::TestedVersions;

/// The Claude Code versions this adapter is tested with. `pinned` is the one
/// tools/agent-clis/package.json installs for the test suite (a test
/// checks); `newest` the newest one scripts/test-agents-latest passed with.
pub const CLAUDE_TESTED: TestedVersions = TestedVersions { pinned: "2.1.197", newest: "2.1.332" };

/// Credentials and config locations a user's claude needs from the host
/// (only passed when no endpoint override is given).
const CREDENTIALS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
];

/// `--permission-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudePermissionMode {
    Default,
    AcceptEdits,
    Auto,
    BypassPermissions,
    DontAsk,
    Plan,
}

impl ClaudePermissionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaudePermissionMode::Default => "default",
            ClaudePermissionMode::AcceptEdits => "acceptEdits",
            ClaudePermissionMode::Auto => "auto",
            ClaudePermissionMode::BypassPermissions => "bypassPermissions",
            ClaudePermissionMode::DontAsk => "dontAsk",
            ClaudePermissionMode::Plan => "plan",
        }
    }

    /// Parses the CLI spelling (`acceptEdits`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        [
            ClaudePermissionMode::Default,
            ClaudePermissionMode::AcceptEdits,
            ClaudePermissionMode::Auto,
            ClaudePermissionMode::BypassPermissions,
            ClaudePermissionMode::DontAsk,
            ClaudePermissionMode::Plan,
        ]
        .into_iter()
        .find(|mode| mode.as_str() == text)
    }
}

/// The Claude Code adapter.
#[derive(Debug, Clone)]
pub struct ClaudeAdapter {
    program: PathBuf,
    permission_mode: ClaudePermissionMode,
}

impl Default for ClaudeAdapter {
    fn default() -> Self {
        ClaudeAdapter {
            program: PathBuf::from("claude"),
            // Agents must run builds and tests: without it Bash is denied
            // silently in `-p` mode.
            permission_mode: ClaudePermissionMode::BypassPermissions,
        }
    }
}

impl ClaudeAdapter {
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    pub fn with_permission_mode(mut self, mode: ClaudePermissionMode) -> Self {
        self.permission_mode = mode;
        self
    }
}

impl Adapter for ClaudeAdapter {
    fn name(&self) -> &str {
        "claude"
    }

    fn program(&self) -> &Path {
        &self.program
    }

    fn tested_versions(&self) -> Option<TestedVersions> {
        Some(CLAUDE_TESTED)
    }

    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        _run_dir: &Path,
    ) -> Result<Invocation, BuildError> {
        check_prompt_fits_argv("claude", &request.prompt)?;
        let mut args: Vec<OsString> = ["-p", "--output-format", "stream-json", "--verbose"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.push("--permission-mode".into());
        args.push(self.permission_mode.as_str().into());
        if let Some(model) = &request.model {
            args.push("--model".into());
            args.push(model.into());
        }
        if let Some(session) = &request.resume_session {
            args.push("--resume".into());
            args.push(session.into());
        }
        args.extend(request.extra_args.iter().cloned());
        // `--` keeps a prompt such as "doctor" or "-v" from being read as a
        // subcommand or an option.
        args.push("--".into());
        args.push(request.prompt.clone().into());

        let mut env = EnvBuilder::new(host, request);
        env.pass(host, &["IS_SANDBOX"]);
        match &request.endpoint {
            Some(endpoint) => {
                env.set("ANTHROPIC_BASE_URL", endpoint.root());
                env.set("ANTHROPIC_API_KEY", &endpoint.api_key);
            }
            None => {
                env.pass(host, CREDENTIALS);
            }
        }
        env.set("DISABLE_TELEMETRY", "1")
            .set("DISABLE_ERROR_REPORTING", "1")
            .set("DISABLE_AUTOUPDATER", "1")
            .set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        // The user's own bound on the CLI's API retries (it backs off for
        // minutes by default) wins; else retries are off when asked.
        if host.get("CLAUDE_CODE_MAX_RETRIES").is_some() {
            env.pass(host, &["CLAUDE_CODE_MAX_RETRIES"]);
        } else if request.disable_cli_retries {
            env.set("CLAUDE_CODE_MAX_RETRIES", "0");
        }
        let env = env.finish(request);
        let sandboxed = env.get("IS_SANDBOX").is_some_and(|v| v == "1");
        if host.is_root()
            && self.permission_mode == ClaudePermissionMode::BypassPermissions
            && !sandboxed
        {
            return Err(BuildError::RootBypass);
        }

        Ok(Invocation {
            program: self.program.clone(),
            args,
            env,
            cwd: request.workdir.clone(),
            dirs: request.home.iter().chain(&request.tmpdir).cloned().collect(),
            files: Vec::new(),
        })
    }

    fn parser(&self) -> Box<dyn EventParser> {
        Box::new(ClaudeParser::default())
    }
}

/// An Anthropic `usage` object as orca counts it: input includes cache
/// writes and reads, `cached_tokens` the reads alone.
fn anthropic_usage(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let fresh = usage["input_tokens"].as_u64().unwrap_or(0);
    let written = usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
    let read = usage["cache_read_input_tokens"].as_u64().unwrap_or(0);
    Some(Usage {
        input_tokens: fresh + written + read,
        output_tokens: usage["output_tokens"].as_u64().unwrap_or(0),
        cached_tokens: read,
    })
}

/// Parses `--output-format stream-json --verbose` lines.
#[derive(Debug, Default)]
pub struct ClaudeParser {
    report: Report,
    /// How long the CLI last waited before retrying the API (`api_retry`):
    /// for a rate limit, the server's `retry-after` as the CLI honoured it.
    last_retry_delay_ms: Option<u64>,
    /// A `rate_limit_event` already reported the limit (with its reset
    /// time, which the result text gives only in words).
    limit_reported: bool,
    /// The API message whose usage was reported last: one message comes as
    /// several `assistant` lines (one per content block), each repeating it.
    usage_message: Option<String>,
    /// Tokens reported so far from `assistant` lines; the result's totals
    /// add only what is missing.
    usage_reported: Usage,
}

impl EventParser for ClaudeParser {
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
            Some("system") => self.system(&value, &mut events),
            Some("assistant") => self.assistant(&value, &mut events),
            Some("user") => user(&value, &mut events),
            Some("result") => self.result(&value, &mut events),
            Some("rate_limit_event") => self.rate_limit(&value, &mut events),
            // Partial-message chunks repeat what the `assistant` lines say.
            Some("stream_event") => {}
            _ => events.push(AgentEvent::Unknown { raw: summary::raw(line) }),
        }
        events
    }

    fn note_stderr(&mut self, line: &str) {
        let lower = line.to_lowercase();
        if lower.contains("root/sudo privileges") {
            self.report.error(
                ErrorKind::PermissionDenied,
                format!("{} (set IS_SANDBOX=1 or use another permission mode)", line.trim()),
            );
        } else if lower.contains("invalid api key") || lower.contains("not logged in") {
            self.report.error(ErrorKind::Authentication, line.trim());
        }
    }

    fn conclude(&mut self, exit: &ExitInfo) -> Finish {
        self.report.conclude(exit)
    }
}

impl ClaudeParser {
    fn system(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        match value["subtype"].as_str() {
            Some("init") => {
                if let Some(session_id) = value["session_id"].as_str() {
                    events.push(AgentEvent::Started {
                        session_id: session_id.to_string(),
                        model: value["model"].as_str().map(str::to_string),
                    });
                }
                if let Some(message) = value["claude_code_version"]
                    .as_str()
                    .and_then(|version| CLAUDE_TESTED.warning("claude", version))
                {
                    events.push(AgentEvent::Warning { message });
                }
            }
            Some("api_retry") => {
                self.last_retry_delay_ms = value["retry_delay_ms"].as_u64();
                let status = value["error_status"].as_u64().and_then(|s| u16::try_from(s).ok());
                let error = value["error"].as_str().unwrap_or("error");
                let message = format!(
                    "API retry {}/{}: {} {error}",
                    value["attempt"].as_u64().unwrap_or(0),
                    value["max_retries"].as_u64().unwrap_or(0),
                    status.map(|s| s.to_string()).unwrap_or_default(),
                );
                let (kind, _) = classify_api_error(status, error);
                self.report.error(kind, message.clone());
                events.push(AgentEvent::Warning { message });
            }
            _ => {}
        }
    }

    fn assistant(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        // A synthetic message carries an API error; the result line that
        // follows says the same, so keep it out of the text.
        if let Some(error) = value["error"].as_str() {
            let text = first_text(&value["message"]["content"]).unwrap_or_default();
            let (kind, _) = classify_api_error(None, &format!("{error} {text}"));
            self.report.error(kind, text);
            return;
        }
        self.message_usage(&value["message"], events);
        let Some(blocks) = value["message"]["content"].as_array() else {
            return;
        };
        for block in blocks {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or_default();
                    if !text.trim().is_empty() {
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

    /// A new API message's usage as it starts, so that budgets see tokens
    /// while the agent works: its input is final then, its output is not
    /// (the result line brings the rest).
    fn message_usage(&mut self, message: &Value, events: &mut Vec<AgentEvent>) {
        let (Some(id), Some(usage)) = (message["id"].as_str(), anthropic_usage(&message["usage"]))
        else {
            return;
        };
        if self.usage_message.as_deref() == Some(id) {
            return;
        }
        self.usage_message = Some(id.to_owned());
        self.usage_reported.add(&usage);
        events.push(AgentEvent::Usage(usage));
    }

    fn result(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        if let Some(total) = anthropic_usage(&value["usage"]) {
            let seen = std::mem::take(&mut self.usage_reported);
            let rest = Usage {
                input_tokens: total.input_tokens.saturating_sub(seen.input_tokens),
                output_tokens: total.output_tokens.saturating_sub(seen.output_tokens),
                cached_tokens: total.cached_tokens.saturating_sub(seen.cached_tokens),
            };
            if !rest.is_zero() || seen.is_zero() {
                events.push(AgentEvent::Usage(rest));
            }
        }
        if let Some(usd) = value["total_cost_usd"].as_f64() {
            events.push(AgentEvent::Cost { usd });
        }
        let text = value["result"].as_str().unwrap_or_default();
        let errors: Vec<&str> =
            value["errors"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let errors_or = |default: &str| {
            if errors.is_empty() { default.to_string() } else { errors.join("; ") }
        };
        let finish = match value["subtype"].as_str() {
            Some("error_max_turns") => Finish::failed(
                ErrorKind::TurnLimit,
                errors_or("the agent reached its maximum number of turns"),
            ),
            Some("error_max_budget_usd") => {
                Finish::failed(ErrorKind::TurnLimit, errors_or("the agent reached its budget"))
            }
            Some("error_during_execution") => {
                let message = errors_or("error during execution");
                let (kind, _) = classify_api_error(None, &message);
                Finish::failed(kind, message)
            }
            _ if value["is_error"].as_bool() == Some(true) => {
                let status = value["api_error_status"].as_u64().and_then(|s| u16::try_from(s).ok());
                let (kind, mut limit) = classify_api_error(status, text);
                // A rate limit the CLI gave up retrying lifts about when its
                // last retry was due.
                if let (Some(limit), Some(delay)) = (limit.as_mut(), self.last_retry_delay_ms)
                    && limit.kind == LimitKind::Rate
                    && limit.resets_at.is_none()
                {
                    limit.resets_at = Some(unix_now() + delay.div_ceil(1000));
                }
                if let Some(limit) = limit
                    && !self.limit_reported
                {
                    events.push(AgentEvent::Limited(limit));
                }
                Finish::failed(
                    kind,
                    if text.is_empty() { "the agent reported an error" } else { text },
                )
            }
            _ => match value["permission_denials"].as_array() {
                Some(denials) if !denials.is_empty() => {
                    let tools: Vec<String> = denials
                        .iter()
                        .map(|d| {
                            let name = d["tool_name"].as_str().unwrap_or("tool");
                            let input = summary::tool_input(&d["tool_input"]);
                            if input.is_empty() {
                                name.to_string()
                            } else {
                                format!("{name} ({input})")
                            }
                        })
                        .collect();
                    Finish::failed(
                        ErrorKind::PermissionDenied,
                        format!("denied: {}", tools.join(", ")),
                    )
                }
                _ => Finish::Success,
            },
        };
        self.report.terminal(finish);
    }

    fn rate_limit(&mut self, value: &Value, events: &mut Vec<AgentEvent>) {
        let info = &value["rate_limit_info"];
        let resets_at = info["resetsAt"].as_u64();
        let window = info["rateLimitType"].as_str().unwrap_or("usage");
        match info["status"].as_str() {
            Some("rejected") => {
                // A plan limit names its window and reset; a plain 429
                // ("not your usage limit") has neither.
                let (kind, message) = match resets_at {
                    Some(_) => (LimitKind::Usage, format!("{window} limit reached")),
                    None => (LimitKind::Rate, "rate limited".to_string()),
                };
                self.report.error(ErrorKind::UsageLimit, message.clone());
                self.limit_reported = true;
                events.push(AgentEvent::Limited(Limit { kind, resets_at, message }));
            }
            Some("allowed_warning") => {
                events.push(AgentEvent::Warning { message: format!("close to the {window} limit") })
            }
            _ => {}
        }
    }
}

/// Tool results in a `user` line (Qwen Code prints the same shape).
pub(super) fn user(value: &Value, events: &mut Vec<AgentEvent>) {
    let Some(blocks) = value["message"]["content"].as_array() else {
        return;
    };
    for block in blocks {
        if block["type"].as_str() != Some("tool_result") {
            continue;
        }
        let ok = block["is_error"].as_bool() != Some(true);
        let summary = if ok {
            None
        } else {
            match &block["content"] {
                Value::String(text) => Some(summary::first_line(text)),
                other => first_text(other).map(|t| summary::first_line(&t)),
            }
        };
        events.push(AgentEvent::ToolResult {
            id: block["tool_use_id"].as_str().map(str::to_string),
            ok,
            summary,
        });
    }
}

/// The first text block of a content array.
fn first_text(content: &Value) -> Option<String> {
    content.as_array()?.iter().find_map(|b| b["text"].as_str()).map(str::to_string)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(root: bool) -> HostEnv {
        HostEnv::from_vars(
            [
                ("PATH", "/usr/bin"),
                ("HOME", "/home/u"),
                ("ANTHROPIC_API_KEY", "real"),
                ("SECRET", "s"),
            ],
            root,
        )
    }

    #[test]
    fn argv_ends_with_separator_and_prompt() {
        let request =
            AgentRequest::new("doctor; rm -rf / $(x)", "/w").with_model("m").with_resume("s1");
        let inv =
            ClaudeAdapter::default().invocation(&request, &host(false), Path::new("/r")).unwrap();
        let args: Vec<&str> = inv.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "bypassPermissions",
                "--model",
                "m",
                "--resume",
                "s1",
                "--",
                "doctor; rm -rf / $(x)"
            ]
        );
        assert_eq!(inv.env["ANTHROPIC_API_KEY"], "real");
        assert!(!inv.env.contains_key("SECRET"));
        assert_eq!(inv.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], "1");
    }

    #[test]
    fn endpoint_replaces_credentials_and_turns_retries_off() {
        let request = AgentRequest::new("p", "/w").with_endpoint("http://127.0.0.1:9/v1", "dummy");
        let inv =
            ClaudeAdapter::default().invocation(&request, &host(false), Path::new("/r")).unwrap();
        assert_eq!(inv.env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9");
        assert_eq!(inv.env["ANTHROPIC_API_KEY"], "dummy");
        assert_eq!(inv.env["CLAUDE_CODE_MAX_RETRIES"], "0");
    }

    #[test]
    fn root_bypass_needs_is_sandbox() {
        let adapter = ClaudeAdapter::default();
        let request = AgentRequest::new("p", "/w");
        assert!(matches!(
            adapter.invocation(&request, &host(true), Path::new("/r")),
            Err(BuildError::RootBypass)
        ));
        let request = request.with_env("IS_SANDBOX", "1");
        assert!(adapter.invocation(&request, &host(true), Path::new("/r")).is_ok());
        let accept = adapter.with_permission_mode(ClaudePermissionMode::AcceptEdits);
        assert!(
            accept.invocation(&AgentRequest::new("p", "/w"), &host(true), Path::new("/r")).is_ok()
        );
    }

    #[test]
    fn root_refusal_on_stderr_is_permission_denied() {
        let mut parser = ClaudeParser::default();
        parser.note_stderr(
            "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
        );
        assert_eq!(
            parser.conclude(&ExitInfo::code(1)).error_kind(),
            Some(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn usage_limit_result_carries_the_reset_time() {
        let mut parser = ClaudeParser::default();
        let events = parser.parse_line(
            r#"{"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|1767225600","session_id":"s"}"#,
        );
        assert!(events.contains(&AgentEvent::Limited(Limit {
            kind: LimitKind::Usage,
            resets_at: Some(1767225600),
            message: "Claude AI usage limit reached|1767225600".into()
        })));
        assert_eq!(parser.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::UsageLimit));
    }

    #[test]
    fn result_subtypes_and_retries_are_classified() {
        let kind = |lines: &[&str], exit: ExitInfo| {
            let mut parser = ClaudeParser::default();
            for line in lines {
                parser.parse_line(line);
            }
            parser.conclude(&exit)
        };
        let max_turns = kind(
            &[
                r#"{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["Reached maximum number of turns (2)"]}"#,
            ],
            ExitInfo::code(1),
        );
        assert_eq!(
            max_turns,
            Finish::failed(ErrorKind::TurnLimit, "Reached maximum number of turns (2)")
        );
        let during = kind(
            &[
                r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["boom"]}"#,
            ],
            ExitInfo::code(1),
        );
        assert_eq!(during, Finish::failed(ErrorKind::Failed, "boom"));
        // Killed mid-retry: no result, the last retry tells why.
        let retrying = kind(
            &[
                r#"{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"error_status":529,"error":"overloaded_error"}"#,
            ],
            ExitInfo::signal(9),
        );
        assert_eq!(retrying.error_kind(), Some(ErrorKind::TransientApi));
        assert_eq!(kind(&[], ExitInfo::signal(11)).error_kind(), Some(ErrorKind::Crashed));
    }

    /// The CLI honours `retry-after` itself and reports the delay of each
    /// retry; when it gives up, the limit lifts about when the last was due.
    #[test]
    fn a_rate_limit_given_up_on_lifts_after_the_last_retry_delay() {
        let mut parser = ClaudeParser::default();
        parser.parse_line(
            r#"{"type":"system","subtype":"api_retry","attempt":10,"max_retries":10,"retry_delay_ms":5000,"error_status":429,"error":"rate_limit_error"}"#,
        );
        let events = parser.parse_line(
            r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: Request rejected (429) · rate limited","session_id":"s"}"#,
        );
        let limit = events
            .iter()
            .find_map(|event| match event {
                AgentEvent::Limited(limit) => Some(limit.clone()),
                _ => None,
            })
            .expect("a limit");
        assert_eq!(limit.kind, LimitKind::Rate);
        let lifts = limit.resets_at.expect("a reset time") - super::unix_now();
        assert!((1..=5).contains(&lifts), "{lifts}");
    }

    #[test]
    fn rejected_rate_limit_event_is_a_limit() {
        let mut parser = ClaudeParser::default();
        let events = parser.parse_line(
            r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1767225600,"rateLimitType":"five_hour"}}"#,
        );
        assert_eq!(
            events,
            [AgentEvent::Limited(Limit {
                kind: LimitKind::Usage,
                resets_at: Some(1767225600),
                message: "five_hour limit reached".into()
            })]
        );
        assert_eq!(parser.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::UsageLimit));
    }
}
