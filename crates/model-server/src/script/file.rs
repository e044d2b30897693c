//! Scripts as files: TOML (errors name the line) and JSON, and the checks
//! every rule passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Conditions, Fault, Reply, Rule, Script, ToolCall, Usage};
use crate::api::Api;

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
pub(super) struct RawRule {
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
        let fault_headers = match &reply {
            Reply::Fault(Fault::Http { headers, .. }) => Some(headers),
            _ => None,
        };
        for (name, value) in raw.headers.iter().chain(fault_headers.into_iter().flatten()) {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("`{name}` is not a valid HTTP header name"));
            }
            if hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "the value of header `{name}` is not a valid HTTP header value"
                ));
            }
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
            ("[[rule]]\ntext = \"a\"\nheaders = { \"bad name\" = \"x\" }\n", "header name"),
            (
                "[[rule]]\nfault = { kind = \"http\", status = 429, headers = { a = \"x\\ny\" } }\n",
                "header value",
            ),
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
