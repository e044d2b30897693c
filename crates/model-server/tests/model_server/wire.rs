//! The server on the wire: SSE framing, JSON replies, faults, the log.

use std::io::{BufReader, ErrorKind, Read};
use std::time::Duration;

use orca_model_server::{Api, Fault, ModelServer, Rule, Script, ServerOptions, ToolCall, Usage};
use serde_json::{Value, json};

use crate::client::{self, post};

const MESSAGES: &str = "/v1/messages?beta=true";

fn claude_request(prompt: &str) -> Value {
    json!({
        "model": "claude-test",
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "tools": [],
        "max_tokens": 64000
    })
}

fn codex_request(prompt: &str) -> Value {
    json!({
        "model": "gpt-5.5",
        "stream": true,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}
        ],
        "tools": []
    })
}

fn data(event: &(Option<String>, String)) -> Value {
    serde_json::from_str(&event.1).unwrap_or_else(|e| panic!("{e}: {}", event.1))
}

#[test]
fn anthropic_stream_frames_text_and_tool_use_with_usage() {
    let script = Script::new().rule(
        Rule::tool(ToolCall::write_file("hello.txt", "hi\n")).saying("Writing.").usage(Usage {
            input: 123,
            output: 45,
            cached: 6,
        }),
    );
    let server = ModelServer::start(script).unwrap();
    let response = post(server.addr(), MESSAGES, &claude_request("go"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let events = response.events();
    let names: Vec<_> = events.iter().map(|e| e.0.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for event in &events {
        assert_eq!(data(event)["type"], event.0.clone().unwrap(), "data type names the event");
    }
    let start = data(&events[0]);
    assert_eq!(start["message"]["model"], "claude-test");
    assert_eq!(start["message"]["usage"]["input_tokens"], 123);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 6);
    assert_eq!(data(&events[2])["delta"], json!({"type": "text_delta", "text": "Writing."}));
    let tool_start = data(&events[4]);
    assert_eq!(tool_start["index"], 1);
    assert_eq!(tool_start["content_block"]["type"], "tool_use");
    assert_eq!(tool_start["content_block"]["name"], "Write");
    let partial = data(&events[5])["delta"]["partial_json"].as_str().unwrap().to_string();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"file_path": "hello.txt", "content": "hi\n"})
    );
    let delta = data(&events[7]);
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 45);
}

#[test]
fn anthropic_without_stream_gets_one_message_object() {
    let script = Script::new()
        .rule(Rule::tool(ToolCall::edit_file("a.txt", "x", "y")).tool_result(false))
        .rule(Rule::text("Done."));
    let server = ModelServer::start(script).unwrap();
    let mut request = claude_request("go");
    request["stream"] = json!(false);
    let response = post(server.addr(), "/v1/messages", &request);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let message = response.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0]["name"], "Edit");
    assert_eq!(
        message["content"][0]["input"],
        json!({"file_path": "a.txt", "old_string": "x", "new_string": "y"})
    );
    assert_eq!(message["usage"]["output_tokens"], 20, "the default usage");
}

#[test]
fn responses_stream_has_output_items_then_completed_with_usage() {
    let script = Script::new().rule(
        Rule::tools([
            ToolCall::exec_command("printf hi > hello.txt"),
            ToolCall::write_file("new.txt", "a\nb\n"),
            ToolCall::apply_patch("*** Begin Patch\n*** Delete File: x\n*** End Patch\n"),
        ])
        .saying("Working.")
        .api(Api::OpenAi)
        .usage(Usage { input: 200, output: 40, cached: 10 }),
    );
    let server = ModelServer::start(script).unwrap();
    let response = post(server.addr(), "/v1/responses", &codex_request("go"));
    assert_eq!(response.status, 200);
    let events = response.events();
    let names: Vec<_> = events.iter().map(|e| e.0.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_item.done",
            "response.output_item.done",
            "response.output_item.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let items: Vec<Value> = events[1..5].iter().map(|e| data(e)["item"].clone()).collect();
    assert_eq!(items[0]["type"], "message");
    assert_eq!(
        items[0]["content"][0],
        json!({"type": "output_text", "text": "Working.", "annotations": []})
    );
    assert_eq!(items[1]["type"], "function_call");
    assert_eq!(items[1]["name"], "exec_command");
    let arguments: Value = serde_json::from_str(items[1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"cmd": "printf hi > hello.txt"}));
    assert_eq!(items[2]["type"], "custom_tool_call");
    assert_eq!(items[2]["name"], "apply_patch");
    assert_eq!(
        items[2]["input"],
        "*** Begin Patch\n*** Add File: new.txt\n+a\n+b\n*** End Patch\n"
    );
    assert_eq!(items[3]["input"], "*** Begin Patch\n*** Delete File: x\n*** End Patch\n");
    let call_ids: Vec<_> = items[1..].iter().map(|i| i["call_id"].as_str().unwrap()).collect();
    assert!(call_ids[0] != call_ids[1] && call_ids[1] != call_ids[2], "{call_ids:?}");
    let usage = &data(&events[5])["response"]["usage"];
    assert_eq!(usage["input_tokens"], 210);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 10);
    assert_eq!(usage["output_tokens"], 40);
    assert_eq!(usage["total_tokens"], 250);
}

#[test]
fn chat_completions_stream_ends_with_usage_and_done() {
    let script = Script::new().rule(Rule::tool(ToolCall::shell("ls")).saying("Listing."));
    let server = ModelServer::start(script).unwrap();
    let request =
        json!({"model": "m1", "stream": true, "messages": [{"role": "user", "content": "go"}]});
    let response = post(server.addr(), "/v1/chat/completions", &request);
    assert_eq!(response.status, 200);
    let events = response.events();
    assert!(events.iter().all(|e| e.0.is_none()), "chat chunks have no event names");
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(data).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Listing.");
    let call = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "bash");
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[4]["usage"]["completion_tokens"], 20);
}

/// opencode and Qwen Code both speak Chat Completions; the tools a request
/// offers decide whose tool names the shorthands take.
#[test]
fn chat_shorthands_follow_the_offered_tools() {
    let script = Script::new().rule(Rule::tools([
        ToolCall::write_file("/w/a.txt", "x"),
        ToolCall::edit_file("/w/a.txt", "x", "y"),
        ToolCall::shell("ls"),
    ]));
    let server = ModelServer::start(script).unwrap();
    let calls = |tools: Value| -> Vec<(String, Value)> {
        let request = json!({"stream": true, "messages": [{"role": "user", "content": "go"}], "tools": tools});
        let response = post(server.addr(), "/v1/chat/completions", &request);
        let events = response.events();
        events[..events.len() - 1]
            .iter()
            .map(data)
            .filter_map(|chunk| {
                let call = chunk["choices"][0]["delta"]["tool_calls"][0]["function"].clone();
                let name = call["name"].as_str()?.to_string();
                Some((name, serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap()))
            })
            .collect()
    };
    let function = |name: &str| json!({"type": "function", "function": {"name": name}});
    let qwen =
        calls(json!([function("write_file"), function("edit"), function("run_shell_command")]));
    assert_eq!(
        qwen,
        [
            ("write_file".to_string(), json!({"file_path": "/w/a.txt", "content": "x"})),
            (
                "edit".to_string(),
                json!({"file_path": "/w/a.txt", "old_string": "x", "new_string": "y"})
            ),
            ("run_shell_command".to_string(), json!({"command": "ls"})),
        ]
    );
    let opencode = calls(json!([function("write"), function("edit"), function("bash")]));
    let names: Vec<&str> = opencode.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["write", "edit", "bash"]);
    assert_eq!(opencode[1].1, json!({"filePath": "/w/a.txt", "oldString": "x", "newString": "y"}));
}

#[test]
fn gemini_stream_is_data_lines_with_function_calls() {
    let script = Script::new().rule(Rule::tool(ToolCall::write_file("a.txt", "x")));
    let server = ModelServer::start(script).unwrap();
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}]});
    let response = post(
        server.addr(),
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        &request,
    );
    assert_eq!(response.status, 200);
    let events = response.events();
    assert_eq!(events.len(), 1);
    let chunk = data(&events[0]);
    assert_eq!(
        chunk["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "write_file", "args": {"file_path": "a.txt", "content": "x"}})
    );
    assert_eq!(chunk["usageMetadata"]["candidatesTokenCount"], 20);
    assert_eq!(chunk["modelVersion"], "gemini-2.5-pro", "the model comes from the path");
}

#[test]
fn gemini_replace_carries_the_instruction_the_cli_requires() {
    let script = Script::new().rule(Rule::tool(ToolCall::edit_file("a.txt", "x", "y")));
    let server = ModelServer::start(script).unwrap();
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}]});
    let response = post(server.addr(), "/v1beta/models/m:generateContent", &request);
    let call = &response.json()["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "replace");
    assert_eq!(call["args"]["old_string"], "x");
    assert!(call["args"]["instruction"].as_str().is_some_and(|text| !text.is_empty()));
}

#[test]
fn http_faults_carry_status_headers_and_api_shaped_bodies() {
    let script = Script::new()
        .rule(Rule::fault(Fault::RateLimit { retry_after: Some(7), message: None }).marker("RATE"))
        .rule(Rule::fault(Fault::ServerError { message: Some("boom".into()) }).marker("FIVE"))
        .rule(Rule::fault(Fault::Overloaded { message: None }).marker("OVER"))
        .rule(
            Rule::fault(Fault::Http {
                status: 401,
                message: Some("bad key".into()),
                retry_after: None,
                headers: [("x-extra".to_string(), "1".to_string())].into(),
            })
            .marker("AUTH"),
        );
    let server = ModelServer::start(script).unwrap();

    let rate = post(server.addr(), MESSAGES, &claude_request("RATE"));
    assert_eq!(rate.status, 429);
    assert_eq!(rate.header("retry-after"), Some("7"));
    assert_eq!(rate.json()["type"], "error");
    assert_eq!(rate.json()["error"]["type"], "rate_limit_error");

    let openai_rate = post(server.addr(), "/v1/responses", &codex_request("RATE"));
    assert_eq!(openai_rate.status, 429);
    assert_eq!(openai_rate.json()["error"]["code"], "rate_limit_exceeded");

    let five = post(server.addr(), MESSAGES, &claude_request("FIVE"));
    assert_eq!(five.status, 500);
    assert_eq!(five.json()["error"], json!({"type": "api_error", "message": "boom"}));

    let over = post(server.addr(), MESSAGES, &claude_request("OVER"));
    assert_eq!(over.status, 529);
    assert_eq!(over.json()["error"]["type"], "overloaded_error");

    let openai_over = post(server.addr(), "/v1/responses", &codex_request("OVER"));
    assert_eq!(openai_over.status, 503);
    assert_eq!(openai_over.json()["error"]["code"], "server_is_overloaded");

    let auth = post(server.addr(), "/v1/responses", &codex_request("AUTH"));
    assert_eq!(auth.status, 401);
    assert_eq!(auth.header("x-extra"), Some("1"));
    assert_eq!(auth.json()["error"]["message"], "bad key");
}

#[test]
fn usage_limit_reports_the_reset_time_per_api() {
    let script = Script::new()
        .rule(Rule::fault(Fault::UsageLimit { resets_at: Some(4_000_000_000), resets_in: None }));
    let server = ModelServer::start(script).unwrap();

    let claude = post(server.addr(), MESSAGES, &claude_request("go"));
    assert_eq!(claude.status, 429);
    assert_eq!(claude.header("anthropic-ratelimit-unified-status"), Some("rejected"));
    assert_eq!(claude.header("anthropic-ratelimit-unified-reset"), Some("4000000000"));
    let retry_after: u64 = claude.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);

    let codex = post(server.addr(), "/v1/responses", &codex_request("go"));
    assert_eq!(codex.status, 429);
    let error = &codex.json()["error"];
    assert_eq!(error["type"], "usage_limit_reached");
    assert_eq!(error["resets_at"], 4_000_000_000u64);

    let gemini = post(
        server.addr(),
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        &json!({"contents": [{"role": "user", "parts": [{"text": "go"}]}]}),
    );
    assert_eq!(gemini.status, 429);
    let details = gemini.json()["error"]["details"].clone();
    assert!(
        details[0]["violations"][0]["quotaId"].as_str().unwrap().contains("PerDay"),
        "Gemini CLI reads a per-day quota as a spent limit: {details}"
    );
    let delay = details[1]["retryDelay"].as_str().unwrap();
    assert_eq!(delay, format!("{}s", gemini.header("retry-after").unwrap()));
}

#[test]
fn times_makes_the_first_request_fail_and_the_next_succeed() {
    let script = Script::new()
        .rule(Rule::fault(Fault::ServerError { message: None }).times(1).named("flaky"))
        .rule(Rule::text("ok").named("steady"));
    let server = ModelServer::start(script).unwrap();
    assert_eq!(post(server.addr(), MESSAGES, &claude_request("go")).status, 500);
    assert_eq!(post(server.addr(), MESSAGES, &claude_request("go")).status, 200);
    assert_eq!(post(server.addr(), MESSAGES, &claude_request("go")).status, 200);
    let rules: Vec<_> = server.requests().iter().map(|r| r.rule.clone().unwrap()).collect();
    assert_eq!(rules, ["flaky", "steady", "steady"]);
}

#[test]
fn unmatched_requests_get_a_clear_400_and_are_logged() {
    let script = Script::new().rule(Rule::text("only codex").api(Api::OpenAi));
    let server = ModelServer::start(script).unwrap();
    let response = post(server.addr(), MESSAGES, &claude_request("go"));
    assert_eq!(response.status, 400);
    let message = response.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("no script rule matched"), "{message}");
    assert!(message.contains("api anthropic, turn 1"), "{message}");
    let logged = server.requests();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].outcome, "no rule matched");
    assert_eq!(logged[0].rule, None);
    assert_eq!(logged[0].status, Some(400));
}

#[test]
fn a_codex_only_tool_for_claude_is_a_visible_400() {
    let script = Script::new().rule(Rule::tool(ToolCall::apply_patch("x")).named("patcher"));
    let server = ModelServer::start(script).unwrap();
    let response = post(server.addr(), MESSAGES, &claude_request("go"));
    assert_eq!(response.status, 400);
    let message = response.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("patcher") && message.contains("apply_patch"), "{message}");
}

#[test]
fn head_root_is_answered_and_unknown_paths_are_404() {
    let server = ModelServer::start(Script::new()).unwrap();
    let head = client::request(server.addr(), "HEAD", "/", &[], "");
    assert_eq!(head.status, 200);
    let unknown = client::request(server.addr(), "GET", "/v1/models", &[], "");
    assert_eq!(unknown.status, 404);
    let wrong_method = client::request(server.addr(), "GET", "/v1/messages", &[], "");
    assert_eq!(wrong_method.status, 404);
    let outcomes: Vec<_> = server.requests().iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(outcomes, ["root", "not found", "not found"]);
    assert!(server.model_requests().is_empty());
}

#[test]
fn the_log_holds_headers_body_and_rule_and_goes_to_a_jsonl_file() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("requests.jsonl");
    let script = Script::new().rule(Rule::text("hi").named("greeter").header("x-session", "s1"));
    let server = ModelServer::start_with(
        script,
        ServerOptions { port: 0, log_file: Some(log_file.clone()) },
    )
    .unwrap();
    let body = claude_request("TASK-42").to_string();
    let headers =
        [("x-api-key", "sk-secret"), ("x-session", "s1"), ("anthropic-version", "2023-06-01")];
    let response = client::request(server.addr(), "POST", MESSAGES, &headers, &body);
    assert_eq!(response.status, 200);
    let logged = server.requests();
    assert_eq!(logged.len(), 1);
    let entry = &logged[0];
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.path, "/v1/messages");
    assert_eq!(entry.query.as_deref(), Some("beta=true"));
    assert_eq!(entry.api, Some(Api::Anthropic));
    assert_eq!(entry.header("X-Session"), Some("s1"));
    assert_eq!(entry.header("x-api-key"), Some("<redacted>"), "credentials stay out of logs");
    assert!(entry.body_contains("TASK-42"));
    assert_eq!(entry.body["model"], "claude-test");
    assert_eq!((entry.turn, entry.tool_result), (Some(1), Some(false)));
    assert_eq!(entry.rule.as_deref(), Some("greeter"));
    assert_eq!(entry.rule_index, Some(0));
    assert_eq!(entry.status, Some(200));
    server.shutdown();
    let text = std::fs::read_to_string(&log_file).unwrap();
    let lines: Vec<orca_model_server::LoggedRequest> =
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines, logged);
}

#[test]
fn stall_holds_the_connection_silent_until_shutdown() {
    let script = Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream: false }));
    let server = ModelServer::start(script).unwrap();
    let mut stream = client::connect(server.addr());
    client::send(&mut stream, "POST", MESSAGES, &[], &claude_request("go").to_string());
    let (logged, _) = server.wait_for(Duration::from_secs(30), |log| !log.is_empty());
    assert!(logged, "the stalled request is logged while it stalls");
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buffer = [0u8; 64];
    let silent = stream.read(&mut buffer);
    assert!(
        matches!(&silent, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "nothing arrives while stalled: {silent:?}"
    );
    server.shutdown();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    match stream.read(&mut buffer) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("shutdown closes a stalled connection without a response: {other:?}"),
    }
}

#[test]
fn timed_stall_closes_without_a_response() {
    let script =
        Script::new().rule(Rule::fault(Fault::Stall { seconds: Some(1), mid_stream: false }));
    let server = ModelServer::start(script).unwrap();
    let mut stream = client::connect(server.addr());
    client::send(&mut stream, "POST", "/v1/responses", &[], &codex_request("go").to_string());
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received)),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
    assert_eq!(server.requests()[0].status, None);
}

#[test]
fn mid_stream_stall_sends_the_first_event_then_falls_silent() {
    let script = Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream: true }));
    let server = ModelServer::start(script).unwrap();
    let mut stream = client::connect(server.addr());
    client::send(&mut stream, "POST", MESSAGES, &[], &claude_request("go").to_string());
    let mut reader = BufReader::new(stream);
    let (status, headers) = client::read_head(&mut reader);
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "text/event-stream".into())));
    let first = client::read_chunk(&mut reader).unwrap();
    assert!(first.starts_with("event: message_start\ndata: "), "{first:?}");
    reader.get_ref().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buffer = [0u8; 16];
    let silent = reader.read(&mut buffer);
    assert!(
        matches!(&silent, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "nothing after the first event: {silent:?}"
    );
}

#[test]
fn disconnect_closes_without_a_response() {
    let script = Script::new().rule(Rule::fault(Fault::Disconnect));
    let server = ModelServer::start(script).unwrap();
    let mut stream = client::connect(server.addr());
    client::send(&mut stream, "POST", MESSAGES, &[], &claude_request("go").to_string());
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => assert!(received.is_empty()),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
    assert_eq!(server.requests()[0].outcome, "fault disconnect");
}

#[test]
fn delayed_replies_arrive() {
    let script = Script::new().rule(Rule::text("late").delay(Duration::from_millis(200)));
    let server = ModelServer::start(script).unwrap();
    let response = post(server.addr(), MESSAGES, &claude_request("go"));
    assert_eq!(response.status, 200);
    assert_eq!(response.events().len(), 6);
}

#[test]
fn turns_and_tool_results_drive_a_two_step_conversation() {
    let script = Script::new()
        .rule(Rule::tool(ToolCall::shell("make")).turn(1).marker("TASK-1"))
        .rule(Rule::text("built").turn(2).tool_result(true).marker("TASK-1"));
    let server = ModelServer::start(script).unwrap();
    let first = post(server.addr(), MESSAGES, &claude_request("TASK-1"));
    let tool_id = first.events()[1].1.clone();
    let tool_id = serde_json::from_str::<Value>(&tool_id).unwrap()["content_block"]["id"].clone();
    let mut second = claude_request("TASK-1");
    second["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "make"}}]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "ok"}]}),
    ]);
    let reply = post(server.addr(), MESSAGES, &second);
    assert_eq!(data(&reply.events()[2])["delta"]["text"], "built");
    let other_task = post(server.addr(), MESSAGES, &claude_request("TASK-2"));
    assert_eq!(other_task.status, 400, "a marker keeps tasks apart");
}
