//! Turning a rule's reply into an HTTP response in each API's shape:
//! a streamed (SSE) or plain JSON message, or an API-shaped error.

mod anthropic;
mod chat;
mod gemini;
mod patch;
mod responses;

use bytes::Bytes;
use serde_json::Value;

use crate::api::Api;
use crate::conversation::Conversation;
use crate::script::{ToolCall, Usage};

/// One server-sent event: an optional `event:` line and one `data:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<&'static str>,
    pub(crate) data: String,
}

impl SseEvent {
    /// `event: <name>` plus the JSON data (Anthropic, OpenAI Responses).
    pub(crate) fn named(event: &'static str, data: &Value) -> SseEvent {
        SseEvent { event: Some(event), data: data.to_string() }
    }

    /// A `data:` line only (Chat Completions, Gemini).
    pub(crate) fn data(data: &Value) -> SseEvent {
        SseEvent { event: None, data: data.to_string() }
    }

    /// The bytes on the wire, ending in the blank line that closes the event.
    pub(crate) fn frame(&self) -> Bytes {
        let mut text = String::with_capacity(self.data.len() + 32);
        if let Some(event) = self.event {
            text.push_str("event: ");
            text.push_str(event);
            text.push('\n');
        }
        // JSON never holds a raw newline, but a `[DONE]`-style payload might;
        // every line must carry its own `data:` prefix.
        for line in self.data.split('\n') {
            text.push_str("data: ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        Bytes::from(text)
    }
}

/// A response body before it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    Json(Value),
    Sse(Vec<SseEvent>),
}

/// A complete response: status, extra headers and body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Payload,
}

/// What a renderer needs besides the reply itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Turn<'a> {
    pub(crate) conversation: &'a Conversation,
    pub(crate) usage: Usage,
    /// The request's number in the server's log; makes ids unique.
    pub(crate) seq: u64,
}

impl Turn<'_> {
    fn model(&self) -> &str {
        self.conversation.model.as_deref().unwrap_or("orca-scripted-model")
    }
}

/// A reply that has no form in the request's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{tool}` tool call has no {api} form; {hint}")]
pub(crate) struct NoForm {
    pub(crate) tool: &'static str,
    pub(crate) api: Api,
    pub(crate) hint: &'static str,
}

impl NoForm {
    fn codex_only(call: &ToolCall, api: Api) -> NoForm {
        let tool = match call {
            ToolCall::ExecCommand { .. } => "exec_command",
            _ => "apply_patch",
        };
        NoForm { tool, api, hint: "use `shell`, `write_file`, `edit_file` or `tool_use`" }
    }
}

/// A model message: text then tool calls.
pub(crate) fn message(
    turn: &Turn<'_>,
    text: Option<&str>,
    tools: &[ToolCall],
) -> Result<Rendered, NoForm> {
    let api = turn.conversation.api;
    let payload = match api {
        Api::Anthropic => anthropic::message(turn, text, tools)?,
        Api::OpenAi => responses::message(turn, text, tools),
        Api::ChatCompletions => chat::message(turn, text, tools)?,
        Api::Gemini => gemini::message(turn, text, tools)?,
    };
    Ok(Rendered { status: 200, headers: Vec::new(), payload })
}

/// The first event of a stream, for a stream that stops after it.
pub(crate) fn stream_start(turn: &Turn<'_>) -> SseEvent {
    match turn.conversation.api {
        Api::Anthropic => anthropic::stream_start(turn),
        Api::OpenAi => responses::stream_start(turn),
        Api::ChatCompletions => chat::stream_start(turn),
        Api::Gemini => gemini::stream_start(),
    }
}

/// What an error response is about; picks the error type in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// By status alone.
    Status,
    RateLimit,
    Overloaded,
}

/// An error response shaped like the API's own errors.
pub(crate) fn error(api: Option<Api>, status: u16, kind: ErrorKind, message: &str) -> Rendered {
    let body = match api {
        Some(Api::Anthropic) | None => anthropic::error_body(status, kind, message),
        Some(Api::OpenAi | Api::ChatCompletions) => responses::error_body(status, kind, message),
        Some(Api::Gemini) => gemini::error_body(status, message),
    };
    Rendered { status, headers: Vec::new(), payload: Payload::Json(body) }
}

/// The usage-limit reply: HTTP 429 carrying the reset time the way the API
/// (and so the CLI) reads it. `now` and `resets_at` are Unix seconds.
pub(crate) fn usage_limit(api: Api, now: u64, resets_at: u64) -> Rendered {
    let retry_after = resets_at.saturating_sub(now);
    let (mut headers, body) = match api {
        Api::Anthropic => anthropic::usage_limit(resets_at),
        Api::OpenAi | Api::ChatCompletions => {
            (Vec::new(), responses::usage_limit(resets_at, retry_after))
        }
        Api::Gemini => (Vec::new(), gemini::usage_limit(retry_after)),
    };
    headers.push(("retry-after".to_string(), retry_after.to_string()));
    Rendered { status: 429, headers, payload: Payload::Json(body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_end_with_a_blank_line() {
        let event = SseEvent::named("message_stop", &serde_json::json!({"type": "message_stop"}));
        assert_eq!(
            &event.frame()[..],
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        let done = SseEvent { event: None, data: "[DONE]".into() };
        assert_eq!(&done.frame()[..], b"data: [DONE]\n\n");
    }
}
