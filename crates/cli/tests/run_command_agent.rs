//! `orca run` and `orca resume` end to end with `command` agents: small
//! shell scripts that stand in for an AI agent, so every path of the
//! engine — parallel dispatch, retries, conflicts, crashes — runs fast and
//! deterministically against real git and a real store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A git repository with one commit, a `command` agent named `fake`
/// running `agent.sh <task id> <prompt file>` in the task's worktree, and
/// a place for plans and scripts outside the checkout.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    tools: PathBuf,
}

impl Fixture {
    fn new(agent_script: &str) -> Fixture {
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
    fn agent(&self, body: &str) {
        let path = self.tools.join("agent.sh");
        std::fs::write(&path, format!("#!/bin/sh\nset -eu\ntask=\"$1\"\nprompt=\"$2\"\n{body}\n"))
            .unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }

    /// `.orca/config.toml`: the fake agent, fast retries, plus `extra`.
    fn config(&self, extra: &str) {
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

    fn plan(&self, text: &str) -> PathBuf {
        let path = self.tools.join("plan.md");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn orca(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
        command.current_dir(&self.repo).env_remove("ORCA_STORE").stdin(Stdio::null());
        command
    }

    /// `orca <args> --json`: the exit code and the events.
    fn run_json(&self, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
        let out = self.orca().args(args).arg("--json").output().unwrap();
        (out.status.code(), events(&out), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(&self.repo).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn integration(&self, events: &[Value]) -> String {
        let started =
            events.iter().find(|e| e["event"] == "run_started").expect("run_started event");
        started["integration_branch"].as_str().unwrap().to_owned()
    }

    /// A file's content on a branch.
    fn show(&self, branch: &str, file: &str) -> String {
        self.git(&["show", &format!("{branch}:{file}")])
    }
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Position of the first event of `kind` for `task`.
fn position(events: &[Value], kind: &str, task: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == kind && e["task"] == task)
        .unwrap_or_else(|| panic!("no {kind} event for {task}"))
}

/// Task IDs in the order their merges appear on the integration branch.
fn merge_order(fixture: &Fixture, branch: &str) -> Vec<String> {
    fixture
        .git(&["log", "--first-parent", "--reverse", "--format=%s", branch])
        .lines()
        .filter_map(|subject| subject.strip_prefix("orca: merge "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .collect()
}

const WRITE_OWN_FILE: &str = "echo \"work of $task\" > \"out-$task.txt\"";

fn task(id: &str, deps: &str, files: &str, verify: Option<&str>) -> String {
    let verify = verify.map(|v| format!("- verify: {v}\n")).unwrap_or_default();
    format!(
        "### {id}: Task {id}\n- deps: {deps}\n- role: backend\n- files: {files}\n{verify}- accept:\n  - [ ] done\n\n"
    )
}

fn diamond_plan() -> String {
    let mut plan = String::from("# Plan: Diamond\n\n");
    plan += &task("T1", "none", "out-T1.txt", Some("test -f out-T1.txt"));
    plan += &task("T2", "T1", "out-T2.txt", Some("test -f out-T1.txt"));
    plan += &task("T3", "T1", "out-T3.txt", Some("test -f out-T3.txt"));
    plan += &task("T4", "T2, T3", "out-T4.txt", Some("test -f out-T2.txt"));
    plan
}

/// Every file's bytes, the index and `git status`: what "untouched" means.
fn checkout_snapshot(repo: &Path) -> BTreeMap<String, String> {
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

#[test]
fn a_diamond_runs_to_the_end_in_dependency_order_and_leaves_the_checkout_alone() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    // The user's uncommitted work: a modified, a staged and an untracked file.
    std::fs::write(fixture.repo.join("README.md"), "# demo\nlocal edit\n").unwrap();
    std::fs::write(fixture.repo.join("staged.txt"), "staged\n").unwrap();
    fixture.git(&["add", "staged.txt"]);
    std::fs::write(fixture.repo.join("scratch.txt"), "mine\n").unwrap();
    let before = checkout_snapshot(&fixture.repo);

    let plan = fixture.plan(&diamond_plan());
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");

    let integration = fixture.integration(&events);
    for id in ["T1", "T2", "T3", "T4"] {
        assert_eq!(fixture.show(&integration, &format!("out-{id}.txt")), format!("work of {id}\n"));
    }
    let order = merge_order(&fixture, &integration);
    assert_eq!(order.len(), 4, "{order:?}");
    let at = |id: &str| order.iter().position(|t| t == id).unwrap();
    assert!(
        at("T1") < at("T2") && at("T1") < at("T3") && at("T2") < at("T4") && at("T3") < at("T4"),
        "{order:?}"
    );
    // No task started before its dependencies were merged.
    assert!(position(&events, "merged", "T1") < position(&events, "task_started", "T2"));
    assert!(position(&events, "merged", "T3") < position(&events, "task_started", "T4"));
    assert!(position(&events, "merged", "T2") < position(&events, "task_started", "T4"));

    let finished = of_kind(&events, "run_finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "completed");
    assert_eq!(finished[0]["merged"], 4);
    // The user's checkout is byte-identical; no worktree and no attempt
    // branch is left; the integration branch stays.
    assert_eq!(checkout_snapshot(&fixture.repo), before);
    let worktrees = fixture.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    let branches = fixture.git(&["branch", "--format=%(refname:short)"]);
    assert_eq!(
        branches.lines().filter(|b| b.starts_with("orca/")).collect::<Vec<_>>(),
        vec![integration.as_str()]
    );
}

#[test]
fn independent_tasks_run_at_the_same_time_and_overlapping_files_never_do() {
    // Each agent waits until the other independent task has started (or
    // gives up after a while), so overlap is observed, not assumed.
    let fixture = Fixture::new(
        "touch \"../started-$task\"\n\
         case \"$task\" in T1) other=T2;; T2) other=T1;; *) other=;; esac\n\
         i=0; while [ -n \"$other\" ] && [ ! -e \"../started-$other\" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n\
         [ -n \"$other\" ] && [ -e \"../started-$other\" ] && echo overlap > \"overlap-$task.txt\"\n\
         echo \"work of $task\" > \"out-$task.txt\"",
    );
    let mut plan = String::from("# Plan: Parallel\n\n");
    plan += &task("T1", "none", "out-T1.txt", None);
    plan += &task("T2", "none", "out-T2.txt", None);
    // T3 and T4 both declare shared.txt: they must never be in flight together.
    plan += &task("T3", "none", "shared.txt", None);
    plan += &task("T4", "none", "shared.txt", None);
    let plan = fixture.plan(&plan);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--agents", "4"]);
    assert_eq!(code, Some(0), "{stderr}");
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "overlap-T1.txt"), "overlap\n");
    assert_eq!(fixture.show(&integration, "overlap-T2.txt"), "overlap\n");
    let (first, second) =
        if position(&events, "task_started", "T3") < position(&events, "task_started", "T4") {
            ("T3", "T4")
        } else {
            ("T4", "T3")
        };
    assert!(
        position(&events, "merged", first) < position(&events, "task_started", second),
        "tasks sharing a file overlapped"
    );
}

#[test]
fn a_failing_verify_is_retried_with_its_output_in_the_prompt() {
    // Right only once the prompt reports the failure.
    let fixture = Fixture::new(
        "if grep -q 'did not pass' \"$prompt\"; then echo good > result.txt; else echo bad > result.txt; fi",
    );
    let plan = fixture.plan(&format!(
        "# Plan: Retry\n\n{}",
        task("T1", "none", "result.txt", Some("grep -q good result.txt"))
    ));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let retries = of_kind(&events, "retrying");
    assert_eq!(retries.len(), 1, "{events:?}");
    assert!(retries[0]["reason"].as_str().unwrap().contains("exited with status 1"));
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let second = std::fs::read_to_string(
        fixture.repo.join(format!(".orca/runs/{run}/tasks/T1/a2/agent/prompt.md")),
    )
    .unwrap();
    assert!(second.contains("## Attempt 1 did not pass"), "{second}");
    assert!(second.contains("grep -q good result.txt"), "{second}");
    assert_eq!(fixture.show(&fixture.integration(&events), "result.txt"), "good\n");
}

#[test]
fn a_task_out_of_tries_fails_and_blocks_its_dependents() {
    let fixture = Fixture::new("echo nope > out.txt");
    fixture.config("max_attempts = 2");
    let mut plan = String::from("# Plan: Doomed\n\n");
    plan += &task("T1", "none", "out.txt", Some("false"));
    plan += &task("T2", "T1", "two.txt", None);
    plan += &task("T3", "none", "three.txt", None);
    let plan = fixture.plan(&plan);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let failed = of_kind(&events, "task_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["task"], "T1");
    assert_eq!(failed[0]["blocked"], serde_json::json!(["T2"]));
    assert_eq!(of_kind(&events, "task_started").iter().filter(|e| e["task"] == "T1").count(), 2);
    assert!(of_kind(&events, "task_started").iter().all(|e| e["task"] != "T2"));
    let status = fixture.orca().args(["status", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let states: BTreeMap<String, String> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_owned(), t["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states["T1"], "failed");
    assert_eq!(states["T2"], "blocked");
    assert_eq!(states["T3"], "succeeded");
}

/// Two tasks edit the same line of a file they did not declare, so they
/// run in parallel and the second merge conflicts.
const CONFLICTING_AGENT: &str = "\
if grep -q 'resolve merge conflict' \"$prompt\"; then printf 'line one\\nline two by T1 and T2\\nline three\\n' > shared.txt; exit 0; fi
touch \"../started-$task\"
case \"$task\" in T1) other=T2;; *) other=T1;; esac
i=0; while [ ! -e \"../started-$other\" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
printf 'line one\\nline two by %s\\nline three\\n' \"$task\" > shared.txt";

fn conflicting_plan() -> String {
    let mut plan = String::from("# Plan: Collide\n\n");
    plan += &task("T1", "none", "t1.txt", None);
    plan += &task("T2", "none", "t2.txt", None);
    plan
}

#[test]
fn a_merge_conflict_goes_to_a_resolver_agent() {
    let fixture = Fixture::new(CONFLICTING_AGENT);
    let plan = fixture.plan(&conflicting_plan());
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let conflicts = of_kind(&events, "conflict");
    assert_eq!(conflicts.len(), 1, "{events:?}");
    assert_eq!(conflicts[0]["files"], serde_json::json!(["shared.txt"]));
    let resolved: Vec<_> =
        of_kind(&events, "merged").into_iter().filter(|e| e["resolved_conflict"] == true).collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        fixture.show(&fixture.integration(&events), "shared.txt"),
        "line one\nline two by T1 and T2\nline three\n"
    );
}

#[test]
fn without_a_resolver_a_conflict_fails_the_task_and_names_the_files() {
    let fixture = Fixture::new(CONFLICTING_AGENT);
    let plan = fixture.plan(&conflicting_plan());
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--no-resolver"]);
    assert_eq!(code, Some(1), "{stderr}");
    let failed = of_kind(&events, "task_failed");
    assert_eq!(failed.len(), 1);
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("merge conflict in shared.txt"), "{reason}");
    // A conflict is not retried: another attempt would collide again.
    assert!(of_kind(&events, "retrying").is_empty());
}

#[test]
fn an_invalid_plan_is_refused_before_anything_runs() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan("# Plan: Broken\n\n### T1: One\n- deps: T9\n- role: backend\n- files: a\n- accept:\n  - [ ] x\n");
    let out = fixture.orca().args(["run", "--plan", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("T9"), "{stderr}");
    assert!(!fixture.repo.join(".orca/orca.db").exists(), "no run was created");
}

#[test]
fn outside_a_git_repository_run_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["run", "--plan", "plan.md"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("git"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `path` exists.
fn wait_for_file(path: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[test]
fn heavy_kill_9_mid_run_then_resume_loses_nothing_and_leaves_no_orphan() {
    // T2's first attempt hangs (after writing part of its work); later
    // attempts finish at once.
    let fixture = Fixture::new(
        "echo \"work of $task\" > \"out-$task.txt\"\n\
         if [ \"$task\" = T2 ] && [ ! -e ../T2-tried ]; then touch ../T2-tried; echo $$ > ../T2-agent-pid; exec sleep 300; fi",
    );
    let mut plan = String::from("# Plan: Crash\n\n");
    plan += &task("T1", "none", "out-T1.txt", None);
    plan += &task("T2", "T1", "out-T2.txt", Some("test -f out-T2.txt"));
    plan += &task("T3", "T1", "out-T3.txt", None);
    plan += &task("T4", "T2, T3", "out-T4.txt", None);
    let plan = fixture.plan(&plan);
    let mut child = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The hung agent runs in T2's worktree: `..` is the run's worktree dir.
    let worktrees = fixture.repo.join(".orca/worktrees");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid_file = loop {
        let found = std::fs::read_dir(&worktrees)
            .ok()
            .and_then(|mut runs| runs.next())
            .and_then(|run| run.ok())
            .map(|run| run.path().join("T2-agent-pid"));
        if let Some(path) = found.filter(|p| p.exists()) {
            break path;
        }
        assert!(Instant::now() < deadline, "T2's agent never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for_file(&pid_file, "the hung agent's pid");
    let agent_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(process_alive(agent_pid));
    // kill -9 orca: the agent, in its own process group, survives it.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(process_alive(agent_pid), "the agent should outlive a kill -9 of orca");

    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(!process_alive(agent_pid), "resume must kill the orphaned agent");
    let integration = fixture.integration(&events);
    for id in ["T1", "T2", "T3", "T4"] {
        assert_eq!(
            fixture.show(&integration, &format!("out-{id}.txt")),
            format!("work of {id}\n"),
            "{id}"
        );
    }
    let mut order = merge_order(&fixture, &integration);
    order.sort();
    assert_eq!(order, ["T1", "T2", "T3", "T4"], "every task merged exactly once");
    let worktrees = fixture.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
}

#[test]
fn heavy_ctrl_c_commits_partial_work_and_resume_finishes() {
    let fixture = Fixture::new(
        "echo \"partial $task\" > \"out-$task.txt\"\n\
         if [ ! -e ../interrupted-once ]; then touch ../interrupted-once; touch ../agent-running; exec sleep 300; fi",
    );
    let plan = fixture.plan(&format!("# Plan: Stop\n\n{}", task("T1", "none", "out-T1.txt", None)));
    let child = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let found = std::fs::read_dir(fixture.repo.join(".orca/worktrees"))
            .ok()
            .and_then(|mut runs| runs.next())
            .and_then(|run| run.ok())
            .map(|run| run.path().join("agent-running"));
        if let Some(path) = found.filter(|p| p.exists()) {
            break path;
        }
        assert!(Instant::now() < deadline, "the agent never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(running.exists());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&out);
    assert!(!of_kind(&events, "stopping").is_empty());
    let run = events[0]["run"].as_str().unwrap().to_owned();
    // The partial work is committed on the attempt branch.
    assert_eq!(fixture.show(&format!("orca/{run}/T1/a1"), "out-T1.txt"), "partial T1\n");

    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fixture.show(&fixture.integration(&events), "out-T1.txt"), "partial T1\n");
}

#[test]
fn a_second_run_in_the_same_repository_is_refused_and_names_the_holder() {
    let fixture = Fixture::new("touch ../agent-running; exec sleep 300");
    let plan = fixture.plan(&format!("# Plan: Busy\n\n{}", task("T1", "none", "a.txt", None)));
    let mut first = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fixture.repo.join(".orca/lock").exists() {
        assert!(Instant::now() < deadline, "the first run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = fixture.orca().args(["run", "--plan", plan.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    first.kill().unwrap();
    first.wait().unwrap();
}
