//! The harness of the CLI's end-to-end tests with `command` agents: a git
//! repository with one commit, a `command` agent named `fake` (a small
//! shell script standing in for an AI agent), plans, and readers for the
//! `--json` event stream. Each test file that uses it says `mod support;`
//! and uses what it needs.

#![allow(dead_code, reason = "each test file uses a part of the harness")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A git repository with one commit, a `command` agent named `fake`
/// running `agent.sh <task id> <prompt file>` in the task's worktree, and
/// a place for plans and scripts outside the checkout.
/// A reviewer's answer that asks for nothing.
pub(crate) const APPROVAL: &str = r#"{"verdict": "approve", "changes": [], "acceptance": []}"#;

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
    pub(crate) tools: PathBuf,
}

impl Fixture {
    pub(crate) fn new(agent_script: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let tools = dir.path().join("tools");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        let fixture = Fixture { _dir: dir, repo, tools };
        fixture.git(&["init", "-q", "-b", "main"]);
        std::fs::write(fixture.repo.join("README.md"), "# demo\n").unwrap();
        std::fs::write(fixture.repo.join("shared.txt"), "line one\nline two\nline three\n")
            .unwrap();
        fixture.git(&["add", "."]);
        fixture.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]);
        fixture.agent(agent_script);
        fixture.config("");
        fixture
    }

    /// Replaces the agent script; it runs with `set -eu`, `$1` = task ID,
    /// `$2` = prompt file, in the task's worktree.
    pub(crate) fn agent(&self, body: &str) {
        let path = self.tools.join("agent.sh");
        // As reviewer (unless the body answers itself), the agent approves.
        let approval = self.tools.join("approval.json");
        std::fs::write(&approval, APPROVAL).unwrap();
        let approve = format!(
            "trap 'if [ \"$task\" = review ] && [ ! -f review.json ]; then cp {} review.json; fi' EXIT",
            approval.display()
        );
        std::fs::write(
            &path,
            format!("#!/bin/sh\nset -eu\ntask=\"$1\"\nprompt=\"$2\"\n{approve}\n{body}\n"),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }

    /// `.orca/config.toml`: the fake agent, fast retries, plus `extra`.
    pub(crate) fn config(&self, extra: &str) {
        std::fs::create_dir_all(self.repo.join(".orca")).unwrap();
        // As orca writes it: its state stays out of `git status`.
        std::fs::write(self.repo.join(".orca/.gitignore"), "*\n").unwrap();
        let agent = self.tools.join("agent.sh");
        std::fs::write(
            self.repo.join(".orca/config.toml"),
            format!(
                "[run]\nagent = \"fake\"\n{extra}\n\n[limits]\nretry_backoff_base = \"1s\"\nretry_backoff_max = \"2s\"\n\n\
                 [agents.fake]\nadapter = \"command\"\ncommand = [\"{}\", \"{{task_id}}\", \"{{prompt_file}}\"]\n",
                agent.display()
            ),
        )
        .unwrap();
    }

    pub(crate) fn plan(&self, text: &str) -> PathBuf {
        let path = self.tools.join("plan.md");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub(crate) fn orca(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
        command.current_dir(&self.repo).env_remove("ORCA_STORE").stdin(Stdio::null());
        command
    }

    /// `orca <args> --json`: the exit code and the events.
    pub(crate) fn run_json(&self, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
        let out = self.orca().args(args).arg("--json").output().unwrap();
        (out.status.code(), events(&out), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(&self.repo).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn integration(&self, events: &[Value]) -> String {
        let started =
            events.iter().find(|e| e["event"] == "run_started").expect("run_started event");
        started["integration_branch"].as_str().unwrap().to_owned()
    }

    /// Waits until the agents of the (only) run have written `name` into
    /// the run's worktree directory (their `..`), and returns its path.
    pub(crate) fn wait_for_run_file(&self, name: &str, what: &str) -> PathBuf {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = std::fs::read_dir(self.repo.join(".orca/worktrees"))
                .ok()
                .and_then(|mut runs| runs.next())
                .and_then(|run| run.ok())
                .map(|run| run.path().join(name))
                .filter(|path| path.exists());
            if let Some(path) = found {
                return path;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What a human does to a run's result before `orca resume`: writes
    /// `file` on `branch` (through a worktree of its own) and commits it.
    pub(crate) fn commit_on(&self, branch: &str, file: &str, content: &str, message: &str) {
        let work = self.tools.join("human");
        self.git(&["worktree", "add", "-q", work.to_str().unwrap(), branch]);
        std::fs::write(work.join(file), content).unwrap();
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", message])
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self.git(&["worktree", "remove", work.to_str().unwrap()]);
    }

    /// A file's content on a branch.
    pub(crate) fn show(&self, branch: &str, file: &str) -> String {
        self.git(&["show", &format!("{branch}:{file}")])
    }
}

pub(crate) fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Position of the first event of `kind` for `task`.
pub(crate) fn position(events: &[Value], kind: &str, task: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == kind && e["task"] == task)
        .unwrap_or_else(|| panic!("no {kind} event for {task}"))
}

/// Task IDs in the order their merges appear on the integration branch.
pub(crate) fn merge_order(fixture: &Fixture, branch: &str) -> Vec<String> {
    fixture
        .git(&["log", "--first-parent", "--reverse", "--format=%s", branch])
        .lines()
        .filter_map(|subject| subject.strip_prefix("orca: merge "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

pub(crate) const WRITE_OWN_FILE: &str = "echo \"work of $task\" > \"out-$task.txt\"";

pub(crate) fn task(id: &str, deps: &str, files: &str, verify: Option<&str>) -> String {
    let verify = verify.map(|v| format!("- verify: {v}\n")).unwrap_or_default();
    format!(
        "### {id}: Task {id}\n- deps: {deps}\n- role: backend\n- files: {files}\n{verify}- accept:\n  - [ ] done\n\n"
    )
}

pub(crate) fn diamond_plan() -> String {
    let mut plan = String::from("# Plan: Diamond\n\n");
    plan += &task("T1", "none", "out-T1.txt", Some("test -f out-T1.txt"));
    plan += &task("T2", "T1", "out-T2.txt", Some("test -f out-T1.txt"));
    plan += &task("T3", "T1", "out-T3.txt", Some("test -f out-T3.txt"));
    plan += &task("T4", "T2, T3", "out-T4.txt", Some("test -f out-T2.txt"));
    plan
}

/// Every file's bytes, the index and `git status`: what "untouched" means.
pub(crate) fn checkout_snapshot(repo: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![repo.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.strip_prefix(repo).unwrap().to_string_lossy().into_owned();
            if name == ".orca"
                || (name.starts_with(".git/") && name != ".git/index" && name != ".git/HEAD")
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    name,
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
                );
            }
        }
    }
    let status = Command::new("git")
        .args(["status", "--porcelain=v2", "--untracked-files=all"])
        .current_dir(repo)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .unwrap();
    files.insert("(git status)".into(), String::from_utf8_lossy(&status.stdout).into_owned());
    files
}

/// Whether `pid` runs (a zombie does not count).
pub(crate) fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

/// An agent script: every task writes its own file, but `hang` (one task
/// ID) hangs on its first attempt, after writing its pid to `../hung-pid`
/// (the run's worktree directory), until `release` exists.
pub(crate) fn hanging_agent(hang: &str, release: &Path) -> String {
    format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n\
         if [ \"$task\" = {hang} ] && [ ! -e {release} ]; then echo $$ > ../hung-pid; \
         while [ ! -e {release} ]; do sleep 0.05; done; fi",
        release = release.display()
    )
}

impl Fixture {
    /// Starts `orca <args>` and kills it with SIGKILL once the hanging
    /// agent (see [`hanging_agent`]) is at work; returns the agent's pid.
    pub(crate) fn run_then_kill_9(&self, args: &[&str]) -> u32 {
        let mut child =
            self.orca().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid_file = self.wait_for_run_file("hung-pid", "the hanging agent");
        let pid = loop {
            // The file may be seen before its content is written.
            if let Ok(pid) = std::fs::read_to_string(&pid_file).unwrap_or_default().trim().parse() {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        pid
    }

    /// `orca <args> --json` parsed as one JSON document.
    pub(crate) fn json(&self, args: &[&str]) -> (Option<i32>, Value, String) {
        let out = self.orca().args(args).arg("--json").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {}\n{stderr}", String::from_utf8_lossy(&out.stdout))
        });
        (out.status.code(), value, stderr)
    }

    /// `orca <args>`: exit code, stdout, stderr.
    pub(crate) fn text(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.orca().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The branches under `orca/`.
    pub(crate) fn orca_branches(&self) -> Vec<String> {
        self.git(&["branch", "--list", "orca/*", "--format=%(refname:short)"])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
