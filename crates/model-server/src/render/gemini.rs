//! The Gemini API (Gemini CLI): `data:` lines each holding a
//! `GenerateContentResponse`; the last one carries `finishReason` and usage.

use serde_json::{Value, json};

use super::{NoForm, Payload, SseEvent, Turn};
use crate::api::Api;
use crate::script::ToolCall;

/// Gemini CLI's own tools for the shorthands.
fn tool(call: &ToolCall) -> Result<Value, NoForm> {
    let (name, args) = match call {
        ToolCall::ToolUse { name, input } => (name.as_str(), input.clone()),
        ToolCall::WriteFile { path, content } => {
            ("write_file", json!({"file_path": path, "content": content}))
        }
        // `instruction` is required: the CLI may hand it to a model that
        // repairs a failed edit.
        ToolCall::EditFile { path, old, new } => (
            "replace",
            json!({
                "file_path": path,
                "instruction": format!("Replace the given text in {path}."),
                "old_string": old,
                "new_string": new,
            }),
        ),
        ToolCall::Shell { command, description } => {
            let mut args = json!({"command": command});
            if let Some(description) = description {
                args["description"] = json!(description);
            }
            ("run_shell_command", args)
        }
        ToolCall::ExecCommand { .. } | ToolCall::ApplyPatch { .. } => {
            return Err(NoForm::codex_only(call, Api::Gemini));
        }
    };
    Ok(json!({"functionCall": {"name": name, "args": args}}))
}

pub(super) fn stream_start() -> SseEvent {
    SseEvent::data(&json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0}]
    }))
}

pub(super) fn message(
    turn: &Turn<'_>,
    text: Option<&str>,
    tools: &[ToolCall],
) -> Result<Payload, NoForm> {
    let mut parts = Vec::new();
    if let Some(text) = text {
        parts.push(json!({"text": text}));
    }
    for call in tools {
        parts.push(tool(call)?);
    }
    let usage = turn.usage;
    let response = json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": usage.input + usage.cached,
            "candidatesTokenCount": usage.output,
            "totalTokenCount": usage.input + usage.cached + usage.output,
            "cachedContentTokenCount": usage.cached,
        },
        "modelVersion": turn.model(),
        "responseId": format!("orca-{}", turn.seq),
    });
    Ok(if turn.conversation.stream {
        Payload::Sse(vec![SseEvent::data(&response)])
    } else {
        Payload::Json(response)
    })
}

pub(super) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 | 529 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": message, "status": kind}})
}

/// A spent daily quota as the Gemini API reports it: a 429 whose
/// `QuotaFailure` names a per-day quota (Gemini CLI then stops at once with
/// "You have exhausted your daily quota") and whose `RetryInfo` says when
/// to come back.
pub(super) fn usage_limit(retry_after: u64) -> Value {
    json!({"error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
                }],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{retry_after}s")},
        ],
    }})
}
