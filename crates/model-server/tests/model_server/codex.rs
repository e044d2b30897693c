//! The real `codex` CLI against the scripted server.

use orca_model_server::{
    Api, Fault, ModelServer, ModelServerHandle, Rule, Script, ToolCall, Usage,
};
use serde_json::Value;

use crate::agent_run::{Finished, RUN_TIMEOUT, Running, Sandbox, assert_only_loopback, codex, run};

#[test]
fn codex_applies_patches_runs_exec_command_and_reports_the_tokens_sent() {
    let usage = |input, output, cached| Usage { input, output, cached };
    let script = Script::new()
        .rule(
            Rule::tool(ToolCall::write_file("hello.txt", "hello\n"))
                .named("add")
                .api(Api::OpenAi)
                .marker("TASK-1")
                .turn(1)
                .usage(usage(1000, 100, 10)),
        )
        .rule(
            Rule::tool(ToolCall::edit_file("hello.txt", "hello\n", "hello world\n"))
                .named("update")
                .turn(2)
                .tool_result(true)
                .usage(usage(2000, 200, 20)),
        )
        .rule(
            Rule::tool(ToolCall::exec_command("cp hello.txt copy.txt"))
                .named("exec")
                .turn(3)
                .tool_result(true)
                .usage(usage(3000, 300, 30)),
        )
        .rule(
            Rule::text("All done.")
                .named("done")
                .turn(4)
                .tool_result(true)
                .usage(usage(4000, 400, 40)),
        );
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let finished = run(codex(&server, &sandbox, "TASK-1: write hello.txt"));

    assert!(finished.status.success(), "{finished}");
    assert_eq!(sandbox.read("hello.txt"), "hello world\n", "apply_patch add then update");
    assert_eq!(sandbox.read("copy.txt"), "hello world\n", "exec_command ran");

    let completed: Vec<Value> =
        finished.of_type("item.completed").into_iter().map(|event| event["item"].clone()).collect();
    let kinds: Vec<_> = completed.iter().map(|item| item["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["file_change", "file_change", "command_execution", "agent_message"]);
    assert_eq!(completed[0]["changes"][0]["kind"], "add");
    assert_eq!(completed[1]["changes"][0]["kind"], "update");
    assert_eq!(completed[2]["exit_code"], 0);
    assert_eq!(completed[2]["status"], "completed");
    assert_eq!(completed[3]["text"], "All done.");

    let turns = finished.of_type("turn.completed");
    assert_eq!(turns.len(), 1, "{finished}");
    let tokens = &turns[0]["usage"];
    assert_eq!(tokens["input_tokens"], 10_100, "input plus cached tokens the server sent");
    assert_eq!(tokens["cached_input_tokens"], 100);
    assert_eq!(tokens["output_tokens"], 1_000);

    let requests = server.model_requests();
    let rules: Vec<_> = requests.iter().map(|r| r.rule.clone().unwrap_or_default()).collect();
    assert_eq!(rules, ["add", "update", "exec", "done"]);
    assert!(requests.iter().all(|r| r.header("authorization") == Some("<redacted>")));
    assert!(requests.iter().all(|r| r.header("originator") == Some("codex_exec")));
    assert_only_loopback(&server);
}

fn codex_against(fault: Fault) -> (Finished, ModelServerHandle) {
    let server = ModelServer::start(Script::new().rule(Rule::fault(fault))).unwrap();
    let sandbox = Sandbox::new();
    let finished = run(codex(&server, &sandbox, "TASK-1"));
    (finished, server)
}

/// The run failed with `turn.failed`; returns its message.
fn assert_turn_failed(finished: &Finished) -> String {
    assert_eq!(finished.status.code(), Some(1), "{finished}");
    let failed = finished.of_type("turn.failed");
    assert_eq!(failed.len(), 1, "{finished}");
    assert!(finished.of_type("turn.completed").is_empty());
    failed[0]["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn codex_rate_limit_429_fails_the_turn() {
    let (finished, server) =
        codex_against(Fault::RateLimit { retry_after: Some(30), message: None });
    let message = assert_turn_failed(&finished);
    assert!(
        message.starts_with("exceeded retry limit, last status: 429 Too Many Requests"),
        "{message}"
    );
    assert_eq!(server.model_requests().len(), 1, "retries are off");
    assert_only_loopback(&server);
}

#[test]
fn codex_server_error_500_fails_the_turn() {
    let (finished, server) = codex_against(Fault::ServerError { message: None });
    let message = assert_turn_failed(&finished);
    assert!(message.contains("high demand"), "{message}");
    assert_eq!(server.model_requests().len(), 1);
}

#[test]
fn codex_overloaded_503_fails_the_turn_at_capacity() {
    let (finished, server) = codex_against(Fault::Overloaded { message: None });
    let message = assert_turn_failed(&finished);
    assert_eq!(message, "Selected model is at capacity. Please try a different model.");
    assert_eq!(server.model_requests()[0].status, Some(503));
}

#[test]
fn codex_usage_limit_reports_the_reset_time() {
    let (finished, _server) =
        codex_against(Fault::UsageLimit { resets_at: Some(1_900_000_000), resets_in: None });
    let message = assert_turn_failed(&finished);
    assert!(message.starts_with("You’ve hit your usage limit."), "{message}");
    assert!(message.ends_with("try again at Mar 17th, 2030 5:46 PM."), "{message}");
}

#[test]
fn codex_stall_holds_the_cli_until_the_connection_is_cut() {
    let script = Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream: false }));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let mut running = Running::start(codex(&server, &sandbox, "TASK-1"));
    let (arrived, _) = server.wait_for(RUN_TIMEOUT, |log| log.iter().any(|r| r.api.is_some()));
    assert!(arrived, "codex sent its request");
    assert!(running.is_running(), "codex finished although nothing answered");
    server.shutdown();
    let finished = running.wait(RUN_TIMEOUT);
    let message = assert_turn_failed(&finished);
    assert!(message.starts_with("stream disconnected before completion"), "{message}");
}
