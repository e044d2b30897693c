//! OpenAI Chat Completions (opencode): `chat.completion.chunk` data lines,
//! a usage chunk, then `data: [DONE]`.

use serde_json::{Value, json};

use super::{NoForm, Payload, SseEvent, Turn};
use crate::api::Api;
use crate::script::ToolCall;

/// opencode's own tools for the shorthands: (name, arguments as JSON text).
fn tool(call: &ToolCall) -> Result<(String, String), NoForm> {
    let (name, arguments) = match call {
        ToolCall::ToolUse { name, input } => (name.clone(), input.clone()),
        ToolCall::WriteFile { path, content } => {
            ("write".into(), json!({"filePath": path, "content": content}))
        }
        ToolCall::EditFile { path, old, new } => {
            ("edit".into(), json!({"filePath": path, "oldString": old, "newString": new}))
        }
        ToolCall::Shell { command, description } => (
            "bash".into(),
            json!({"command": command, "description": description.as_deref().unwrap_or(command)}),
        ),
        ToolCall::ExecCommand { .. } | ToolCall::ApplyPatch { .. } => {
            return Err(NoForm::codex_only(call, Api::ChatCompletions));
        }
    };
    Ok((name, arguments.to_string()))
}

fn id(turn: &Turn<'_>) -> String {
    format!("chatcmpl-orca-{}", turn.seq)
}

fn usage(turn: &Turn<'_>) -> Value {
    let usage = turn.usage;
    json!({
        "prompt_tokens": usage.input + usage.cached,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.cached + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cached},
    })
}

fn chunk(turn: &Turn<'_>, choices: Value, usage: Option<Value>) -> SseEvent {
    let mut chunk = json!({
        "id": id(turn),
        "object": "chat.completion.chunk",
        "created": 0,
        "model": turn.model(),
        "choices": choices,
    });
    if let Some(usage) = usage {
        chunk["usage"] = usage;
    }
    SseEvent::data(&chunk)
}

pub(super) fn stream_start(turn: &Turn<'_>) -> SseEvent {
    chunk(
        turn,
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    )
}

pub(super) fn message(
    turn: &Turn<'_>,
    text: Option<&str>,
    tools: &[ToolCall],
) -> Result<Payload, NoForm> {
    let calls = tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?;
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(index, (name, arguments))| {
            json!({
                "index": index,
                "id": format!("call_orca_{}_{index}", turn.seq),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            })
        })
        .collect();
    let finish_reason = if tools.is_empty() { "stop" } else { "tool_calls" };
    if !turn.conversation.stream {
        let mut message = json!({"role": "assistant", "content": text});
        if !tool_calls.is_empty() {
            message["tool_calls"] = json!(tool_calls);
        }
        return Ok(Payload::Json(json!({
            "id": id(turn),
            "object": "chat.completion",
            "created": 0,
            "model": turn.model(),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage(turn),
        })));
    }
    let mut events = vec![stream_start(turn)];
    if let Some(text) = text {
        events.push(chunk(
            turn,
            json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]),
            None,
        ));
    }
    for call in tool_calls {
        events.push(chunk(
            turn,
            json!([{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]),
            None,
        ));
    }
    events.push(chunk(
        turn,
        json!([{"index": 0, "delta": {}, "finish_reason": finish_reason}]),
        None,
    ));
    events.push(chunk(turn, json!([]), Some(usage(turn))));
    events.push(SseEvent { event: None, data: "[DONE]".into() });
    Ok(Payload::Sse(events))
}
