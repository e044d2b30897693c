//! The OpenAI Responses API (Codex): one `response.output_item.done` per
//! output item, then `response.completed` with the usage.

use serde_json::{Value, json};

use super::{ErrorKind, Payload, SseEvent, Turn, patch};
use crate::script::ToolCall;

fn response_id(turn: &Turn<'_>) -> String {
    format!("resp_orca_{}", turn.seq)
}

/// The output items of the reply: a message, then one item per tool call.
fn items(turn: &Turn<'_>, text: Option<&str>, tools: &[ToolCall]) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(text) = text {
        items.push(json!({
            "type": "message",
            "id": format!("msg_orca_{}", turn.seq),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }));
    }
    for (index, call) in tools.iter().enumerate() {
        let call_id = format!("call_orca_{}_{index}", turn.seq);
        let function = |name: &str, arguments: Value| {
            json!({
                "type": "function_call",
                "id": format!("fc_orca_{}_{index}", turn.seq),
                "call_id": call_id,
                "name": name,
                "arguments": arguments.to_string(),
                "status": "completed",
            })
        };
        let custom = |name: &str, input: String| {
            json!({
                "type": "custom_tool_call",
                "id": format!("ctc_orca_{}_{index}", turn.seq),
                "call_id": call_id,
                "name": name,
                "input": input,
                "status": "completed",
            })
        };
        items.push(match call {
            ToolCall::ToolUse { name, input } => function(name, input.clone()),
            ToolCall::ExecCommand { cmd, workdir } => {
                let mut arguments = json!({"cmd": cmd});
                if let Some(workdir) = workdir {
                    arguments["workdir"] = json!(workdir);
                }
                function("exec_command", arguments)
            }
            ToolCall::Shell { command, .. } => function("exec_command", json!({"cmd": command})),
            ToolCall::ApplyPatch { patch } => custom("apply_patch", patch.clone()),
            ToolCall::WriteFile { path, content } => {
                custom("apply_patch", patch::add_file(path, content))
            }
            ToolCall::EditFile { path, old, new } => {
                custom("apply_patch", patch::update_file(path, old, new))
            }
        });
    }
    items
}

fn usage(turn: &Turn<'_>) -> Value {
    let usage = turn.usage;
    json!({
        "input_tokens": usage.input + usage.cached,
        "input_tokens_details": {"cached_tokens": usage.cached},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input + usage.cached + usage.output,
    })
}

fn response(turn: &Turn<'_>, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": response_id(turn),
        "object": "response",
        "status": status,
        "model": turn.model(),
        "output": output,
        "usage": usage,
    })
}

pub(super) fn stream_start(turn: &Turn<'_>) -> SseEvent {
    SseEvent::named(
        "response.created",
        &json!({
            "type": "response.created",
            "response": response(turn, "in_progress", Vec::new(), Value::Null),
        }),
    )
}

pub(super) fn message(turn: &Turn<'_>, text: Option<&str>, tools: &[ToolCall]) -> Payload {
    let items = items(turn, text, tools);
    if !turn.conversation.stream {
        return Payload::Json(response(turn, "completed", items, usage(turn)));
    }
    let mut events = vec![stream_start(turn)];
    for (index, item) in items.into_iter().enumerate() {
        events.push(SseEvent::named(
            "response.output_item.done",
            &json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ));
    }
    events.push(SseEvent::named(
        "response.completed",
        &json!({
            "type": "response.completed",
            "response": response(turn, "completed", Vec::new(), usage(turn)),
        }),
    ));
    Payload::Sse(events)
}

pub(super) fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    let (kind, code) = match (kind, status) {
        (ErrorKind::RateLimit, _) | (_, 429) => ("rate_limit_exceeded", "rate_limit_exceeded"),
        (ErrorKind::Overloaded, _) | (_, 503 | 529) => ("server_error", "server_is_overloaded"),
        (_, 401) => ("invalid_request_error", "invalid_api_key"),
        (_, 404) => ("invalid_request_error", "not_found"),
        (_, 400..=499) => ("invalid_request_error", "invalid_request"),
        _ => ("server_error", "server_error"),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Codex reads `usage_limit_reached` with `resets_at` / `resets_in_seconds`
/// from a 429 body (see docs/model-server.md).
pub(super) fn usage_limit(resets_at: u64, resets_in: u64) -> Value {
    json!({"error": {
        "type": "usage_limit_reached",
        "message": "The usage limit has been reached",
        "plan_type": "plus",
        "resets_at": resets_at,
        "resets_in_seconds": resets_in,
    }})
}
