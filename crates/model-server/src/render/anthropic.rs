//! The Anthropic Messages API: `message_start`, content blocks, `message_delta`,
//! `message_stop` when streaming; one `message` object otherwise.

use serde_json::{Value, json};

use super::{ErrorKind, NoForm, Payload, SseEvent, Turn};
use crate::api::Api;
use crate::script::ToolCall;

/// A content block of the reply, complete.
fn blocks(turn: &Turn<'_>, text: Option<&str>, tools: &[ToolCall]) -> Result<Vec<Value>, NoForm> {
    let mut blocks = Vec::new();
    if let Some(text) = text {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (index, call) in tools.iter().enumerate() {
        let (name, input) = tool(call)?;
        blocks.push(json!({
            "type": "tool_use",
            "id": format!("toolu_orca_{}_{index}", turn.seq),
            "name": name,
            "input": input,
        }));
    }
    Ok(blocks)
}

/// Claude Code's own tools for the shorthands.
fn tool(call: &ToolCall) -> Result<(String, Value), NoForm> {
    Ok(match call {
        ToolCall::ToolUse { name, input } => (name.clone(), input.clone()),
        ToolCall::WriteFile { path, content } => {
            ("Write".into(), json!({"file_path": path, "content": content}))
        }
        ToolCall::EditFile { path, old, new } => {
            ("Edit".into(), json!({"file_path": path, "old_string": old, "new_string": new}))
        }
        ToolCall::Shell { command, description } => (
            "Bash".into(),
            json!({"command": command, "description": description.as_deref().unwrap_or(command)}),
        ),
        ToolCall::ExecCommand { .. } | ToolCall::ApplyPatch { .. } => {
            return Err(NoForm::codex_only(call, Api::Anthropic));
        }
    })
}

fn message_id(turn: &Turn<'_>) -> String {
    format!("msg_orca_{}", turn.seq)
}

fn start_usage(turn: &Turn<'_>) -> Value {
    json!({
        "input_tokens": turn.usage.input,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": turn.usage.cached,
        "output_tokens": 1,
    })
}

pub(super) fn stream_start(turn: &Turn<'_>) -> SseEvent {
    SseEvent::named(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": message_id(turn),
                "type": "message",
                "role": "assistant",
                "model": turn.model(),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": start_usage(turn),
            }
        }),
    )
}

pub(super) fn message(
    turn: &Turn<'_>,
    text: Option<&str>,
    tools: &[ToolCall],
) -> Result<Payload, NoForm> {
    let blocks = blocks(turn, text, tools)?;
    let stop_reason = if tools.is_empty() { "end_turn" } else { "tool_use" };
    if !turn.conversation.stream {
        return Ok(Payload::Json(json!({
            "id": message_id(turn),
            "type": "message",
            "role": "assistant",
            "model": turn.model(),
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": turn.usage.input,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": turn.usage.cached,
                "output_tokens": turn.usage.output,
            },
        })));
    }
    let mut events = vec![stream_start(turn)];
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = if block["type"] == "text" {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            )
        } else {
            (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            )
        };
        events.push(SseEvent::named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        events.push(SseEvent::named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        events.push(SseEvent::named(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(SseEvent::named(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": turn.usage.output},
        }),
    ));
    events.push(SseEvent::named("message_stop", &json!({"type": "message_stop"})));
    Ok(Payload::Sse(events))
}

pub(super) fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    let kind = match (kind, status) {
        (ErrorKind::RateLimit, _) | (_, 429) => "rate_limit_error",
        (ErrorKind::Overloaded, _) | (_, 529) => "overloaded_error",
        (_, 401) => "authentication_error",
        (_, 402) => "billing_error",
        (_, 403) => "permission_error",
        (_, 404) => "not_found_error",
        (_, 413) => "request_too_large",
        (_, 400..=499) => "invalid_request_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// Claude Code (signed in with a subscription) reads a spent usage limit
/// from the `anthropic-ratelimit-unified-*` headers of a 429; the
/// representative claim `five_hour` makes it say "session limit". With an
/// API key it shows the body's message instead (see docs/model-server.md).
pub(super) fn usage_limit(resets_at: u64) -> (Vec<(String, String)>, Value) {
    let headers = vec![
        ("anthropic-ratelimit-unified-status".to_string(), "rejected".to_string()),
        ("anthropic-ratelimit-unified-reset".to_string(), resets_at.to_string()),
        ("anthropic-ratelimit-unified-representative-claim".to_string(), "five_hour".to_string()),
    ];
    let body = error_body(
        429,
        ErrorKind::RateLimit,
        &format!("Claude AI usage limit reached|{resets_at}"),
    );
    (headers, body)
}
