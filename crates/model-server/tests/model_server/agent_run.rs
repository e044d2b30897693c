//! Running the real agent CLIs against a model server the way the research
//! (shared/research/agent-cli.md) says they run headless and offline: own
//! HOME and TMPDIR, stdin from /dev/null, retries off, telemetry off.
//!
//! Every run also points HTTP(S)_PROXY at the model server (with NO_PROXY
//! for 127.0.0.1), so any request a CLI tries to send beyond 127.0.0.1 lands
//! in the request log as a `CONNECT host:443` (or an absolute URI), where
//! [`assert_only_loopback`] finds it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use orca_model_server::{ModelServerHandle, claude_bin, codex_bin};
use serde_json::Value;

/// Generous: a run takes about a second; a slow CI machine must not fail.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// A throwaway HOME, TMPDIR and git working directory for one CLI run.
pub(crate) struct Sandbox {
    _dir: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) work: PathBuf,
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let tmp = dir.path().join("tmp");
        let work = dir.path().join("work");
        for path in [&home.join(".codex"), &tmp, &work] {
            std::fs::create_dir_all(path).unwrap();
        }
        let git =
            Command::new("git").args(["init", "-q", "."]).current_dir(&work).status().unwrap();
        assert!(git.success(), "git init");
        Sandbox { _dir: dir, home, tmp, work }
    }

    pub(crate) fn read(&self, name: &str) -> String {
        let path = self.work.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// How Claude Code authenticates to the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ClaudeAuth {
    /// `ANTHROPIC_API_KEY`: API errors show the body's message.
    ApiKey,
    /// `CLAUDE_CODE_OAUTH_TOKEN`: a subscriber; the CLI reads the
    /// `anthropic-ratelimit-unified-*` headers and reports usage limits.
    Subscription,
}

fn base_command(program: &Path, server: &ModelServerHandle, sandbox: &Sandbox) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        // codex's launcher is a Node script: keep the caller's PATH.
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &sandbox.home)
        .env("TMPDIR", &sandbox.tmp)
        .env("TZ", "UTC")
        .env("HTTPS_PROXY", server.base_url())
        .env("HTTP_PROXY", server.base_url())
        .env("https_proxy", server.base_url())
        .env("http_proxy", server.base_url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .current_dir(&sandbox.work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group, so a timed-out run is killed with its children.
        .process_group(0);
    command
}

/// `claude -p PROMPT --output-format stream-json ...` against `server`.
pub(crate) fn claude(
    server: &ModelServerHandle,
    sandbox: &Sandbox,
    prompt: &str,
    auth: ClaudeAuth,
) -> Command {
    let mut command = base_command(&claude_bin().unwrap(), server, sandbox);
    match auth {
        ClaudeAuth::ApiKey => command.env("ANTHROPIC_API_KEY", "dummy"),
        ClaudeAuth::Subscription => command.env("CLAUDE_CODE_OAUTH_TOKEN", "dummy"),
    };
    command
        .env("ANTHROPIC_BASE_URL", server.base_url())
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        // bypassPermissions refuses to run as root without it.
        .env("IS_SANDBOX", "1")
        .args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
        .args(["--permission-mode", "bypassPermissions"]);
    command
}

/// `codex exec --json ...` with a custom provider pointing at `server`.
pub(crate) fn codex(server: &ModelServerHandle, sandbox: &Sandbox, prompt: &str) -> Command {
    let mut command = base_command(&codex_bin().unwrap(), server, sandbox);
    let provider = format!(
        "model_providers.orca={{name=\"orca\", base_url=\"{}\", env_key=\"ORCA_FAKE_KEY\", \
         wire_api=\"responses\", request_max_retries=0, stream_max_retries=0}}",
        server.openai_base_url()
    );
    command
        .env("CODEX_HOME", sandbox.home.join(".codex"))
        .env("ORCA_FAKE_KEY", "dummy")
        .args(["exec", "--json", "-s", "workspace-write"])
        .args(["-c", "model_provider=orca", "-c", "model=gpt-5.5", "-c", &provider])
        .args(["--disable", "plugins", "--disable", "unbounded_connection_retries"])
        .args(["-c", "analytics.enabled=false", prompt]);
    command
}

/// A CLI run in progress; its output is collected on threads so a full
/// pipe never blocks it.
pub(crate) struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

impl Running {
    pub(crate) fn start(mut command: Command) -> Running {
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let stdout = Some(collect(child.stdout.take().unwrap()));
        let stderr = Some(collect(child.stderr.take().unwrap()));
        Running { child, stdout, stderr }
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit, polling with a deadline; kills the process group
    /// and fails the test if the deadline passes.
    pub(crate) fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let group = format!("-{}", self.child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = self.child.wait();
                let stdout = self.stdout.take().unwrap().join().unwrap();
                panic!("the CLI did not finish within {timeout:?}; stdout so far:\n{stdout}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        Finished { status, stdout, stderr }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.wait();
        }
    }
}

/// A finished CLI run.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    /// Every stdout line that is a JSON object (CLIs may print other lines).
    pub(crate) fn events(&self) -> Vec<Value> {
        self.stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// The events whose `type` is `kind`.
    pub(crate) fn of_type(&self, kind: &str) -> Vec<Value> {
        self.events().into_iter().filter(|event| event["type"] == kind).collect()
    }

    /// Claude's final `result` event.
    pub(crate) fn result(&self) -> Value {
        self.of_type("result").pop().unwrap_or_else(|| panic!("no result line:\n{self}"))
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status: {}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr)
    }
}

pub(crate) fn run(command: Command) -> Finished {
    Running::start(command).wait(RUN_TIMEOUT)
}

/// Fails if any request the server saw was meant for another host: a proxy
/// `CONNECT`, an absolute URI, or a `host` header that is not the server.
pub(crate) fn assert_only_loopback(server: &ModelServerHandle) {
    let own_host = server.addr().to_string();
    for request in server.requests() {
        let host = request.header("host").unwrap_or_default();
        assert!(
            request.method != "CONNECT" && request.path.starts_with('/') && host == own_host,
            "a CLI tried to reach beyond 127.0.0.1: {} {} (host {host})",
            request.method,
            request.path,
        );
    }
}
