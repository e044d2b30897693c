//! The real `claude` CLI against the scripted server.

use orca_model_server::{Api, Fault, ModelServer, Rule, Script, ToolCall, Usage};

use crate::agent_run::{
    ClaudeAuth, RUN_TIMEOUT, Running, Sandbox, assert_only_loopback, claude, run,
};

fn usage(input: u64, output: u64) -> Usage {
    Usage { input, output, cached: 0 }
}

#[test]
fn claude_writes_edits_and_runs_bash_and_reports_the_tokens_sent() {
    let script = Script::new()
        .rule(
            Rule::tool(ToolCall::write_file("hello.txt", "hello\n"))
                .named("write")
                .api(Api::Anthropic)
                .marker("TASK-1")
                .turn(1)
                .usage(usage(1000, 100)),
        )
        .rule(
            Rule::tool(ToolCall::edit_file("hello.txt", "hello", "hello world"))
                .named("edit")
                .turn(2)
                .tool_result(true)
                .usage(usage(2000, 200)),
        )
        .rule(
            Rule::tool(ToolCall::shell("cp hello.txt copy.txt"))
                .named("bash")
                .turn(3)
                .tool_result(true)
                .usage(usage(3000, 300)),
        )
        .rule(
            Rule::text("All done.").named("done").turn(4).tool_result(true).usage(usage(4000, 400)),
        );
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let finished = run(claude(&server, &sandbox, "TASK-1: write hello.txt", ClaudeAuth::ApiKey));

    assert!(finished.status.success(), "{finished}");
    assert_eq!(sandbox.read("hello.txt"), "hello world\n", "Write then Edit");
    assert_eq!(sandbox.read("copy.txt"), "hello world\n", "Bash ran");

    let tools: Vec<String> = finished
        .of_type("assistant")
        .iter()
        .flat_map(|event| event["message"]["content"].as_array().cloned().unwrap_or_default())
        .filter(|block| block["type"] == "tool_use")
        .map(|block| block["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tools, ["Write", "Edit", "Bash"]);
    let tool_errors: Vec<_> = finished
        .of_type("user")
        .iter()
        .flat_map(|event| event["message"]["content"].as_array().cloned().unwrap_or_default())
        .filter(|block| block["is_error"] == true)
        .collect();
    assert!(tool_errors.is_empty(), "{tool_errors:?}");

    let result = finished.result();
    assert_eq!(result["is_error"], false);
    assert_eq!(result["result"], "All done.");
    assert_eq!(result["num_turns"], 4);
    assert_eq!(result["usage"]["input_tokens"], 10_000, "the input tokens the server sent");
    assert_eq!(result["usage"]["output_tokens"], 1_000, "the output tokens the server sent");
    assert!(result["total_cost_usd"].as_f64().unwrap() > 0.0, "{result}");

    let requests = server.model_requests();
    let rules: Vec<_> = requests.iter().map(|r| r.rule.clone().unwrap_or_default()).collect();
    assert_eq!(rules, ["write", "edit", "bash", "done"]);
    assert!(requests.iter().all(|r| r.query.as_deref() == Some("beta=true")));
    assert!(requests.iter().all(|r| r.header("x-api-key") == Some("<redacted>")));
    assert_only_loopback(&server);
}

/// Runs claude once against a script of one fault; returns the run and the server.
fn claude_against(
    fault: Fault,
    auth: ClaudeAuth,
) -> (crate::agent_run::Finished, orca_model_server::ModelServerHandle) {
    let server = ModelServer::start(Script::new().rule(Rule::fault(fault))).unwrap();
    let sandbox = Sandbox::new();
    let finished = run(claude(&server, &sandbox, "TASK-1", auth));
    (finished, server)
}

/// The run failed on an API error with `status`: exit 1, a synthetic
/// assistant line carrying `error: <kind>` and the same text as the
/// `result` line. Returns the text.
fn assert_api_error(finished: &crate::agent_run::Finished, status: u16, kind: &str) -> String {
    assert_eq!(finished.status.code(), Some(1), "{finished}");
    let result = finished.result();
    assert_eq!(result["is_error"], true, "{finished}");
    assert_eq!(result["api_error_status"], status, "{finished}");
    let text = result["result"].as_str().unwrap().to_string();
    let assistant = finished.of_type("assistant");
    assert_eq!(assistant.len(), 1, "{finished}");
    assert_eq!(assistant[0]["error"], kind, "{finished}");
    assert_eq!(assistant[0]["message"]["model"], "<synthetic>");
    assert_eq!(assistant[0]["message"]["content"][0]["text"], text.as_str());
    text
}

#[test]
fn claude_rate_limit_429_fails_the_run_without_retrying() {
    let (finished, server) = claude_against(
        Fault::RateLimit { retry_after: Some(30), message: Some("slow down".into()) },
        ClaudeAuth::ApiKey,
    );
    let text = assert_api_error(&finished, 429, "rate_limit");
    assert_eq!(text, "API Error: Request rejected (429) · slow down");
    assert_eq!(server.model_requests().len(), 1);
    assert_only_loopback(&server);
}

#[test]
fn claude_rate_limit_when_signed_in_says_it_is_not_the_usage_limit() {
    let (finished, server) = claude_against(
        Fault::RateLimit { retry_after: Some(30), message: Some("slow down".into()) },
        ClaudeAuth::Subscription,
    );
    let text = assert_api_error(&finished, 429, "rate_limit");
    assert_eq!(
        text,
        "API Error: Server is temporarily limiting requests (not your usage limit) · slow down"
    );
    let events = finished.of_type("rate_limit_event");
    assert_eq!(events.len(), 1, "{finished}");
    assert_eq!(events[0]["rate_limit_info"]["status"], "rejected");
    assert_eq!(events[0]["rate_limit_info"].get("resetsAt"), None);
    assert_only_loopback(&server);
}

#[test]
fn claude_server_error_500_fails_the_run() {
    let (finished, server) =
        claude_against(Fault::ServerError { message: Some("boom".into()) }, ClaudeAuth::ApiKey);
    let text = assert_api_error(&finished, 500, "server_error");
    assert!(text.starts_with("API Error: 500 boom"), "{text}");
    assert_eq!(server.model_requests().len(), 1, "retries are off");
}

#[test]
fn claude_overloaded_529_fails_the_run() {
    let (finished, server) =
        claude_against(Fault::Overloaded { message: None }, ClaudeAuth::ApiKey);
    let text = assert_api_error(&finished, 529, "server_error");
    assert!(text.starts_with("API Error: 529 Overloaded"), "{text}");
    assert_eq!(server.model_requests().len(), 1);
}

#[test]
fn claude_usage_limit_with_an_api_key_shows_the_limit_text_and_reset() {
    let (finished, _server) = claude_against(
        Fault::UsageLimit { resets_at: Some(1_900_000_000), resets_in: None },
        ClaudeAuth::ApiKey,
    );
    let text = assert_api_error(&finished, 429, "rate_limit");
    assert_eq!(
        text,
        "API Error: Request rejected (429) · Claude AI usage limit reached|1900000000"
    );
}

#[test]
fn claude_usage_limit_when_signed_in_reports_a_rate_limit_event_with_the_reset() {
    let (finished, server) = claude_against(
        Fault::UsageLimit { resets_at: Some(1_900_000_000), resets_in: None },
        ClaudeAuth::Subscription,
    );
    let text = assert_api_error(&finished, 429, "rate_limit");
    assert_eq!(text, "You've hit your session limit · resets Mar 17, 2030, 5:46pm (UTC)");
    let events = finished.of_type("rate_limit_event");
    assert_eq!(events.len(), 1, "{finished}");
    let info = &events[0]["rate_limit_info"];
    assert_eq!(info["status"], "rejected");
    assert_eq!(info["resetsAt"], 1_900_000_000u64);
    assert_eq!(info["rateLimitType"], "five_hour");
    assert_only_loopback(&server);
}

#[test]
fn claude_retries_a_500_when_asked_and_the_next_request_succeeds() {
    let script = Script::new()
        .rule(Rule::fault(Fault::ServerError { message: None }).times(1).named("flaky"))
        .rule(Rule::text("recovered").named("steady"));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let mut command = claude(&server, &sandbox, "TASK-1", ClaudeAuth::ApiKey);
    command.env("CLAUDE_CODE_MAX_RETRIES", "1");
    let finished = run(command);
    assert!(finished.status.success(), "{finished}");
    assert_eq!(finished.result()["result"], "recovered");
    let retries = finished
        .of_type("system")
        .into_iter()
        .filter(|event| event["subtype"] == "api_retry")
        .collect::<Vec<_>>();
    assert_eq!(retries.len(), 1, "{finished}");
    assert_eq!(retries[0]["error_status"], 500);
    let rules: Vec<_> =
        server.model_requests().iter().map(|r| r.rule.clone().unwrap_or_default()).collect();
    assert_eq!(rules, ["flaky", "steady"]);
}

#[test]
fn claude_stall_holds_the_cli_until_the_connection_is_cut() {
    let script = Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream: false }));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let mut running = Running::start(claude(&server, &sandbox, "TASK-1", ClaudeAuth::ApiKey));
    let (arrived, _) = server.wait_for(RUN_TIMEOUT, |log| log.iter().any(|r| r.api.is_some()));
    assert!(arrived, "claude sent its request");
    assert!(running.is_running(), "claude finished although nothing answered");
    server.shutdown();
    let finished = running.wait(RUN_TIMEOUT);
    assert_eq!(finished.status.code(), Some(1), "{finished}");
    let result = finished.result();
    assert_eq!(result["is_error"], true);
    assert_eq!(result["api_error_status"], serde_json::Value::Null);
    let text = result["result"].as_str().unwrap();
    assert!(text.starts_with("API Error:") && text.contains("ECONNRESET"), "{text}");
    assert_eq!(finished.of_type("assistant")[0]["error"], "server_error", "{finished}");
}
