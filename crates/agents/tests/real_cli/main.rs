//! The acceptance of the agent layer: the REAL pinned `claude`, `codex`,
//! `gemini`, `opencode` and `qwen` (scripts/install-agent-clis installs
//! them), driven by orca's adapters and supervisor against the scripted
//! model server on 127.0.0.1.
//!
//! These tests fail, never skip, when the CLIs are missing.
//! `scripts/test-agents-latest` runs them against the newest published
//! versions (`ORCA_TEST_TOOLS` names where the CLIs are).

mod harness;
mod scenarios;

use std::time::Duration;

use orca_agents::{ErrorKind, LimitKind, SupervisionPolicy};
use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{Sandbox, assert_only_loopback, claude, codex, relaxed_policy, run};
use crate::scenarios::{Cli, fails_with, resumes, shell_text_stays_text, stalls, writes_and_edits};

#[tokio::test]
async fn claude_writes_and_edits_files_in_a_git_worktree() {
    writes_and_edits(Cli::Claude).await;
}

#[tokio::test]
async fn codex_writes_and_edits_files_in_a_git_worktree() {
    writes_and_edits(Cli::Codex).await;
}

#[tokio::test]
async fn claude_resumes_its_session() {
    resumes(Cli::Claude).await;
}

#[tokio::test]
async fn codex_resumes_its_session() {
    resumes(Cli::Codex).await;
}

#[tokio::test]
async fn claude_http_429_is_a_rate_limit() {
    let finished =
        fails_with(Cli::Claude, Fault::RateLimit { retry_after: Some(1), message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    assert_eq!(
        finished.outcome.limit.as_ref().map(|l| l.kind),
        Some(LimitKind::Rate),
        "{finished}"
    );
}

#[tokio::test]
async fn codex_http_429_is_a_rate_limit() {
    let finished =
        fails_with(Cli::Codex, Fault::RateLimit { retry_after: Some(1), message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    assert_eq!(
        finished.outcome.limit.as_ref().map(|l| l.kind),
        Some(LimitKind::Rate),
        "{finished}"
    );
}

#[tokio::test]
async fn claude_http_500_is_transient() {
    let finished = fails_with(Cli::Claude, Fault::ServerError { message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TransientApi), "{finished}");
    assert_eq!(finished.outcome.limit, None);
}

#[tokio::test]
async fn codex_http_500_is_transient() {
    let finished = fails_with(Cli::Codex, Fault::ServerError { message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TransientApi), "{finished}");
}

#[tokio::test]
async fn claude_overloaded_is_transient() {
    let finished = fails_with(Cli::Claude, Fault::Overloaded { message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TransientApi), "{finished}");
}

#[tokio::test]
async fn codex_overloaded_is_transient() {
    let finished = fails_with(Cli::Codex, Fault::Overloaded { message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TransientApi), "{finished}");
}

#[tokio::test]
async fn claude_usage_limit_carries_the_reset_time() {
    let fault = Fault::UsageLimit { resets_at: Some(1_900_000_000), resets_in: None };
    let finished = fails_with(Cli::Claude, fault).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    let limit = finished.outcome.limit.clone().expect("a limit");
    assert_eq!(
        (limit.kind, limit.resets_at),
        (LimitKind::Usage, Some(1_900_000_000)),
        "{finished}"
    );
}

#[tokio::test]
async fn codex_usage_limit_is_a_usage_limit() {
    let fault = Fault::UsageLimit { resets_at: Some(1_900_000_000), resets_in: None };
    let finished = fails_with(Cli::Codex, fault).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    let limit = finished.outcome.limit.clone().expect("a limit");
    assert_eq!(limit.kind, LimitKind::Usage, "{finished}");
    // codex states the reset only as local time in words; orca keeps it.
    assert!(limit.message.contains("try again at"), "{finished}");
}

#[tokio::test]
async fn claude_bad_key_is_authentication() {
    let fault = Fault::Http {
        status: 401,
        message: Some("invalid x-api-key".into()),
        retry_after: None,
        headers: Default::default(),
    };
    let finished = fails_with(Cli::Claude, fault).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::Authentication), "{finished}");
}

#[tokio::test]
async fn codex_bad_key_is_authentication() {
    let fault = Fault::Http {
        status: 401,
        message: Some("invalid api key".into()),
        retry_after: None,
        headers: Default::default(),
    };
    let finished = fails_with(Cli::Codex, fault).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::Authentication), "{finished}");
}

#[tokio::test]
async fn claude_stall_is_killed_with_its_whole_group() {
    stalls(Cli::Claude, false).await;
}

#[tokio::test]
async fn codex_stall_is_killed_with_its_whole_group() {
    stalls(Cli::Codex, false).await;
}

#[tokio::test]
async fn claude_stall_mid_stream_is_killed_with_its_whole_group() {
    stalls(Cli::Claude, true).await;
}

#[tokio::test]
async fn codex_stall_mid_stream_is_killed_with_its_whole_group() {
    stalls(Cli::Codex, true).await;
}

#[tokio::test]
async fn claude_takes_shell_text_as_text() {
    shell_text_stays_text(Cli::Claude).await;
}

#[tokio::test]
async fn codex_takes_shell_text_as_text() {
    shell_text_stays_text(Cli::Codex).await;
}

#[tokio::test]
async fn claude_bash_denied_by_permission_mode_is_permission_denied() {
    use orca_agents::adapters::claude::{ClaudeAdapter, ClaudePermissionMode};
    let adapter: std::sync::Arc<dyn orca_agents::Adapter> = std::sync::Arc::new(
        ClaudeAdapter::default()
            .with_program(orca_model_server::claude_bin().unwrap())
            .with_permission_mode(ClaudePermissionMode::Default),
    );
    let script = Script::new()
        .rule(Rule::tool(ToolCall::shell("printf 'hi\\n' > hello.txt")).tool_result(false))
        .rule(Rule::text("Done.").tool_result(true));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("denied");
    let request = sandbox.request(&server, &worktree, "denied", "create hello.txt");
    let finished = run(adapter, &request, relaxed_policy(), &sandbox.log_dir("denied")).await;
    assert_eq!(finished.outcome.exit.code, Some(0), "claude itself exits 0: {finished}");
    assert_eq!(
        finished.outcome.status.error_kind(),
        Some(ErrorKind::PermissionDenied),
        "{finished}"
    );
    assert!(!worktree.join("hello.txt").exists());
    assert_only_loopback(&server);
}

/// Six agents at once (three claude, three codex), each in its own
/// worktree, all served by one model server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_six_agents_in_parallel() {
    let mut script = Script::new();
    for task in 1..=6 {
        let marker = format!("TASK-{task}");
        script = script
            .rule(
                Rule::tool(ToolCall::write_file(
                    format!("task-{task}.txt"),
                    format!("done {task}\n"),
                ))
                .marker(marker.clone())
                .tool_result(false),
            )
            .rule(Rule::text(format!("Finished {marker}.")).marker(marker).tool_result(true));
    }
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let mut runs = Vec::new();
    for task in 1..=6 {
        let cli = if task % 2 == 0 { Cli::Codex } else { Cli::Claude };
        let name = format!("task-{task}");
        let worktree = sandbox.worktree(&name);
        let request = sandbox.request(
            &server,
            &worktree,
            &name,
            &format!("TASK-{task}: write task-{task}.txt"),
        );
        let log_dir = sandbox.log_dir(&name);
        runs.push(tokio::spawn(async move {
            let finished = run(cli.adapter(), &request, relaxed_policy(), &log_dir).await;
            (task, worktree, finished)
        }));
    }
    for handle in runs {
        let (task, worktree, finished) = handle.await.unwrap();
        assert!(finished.outcome.status.is_success(), "task {task}: {finished}");
        assert_eq!(
            std::fs::read_to_string(worktree.join(format!("task-{task}.txt"))).unwrap(),
            format!("done {task}\n")
        );
        assert_eq!(
            finished.texts().last().map(String::as_str),
            Some(format!("Finished TASK-{task}.").as_str())
        );
    }
    assert_eq!(server.model_requests().len(), 12, "two model turns per agent");
    assert_only_loopback(&server);
}

#[tokio::test]
async fn claude_max_turns_is_a_turn_limit() {
    // The model never stops calling tools; claude's --max-turns ends it.
    let server =
        ModelServer::start(Script::new().rule(Rule::tool(ToolCall::shell("echo again")))).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("turns");
    let mut request = sandbox.request(&server, &worktree, "turns", "loop forever");
    request.extra_args = vec!["--max-turns".into(), "2".into()];
    let finished = run(claude(), &request, relaxed_policy(), &sandbox.log_dir("turns")).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TurnLimit), "{finished}");
    assert_eq!(finished.tool_uses(), ["Bash", "Bash"]);
    assert_only_loopback(&server);
}

#[tokio::test]
async fn codex_busy_forever_hits_the_hard_timeout() {
    // Output keeps coming (a tool call per turn), so only the hard timeout
    // can end it. The timeout leaves room for a slow start on a busy
    // machine: the CLI must get past its first turn before it runs out.
    let server =
        ModelServer::start(Script::new().rule(Rule::tool(ToolCall::shell("echo again")))).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("busy");
    let request = sandbox.request(&server, &worktree, "busy", "loop forever");
    let policy = SupervisionPolicy {
        stall_timeout: Some(Duration::from_secs(120)),
        timeout: Some(Duration::from_secs(20)),
        grace: Duration::from_secs(2),
        ..relaxed_policy()
    };
    let finished = run(codex(), &request, policy, &sandbox.log_dir("busy")).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TimedOut), "{finished}");
    assert!(finished.tool_uses().len() > 1, "it was busy: {finished}");
    let alive: Vec<u32> =
        finished.group_seen.iter().copied().filter(|pid| harness::alive(*pid)).collect();
    assert!(alive.is_empty(), "{alive:?}");
    assert_only_loopback(&server);
}

/// A 429 ended the run as a rate limit.
fn assert_rate_limited(finished: &harness::Finished) {
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    assert_eq!(
        finished.outcome.limit.as_ref().map(|l| l.kind),
        Some(LimitKind::Rate),
        "{finished}"
    );
}

fn bad_key() -> Fault {
    Fault::Http {
        status: 401,
        message: Some("API key not valid. Please pass a valid API key.".into()),
        retry_after: None,
        headers: Default::default(),
    }
}

#[tokio::test]
async fn gemini_writes_and_edits_files_in_a_git_worktree() {
    writes_and_edits(Cli::Gemini).await;
}

#[tokio::test]
async fn opencode_writes_and_edits_files_in_a_git_worktree() {
    writes_and_edits(Cli::Opencode).await;
}

#[tokio::test]
async fn qwen_writes_and_edits_files_in_a_git_worktree() {
    writes_and_edits(Cli::Qwen).await;
}

#[tokio::test]
async fn gemini_resumes_its_session() {
    resumes(Cli::Gemini).await;
}

#[tokio::test]
async fn opencode_resumes_its_session() {
    resumes(Cli::Opencode).await;
}

#[tokio::test]
async fn qwen_resumes_its_session() {
    resumes(Cli::Qwen).await;
}

#[tokio::test]
async fn gemini_http_429_is_a_rate_limit() {
    let finished =
        fails_with(Cli::Gemini, Fault::RateLimit { retry_after: Some(1), message: None }).await;
    assert_rate_limited(&finished);
}

#[tokio::test]
async fn opencode_http_429_is_a_rate_limit() {
    // opencode retries a 429 five times whatever orca asks, waiting as long
    // as `retry-after` says: 0 keeps the test short.
    let finished =
        fails_with(Cli::Opencode, Fault::RateLimit { retry_after: Some(0), message: None }).await;
    assert_rate_limited(&finished);
}

#[tokio::test]
async fn qwen_http_429_is_a_rate_limit() {
    // Qwen Code's inner loop retries a 429 six times, `retry-after` apart
    // (without one it backs off for over a minute).
    let finished =
        fails_with(Cli::Qwen, Fault::RateLimit { retry_after: Some(1), message: None }).await;
    assert_rate_limited(&finished);
}

#[tokio::test]
async fn gemini_http_500_is_transient() {
    let finished = fails_with(Cli::Gemini, Fault::ServerError { message: None }).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::TransientApi), "{finished}");
}

#[tokio::test]
async fn gemini_spent_daily_quota_is_a_usage_limit() {
    let fault = Fault::UsageLimit { resets_at: None, resets_in: Some(3600) };
    let finished = fails_with(Cli::Gemini, fault).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::UsageLimit), "{finished}");
    let limit = finished.outcome.limit.clone().expect("a limit");
    assert_eq!(limit.kind, LimitKind::Usage, "{finished}");
}

#[tokio::test]
async fn gemini_bad_key_is_authentication() {
    let finished = fails_with(Cli::Gemini, bad_key()).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::Authentication), "{finished}");
}

#[tokio::test]
async fn opencode_bad_key_is_authentication() {
    let finished = fails_with(Cli::Opencode, bad_key()).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::Authentication), "{finished}");
}

#[tokio::test]
async fn qwen_bad_key_is_authentication() {
    let finished = fails_with(Cli::Qwen, bad_key()).await;
    assert_eq!(finished.outcome.status.error_kind(), Some(ErrorKind::Authentication), "{finished}");
}

#[tokio::test]
async fn gemini_stall_is_killed_with_its_whole_group() {
    stalls(Cli::Gemini, false).await;
}

#[tokio::test]
async fn opencode_stall_mid_stream_is_killed_with_its_whole_group() {
    stalls(Cli::Opencode, true).await;
}

#[tokio::test]
async fn qwen_stall_is_killed_with_its_whole_group() {
    stalls(Cli::Qwen, false).await;
}

#[tokio::test]
async fn gemini_takes_shell_text_as_text() {
    shell_text_stays_text(Cli::Gemini).await;
}

#[tokio::test]
async fn opencode_takes_shell_text_as_text() {
    shell_text_stays_text(Cli::Opencode).await;
}

#[tokio::test]
async fn qwen_takes_shell_text_as_text() {
    shell_text_stays_text(Cli::Qwen).await;
}
