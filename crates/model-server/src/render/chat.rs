//! OpenAI Chat Completions (opencode, Qwen Code): `chat.completion.chunk`
//! data lines, a usage chunk, then `data: [DONE]`.

use serde_json::{Value, json};

use super::{NoForm, Payload, SseEvent, Turn};
use crate::api::Api;
use crate::conversation::Conversation;
use crate::script::ToolCall;

/// Whose tools the shorthands name. Both CLIs speak this API; the tool list
/// in the request says which one is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolset {
    /// opencode: `write`, `edit`, `bash` with camel-case arguments.
    Opencode,
    /// Qwen Code: `write_file`, `edit`, `run_shell_command` (Gemini CLI's
    /// names, snake-case arguments; paths must be absolute).
    Qwen,
}

impl Toolset {
    fn of(conversation: &Conversation) -> Toolset {
        if conversation.offers("write_file") || conversation.offers("run_shell_command") {
            Toolset::Qwen
        } else {
            Toolset::Opencode
        }
    }
}

/// The CLI's own tool for a call: (name, arguments as JSON text).
fn tool(toolset: Toolset, call: &ToolCall) -> Result<(String, String), NoForm> {
    let (name, arguments) = match (toolset, call) {
        (_, ToolCall::ToolUse { name, input }) => (name.clone(), input.clone()),
        (Toolset::Opencode, ToolCall::WriteFile { path, content }) => {
            ("write".into(), json!({"filePath": path, "content": content}))
        }
        (Toolset::Opencode, ToolCall::EditFile { path, old, new }) => {
            ("edit".into(), json!({"filePath": path, "oldString": old, "newString": new}))
        }
        (Toolset::Opencode, ToolCall::Shell { command, description }) => (
            "bash".into(),
            json!({"command": command, "description": description.as_deref().unwrap_or(command)}),
        ),
        (Toolset::Qwen, ToolCall::WriteFile { path, content }) => {
            ("write_file".into(), json!({"file_path": path, "content": content}))
        }
        (Toolset::Qwen, ToolCall::EditFile { path, old, new }) => {
            ("edit".into(), json!({"file_path": path, "old_string": old, "new_string": new}))
        }
        (Toolset::Qwen, ToolCall::Shell { command, description }) => {
            let mut arguments = json!({"command": command});
            if let Some(description) = description {
                arguments["description"] = json!(description);
            }
            ("run_shell_command".into(), arguments)
        }
        (_, ToolCall::ExecCommand { .. } | ToolCall::ApplyPatch { .. }) => {
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
    let toolset = Toolset::of(turn.conversation);
    let calls = tools.iter().map(|call| tool(toolset, call)).collect::<Result<Vec<_>, _>>()?;
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
