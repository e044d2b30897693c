//! `orca run` and `orca resume` end to end with `command` agents: small
//! shell scripts that stand in for an AI agent, so every path of the
//! engine — parallel dispatch, retries, conflicts, crashes — runs fast and
//! deterministically against real git and a real store.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

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

/// Regression: an isolated agent's HOME outlives its attempt, so a retry
/// can resume the session the CLI filed there.
#[test]
fn an_isolated_agent_keeps_its_home_across_attempts() {
    let fixture = Fixture::new(
        "if [ -e \"$HOME/session\" ]; then echo good > result.txt; \
         else touch \"$HOME/session\"; echo bad > result.txt; fi",
    );
    let config = fixture.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.trim_end().ends_with("{prompt_file}\"]"), "[agents.fake] is last: {text}");
    std::fs::write(&config, text + "isolate = true\n").unwrap();
    let plan = fixture.plan(&format!(
        "# Plan: Retry\n\n{}",
        task("T1", "none", "result.txt", Some("grep -q good result.txt"))
    ));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(of_kind(&events, "retrying").len(), 1, "{events:?}");
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

/// Regression: both attempts finish together, so the second is queued for
/// merging before the first merge is done; its resolver must still hear
/// which task it collided with (worked out when the conflict happens).
#[test]
fn a_resolver_is_told_which_task_it_collided_with() {
    let fixture = Fixture::new("true");
    let saved = fixture.tools.join("resolver-prompt.md");
    fixture.agent(&CONFLICTING_AGENT.replacen(
        "then printf",
        &format!("then cp \"$prompt\" '{}'; printf", saved.display()),
        1,
    ));
    let plan = fixture.plan(&conflicting_plan());
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let conflicts = of_kind(&events, "conflict");
    assert_eq!(conflicts.len(), 1, "{events:?}");
    let other = if conflicts[0]["task"] == "T1" { "T2" } else { "T1" };
    let prompt = std::fs::read_to_string(&saved).unwrap();
    assert!(
        prompt.contains(&format!("## The tasks it collided with\n\n- {other}: Task {other}\n")),
        "{prompt}"
    );
}

/// Stops orca while a resolver works (its first run hangs), then resumes.
fn stop_while_resolving_then_resume(signal: nix::sys::signal::Signal) {
    let fixture = Fixture::new("true");
    let tried = fixture.tools.join("resolver-tried");
    fixture.agent(&CONFLICTING_AGENT.replacen(
        "then printf",
        &format!(
            "then if [ ! -e '{0}' ]; then touch '{0}'; exec sleep 300; fi; printf",
            tried.display()
        ),
        1,
    ));
    let plan = fixture.plan(&conflicting_plan());
    let mut child = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&tried, "the resolver to start");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
    let status = child.wait().unwrap();
    if signal == nix::sys::signal::Signal::SIGINT {
        assert_eq!(status.code(), Some(130));
    }

    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let resolved: Vec<_> =
        of_kind(&events, "merged").into_iter().filter(|e| e["resolved_conflict"] == true).collect();
    assert_eq!(resolved.len(), 1, "{events:?}");
    // The task's verified work is merged; its agent does not run again.
    let task = resolved[0]["task"].as_str().unwrap();
    assert!(of_kind(&events, "task_started").iter().all(|e| e["task"] != task), "{events:?}");
    assert_eq!(
        fixture.show(&fixture.integration(&events), "shared.txt"),
        "line one\nline two by T1 and T2\nline three\n"
    );
}

/// Regression: a kill -9 of orca while a resolver works leaves the
/// resolver's branch behind; the resolution after `orca resume` must not
/// trip over it (it failed the task for good: "branch ... already exists").
#[test]
fn heavy_kill_9_while_resolving_then_resume_resolves() {
    stop_while_resolving_then_resume(nix::sys::signal::Signal::SIGKILL);
}

/// Regression: after Ctrl-C while a resolver works, `orca resume` merges
/// the task's verified work again instead of running its agent again.
#[test]
fn heavy_ctrl_c_while_resolving_then_resume_merges_without_the_agent() {
    stop_while_resolving_then_resume(nix::sys::signal::Signal::SIGINT);
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

    // Regression: `--retry-failed` gives the task a fresh attempt on the
    // integration branch as it is now, instead of merging the attempt that
    // conflicted again.
    let failed_task = failed[0]["task"].as_str().unwrap().to_owned();
    let (code, events, stderr) = fixture.run_json(&["resume", "--retry-failed", "--no-resolver"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let started: Vec<&Value> = of_kind(&events, "task_started");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["task"], failed_task.as_str());
    assert_eq!(of_kind(&events, "merged").len(), 1);
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
    let pid_file = fixture.wait_for_run_file("T2-agent-pid", "T2's agent");
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
    fixture.wait_for_run_file("agent-running", "the agent");
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
    // SIGTERM, not SIGKILL: orca stops its agent, which would otherwise
    // outlive the test by minutes. Once the agent runs, orca surely
    // listens for signals.
    let worktrees = fixture.repo.join(".orca/worktrees");
    while !std::fs::read_dir(&worktrees)
        .into_iter()
        .flatten()
        .flatten()
        .any(|run| run.path().join("agent-running").exists())
    {
        assert!(Instant::now() < deadline, "the first run's agent never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(first.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(130));
}

/// `[roles.<role>]` routes a role's tasks to another agent and model; a
/// task without a route goes to the run's agent.
#[test]
fn a_roles_tasks_go_to_the_agent_and_model_it_is_routed_to() {
    let fixture = Fixture::new("printf '%s' \"${3:-no model}\" > \"out-$task.txt\"");
    let agent = fixture.tools.join("agent.sh");
    fixture.config(&format!(
        "\n[roles.test]\nagent = \"other\"\nmodel = \"fast-1\"\n\n\
         [agents.other]\nadapter = \"command\"\n\
         command = [\"{}\", \"{{task_id}}\", \"{{prompt_file}}\", \"{{model}}\"]\n",
        agent.display()
    ));
    let plan = format!(
        "# Plan: Routed\n\n{}{}",
        task("T1", "none", "out-T1.txt", Some("test -f out-T1.txt")),
        task("T2", "none", "out-T2.txt", Some("test -f out-T2.txt")).replace("backend", "test"),
    );
    let plan = fixture.plan(&plan);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "out-T1.txt"), "no model");
    assert_eq!(fixture.show(&integration, "out-T2.txt"), "fast-1");
    let (_, status, _) = fixture.json(&["status"]);
    // Each attempt is recorded under the agent that ran it.
    let agents: Vec<&String> = status["usage"]["agents"].as_object().unwrap().keys().collect();
    assert_eq!(agents, ["fake", "other"]);
}

/// `orca status` counts a running attempt's tokens as its agent reports
/// them, before the attempt ends.
#[test]
fn status_shows_the_tokens_of_an_attempt_still_running() {
    let release = tempfile::tempdir().unwrap();
    let release = release.path().join("release");
    let fixture = Fixture::new(&format!(
        "echo '{{\"type\":\"usage\",\"input_tokens\":1200,\"output_tokens\":300,\"cached_tokens\":0}}'\n\
         echo '{{\"type\":\"tool_use\",\"name\":\"Edit\",\"summary\":\"out-T1.txt\"}}'\n{}",
        hanging_agent("T1", &release)
    ));
    let plan = fixture.plan(&format!(
        "# Plan: Live\n\n{}",
        task("T1", "none", "out-T1.txt", Some("test -f out-T1.txt"))
    ));
    let mut child = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fixture.wait_for_run_file("hung-pid", "the hanging agent");
    // The agent printed its usage before it hung; orca stores it as it reads.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let (code, status, stderr) = fixture.json(&["status"]);
        assert_eq!(code, Some(0), "{stderr}");
        if status["usage"]["tasks"]["T1"]["input_tokens"] == 1200 {
            break status;
        }
        assert!(Instant::now() < deadline, "no live usage in {status}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["usage"]["run"]["output_tokens"], 300);
    assert_eq!(status["usage"]["agents"]["fake"]["input_tokens"], 1200);
    std::fs::write(&release, "").unwrap();
    assert!(child.wait().unwrap().success());
}

/// A dependency's summary in a dependent's prompt says what that task
/// changed, not what other tasks merged while it ran.
#[test]
fn a_dependency_summary_leaves_out_what_other_tasks_merged_meanwhile() {
    // T1 finishes only once T2 is merged into the integration branch, so
    // the integration branch moves while T1 runs.
    let fixture = Fixture::new(
        "if [ \"$task\" = T1 ]; then\n\
           i=0; while [ $i -lt 600 ]; do\n\
             for ref in $(git for-each-ref --format='%(refname)' 'refs/heads/orca/*/integration'); do\n\
               git cat-file -e \"$ref:unrelated-T2.txt\" 2>/dev/null && i=600\n\
             done\n\
             sleep 0.05; i=$((i+1))\n\
           done\n\
         fi\n\
         case \"$task\" in T2) echo two > unrelated-T2.txt;; *) echo \"work of $task\" > \"out-$task.txt\";; esac",
    );
    let mut plan = String::from("# Plan: Moving target\n\n");
    plan += &task("T1", "none", "out-T1.txt", None);
    plan += &task("T2", "none", "unrelated-T2.txt", None);
    plan += &task("T3", "T1", "out-T3.txt", None);
    let plan = fixture.plan(&plan);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--agents", "2"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        position(&events, "merged", "T2") < position(&events, "merged", "T1"),
        "T2 merged while T1 ran: {events:?}"
    );
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let prompt = std::fs::read_to_string(
        fixture.repo.join(format!(".orca/runs/{run}/tasks/T3/a1/agent/prompt.md")),
    )
    .unwrap();
    assert!(prompt.contains("out-T1.txt"), "{prompt}");
    assert!(!prompt.contains("unrelated-T2.txt"), "T1's summary lists T2's file: {prompt}");
}
