//! The tool definitions `orca mcp` sends in `tools/list`.
//!
//! Written by hand, not derived: every byte here is paid for in every
//! model request of every session, so the schemas say only what a model
//! needs (Task Master's full tool set costs about 21k tokens; this one
//! stays under 2k, which a test checks).

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// The tool names, in the order they are listed.
pub(crate) const TOOL_NAMES: [&str; 7] = [
    "next_task",
    "claim_task",
    "heartbeat",
    "complete_task",
    "fail_task",
    "plan_status",
    "validate_plan",
];

fn schema(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut object = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    match object {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn id() -> Value {
    json!({ "type": "string", "description": "Task ID, e.g. T03" })
}

fn read_only() -> ToolAnnotations {
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = Some(true);
    annotations
}

/// Every tool, as listed.
pub(crate) fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "next_task",
            "Show the next ready task without claiming it, or why none is ready.",
            schema(json!({}), &[]),
        )
        .annotate(read_only()),
        Tool::new(
            "claim_task",
            "Claim a task for this session: the next ready one, or `id`. Returns what to do \
             (files, verify, accept). If you already hold a task, returns that one. Work only \
             on tasks you claimed.",
            schema(json!({ "id": id() }), &[]),
        ),
        Tool::new(
            "heartbeat",
            "Renew your lease on a task; call after each step of work. A lease not renewed \
             in time expires and the task goes to someone else.",
            schema(json!({ "id": id() }), &["id"]),
        ),
        Tool::new(
            "complete_task",
            "Mark your task done: its files committed, its verify command passing, every \
             accept item met.",
            schema(
                json!({
                    "id": id(),
                    "summary": { "type": "string", "description": "What changed; what verify showed" }
                }),
                &["id"],
            ),
        ),
        Tool::new(
            "fail_task",
            "Give up your task. It is retried later (the retry sees `reason`), or fails for \
             good and blocks its dependents. With `blocked`, it waits for someone to act on \
             `reason` instead.",
            schema(
                json!({
                    "id": id(),
                    "reason": { "type": "string", "description": "Why, e.g. the failing output in short" },
                    "blocked": { "type": "boolean", "description": "Something outside the task must happen first" }
                }),
                &["id", "reason"],
            ),
        ),
        Tool::new(
            "plan_status",
            "The queue at a glance: tasks per state, who holds what, what comes next.",
            schema(json!({}), &[]),
        )
        .annotate(read_only()),
        Tool::new(
            "validate_plan",
            "Check a plan file in orca's Markdown format; lists every problem with its line.",
            schema(
                json!({ "path": { "type": "string", "description": "Plan file, relative to the repository" } }),
                &["path"],
            ),
        )
        .annotate(read_only()),
    ]
}

/// A conservative token estimate for text an LLM tokenizer reads: one
/// token per 3.5 bytes. English prose runs about 4 bytes per token and
/// JSON punctuation fewer, so the estimate errs high for this text.
#[cfg(test)]
fn estimated_tokens(text: &str) -> usize {
    (text.len() * 2).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_list_stays_under_two_thousand_tokens() {
        // What the server sends: the `tools/list` result, serialized.
        let listed = rmcp::model::ListToolsResult::with_all_items(tools());
        let json = serde_json::to_string(&listed).unwrap();
        let tokens = estimated_tokens(&json);
        assert!(tokens < 2000, "the tool list is about {tokens} tokens ({} bytes)", json.len());
        // The bound must be able to fail: the estimate grows with the text.
        assert!(estimated_tokens(&"x".repeat(7000)) == 2000);
        let names: Vec<String> = listed.tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, TOOL_NAMES);
    }

    #[test]
    fn schemas_are_objects_with_their_required_fields() {
        for tool in tools() {
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            if let Some(required) = tool.input_schema.get("required") {
                for field in required.as_array().unwrap() {
                    let field = field.as_str().unwrap();
                    assert!(tool.input_schema["properties"].get(field).is_some(), "{}", tool.name);
                }
            }
        }
    }
}
