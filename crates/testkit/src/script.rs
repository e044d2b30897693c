//! The script: an ordered list of rules. The first rule whose conditions
//! hold for a request (and that has uses left) decides the reply.
//!
//! Scripts are written in TOML or JSON (see docs/model-server.md) or built
//! in code with the constructors on [`Script`], [`Rule`], [`ToolCall`] and
//! [`Fault`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::Api;

/// An ordered list of rules plus script-wide defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Token counts reported with every reply whose rule names none.
    #[serde(default)]
    pub usage: Usage,
    /// The rules, in the order they are tried.
    #[serde(default, rename = "rule", alias = "rules")]
    pub rules: Vec<Rule>,
}

/// Token counts a reply reports, so the CLI shows tokens and a cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Usage {
    /// Prompt tokens (not counting cached ones).
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cached: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Usage { input: 100, output: 20, cached: 0 }
    }
}

/// One rule: conditions on the request, how often it may answer, and the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct Rule {
    /// A name for the request log; defaults to `rule <index>`.
    pub name: Option<String>,
    /// What must hold for the rule to answer.
    pub when: Conditions,
    /// Answer at most this many requests, then let later rules answer.
    pub times: Option<u32>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Token counts for this rule's replies (else the script's).
    pub usage: Option<Usage>,
    /// What to answer.
    pub reply: Reply,
}

/// Conditions on a request; every condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// The API the request speaks.
    pub api: Option<Api>,
    /// A string that must occur in the prompt: the system and user
    /// messages' text (tool results and assistant text do not count).
    pub marker: Option<String>,
    /// Whether the request answers a tool call: the messages after the last
    /// assistant turn hold a tool result.
    pub tool_result: Option<bool>,
    /// The turn number: the assistant turns in the request's history + 1.
    pub turn: Option<u32>,
    /// The `model` the request asks for.
    pub model: Option<String>,
    /// Request headers that must be present with exactly these values
    /// (names are case-insensitive).
    pub headers: BTreeMap<String, String>,
}

/// What a rule answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A model message: optional text, then tool calls (none: a final answer).
    Message {
        /// Text the assistant says (before any tool call).
        text: Option<String>,
        /// Tool calls the assistant makes.
        tools: Vec<ToolCall>,
    },
    /// A failure instead of a message.
    Fault(Fault),
}

/// A tool call in a reply. The generic form is [`ToolCall::ToolUse`]; the
/// shorthands render as each CLI's own tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolCall {
    /// Any tool, by its name in the CLI's tool list, with its input as JSON.
    /// Anthropic: a `tool_use` block; OpenAI: a `function_call` whose
    /// arguments are the input; chat: a function tool call; Gemini: a
    /// `functionCall`.
    ToolUse {
        /// The tool's name, e.g. `Write` for Claude Code.
        name: String,
        /// The tool's input.
        #[serde(default = "empty_object")]
        input: serde_json::Value,
    },
    /// Codex's `exec_command` function (OpenAI only).
    ExecCommand {
        /// The shell command line.
        cmd: String,
        /// The directory to run it in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workdir: Option<String>,
    },
    /// Codex's freeform `apply_patch` tool (OpenAI only).
    ApplyPatch {
        /// The patch, `*** Begin Patch` ... `*** End Patch`.
        patch: String,
    },
    /// Create or overwrite a file: Claude `Write`, Codex `apply_patch` (Add
    /// File), opencode `write`, Gemini `write_file`.
    WriteFile {
        /// The file's path.
        path: String,
        /// The whole new content.
        content: String,
    },
    /// Replace text in a file: Claude `Edit`, Codex `apply_patch` (Update
    /// File; `old` must be whole lines), opencode `edit`, Gemini `replace`.
    EditFile {
        /// The file's path.
        path: String,
        /// The text to replace.
        old: String,
        /// Its replacement.
        new: String,
    },
    /// Run a shell command: Claude `Bash`, Codex `exec_command`, opencode
    /// `bash`, Gemini `run_shell_command`.
    Shell {
        /// The command line.
        command: String,
        /// What the command is for (Claude and opencode show it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A failure a rule answers with instead of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Any HTTP error status with an error body shaped like the API's.
    Http {
        /// The status, 400..=599.
        status: u16,
        /// The error message in the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// A `retry-after` header, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        /// More response headers.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// HTTP 429 with a `retry-after` header and a rate-limit error body.
    RateLimit {
        /// Seconds in `retry-after` (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        /// The error message in the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// HTTP 500 with an API error body.
    ServerError {
        /// The error message in the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// "Overloaded": HTTP 529 for Anthropic, 503 for the other APIs.
    Overloaded {
        /// The error message in the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The account's usage limit is spent: HTTP 429 carrying the reset time
    /// the way each API reports it (see docs/model-server.md).
    UsageLimit {
        /// When the limit resets, as Unix seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resets_at: Option<u64>,
        /// When the limit resets, in seconds from the request (default 3600).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resets_in: Option<u64>,
    },
    /// Hold the connection open and send nothing.
    Stall {
        /// For this many seconds, then close the connection; absent: until
        /// the server shuts down.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        /// Send the response headers and the stream's first event before
        /// falling silent (a stream that stops mid-way).
        #[serde(default)]
        mid_stream: bool,
    },
    /// Close the connection without any response.
    Disconnect,
}

/// The TOML file form of a script, keeping where each rule starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlScript {
    #[serde(default)]
    usage: Usage,
    #[serde(default, rename = "rule", alias = "rules")]
    rules: Vec<toml::Spanned<RawRule>>,
}

/// The file form of a rule: conditions, limits and the reply side by side.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_result: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    turn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fault: Option<Fault>,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, Self::Error> {
        let reply = match (raw.fault, raw.text, raw.tools.is_empty()) {
            (Some(_), Some(_), _) | (Some(_), _, false) => {
                return Err("a rule answers with `fault` or with `text`/`tools`, not both".into());
            }
            (Some(fault), None, true) => Reply::Fault(fault),
            (None, None, true) => {
                return Err("the rule has no reply: give it `text`, `tools` or `fault`".into());
            }
            (None, text, _) => Reply::Message { text, tools: raw.tools },
        };
        if let Reply::Fault(Fault::Http { status, .. }) = &reply
            && !(400..=599).contains(status)
        {
            return Err(format!("fault status {status} is not an HTTP error (400..=599)"));
        }
        if raw.times == Some(0) {
            return Err("`times = 0` would never answer; remove the rule instead".into());
        }
        if raw.turn == Some(0) {
            return Err("turns count from 1".into());
        }
        if raw.marker.as_deref() == Some("") {
            return Err("an empty `marker` matches every request; remove it instead".into());
        }
        Ok(Rule {
            name: raw.name,
            when: Conditions {
                api: raw.api,
                marker: raw.marker,
                tool_result: raw.tool_result,
                turn: raw.turn,
                model: raw.model,
                headers: raw.headers,
            },
            times: raw.times,
            delay: Duration::from_millis(raw.delay_ms.unwrap_or(0)),
            usage: raw.usage,
            reply,
        })
    }
}

impl From<Rule> for RawRule {
    fn from(rule: Rule) -> Self {
        let (text, tools, fault) = match rule.reply {
            Reply::Message { text, tools } => (text, tools, None),
            Reply::Fault(fault) => (None, Vec::new(), Some(fault)),
        };
        let delay_ms = u64::try_from(rule.delay.as_millis()).unwrap_or(u64::MAX);
        RawRule {
            name: rule.name,
            api: rule.when.api,
            marker: rule.when.marker,
            tool_result: rule.when.tool_result,
            turn: rule.when.turn,
            model: rule.when.model,
            headers: rule.when.headers,
            times: rule.times,
            delay_ms: (delay_ms > 0).then_some(delay_ms),
            usage: rule.usage,
            text,
            tools,
            fault,
        }
    }
}

/// A script that could not be read or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read script {path}")]
    Read {
        /// The script file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse or does not describe a script. The message
    /// names the line and column.
    #[error("{origin}: {message}")]
    Toml {
        /// The file, or `<string>`.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The JSON does not parse or does not describe a script.
    #[error("{origin}: {source}")]
    Json {
        /// The file, or `<string>`.
        origin: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

impl Script {
    /// An empty script: every request gets the "no rule matched" error.
    pub fn new() -> Self {
        Script::default()
    }

    /// Appends a rule (tried after the ones before it).
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets the token counts replies report by default.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Parses a TOML script.
    pub fn from_toml_str(text: &str) -> Result<Script, ScriptError> {
        Self::parse_toml(text, "<string>")
    }

    /// Parses a JSON script.
    pub fn from_json_str(text: &str) -> Result<Script, ScriptError> {
        Self::parse_json(text, "<string>")
    }

    /// Reads a script file: JSON when it ends in `.json`, TOML otherwise.
    pub fn from_path(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScriptError::Read { path: path.to_path_buf(), source })?;
        let origin = path.display().to_string();
        if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("json")) {
            Self::parse_json(&text, &origin)
        } else {
            Self::parse_toml(&text, &origin)
        }
    }

    /// Renders the script as TOML (e.g. to hand a built script to `orca model-server`).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a script always serializes to TOML")
    }

    fn parse_toml(text: &str, origin: &str) -> Result<Script, ScriptError> {
        let error = |message: String| ScriptError::Toml { origin: origin.to_string(), message };
        let file: TomlScript =
            toml::from_str(text).map_err(|e| error(e.to_string().trim_end().to_string()))?;
        // A rule's own checks run here, not inside the parser, so the error
        // can name the rule's line (the parser would name the first rule's).
        let mut rules = Vec::with_capacity(file.rules.len());
        for spanned in file.rules {
            let line = text[..spanned.span().start].matches('\n').count() + 1;
            let rule = Rule::try_from(spanned.into_inner())
                .map_err(|message| error(format!("TOML error at line {line}: {message}")))?;
            rules.push(rule);
        }
        Ok(Script { usage: file.usage, rules })
    }

    fn parse_json(text: &str, origin: &str) -> Result<Script, ScriptError> {
        serde_json::from_str(text)
            .map_err(|source| ScriptError::Json { origin: origin.to_string(), source })
    }
}

impl Rule {
    fn answering(reply: Reply) -> Rule {
        Rule {
            name: None,
            when: Conditions::default(),
            times: None,
            delay: Duration::ZERO,
            usage: None,
            reply,
        }
    }

    /// A rule that answers with a final text message.
    pub fn text(text: impl Into<String>) -> Rule {
        Rule::answering(Reply::Message { text: Some(text.into()), tools: Vec::new() })
    }

    /// A rule that answers with one tool call.
    pub fn tool(call: ToolCall) -> Rule {
        Rule::tools([call])
    }

    /// A rule that answers with these tool calls, in order.
    pub fn tools(calls: impl IntoIterator<Item = ToolCall>) -> Rule {
        Rule::answering(Reply::Message { text: None, tools: calls.into_iter().collect() })
    }

    /// A rule that answers with a fault.
    pub fn fault(fault: Fault) -> Rule {
        Rule::answering(Reply::Fault(fault))
    }

    /// Names the rule in the request log.
    pub fn named(mut self, name: impl Into<String>) -> Rule {
        self.name = Some(name.into());
        self
    }

    /// Adds text said before the tool calls (no effect on a fault).
    pub fn saying(mut self, said: impl Into<String>) -> Rule {
        if let Reply::Message { text, .. } = &mut self.reply {
            *text = Some(said.into());
        }
        self
    }

    /// Only requests speaking this API.
    pub fn api(mut self, api: Api) -> Rule {
        self.when.api = Some(api);
        self
    }

    /// Only requests whose prompt contains `marker`.
    pub fn marker(mut self, marker: impl Into<String>) -> Rule {
        self.when.marker = Some(marker.into());
        self
    }

    /// Only requests that do (or do not) answer a tool call.
    pub fn tool_result(mut self, is_tool_result: bool) -> Rule {
        self.when.tool_result = Some(is_tool_result);
        self
    }

    /// Only requests at this turn (assistant turns in history + 1).
    pub fn turn(mut self, turn: u32) -> Rule {
        self.when.turn = Some(turn);
        self
    }

    /// Only requests asking for this model.
    pub fn model(mut self, model: impl Into<String>) -> Rule {
        self.when.model = Some(model.into());
        self
    }

    /// Only requests carrying this header value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Rule {
        self.when.headers.insert(name.into(), value.into());
        self
    }

    /// Answer at most `times` requests.
    pub fn times(mut self, times: u32) -> Rule {
        self.times = Some(times);
        self
    }

    /// Wait before answering.
    pub fn delay(mut self, delay: Duration) -> Rule {
        self.delay = delay;
        self
    }

    /// Report these token counts.
    pub fn usage(mut self, usage: Usage) -> Rule {
        self.usage = Some(usage);
        self
    }
}

impl ToolCall {
    /// Any tool by name with a JSON input.
    pub fn tool_use(name: impl Into<String>, input: serde_json::Value) -> ToolCall {
        ToolCall::ToolUse { name: name.into(), input }
    }

    /// Create or overwrite a file.
    pub fn write_file(path: impl Into<String>, content: impl Into<String>) -> ToolCall {
        ToolCall::WriteFile { path: path.into(), content: content.into() }
    }

    /// Replace `old` with `new` in a file.
    pub fn edit_file(
        path: impl Into<String>,
        old: impl Into<String>,
        new: impl Into<String>,
    ) -> ToolCall {
        ToolCall::EditFile { path: path.into(), old: old.into(), new: new.into() }
    }

    /// Run a shell command.
    pub fn shell(command: impl Into<String>) -> ToolCall {
        ToolCall::Shell { command: command.into(), description: None }
    }

    /// Codex's `exec_command`.
    pub fn exec_command(cmd: impl Into<String>) -> ToolCall {
        ToolCall::ExecCommand { cmd: cmd.into(), workdir: None }
    }

    /// Codex's `apply_patch`.
    pub fn apply_patch(patch: impl Into<String>) -> ToolCall {
        ToolCall::ApplyPatch { patch: patch.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_script_parses_conditions_replies_and_faults() {
        let script = Script::from_toml_str(
            r#"
usage = { input = 7, output = 3 }

[[rule]]
name = "first write"
api = "anthropic"
marker = "TASK-1"
turn = 1
tool_result = false
headers = { "x-test" = "yes" }
times = 2
delay_ms = 50
text = "Writing it."
tools = [
  { kind = "write_file", path = "hello.txt", content = "hi\n" },
  { kind = "tool_use", name = "Bash", input = { command = "ls", description = "list" } },
]

[[rule]]
fault = { kind = "rate_limit", retry_after = 5 }

[[rule]]
fault = { kind = "stall" }

[[rule]]
text = "done"
"#,
        )
        .unwrap();
        assert_eq!(script.usage, Usage { input: 7, output: 3, cached: 0 });
        assert_eq!(script.rules.len(), 4);
        let first = &script.rules[0];
        assert_eq!(first.name.as_deref(), Some("first write"));
        assert_eq!(first.when.api, Some(Api::Anthropic));
        assert_eq!(first.when.marker.as_deref(), Some("TASK-1"));
        assert_eq!(first.when.turn, Some(1));
        assert_eq!(first.when.tool_result, Some(false));
        assert_eq!(first.when.headers.get("x-test").map(String::as_str), Some("yes"));
        assert_eq!(first.times, Some(2));
        assert_eq!(first.delay, Duration::from_millis(50));
        assert_eq!(
            first.reply,
            Reply::Message {
                text: Some("Writing it.".into()),
                tools: vec![
                    ToolCall::write_file("hello.txt", "hi\n"),
                    ToolCall::tool_use(
                        "Bash",
                        serde_json::json!({"command": "ls", "description": "list"})
                    ),
                ],
            }
        );
        assert_eq!(
            script.rules[1].reply,
            Reply::Fault(Fault::RateLimit { retry_after: Some(5), message: None })
        );
        assert_eq!(
            script.rules[2].reply,
            Reply::Fault(Fault::Stall { seconds: None, mid_stream: false })
        );
    }

    #[test]
    fn toml_errors_name_the_line() {
        let error = Script::from_toml_str("[[rule]]\ntext = \"a\"\n\n[[rule]]\nmarker = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("no reply"), "{error}");

        let error =
            Script::from_toml_str("[[rule]]\ntext = \"a\"\nturns = 2\n").unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
        assert!(error.contains("turns"), "{error}");

        let error = Script::from_toml_str("[[rule]]\nfault = { kind = \"melt\" }\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("melt"), "{error}");
    }

    #[test]
    fn rules_with_two_replies_or_bad_statuses_are_rejected() {
        for (text, expected) in [
            ("[[rule]]\ntext = \"a\"\nfault = { kind = \"disconnect\" }\n", "not both"),
            ("[[rule]]\nfault = { kind = \"http\", status = 200 }\n", "not an HTTP error"),
            ("[[rule]]\ntext = \"a\"\ntimes = 0\n", "never answer"),
            ("[[rule]]\ntext = \"a\"\nturn = 0\n", "from 1"),
            ("[[rule]]\ntext = \"a\"\nmarker = \"\"\n", "empty"),
        ] {
            let error = Script::from_toml_str(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn json_script_parses_and_errors_name_the_line() {
        let script = Script::from_json_str(
            r#"{"rules": [{"api": "openai", "tools": [{"kind": "exec_command", "cmd": "ls"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            script.rules[0].reply,
            Reply::Message { text: None, tools: vec![ToolCall::exec_command("ls")] }
        );
        let error = Script::from_json_str("{\n\"rules\": [\n{\"text\": 1}]}").unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
    }

    #[test]
    fn built_scripts_round_trip_through_toml() {
        let script = Script::new()
            .rule(
                Rule::tool(ToolCall::edit_file("a.txt", "x\n", "y\n"))
                    .named("edit")
                    .marker("T-9")
                    .turn(2)
                    .times(1)
                    .header("x-a", "b")
                    .delay(Duration::from_millis(5)),
            )
            .rule(Rule::fault(Fault::UsageLimit {
                resets_at: Some(1_900_000_000),
                resets_in: None,
            }))
            .rule(Rule::text("done").api(Api::OpenAi).tool_result(true));
        let text = script.to_toml_string();
        assert_eq!(Script::from_toml_str(&text).unwrap(), script, "{text}");
    }
}
