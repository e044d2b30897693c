//! What every real-CLI test needs: a git repository with a worktree for
//! the agent, the pinned CLIs, a request pointed at the scripted model
//! server, and a trap that proves no traffic left 127.0.0.1.
//!
//! The trap is the proxy variables: a CLI that honours them and tries to
//! reach another host shows up in the server's log. The Node CLIs' own
//! `fetch` ignores proxy variables, so for gemini and qwen the settings
//! orca writes are what keeps them quiet; docs/agents.md records the
//! `strace -e connect` check that they make no other connection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::adapters::claude::ClaudeAdapter;
use orca_agents::adapters::codex::CodexAdapter;
use orca_agents::adapters::gemini::GeminiAdapter;
use orca_agents::adapters::opencode::OpencodeAdapter;
use orca_agents::adapters::qwen::QwenAdapter;
use orca_agents::{
    Adapter, AgentEvent, AgentOutcome, AgentRequest, CancelToken, HostEnv, SupervisionPolicy,
    group_members, run_agent,
};
use orca_model_server::{
    LoggedRequest, ModelServerHandle, claude_bin, codex_bin, gemini_bin, opencode_bin, qwen_bin,
};
use serde_json::Value;

/// A run takes about a second; a slow machine must not fail the suite.
pub(crate) const RUN_PATIENCE: Duration = Duration::from_secs(180);

/// The pinned claude. Panics with "run scripts/test-deps" when missing:
/// these tests never skip.
pub(crate) fn claude() -> Arc<dyn Adapter> {
    Arc::new(ClaudeAdapter::default().with_program(claude_bin().unwrap()))
}

/// The pinned codex (its Node launcher).
pub(crate) fn codex() -> Arc<dyn Adapter> {
    Arc::new(CodexAdapter::default().with_program(codex_bin().unwrap()))
}

/// The pinned Gemini CLI.
pub(crate) fn gemini() -> Arc<dyn Adapter> {
    Arc::new(GeminiAdapter::default().with_program(gemini_bin().unwrap()))
}

/// The pinned opencode.
pub(crate) fn opencode() -> Arc<dyn Adapter> {
    Arc::new(OpencodeAdapter::default().with_program(opencode_bin().unwrap()))
}

/// The pinned Qwen Code.
pub(crate) fn qwen() -> Arc<dyn Adapter> {
    Arc::new(QwenAdapter::default().with_program(qwen_bin().unwrap()))
}

/// Whether scripts/test-agents-latest runs the tests, against the newest
/// published CLIs rather than the pinned ones.
pub(crate) fn running_latest() -> bool {
    std::env::var_os("ORCA_TEST_AGENTS_LATEST").is_some()
}

/// Generous limits for runs that should simply work.
pub(crate) fn relaxed_policy() -> SupervisionPolicy {
    SupervisionPolicy {
        stall_timeout: Some(Duration::from_secs(60)),
        timeout: Some(RUN_PATIENCE),
        grace: Duration::from_secs(3),
        ..SupervisionPolicy::default()
    }
}

fn git(cwd: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "orca test")
        .env("GIT_AUTHOR_EMAIL", "test@orca.invalid")
        .env("GIT_COMMITTER_NAME", "orca test")
        .env("GIT_COMMITTER_EMAIL", "test@orca.invalid")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A repository with one commit and a worktree per agent, plus a HOME,
/// TMPDIR and log directory per agent.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "# sandbox\n").unwrap();
        git(&repo, &["add", "README.md"]);
        git(&repo, &["commit", "-q", "-m", "initial"]);
        Sandbox { dir, repo }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A new worktree on its own branch, as orca gives each attempt.
    pub(crate) fn worktree(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("worktrees").join(name);
        git(
            &self.repo,
            &["worktree", "add", "-q", "-b", &format!("agent/{name}"), path.to_str().unwrap()],
        );
        path
    }

    /// `git status --porcelain` of a worktree.
    pub(crate) fn status(&self, worktree: &Path) -> String {
        git(worktree, &["status", "--porcelain"])
    }

    pub(crate) fn log_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }

    /// A request for `worktree`, pointed at `server`, with its own HOME and
    /// TMPDIR, and every proxy variable aimed at the server: a CLI that
    /// tries to reach another host shows up in the server's request log.
    pub(crate) fn request(
        &self,
        server: &ModelServerHandle,
        worktree: &Path,
        name: &str,
        prompt: &str,
    ) -> AgentRequest {
        let trap = server.base_url();
        let mut request = AgentRequest::new(prompt, worktree)
            .with_endpoint(server.base_url(), "dummy")
            .with_isolation(
                self.dir.path().join("home").join(name),
                self.dir.path().join("tmp").join(name),
            )
            // bypassPermissions as root needs it; this machine is a test box.
            .with_env("IS_SANDBOX", "1")
            .with_env("TZ", "UTC");
        for var in
            ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"]
        {
            request = request.with_env(var, trap.clone());
        }
        for var in ["NO_PROXY", "no_proxy"] {
            request = request.with_env(var, "127.0.0.1,localhost");
        }
        request
    }
}

/// What a run produced.
pub(crate) struct Finished {
    pub(crate) events: Vec<AgentEvent>,
    pub(crate) outcome: AgentOutcome,
    /// Every process seen in the agent's group while it ran.
    pub(crate) group_seen: Vec<u32>,
}

impl Finished {
    pub(crate) fn tool_uses(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::ToolUse { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn tool_results(&self) -> Vec<bool> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::ToolResult { ok, .. } => Some(*ok),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn texts(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Warning { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "outcome: {:#?}", self.outcome)?;
        for event in &self.events {
            writeln!(f, "  {}", serde_json::to_string(event).unwrap())?;
        }
        let stderr =
            std::fs::read_to_string(self.outcome.log_dir.join("stderr.log")).unwrap_or_default();
        write!(f, "stderr:\n{stderr}")
    }
}

/// Runs one agent to the end, noting the members of its process group.
pub(crate) async fn run(
    adapter: Arc<dyn Adapter>,
    request: &AgentRequest,
    policy: SupervisionPolicy,
    log_dir: &Path,
) -> Finished {
    let mut run =
        run_agent(adapter, request, &HostEnv::current(), policy, log_dir, CancelToken::new())
            .unwrap();
    let pgid = run.pid();
    let mut group_seen: Vec<u32> = group_members(pgid);
    let mut events = Vec::new();
    let result = tokio::time::timeout(RUN_PATIENCE, async {
        while let Some(event) = run.next_event().await {
            for pid in group_members(pgid) {
                if !group_seen.contains(&pid) {
                    group_seen.push(pid);
                }
            }
            events.push(event);
        }
        run.outcome().await.unwrap()
    })
    .await;
    let outcome =
        result.unwrap_or_else(|_| panic!("the run did not end; events so far: {events:#?}"));
    Finished { events, outcome, group_seen }
}

/// Alive: in /proc and not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().next().unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Every request reached the server itself: no CONNECT to another host,
/// no absolute URI, no other Host header.
pub(crate) fn assert_only_loopback(server: &ModelServerHandle) {
    let own_host = server.addr().to_string();
    for request in server.requests() {
        let host = request.headers.get("host").cloned().unwrap_or_default();
        assert!(
            request.method != "CONNECT" && request.path.starts_with('/') && host == own_host,
            "a CLI tried to reach beyond 127.0.0.1: {} {} (host {host})",
            request.method,
            request.path,
        );
    }
}

/// Every string anywhere in a JSON value.
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Whether the request's body carries `text` verbatim in one of its strings.
pub(crate) fn carries(request: &LoggedRequest, text: &str) -> bool {
    strings(&request.body).iter().any(|s| s.contains(text))
}
