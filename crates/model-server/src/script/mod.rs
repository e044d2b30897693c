//! The script: an ordered list of rules. The first rule whose conditions
//! hold for a request (and that has uses left) decides the reply.
//!
//! Scripts are written in TOML or JSON (see docs/model-server.md) or built
//! in code with the constructors on [`Script`], [`Rule`], [`ToolCall`] and
//! [`Fault`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::Api;

mod build;
mod file;

pub use file::ScriptError;

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
#[serde(try_from = "file::RawRule", into = "file::RawRule")]
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
