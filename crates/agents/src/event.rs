//! The one normalized event type every adapter parses its CLI's output into,
//! and the verdict types a run ends with.

use serde::{Deserialize, Serialize};

/// Something an agent did or reported, in the same shape for every CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The agent session began; `session_id` resumes it later.
    Started {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// Text the agent wrote for the user.
    Text { text: String },
    /// The agent called a tool.
    ToolUse {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        name: String,
        /// A short, single-line description of the input (a path, a command).
        summary: String,
    },
    /// A tool call finished.
    ToolResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// Tokens spent since the previous `Usage` event (increments add up to the
    /// run's total).
    Usage(Usage),
    /// Money spent since the previous `Cost` event, when the CLI reports it.
    Cost { usd: f64 },
    /// The provider limited the agent (rate or usage limit).
    Limited(Limit),
    /// A non-fatal problem the CLI reported (a retry, a degraded model, a
    /// version orca was not tested with).
    Warning { message: String },
    /// The supervisor is stopping the agent.
    Stopping { reason: StopReason, signal: String },
    /// The run's verdict: always the last event of a supervised run.
    Finished(Finish),
    /// A line the parser did not understand, kept (truncated) for the record.
    Unknown { raw: String },
}

/// Token counts. `input_tokens` counts every prompt token the model read,
/// `cached_tokens` how many of them came from the provider's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
}

impl Usage {
    /// Adds another increment to this total.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
    }

    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }
}

/// Which limit the provider applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Too many requests in a short window (HTTP 429); retry soon.
    Rate,
    /// The plan's usage allowance is used up until a reset time.
    Usage,
}

/// A rate or usage limit, with the time it lifts when the CLI says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub kind: LimitKind,
    /// Unix time (seconds) when the limit resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<u64>,
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Finish {
    Success,
    Failed { kind: ErrorKind, message: String },
}

impl Finish {
    pub fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Finish::Failed { kind, message: message.into() }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Finish::Success)
    }

    /// The error kind, or `None` on success.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Finish::Success => None,
            Finish::Failed { kind, .. } => Some(*kind),
        }
    }
}

/// Why an agent run failed. The scheduler acts on this: wait for a reset,
/// retry, or give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The API rejected the credentials (401/403, invalid key, not logged in).
    Authentication,
    /// A rate limit (429) or the plan's usage limit; see the `Limited` event
    /// for the reset time.
    UsageLimit,
    /// A server-side or network error that may pass: 5xx, 529 overloaded,
    /// connection refused or dropped.
    TransientApi,
    /// The API rejected the request for another reason (400, 404, ...).
    ApiError,
    /// The agent ran out of turns or context window.
    TurnLimit,
    /// The agent was not allowed to use a tool it needed, or the CLI refused
    /// the permission mode it was started with.
    PermissionDenied,
    /// The agent reported failure, or its command exited non-zero, without a
    /// more specific reason.
    Failed,
    /// The process died from a signal nobody sent, or exited without its
    /// final event.
    Crashed,
    /// No output for the stall timeout; orca stopped it.
    Stalled,
    /// The hard timeout passed; orca stopped it.
    TimedOut,
    /// Cancelled on request.
    Cancelled,
}

impl ErrorKind {
    /// The name used in JSON and logs (`usage_limit`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication",
            ErrorKind::UsageLimit => "usage_limit",
            ErrorKind::TransientApi => "transient_api",
            ErrorKind::ApiError => "api_error",
            ErrorKind::TurnLimit => "turn_limit",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Failed => "failed",
            ErrorKind::Crashed => "crashed",
            ErrorKind::Stalled => "stalled",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the supervisor stopped an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Stalled,
    TimedOut,
    Cancelled,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Stalled => "stalled",
            StopReason::TimedOut => "timed_out",
            StopReason::Cancelled => "cancelled",
        }
    }

    pub fn error_kind(self) -> ErrorKind {
        match self {
            StopReason::Stalled => ErrorKind::Stalled,
            StopReason::TimedOut => ErrorKind::TimedOut,
            StopReason::Cancelled => ErrorKind::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_a_type_tag() {
        let finished = AgentEvent::Finished(Finish::failed(ErrorKind::UsageLimit, "limit"));
        let json = serde_json::to_string(&finished).unwrap();
        assert_eq!(
            json,
            r#"{"type":"finished","status":"failed","kind":"usage_limit","message":"limit"}"#
        );
        assert_eq!(serde_json::from_str::<AgentEvent>(&json).unwrap(), finished);

        let usage =
            AgentEvent::Usage(Usage { input_tokens: 3, output_tokens: 2, cached_tokens: 1 });
        let json = serde_json::to_string(&usage).unwrap();
        assert_eq!(
            json,
            r#"{"type":"usage","input_tokens":3,"output_tokens":2,"cached_tokens":1}"#
        );
        assert_eq!(serde_json::from_str::<AgentEvent>(&json).unwrap(), usage);
    }

    #[test]
    fn error_kind_names_match_serde() {
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::UsageLimit,
            ErrorKind::TransientApi,
            ErrorKind::ApiError,
            ErrorKind::TurnLimit,
            ErrorKind::PermissionDenied,
            ErrorKind::Failed,
            ErrorKind::Crashed,
            ErrorKind::Stalled,
            ErrorKind::TimedOut,
            ErrorKind::Cancelled,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
