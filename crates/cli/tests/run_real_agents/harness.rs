//! What every `orca run` end-to-end test needs: a real repository, the
//! pinned agent CLIs pointed at the scripted model server through
//! `.orca/config.toml`, the real `orca` binary with `--json` events, and
//! checks that read git, the event stream and the request log.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orca_model_server::{LoggedRequest, ModelServerHandle, Rule, ToolCall, claude_bin, codex_bin};
use serde_json::Value;

/// How long one `orca run` may take before the test gives up. A run of six
/// tasks takes about 10 s here; a loaded machine must not fail the suite.
pub(crate) const RUN_PATIENCE: Duration = Duration::from_secs(300);

/// The agent CLI a test drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cli {
    Claude,
    Codex,
}

impl Cli {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
        }
    }

    /// The request header that carries the CLI's session ID.
    pub(crate) fn session_header(self) -> &'static str {
        match self {
            Cli::Claude => "x-claude-code-session-id",
            Cli::Codex => "session-id",
        }
    }
}

pub(crate) fn git_in(cwd: &Path, args: &[&str]) -> String {
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
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A temporary directory holding the user's repository (`repo/`), the
/// plan (outside the repository) and orca's output files.
pub(crate) struct Project {
    dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
}

impl Project {
    /// A repository on `main` whose one commit holds `files`.
    pub(crate) fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let project = Project { dir, repo };
        project.git(&["init", "-q", "-b", "main"]);
        for (path, content) in files {
            project.write(path, content);
        }
        project.git(&["add", "-A"]);
        project.git(&["commit", "-q", "-m", "the project before the plan"]);
        project
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        git_in(&self.repo, args)
    }

    pub(crate) fn write(&self, path: &str, content: &str) {
        let path = self.repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// `path` as committed on `rev`, or None when it is not there.
    pub(crate) fn show(&self, rev: &str, path: &str) -> Option<String> {
        let output = Command::new("git")
            .args(["show", &format!("{rev}:{path}")])
            .current_dir(&self.repo)
            .output()
            .unwrap();
        output.status.success().then(|| String::from_utf8(output.stdout).unwrap())
    }

    /// Writes `.orca/config.toml`: `cli` is the run's agent, pointed at
    /// `server`, isolated, with fast retries and short pauses;
    /// `agent_keys` are more keys of the agent's table.
    pub(crate) fn configure(&self, cli: Cli, server: &ModelServerHandle, agent_keys: &str) {
        let (program, url) = match cli {
            Cli::Claude => (claude_bin().unwrap(), server.base_url()),
            Cli::Codex => (codex_bin().unwrap(), server.openai_base_url()),
        };
        let name = cli.name();
        let mut config = format!(
            "[run]\nagent = \"{name}\"\n\n[agents.{name}]\ncommand = \"{}\"\nbase_url = \"{url}\"\n\
             isolate = true\n{agent_keys}\n",
            program.display()
        );
        // A stall should fail a test by its own check, not the watchdog's.
        if !agent_keys.contains("stall_timeout") {
            config.push_str("stall_timeout = \"90s\"\n");
        }
        if cli == Cli::Claude && !agent_keys.contains("permission_mode") {
            config.push_str("permission_mode = \"acceptEdits\"\n");
        }
        // The review gate is not what these tests are about: a command
        // agent approves.
        config.push_str(&format!(
            "\n[review]\nagent = \"approver\"\n\n[agents.approver]\nadapter = \"command\"\n\
             command = [\"cp\", \"{}\", \"review.json\"]\n",
            self.approval().display()
        ));
        config.push_str(
            "\n[limits]\nusage_limit_margin = \"1s\"\nretry_backoff_base = \"1s\"\n\
             retry_backoff_max = \"2s\"\n\n[lease]\nttl = \"20s\"\nheartbeat = \"2s\"\n",
        );
        // What `orca init` does first: `.orca/` with its `.gitignore`.
        orca_config::Layout::new(&self.repo).ensure().unwrap();
        std::fs::write(self.repo.join(".orca/config.toml"), config).unwrap();
    }

    /// A reviewer's answer that asks for nothing, next to the repository.
    fn approval(&self) -> PathBuf {
        let path = self.dir.path().join("approval.json");
        std::fs::write(&path, r#"{"verdict": "approve", "changes": [], "acceptance": []}"#)
            .unwrap();
        path
    }

    /// Writes the plan next to (not in) the repository.
    pub(crate) fn plan(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("plan.md");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `orca ARGS --json` in the repository, every proxy aimed at the model
    /// server: a CLI that tries to reach any other host shows up in the
    /// request log as a `CONNECT`.
    pub(crate) fn orca(&self, server: &ModelServerHandle, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
        command
            .args(args)
            .arg("--json")
            .current_dir(&self.repo)
            .env_remove("ORCA_STORE")
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        for var in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            command.env(var, server.base_url());
        }
        for var in ["NO_PROXY", "no_proxy"] {
            command.env(var, "127.0.0.1,localhost");
        }
        command
    }

    /// Starts `orca ARGS --json`; its events go to a file in the project.
    pub(crate) fn spawn(&self, server: &ModelServerHandle, name: &str, args: &[&str]) -> Orca {
        self.spawn_with(server, name, args, &[])
    }

    /// [`Project::spawn`] with more environment variables for orca.
    pub(crate) fn spawn_with(
        &self,
        server: &ModelServerHandle,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Orca {
        let events = self.dir.path().join(format!("{name}.events.jsonl"));
        let stderr = self.dir.path().join(format!("{name}.stderr"));
        let child = self
            .orca(server, args)
            .envs(env.iter().copied())
            .stdout(File::create(&events).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Orca { child: Some(child), events, stderr, status: None }
    }

    /// Runs `orca ARGS --json` to the end.
    pub(crate) fn run(&self, server: &ModelServerHandle, name: &str, args: &[&str]) -> Orca {
        let mut orca = self.spawn(server, name, args);
        orca.wait(RUN_PATIENCE, server);
        orca
    }

    /// `.orca/runs/<run>/tasks/<task>/a<n>/`
    pub(crate) fn attempt_dir(&self, run: &str, task: &str, attempt: u32) -> PathBuf {
        self.repo.join(".orca/runs").join(run).join("tasks").join(task).join(format!("a{attempt}"))
    }
}

/// One `orca` process and the events it printed.
pub(crate) struct Orca {
    child: Option<Child>,
    events: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Orca {
    pub(crate) fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.as_ref().unwrap().id()).unwrap())
    }

    /// Every event printed so far (a line being written is skipped).
    pub(crate) fn events(&self) -> Events {
        let text = std::fs::read_to_string(&self.events).unwrap_or_default();
        Events(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `done` to hold for the events so far; panics with the
    /// whole story when `patience` passes or orca exits first.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        patience: Duration,
        server: &ModelServerHandle,
        mut done: impl FnMut(&Events, &[LoggedRequest]) -> bool,
    ) {
        let deadline = Instant::now() + patience;
        loop {
            let events = self.events();
            let log = server.requests();
            if done(&events, &log) {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "gave up waiting for {what} (orca {}):\n{}",
                    exited.map_or("still running".to_owned(), |s| s.to_string()),
                    self.story(server)
                );
            }
            // Events arrive on a file and requests on the server: poll both.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for orca to exit; panics with the story when it takes longer
    /// than `patience`.
    pub(crate) fn wait(&mut self, patience: Duration, server: &ModelServerHandle) -> ExitStatus {
        let deadline = Instant::now() + patience;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.status = Some(status);
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("orca did not finish in {patience:?}:\n{}", self.story(server));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap();
    }

    pub(crate) fn code(&self) -> Option<i32> {
        self.status.and_then(|status| status.code())
    }

    /// Asserts orca exited with `code`, showing the story when not.
    pub(crate) fn assert_exit(&self, code: i32, server: &ModelServerHandle) {
        assert_eq!(self.code(), Some(code), "orca's exit status\n{}", self.story(server));
    }

    /// Events, stderr and the request log: what a failing test prints.
    pub(crate) fn story(&self, server: &ModelServerHandle) -> String {
        let mut out = format!("events:\n{}", self.events());
        out.push_str(&format!("stderr:\n{}\nrequests:\n", self.stderr()));
        for request in server.requests() {
            out.push_str(&format!(
                "  #{} {} {} turn {:?} tool_result {:?} rule {:?} -> {:?} {}\n",
                request.seq,
                request.method,
                request.path,
                request.turn,
                request.tool_result,
                request.rule,
                request.status,
                request.outcome
            ));
        }
        out
    }
}

impl Drop for Orca {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && self.status.is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `--json` events of one orca process, in order.
#[derive(Debug, Clone)]
pub(crate) struct Events(pub(crate) Vec<Value>);

impl Events {
    /// Events named `name`.
    pub(crate) fn named(&self, name: &str) -> Vec<&Value> {
        self.0.iter().filter(|event| event["event"] == name).collect()
    }

    /// Events named `name` about `task`.
    pub(crate) fn of(&self, name: &str, task: &str) -> Vec<&Value> {
        self.0.iter().filter(|event| event["event"] == name && event["task"] == task).collect()
    }

    /// The position of the first event named `name` about `task`.
    pub(crate) fn position(&self, name: &str, task: &str) -> Option<usize> {
        self.0.iter().position(|event| event["event"] == name && event["task"] == task)
    }

    /// The run's ID, from `run_started`.
    pub(crate) fn run_id(&self) -> String {
        self.named("run_started")[0]["run"].as_str().unwrap().to_owned()
    }

    pub(crate) fn integration_branch(&self) -> String {
        self.named("run_started")[0]["integration_branch"].as_str().unwrap().to_owned()
    }

    pub(crate) fn outcome(&self) -> Option<String> {
        self.named("run_finished").first().map(|e| e["outcome"].as_str().unwrap().to_owned())
    }
}

impl std::fmt::Display for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for event in self.0.iter().filter(|event| event["event"] != "progress") {
            writeln!(f, "  {event}")?;
        }
        Ok(())
    }
}

/// A task's work in a script: the tool calls its agent makes, one per
/// model turn, then a final answer.
pub(crate) struct Steps {
    pub(crate) marker: String,
    pub(crate) calls: Vec<ToolCall>,
    pub(crate) done: String,
}

impl Steps {
    /// Rules that answer the task's turns by number, first attempt only
    /// (each rule answers once).
    pub(crate) fn rules(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for (turn, call) in self.calls.iter().enumerate() {
            rules.push(
                Rule::tool(call.clone())
                    .marker(self.marker.clone())
                    .turn(u32::try_from(turn).unwrap() + 1)
                    .named(format!("{} step {}", self.marker, turn + 1)),
            );
        }
        rules.push(
            Rule::text(self.done.clone())
                .marker(self.marker.clone())
                .turn(u32::try_from(self.calls.len()).unwrap() + 1)
                .named(format!("{} done", self.marker)),
        );
        rules
    }
}

/// The calls that replace `old` with `new` in an existing file: Claude
/// Code must read a file before it may edit it; Codex patches directly.
pub(crate) fn edit_existing(cli: Cli, path: &str, old: &str, new: &str) -> Vec<ToolCall> {
    match cli {
        Cli::Claude => vec![
            ToolCall::tool_use("Read", serde_json::json!({ "file_path": path })),
            ToolCall::edit_file(path, old, new),
        ],
        Cli::Codex => vec![ToolCall::edit_file(path, old, new)],
    }
}

/// The calls that overwrite an existing file.
pub(crate) fn overwrite_existing(cli: Cli, path: &str, content: &str) -> Vec<ToolCall> {
    match cli {
        Cli::Claude => vec![
            ToolCall::tool_use("Read", serde_json::json!({ "file_path": path })),
            ToolCall::write_file(path, content),
        ],
        Cli::Codex => vec![ToolCall::write_file(path, content)],
    }
}

/// The model requests whose prompt names `marker`.
pub(crate) fn requests_for<'a>(log: &'a [LoggedRequest], marker: &str) -> Vec<&'a LoggedRequest> {
    log.iter()
        .filter(|request| request.api.is_some() && prompt_text(request).contains(marker))
        .collect()
}

/// The user-side text of a request (system, user and developer messages;
/// not tool results), as the script's markers see it, roughly.
pub(crate) fn prompt_text(request: &LoggedRequest) -> String {
    let mut text = String::new();
    collect_prompt(&request.body["system"], &mut text);
    for list in ["messages", "input"] {
        for message in request.body[list].as_array().into_iter().flatten() {
            if message["role"] != "assistant" {
                collect_prompt(&message["content"], &mut text);
            }
        }
    }
    text
}

fn collect_prompt(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Value::Array(items) => {
            for item in items {
                match item["type"].as_str() {
                    Some("text" | "input_text") => collect_prompt(&item["text"], out),
                    None => collect_prompt(item, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Nothing but model APIs and Claude Code's `HEAD /` reached the server:
/// no CONNECT to another host, no unknown path, no request the script did
/// not expect.
pub(crate) fn assert_only_model_traffic(server: &ModelServerHandle) {
    for request in server.requests() {
        assert!(
            request.api.is_some() || (request.method == "HEAD" && request.path == "/"),
            "unexpected request #{}: {} {} ({})",
            request.seq,
            request.method,
            request.path,
            request.outcome
        );
        assert!(
            !request.outcome.starts_with("no rule matched")
                && !request.outcome.starts_with("cannot render"),
            "request #{} ({} turn {:?}) was not scripted: {}",
            request.seq,
            request.path,
            request.turn,
            request.outcome
        );
    }
}

/// The user's checkout, byte for byte: every file outside `.git` and
/// `.orca` (orca's own git-ignored state), the index file, HEAD and its
/// branch, `git status`, the stash and the main branch's tip.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checkout {
    files: BTreeMap<PathBuf, String>,
    index: Vec<u8>,
    head: String,
    status: String,
    staged: String,
    refs: String,
}

impl Checkout {
    /// Makes the checkout dirty the way users leave it: a modified tracked
    /// file, a staged change, an untracked file. File times are set an hour
    /// back and the index refreshed, so no later `git status` needs to
    /// rewrite the index (no "racily clean" entries).
    pub(crate) fn make_dirty(project: &Project, modified: &str, staged: &str) {
        let path = project.repo.join(modified);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("A line the user is still writing.\n");
        std::fs::write(&path, text).unwrap();
        project.write(staged, "A file the user staged but has not committed.\n");
        project.git(&["add", staged]);
        project.write("notes-untracked.txt", "The user's scratch notes.\n");
        let past = SystemTime::now() - Duration::from_secs(3600);
        for file in walk(&project.repo) {
            File::options().write(true).open(&file).unwrap().set_modified(past).unwrap();
        }
        // `git status` refreshes the index and writes it once.
        let _ = project.git(&["status", "--porcelain=v2"]);
    }

    pub(crate) fn take(project: &Project) -> Checkout {
        // The index first: reading it must not depend on git status.
        let index = std::fs::read(project.repo.join(".git/index")).unwrap();
        let files = walk(&project.repo)
            .into_iter()
            .map(|file| {
                let bytes = std::fs::read(&file).unwrap();
                // Every file here is text; a byte that is not shows as U+FFFD
                // and still compares by its bytes below.
                let text = match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(error) => format!("{:?}", error.into_bytes()),
                };
                (file.strip_prefix(&project.repo).unwrap().to_path_buf(), text)
            })
            .collect();
        let head = std::fs::read_to_string(project.repo.join(".git/HEAD")).unwrap();
        Checkout {
            files,
            index,
            head,
            status: project.git(&["status", "--porcelain=v2", "--branch", "--untracked-files=all"]),
            staged: project.git(&["diff", "--cached", "--binary"]),
            refs: project.git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads/main",
                "refs/stash",
            ]),
        }
    }
}

impl Checkout {
    /// Asserts nothing changed, naming what did.
    pub(crate) fn assert_unchanged(&self, before: &Checkout) {
        assert_eq!(self.files, before.files, "the files of the user's checkout changed");
        assert_eq!(self.status, before.status, "`git status` of the user's checkout changed");
        assert_eq!(self.staged, before.staged, "the user's staged changes changed");
        assert_eq!(self.head, before.head, "HEAD moved");
        assert_eq!(self.refs, before.refs, "main or the stash moved");
        assert!(self.index == before.index, "the index file changed");
    }
}

/// Every file under `root`, skipping `.git` and `.orca`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if dir == root && matches!(entry.file_name().to_str(), Some(".git" | ".orca")) {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The tasks merged into `branch`, oldest first, from the merge commits'
/// subjects on its first-parent history (`orca: merge T01 (attempt 1): ...`).
pub(crate) fn merge_order(project: &Project, branch: &str) -> Vec<String> {
    project
        .git(&["log", "--first-parent", "--reverse", "--format=%s", branch])
        .lines()
        .filter_map(|subject| subject.strip_prefix("orca: merge "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// Asserts each task appears once in `order` and after all its deps.
pub(crate) fn assert_merged_in_dependency_order(order: &[String], deps: &[(&str, &[&str])]) {
    for (task, _) in deps {
        assert_eq!(
            order.iter().filter(|merged| merged == task).count(),
            1,
            "{task} must be merged exactly once: {order:?}"
        );
    }
    assert_eq!(order.len(), deps.len(), "merges: {order:?}");
    for (task, before) in deps {
        let at = order.iter().position(|merged| merged == task).unwrap();
        for dep in *before {
            let dep_at = order.iter().position(|merged| merged == dep).unwrap();
            assert!(dep_at < at, "{dep} must be merged before {task}: {order:?}");
        }
    }
}

/// After a completed run: no worktree is left (git knows only the main
/// one, and nothing is left under `.orca/worktrees`), and the run's only
/// branch is its integration branch.
pub(crate) fn assert_tidy(project: &Project, integration: &str) {
    let worktrees = project.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(
        worktrees.lines().filter(|line| line.starts_with("worktree ")).count(),
        1,
        "only the user's checkout is a worktree:\n{worktrees}"
    );
    let left = walk_all(&project.repo.join(".orca/worktrees"));
    assert!(left.is_empty(), "files left under .orca/worktrees: {left:?}");
    let branches = project.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads/orca/"]);
    assert_eq!(branches.trim(), integration, "attempt branches must be pruned");
}

fn walk_all(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return found };
    for entry in entries.flatten() {
        if entry.file_type().unwrap().is_dir() {
            found.extend(walk_all(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found
}

/// The agent processes an attempt directory names: the `agent.pid` files
/// under `.orca/runs/<run>/tasks/` (`<pid> <start time>`).
pub(crate) fn agent_pids(project: &Project, run: &str) -> Vec<(u32, u64)> {
    let mut pids = Vec::new();
    for file in walk_all(&project.repo.join(".orca/runs").join(run).join("tasks")) {
        if file.file_name().and_then(|n| n.to_str()) != Some("agent.pid") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let mut words = text.split_whitespace();
        if let (Some(Ok(pid)), Some(Ok(start))) =
            (words.next().map(str::parse), words.next().map(str::parse))
        {
            pids.push((pid, start));
        }
    }
    pids
}

/// Whether `pid` is still the process that started at `start` and has not
/// exited (a zombie waiting for its reaper counts as gone).
pub(crate) fn is_running(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(close) = stat.rfind(')') else { return false };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let state = fields.first().copied().unwrap_or("X");
    let started = fields.get(19).and_then(|s| s.parse::<u64>().ok());
    started == Some(start) && !matches!(state, "Z" | "X")
}

/// Waits until `condition` holds, polling; panics with `what` after `patience`.
pub(crate) fn wait_until(what: &str, patience: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
