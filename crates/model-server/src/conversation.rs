//! The facts about a request that rules match on, read from its JSON body
//! in each API's own shape. Missing or odd fields never fail: a request
//! the server cannot read simply has an empty prompt and turn 1.

use serde_json::Value;

use crate::api::Api;

/// What a request says about its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conversation {
    /// The API the request speaks.
    pub(crate) api: Api,
    /// The model asked for.
    pub(crate) model: Option<String>,
    /// Whether the client asked for a streamed (SSE) reply.
    pub(crate) stream: bool,
    /// The system and user messages' text, joined by newlines.
    pub(crate) prompt: String,
    /// Assistant turns in the history + 1.
    pub(crate) turn: u32,
    /// Whether the messages after the last assistant turn hold a tool result.
    pub(crate) tool_result: bool,
    /// The names of the tools the request offers the model: which CLI is
    /// asking, where two CLIs speak one API (opencode and Qwen Code).
    pub(crate) offered_tools: Vec<String>,
}

/// How one history entry counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Written by the model: text or a tool call.
    Assistant,
    /// A tool's result sent back to the model.
    ToolResult,
    /// Anything else (user or system text).
    Other,
}

impl Conversation {
    /// Reads the conversation facts from a request body. `streaming_path`
    /// says the URL itself asks for a stream (Gemini's
    /// `streamGenerateContent`).
    pub(crate) fn read(api: Api, body: &Value, streaming_path: bool) -> Conversation {
        let model = body.get("model").and_then(Value::as_str).map(str::to_string);
        let offered_tools = offered_tools(api, body);
        let (entries, prompt, stream) = match api {
            Api::Anthropic => read_anthropic(body),
            Api::OpenAi => read_responses(body),
            Api::ChatCompletions => read_chat(body),
            Api::Gemini => {
                let (entries, prompt) = read_gemini(body);
                (entries, prompt, streaming_path)
            }
        };
        let (turn, tool_result) = summarize(&entries);
        Conversation { api, model, stream, prompt, turn, tool_result, offered_tools }
    }

    /// Whether the request offers a tool named `name`.
    pub(crate) fn offers(&self, name: &str) -> bool {
        self.offered_tools.iter().any(|offered| offered == name)
    }
}

/// The tool names in a request's tool list, in each API's shape.
fn offered_tools(api: Api, body: &Value) -> Vec<String> {
    let name =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let tools = array(body, "tools");
    match api {
        Api::Anthropic | Api::OpenAi => {
            tools.iter().filter_map(|tool| name(tool, "name")).collect()
        }
        Api::ChatCompletions => tools
            .iter()
            .filter_map(|tool| name(tool.get("function").unwrap_or(&Value::Null), "name"))
            .collect(),
        Api::Gemini => tools
            .iter()
            .flat_map(|tool| array(tool, "functionDeclarations"))
            .filter_map(|declaration| name(declaration, "name"))
            .collect(),
    }
}

/// Turn number (runs of assistant entries + 1) and whether a tool result
/// follows the last assistant entry.
fn summarize(entries: &[Entry]) -> (u32, bool) {
    let mut runs = 0u32;
    let mut previous = Entry::Other;
    let mut tool_result_since_assistant = false;
    for &entry in entries {
        match entry {
            Entry::Assistant => {
                if previous != Entry::Assistant {
                    runs += 1;
                }
                tool_result_since_assistant = false;
            }
            Entry::ToolResult => tool_result_since_assistant = true,
            Entry::Other => {}
        }
        previous = entry;
    }
    (runs + 1, tool_result_since_assistant)
}

fn push_text(prompt: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !prompt.is_empty() {
        prompt.push('\n');
    }
    prompt.push_str(text);
}

/// Text of a content field that is a string or a list of text blocks.
fn push_content_text(prompt: &mut String, content: Option<&Value>, text_types: &[&str]) {
    match content {
        Some(Value::String(text)) => push_text(prompt, text),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                let kind = block.get("type").and_then(Value::as_str).unwrap_or("text");
                if text_types.contains(&kind)
                    && let Some(text) = block.get("text").and_then(Value::as_str)
                {
                    push_text(prompt, text);
                }
            }
        }
        _ => {}
    }
}

fn stream_flag(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn array<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

fn read_anthropic(body: &Value) -> (Vec<Entry>, String, bool) {
    let mut prompt = String::new();
    push_content_text(&mut prompt, body.get("system"), &["text"]);
    let mut entries = Vec::new();
    for message in array(body, "messages") {
        let content = message.get("content");
        match role(message) {
            "assistant" => entries.push(Entry::Assistant),
            // Claude Code may put `role: "system"` entries in `messages`.
            "user" | "system" => {
                push_content_text(&mut prompt, content, &["text"]);
                let has_tool_result = content.and_then(Value::as_array).is_some_and(|blocks| {
                    blocks
                        .iter()
                        .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                });
                entries.push(if has_tool_result { Entry::ToolResult } else { Entry::Other });
            }
            _ => entries.push(Entry::Other),
        }
    }
    (entries, prompt, stream_flag(body))
}

fn read_responses(body: &Value) -> (Vec<Entry>, String, bool) {
    let mut prompt = String::new();
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        push_text(&mut prompt, instructions);
    }
    let mut entries = Vec::new();
    match body.get("input") {
        Some(Value::String(text)) => push_text(&mut prompt, text),
        Some(Value::Array(items)) => {
            for item in items {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
                let entry = match kind {
                    "message" => match role(item) {
                        "assistant" => Entry::Assistant,
                        "user" | "developer" | "system" => {
                            push_content_text(
                                &mut prompt,
                                item.get("content"),
                                &["input_text", "text"],
                            );
                            Entry::Other
                        }
                        _ => Entry::Other,
                    },
                    "function_call_output"
                    | "custom_tool_call_output"
                    | "local_shell_call_output"
                    | "tool_search_output" => Entry::ToolResult,
                    "function_call" | "custom_tool_call" | "local_shell_call" | "reasoning"
                    | "web_search_call" | "tool_search_call" => Entry::Assistant,
                    _ => Entry::Other,
                };
                entries.push(entry);
            }
        }
        _ => {}
    }
    (entries, prompt, stream_flag(body))
}

fn read_chat(body: &Value) -> (Vec<Entry>, String, bool) {
    let mut prompt = String::new();
    let mut entries = Vec::new();
    for message in array(body, "messages") {
        let entry = match role(message) {
            "assistant" => Entry::Assistant,
            "tool" | "function" => Entry::ToolResult,
            "user" | "system" | "developer" => {
                push_content_text(&mut prompt, message.get("content"), &["text"]);
                Entry::Other
            }
            _ => Entry::Other,
        };
        entries.push(entry);
    }
    (entries, prompt, stream_flag(body))
}

fn read_gemini(body: &Value) -> (Vec<Entry>, String) {
    let mut prompt = String::new();
    let gemini_text = |prompt: &mut String, content: &Value| {
        for part in array(content, "parts") {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                push_text(prompt, text);
            }
        }
    };
    if let Some(system) = body.get("systemInstruction").or(body.get("system_instruction")) {
        gemini_text(&mut prompt, system);
    }
    let mut entries = Vec::new();
    for content in array(body, "contents") {
        let entry = if role(content) == "model" {
            Entry::Assistant
        } else if array(content, "parts").iter().any(|part| part.get("functionResponse").is_some())
        {
            Entry::ToolResult
        } else {
            gemini_text(&mut prompt, content);
            Entry::Other
        };
        entries.push(entry);
    }
    (entries, prompt)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn anthropic_first_turn() {
        let body = json!({
            "model": "claude-x",
            "stream": true,
            "system": [{"type": "text", "text": "You are Claude Code."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Do TASK-7 please"}]}
            ]
        });
        let conv = Conversation::read(Api::Anthropic, &body, false);
        assert_eq!(conv.model.as_deref(), Some("claude-x"));
        assert!(conv.stream);
        assert_eq!(conv.turn, 1);
        assert!(!conv.tool_result);
        assert!(conv.prompt.contains("You are Claude Code."));
        assert!(conv.prompt.contains("TASK-7"));
    }

    #[test]
    fn anthropic_tool_result_after_two_assistant_turns() {
        let body = json!({
            "system": "sys",
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Write", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "SECRET-OUTPUT"}]},
                {"role": "system", "content": "a reminder"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t2", "content": "ok"},
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"}
                ]}
            ]
        });
        let conv = Conversation::read(Api::Anthropic, &body, false);
        assert_eq!(conv.turn, 3);
        assert!(conv.tool_result);
        assert!(!conv.stream);
        assert!(conv.prompt.contains("a reminder"));
        assert!(!conv.prompt.contains("SECRET-OUTPUT"), "tool results are not prompt text");
    }

    #[test]
    fn anthropic_user_text_after_assistant_is_not_a_tool_result() {
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "done"},
            {"role": "user", "content": "again"}
        ]});
        let conv = Conversation::read(Api::Anthropic, &body, false);
        assert_eq!(conv.turn, 2);
        assert!(!conv.tool_result);
    }

    #[test]
    fn responses_items_count_assistant_runs() {
        let body = json!({
            "model": "gpt-5.5",
            "stream": true,
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "TASK-3: add"}]},
                {"type": "reasoning", "summary": []},
                {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "..."},
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "done"},
                {"type": "function_call", "call_id": "c2", "name": "exec_command", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": "ok"}
            ]
        });
        let conv = Conversation::read(Api::OpenAi, &body, false);
        assert_eq!(conv.turn, 3);
        assert!(conv.tool_result);
        assert!(conv.stream);
        assert!(conv.prompt.contains("rules") && conv.prompt.contains("TASK-3"));
    }

    #[test]
    fn responses_plain_string_input() {
        let conv = Conversation::read(
            Api::OpenAi,
            &json!({"instructions": "be brief", "input": "hello"}),
            false,
        );
        assert_eq!(conv.turn, 1);
        assert!(!conv.tool_result);
        assert_eq!(conv.prompt, "be brief\nhello");
    }

    #[test]
    fn chat_and_gemini_tool_results() {
        let chat = json!({"stream": true, "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "T-1"}]},
            {"role": "assistant", "tool_calls": []},
            {"role": "tool", "content": "ok"}
        ]});
        let conv = Conversation::read(Api::ChatCompletions, &chat, false);
        assert_eq!((conv.turn, conv.tool_result, conv.stream), (2, true, true));
        assert_eq!(conv.prompt, "sys\nT-1");
        assert!(conv.offered_tools.is_empty());

        let gemini = json!({
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "T-2"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "write_file", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "write_file", "response": {}}}]}
            ]
        });
        let conv = Conversation::read(Api::Gemini, &gemini, true);
        assert_eq!((conv.turn, conv.tool_result, conv.stream), (2, true, true));
        assert_eq!(conv.prompt, "sys\nT-2");
    }

    #[test]
    fn offered_tools_are_read_in_each_shape() {
        let chat = json!({"tools": [
            {"type": "function", "function": {"name": "write_file", "parameters": {}}},
            {"type": "function", "function": {"name": "run_shell_command"}}
        ]});
        let conv = Conversation::read(Api::ChatCompletions, &chat, false);
        assert_eq!(conv.offered_tools, ["write_file", "run_shell_command"]);
        assert!(conv.offers("write_file") && !conv.offers("write"));

        let gemini =
            json!({"tools": [{"functionDeclarations": [{"name": "replace"}, {"name": "glob"}]}]});
        let conv = Conversation::read(Api::Gemini, &gemini, true);
        assert_eq!(conv.offered_tools, ["replace", "glob"]);

        let anthropic = json!({"tools": [{"name": "Write", "input_schema": {}}]});
        assert_eq!(Conversation::read(Api::Anthropic, &anthropic, false).offered_tools, ["Write"]);
    }

    #[test]
    fn garbage_bodies_read_as_a_first_turn() {
        for body in [json!(null), json!([1, 2]), json!({"messages": "nope", "input": 5})] {
            for api in [Api::Anthropic, Api::OpenAi, Api::ChatCompletions, Api::Gemini] {
                let conv = Conversation::read(api, &body, false);
                assert_eq!((conv.turn, conv.tool_result), (1, false));
                assert_eq!(conv.prompt, "");
            }
        }
    }
}
