//! The acceptance of in-session mode: the REAL pinned claude CLI, against
//! orca's scripted model server, in a repository after `orca init` and
//! `orca task load`. The scripted model works the queue through claude's
//! Bash tool (`orca task ...`) or through `orca mcp` as an MCP server, and
//! the store shows what it did.
//!
//! These tests fail, never skip, when the CLI is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use orca_model_server::{
    LoggedRequest, ModelServer, ModelServerHandle, Rule, Script, ToolCall, claude_bin,
};
use orca_store::{RunId, Store, TaskState};
use serde_json::{Value, json};

/// A claude run takes a second or two; a loaded machine must not fail the suite.
const PATIENCE: Duration = Duration::from_secs(180);

const PLAN: &str = "\
# Plan: Greetings

### T01: Write hello
- deps: none
- role: backend
- files: hello.txt
- verify: test -f hello.txt
- accept:
  - [ ] hello.txt exists

### T02: Write bye
- deps: T01
- role: backend
- files: bye.txt
- verify: test -f bye.txt
- accept:
  - [ ] bye.txt exists
";

fn orca_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orca"))
}

fn git(cwd: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "orca test")
        .env("GIT_AUTHOR_EMAIL", "test@orca.invalid")
        .env("GIT_COMMITTER_NAME", "orca test")
        .env("GIT_COMMITTER_EMAIL", "test@orca.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A repository after `orca init` and `orca task load plan.md`.
struct Sandbox {
    dir: tempfile::TempDir,
    repo: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("plan.md"), PLAN).unwrap();
        git(&repo, &["add", "plan.md"]);
        git(&repo, &["commit", "-q", "-m", "plan"]);
        let sandbox = Sandbox { dir, repo };
        sandbox.orca(&["init"]);
        sandbox.orca(&["task", "load", "plan.md"]);
        sandbox
    }

    fn orca(&self, args: &[&str]) -> Output {
        let out = Command::new(orca_bin())
            .args(args)
            .current_dir(&self.repo)
            .env_remove("ORCA_STORE")
            .env_remove("ORCA_AS")
            .output()
            .unwrap();
        assert!(out.status.success(), "orca {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs the real claude in the repository with its own HOME and
    /// TMPDIR, orca first on PATH, every proxy aimed at the model server.
    fn claude(
        &self,
        server: &ModelServerHandle,
        name: &str,
        prompt: &str,
        extra: &[&str],
    ) -> Output {
        let home = self.dir.path().join("home").join(name);
        let tmp = self.dir.path().join("tmp").join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let orca_dir = orca_bin().parent().unwrap().to_owned();
        let path = std::env::join_paths(
            std::iter::once(orca_dir)
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let mut command = Command::new(claude_bin().unwrap());
        command
            .args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
            .args(extra)
            .current_dir(&self.repo)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("SHELL", "/bin/bash")
            .env("TZ", "UTC")
            .env("ANTHROPIC_BASE_URL", server.base_url())
            .env("ANTHROPIC_API_KEY", "dummy")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
            command.env(var, server.base_url());
        }
        let child = command.spawn().unwrap();
        wait_with_deadline(child, PATIENCE)
    }

    async fn store(&self) -> (Store, RunId) {
        let store = Store::open_existing(&self.repo.join(".orca/orca.db").display().to_string())
            .await
            .unwrap();
        let run = store.latest_run().await.unwrap().unwrap().id;
        (store, run)
    }
}

/// Waits for the child, killing it when it runs past `patience`.
fn wait_with_deadline(mut child: std::process::Child, patience: Duration) -> Output {
    let deadline = Instant::now() + patience;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "claude ran longer than {patience:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The final `result` line of claude's stream-json output.
fn result_line(out: &Output) -> Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .rfind(|event| event["type"] == "result")
        .unwrap_or_else(|| panic!("no result line: {}", describe(out)))
}

/// Text of a message's content: a string, or its text blocks.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|block| match &block["content"] {
                Value::Null => block["text"].as_str().unwrap_or("").to_owned(),
                inner => content_text(inner),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Every tool result in a request: (is_error, text).
fn tool_results(request: &LoggedRequest) -> Vec<(bool, String)> {
    let mut results = Vec::new();
    for message in request.body["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                results.push((block["is_error"] == true, content_text(&block["content"])));
            }
        }
    }
    results
}

/// The requests of one session (its marker), in order.
fn session_requests(server: &ModelServerHandle, marker: &str) -> Vec<LoggedRequest> {
    server.model_requests().into_iter().filter(|r| r.body_contains(marker)).collect()
}

/// The model's first request, the text Claude Code sends as project
/// instructions: CLAUDE.md arrives as a `claudeMd` system reminder in the
/// first user message (Claude Code puts it there, not in `system`).
fn project_instructions(request: &LoggedRequest) -> String {
    let messages = request.body["messages"].as_array().unwrap();
    let text = content_text(&messages[0]["content"]);
    assert!(text.contains("# claudeMd"), "no claudeMd context in the first message:\n{text}");
    text
}

fn assert_carries_the_managed_block(request: &LoggedRequest) {
    let instructions = project_instructions(request);
    let lines: Vec<&str> = orca_instructions::content::MANAGED_BLOCK
        .lines()
        .map(str::trim_end)
        // Claude Code drops HTML comments when it loads CLAUDE.md.
        .filter(|line| !line.is_empty() && !line.starts_with("<!--"))
        .collect();
    assert!(lines.len() > 100, "the block is the whole system, not a stub");
    for line in lines {
        assert!(
            instructions.contains(line),
            "the managed block line {line:?} is not in the prompt"
        );
    }
}

#[tokio::test]
async fn heavy_a_claude_session_works_the_queue_through_its_shell_and_cannot_finish_anothers_task()
{
    let sandbox = Sandbox::new();
    let shell = |command: &str| ToolCall::shell(command);
    let server = ModelServer::start(
        Script::new()
            // Session s1: claim T01, finish it, claim T02 and keep it.
            .rule(Rule::tool(shell("orca task next --claim --as s1")).marker("SESSION-S1").turn(1))
            .rule(
                Rule::tool(shell(
                    "orca task done T01 --as s1 --summary 'wrote hello.txt; verify passed'",
                ))
                .marker("SESSION-S1")
                .turn(2),
            )
            .rule(Rule::tool(shell("orca task next --claim --as s1")).marker("SESSION-S1").turn(3))
            .rule(Rule::text("Holding T02.").marker("SESSION-S1").turn(4))
            // Session s2: try to finish s1's task.
            .rule(
                Rule::tool(shell("orca task done T02 --as s2 --summary 'not mine'"))
                    .marker("SESSION-S2")
                    .turn(1),
            )
            .rule(Rule::text("Refused.").marker("SESSION-S2").turn(2)),
    )
    .unwrap();
    let allow = ["--allowedTools", "Bash"];

    let s1 = sandbox.claude(&server, "s1", "SESSION-S1: work the orca queue as s1", &allow);
    assert!(s1.status.success(), "{}", describe(&s1));
    assert_eq!(result_line(&s1)["is_error"], false, "{}", describe(&s1));
    let requests = session_requests(&server, "SESSION-S1");
    assert_eq!(requests.len(), 4, "one request per scripted turn");
    assert_carries_the_managed_block(&requests[0]);
    let results: Vec<(bool, String)> =
        requests.iter().skip(1).map(|r| tool_results(r).pop().unwrap()).collect();
    assert!(results[0].1.starts_with("claimed T01 (attempt 1)\nT01: Write hello"), "{results:?}");
    assert!(results[1].1.starts_with("T01 done (attempt 1); 1 task is ready"), "{results:?}");
    assert!(results[2].1.starts_with("claimed T02 (attempt 1)"), "{results:?}");
    assert!(results.iter().all(|(is_error, _)| !is_error), "{results:?}");

    let (store, run) = sandbox.store().await;
    let t01 = store.attempts(&run, "T01").await.unwrap();
    assert_eq!(t01.len(), 1);
    assert_eq!((t01[0].worker.as_str(), t01[0].outcome.as_str()), ("s1", "succeeded"));
    assert_eq!(t01[0].summary.as_deref(), Some("wrote hello.txt; verify passed"));
    assert_eq!(store.task(&run, "T01").await.unwrap().state, TaskState::Succeeded);
    let t02_before = store.task(&run, "T02").await.unwrap();
    assert_eq!(t02_before.state, TaskState::Leased);
    assert_eq!(t02_before.lease.as_ref().unwrap().worker, "s1");

    let s2 = sandbox.claude(&server, "s2", "SESSION-S2: work the orca queue as s2", &allow);
    assert!(s2.status.success(), "{}", describe(&s2));
    let requests = session_requests(&server, "SESSION-S2");
    assert_eq!(requests.len(), 2);
    let (is_error, text) = tool_results(&requests[1]).pop().unwrap();
    assert!(is_error, "exit code 3 is an error to claude: {text}");
    assert!(text.contains("error: T02 is leased to `s1` (attempt 1), not to you"), "{text}");
    assert!(text.contains("hint: work only on tasks you claimed"), "{text}");

    // Nothing changed: T02 is still s1's, on its first attempt, without a summary.
    let t02_after = store.task(&run, "T02").await.unwrap();
    assert_eq!(t02_after.state, TaskState::Leased);
    assert_eq!(t02_after.lease.as_ref().unwrap().worker, "s1");
    assert_eq!((t02_after.attempt, t02_after.tries), (t02_before.attempt, t02_before.tries));
    let t02_attempts = store.attempts(&run, "T02").await.unwrap();
    assert_eq!(t02_attempts.len(), 1);
    assert_eq!((t02_attempts[0].worker.as_str(), t02_attempts[0].summary.as_deref()), ("s1", None));
    let workers: Vec<String> = store.workers().await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(workers, ["s1", "s2"]);
    assert_only_loopback(&server);
}

#[tokio::test]
async fn heavy_a_claude_session_works_the_queue_over_mcp() {
    let sandbox = Sandbox::new();
    let config = sandbox.dir.path().join("mcp.json");
    let orca = orca_bin().display().to_string();
    std::fs::write(
        &config,
        json!({ "mcpServers": { "orca": { "command": orca, "args": ["mcp", "--as", "m1"] } } })
            .to_string(),
    )
    .unwrap();
    let tool = |name: &str, input: Value| ToolCall::tool_use(format!("mcp__orca__{name}"), input);
    let server = ModelServer::start(
        Script::new()
            .rule(Rule::tool(tool("claim_task", json!({}))).marker("SESSION-M1").turn(1))
            .rule(
                Rule::tool(tool("complete_task", json!({ "id": "T01", "summary": "via MCP" })))
                    .marker("SESSION-M1")
                    .turn(2),
            )
            .rule(Rule::tool(tool("plan_status", json!({}))).marker("SESSION-M1").turn(3))
            .rule(Rule::text("Done over MCP.").marker("SESSION-M1").turn(4)),
    )
    .unwrap();
    let out = sandbox.claude(
        &server,
        "m1",
        "SESSION-M1: work the orca queue with the orca tools",
        &[
            "--mcp-config",
            config.to_str().unwrap(),
            "--strict-mcp-config",
            "--allowedTools",
            "mcp__orca",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(result_line(&out)["is_error"], false, "{}", describe(&out));
    let requests = session_requests(&server, "SESSION-M1");
    assert_eq!(requests.len(), 4, "{}", describe(&out));

    // claude listed the tools (tools/list) and offers all seven to the model.
    let offered: Vec<&Value> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap_or("").starts_with("mcp__orca__"))
        .collect();
    let mut names: Vec<&str> = offered.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let tools = [
        "next_task",
        "claim_task",
        "heartbeat",
        "complete_task",
        "fail_task",
        "plan_status",
        "validate_plan",
    ];
    let mut expected: Vec<String> = tools.iter().map(|n| format!("mcp__orca__{n}")).collect();
    names.sort_unstable();
    expected.sort();
    assert_eq!(names, expected);
    let claim = offered.iter().find(|t| t["name"] == "mcp__orca__claim_task").unwrap();
    assert!(claim["description"].as_str().unwrap().contains("Claim a task"), "{claim}");
    let offered_bytes: usize = offered.iter().map(|t| t.to_string().len()).sum();
    eprintln!("the orca tools in claude's request: {offered_bytes} bytes");

    let results: Vec<(bool, String)> =
        requests.iter().skip(1).map(|r| tool_results(r).pop().unwrap()).collect();
    assert!(results.iter().all(|(is_error, _)| !is_error), "{results:?}");
    assert!(results[0].1.contains("claimed T01 (attempt 1)"), "{results:?}");
    assert!(results[1].1.starts_with("T01 done (attempt 1)"), "{results:?}");
    assert!(results[2].1.contains("tasks: 2 total"), "{results:?}");

    let (store, run) = sandbox.store().await;
    let attempts = store.attempts(&run, "T01").await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!((attempts[0].worker.as_str(), attempts[0].outcome.as_str()), ("m1", "succeeded"));
    assert_eq!(attempts[0].summary.as_deref(), Some("via MCP"));
    assert_eq!(store.task(&run, "T02").await.unwrap().state, TaskState::Ready);
    assert_only_loopback(&server);
}

/// Every proxy variable pointed at the model server: a CLI that tried to
/// reach another host would show up as a CONNECT in its log.
fn assert_only_loopback(server: &ModelServerHandle) {
    let outside: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "CONNECT")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(outside.is_empty(), "traffic beyond 127.0.0.1: {outside:?}");
}
