//! Operating runs as a careful operator does, over real processes: runs
//! of two repositories in one store, resuming the right run, recovering a
//! failed one, git's leftovers, missing agents, a damaged lock, and the
//! logs. Each test reproduces a way a recoverable run used to be lost.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

fn chain_plan(ids: &[&str]) -> String {
    let mut plan = String::from("# Plan: Chain\n\n");
    let mut previous = "none".to_owned();
    for id in ids {
        plan +=
            &task(id, &previous, &format!("out-{id}.txt"), Some(&format!("test -f out-{id}.txt")));
        previous = (*id).to_owned();
    }
    plan
}

fn run_id(events: &[Value]) -> String {
    events.iter().find(|e| e["event"] == "run_started").expect("run_started")["run"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn outcome(events: &[Value]) -> String {
    events.iter().rev().find(|e| e["event"] == "run_finished").expect("run_finished")["outcome"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two repositories share one store. A's run is killed; B's `orca resume`
/// must not take it (it used to, and failed it); B cannot name it with
/// --run either; A resumes it to the end.
#[test]
fn heavy_a_shared_store_keeps_each_repositorys_runs_apart() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = store_dir.path().join("shared.db").display().to_string();
    let a = Fixture::new("true");
    let release = a.tools.join("release");
    a.agent(&hanging_agent("T1", &release));
    let b = Fixture::new(WRITE_OWN_FILE);
    std::fs::write(b.repo.join("b.txt"), "b\n").unwrap();
    b.git(&["add", "b.txt"]);
    b.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b"]);

    let plan = a.plan(&chain_plan(&["T1", "T2"]));
    let hung = a.run_then_kill_9(&["run", "--plan", plan.to_str().unwrap(), "--store", &store]);

    let (code, _, stderr) = b.text(&["resume", "--store", &store]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("this repository has no unfinished run"), "{stderr}");
    let (code, status, _) = b.json(&["status", "--store", &store]);
    assert_eq!((code, &status["run"]), (Some(0), &Value::Null), "B sees none of A's runs");
    let (_, runs, _) = a.json(&["runs", "--store", &store]);
    let a_run = runs[0]["id"].as_str().unwrap().to_owned();
    let (code, _, stderr) = b.text(&["resume", "--store", &store, "--run", &a_run]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("belongs to another repository"), "{stderr}");
    let (code, all, _) = b.json(&["runs", "--all", "--store", &store]);
    assert_eq!((code, all.as_array().unwrap().len()), (Some(0), 1), "--all lists every run");

    std::fs::write(&release, "").unwrap();
    let (code, events, stderr) = a.run_json(&["resume", "--store", &store]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(!process_alive(hung), "the orphaned agent was killed");
    assert_eq!(run_id(&events), a_run);
    assert_eq!(outcome(&events), "completed");
    assert_eq!(a.show(&a.integration(&events), "out-T2.txt"), "work of T2\n");
}

/// A killed run and a later run that succeeded: `orca resume` continues
/// the killed one (it used to say the newest run "is succeeded").
#[test]
fn heavy_resume_takes_the_newest_unfinished_run() {
    let fixture = Fixture::new("true");
    let release = fixture.tools.join("release");
    fixture.agent(&hanging_agent("T1", &release));
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    fixture.run_then_kill_9(&["run", "--plan", plan.to_str().unwrap()]);
    std::fs::write(&release, "").unwrap();
    let later = fixture.plan(&chain_plan(&["L1"]));
    let (code, later_events, stderr) =
        fixture.run_json(&["run", "--plan", later.to_str().unwrap()]);
    assert_eq!((code, outcome(&later_events)), (Some(0), "completed".into()), "{stderr}");

    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_ne!(run_id(&events), run_id(&later_events), "the killed run, not the newest one");
    assert_eq!(outcome(&events), "completed");
    let (code, _, stderr) = fixture.text(&["resume"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("nothing to resume"), "{stderr}");
}

/// A run whose task failed for good is recovered after the cause is
/// fixed: plain resume says how, `--retry-failed` completes it.
#[test]
fn a_failed_run_completes_with_retry_failed_after_a_fix() {
    // verify wants out-T1.txt to say "good"; the agent writes "bad" until fixed.
    let fixture = Fixture::new("echo bad > \"out-$task.txt\"");
    fixture.config("max_attempts = 1");
    let mut plan = String::from("# Plan: Fix me\n\n");
    plan += &task("T1", "none", "out-T1.txt", Some("grep -q good out-T1.txt"));
    plan += &task("T2", "T1", "out-T2.txt", None);
    let plan = fixture.plan(&plan);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!((code, outcome(&events)), (Some(1), "failed".into()), "{stderr}");

    let (code, _, stderr) = fixture.text(&["resume"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--retry-failed"), "the hint says how: {stderr}");

    fixture.agent("echo good > \"out-$task.txt\"");
    let (code, events, stderr) = fixture.run_json(&["resume", "--retry-failed"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(outcome(&events), "completed");
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "out-T1.txt"), "good\n");
    assert_eq!(fixture.show(&integration, "out-T2.txt"), "good\n");
}

/// An agent session blocks a task; an operator unblocks it, and a failed
/// task is retried: the session run completes.
#[test]
fn task_unblock_and_retry_bring_a_session_run_back() {
    let fixture = Fixture::new("true");
    fixture.config("max_attempts = 1");
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    let (code, _, stderr) = fixture.text(&["task", "load", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = fixture.text(&["task", "next", "--claim", "--as", "s1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) =
        fixture.text(&["task", "block", "T1", "--as", "s1", "--reason", "needs a key"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = fixture.text(&["task", "retry", "T1"]);
    assert_eq!(code, Some(1), "a blocked task is unblocked, not retried");
    assert!(stderr.contains("unblock"), "{stderr}");
    let (code, out, stderr) = fixture.text(&["task", "unblock", "T1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(out.contains("T1 unblocked") && out.contains("T2"), "{out}");

    let (code, _, stderr) = fixture.text(&["task", "next", "--claim", "--as", "s1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) =
        fixture.text(&["task", "fail", "T1", "--as", "s1", "--reason", "gave up"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["run"]["state"], "failed");
    let (code, _, stderr) = fixture.text(&["task", "retry", "T1"]);
    assert_eq!(code, Some(0), "{stderr}");
    for id in ["T1", "T2"] {
        let (code, _, stderr) = fixture.text(&["task", "next", "--claim", "--as", "s1"]);
        assert_eq!(code, Some(0), "{stderr}");
        let (code, _, stderr) = fixture.text(&["task", "done", id, "--as", "s1"]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["run"]["state"], "succeeded");
}

/// A ref lock a killed git left on the integration branch: stale, orca
/// removes it and completes; fresh, orca stops without spending a try and
/// names the file.
#[test]
fn heavy_a_stale_ref_lock_is_removed_and_a_fresh_one_named() {
    let fixture = Fixture::new("true");
    let release = fixture.tools.join("release");
    fixture.agent(&hanging_agent("T1", &release));
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    fixture.run_then_kill_9(&["run", "--plan", plan.to_str().unwrap()]);
    std::fs::write(&release, "").unwrap();
    let (_, runs, _) = fixture.json(&["runs"]);
    let run = runs[0]["id"].as_str().unwrap().to_owned();
    let lock = fixture.repo.join(format!(".git/refs/heads/orca/{run}/integration.lock"));

    std::fs::write(&lock, "").unwrap();
    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(outcome(&events), "halted");
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert!(finished["reason"].as_str().unwrap().contains("integration.lock"), "{finished}");
    let (_, status, _) = fixture.json(&["status"]);
    let tries: Vec<i64> =
        status["tasks"].as_array().unwrap().iter().map(|t| t["tries"].as_i64().unwrap()).collect();
    assert!(tries.iter().all(|&t| t <= 1), "no try spent on the lock: {tries:?}");

    // An hour old, nothing at work: stale.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(!lock.exists());
    assert_eq!(fixture.show(&fixture.integration(&events), "out-T2.txt"), "work of T2\n");
}

/// An agent program that is not installed is found before anything is
/// created: one message naming it, no run, no branch.
#[test]
fn a_missing_agent_program_is_refused_before_anything_is_created() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let config = fixture.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text + "\n[agents.ghost]\nadapter = \"command\"\ncommand = [\"orca-no-such-agent\"]\n",
    )
    .unwrap();
    let mut plan = String::from("# Plan: Ghost\n\n");
    plan += &task("T1", "none", "out-T1.txt", None)
        .replace("- role: backend\n", "- role: backend\n- agent: ghost\n");
    let plan = fixture.plan(&plan);
    let (code, _, stderr) = fixture.text(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("orca-no-such-agent") && stderr.contains("ghost"), "{stderr}");
    assert!(stderr.contains("orca doctor"), "{stderr}");
    assert!(fixture.orca_branches().is_empty());
    let (_, runs, _) = fixture.json(&["runs"]);
    assert_eq!(runs, serde_json::json!([]));
}

/// A lock file full of binary garbage no longer blocks every run.
#[test]
fn a_garbage_lock_is_replaced() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    std::fs::write(fixture.repo.join(".orca/lock"), [0xff, 0xfe, 0x00, 0x9c, 0x80]).unwrap();
    let plan = fixture.plan(&chain_plan(&["T1"]));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!((code, outcome(&events)), (Some(0), "completed".into()), "{stderr}");
}

/// An empty (0-byte) store file is said to be made a new store.
#[test]
fn an_empty_store_file_is_reported() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    std::fs::write(fixture.repo.join(".orca/orca.db"), "").unwrap();
    let (code, out, stderr) = fixture.text(&["status"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("was an empty file (0 bytes)"), "{stderr}");
    assert!(out.starts_with("no runs yet"), "{out}");
}

/// Logs: ORCA_LOG sends them to stderr; every run writes its own log with
/// the run and the task of each line.
#[test]
fn a_run_writes_its_log_and_orca_log_shows_logs_on_stderr() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan(&chain_plan(&["T1"]));
    let out = fixture
        .orca()
        .args(["run", "--plan", plan.to_str().unwrap(), "--json"])
        .env("ORCA_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG") || stderr.contains("INFO"), "{stderr}");
    let events = events(&out);
    let run = run_id(&events);
    let log = std::fs::read_to_string(fixture.repo.join(format!(".orca/runs/{run}/orca.log")))
        .expect("the run log");
    assert!(log.contains(&format!("run{{run={run}}}")), "lines name the run: {log}");
    assert!(log.contains("task=T1"), "lines of an attempt name the task: {log}");
    assert!(log.contains("merged"), "{log}");
}

/// The config can be committed: `.orca/` ignores only local state.
#[test]
fn the_config_can_be_committed() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    std::fs::remove_file(fixture.repo.join(".orca/.gitignore")).unwrap();
    let plan = fixture.plan(&chain_plan(&["T1"]));
    let (code, _, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let status = fixture.git(&["status", "--porcelain", "--untracked-files=all"]);
    let mut lines: Vec<&str> = status.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["?? .orca/.gitignore", "?? .orca/config.toml"], "{status}");
}

/// `orca clean` removes a finished run's leftovers and keeps its result
/// until it is taken.
#[test]
fn clean_removes_what_finished_runs_left_and_keeps_untaken_results() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan(&chain_plan(&["T1"]));
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--keep-branches"]);
    assert_eq!(code, Some(0), "{stderr}");
    let run = run_id(&events);
    let integration = fixture.integration(&events);
    assert!(fixture.orca_branches().len() > 1, "attempt branches were kept");

    let (code, dry, _) = fixture.json(&["clean", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(!dry["branches"].as_array().unwrap().is_empty(), "{dry}");
    assert!(fixture.orca_branches().len() > 1, "a dry run removes nothing");

    let (code, cleaned, _) = fixture.json(&["clean"]);
    assert_eq!(code, Some(0));
    assert_eq!(fixture.orca_branches(), std::slice::from_ref(&integration), "{cleaned}");
    assert!(fixture.repo.join(format!(".orca/runs/{run}")).exists(), "the result's report stays");

    fixture.git(&["merge", "-q", "--ff-only", &integration]);
    let (code, _, _) = fixture.json(&["clean"]);
    assert_eq!(code, Some(0));
    assert!(fixture.orca_branches().is_empty(), "taken: the integration branch goes too");
    assert!(!fixture.repo.join(format!(".orca/runs/{run}")).exists());
}

/// `orca doctor` names every problem at once and fails when a run cannot start.
#[test]
fn doctor_fails_when_the_run_agent_is_missing() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let (code, report, _) = fixture.json(&["doctor"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true);
    let config = fixture.repo.join(".orca/config.toml");
    let text =
        std::fs::read_to_string(&config).unwrap().replace("agent = \"fake\"", "agent = \"claude\"");
    std::fs::write(&config, text).unwrap();
    let out =
        fixture.orca().args(["doctor", "--json"]).env("PATH", "/usr/bin:/bin").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let claude =
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "agent claude").unwrap();
    assert_eq!(claude["status"], "fail", "{report}");
}

/// A broken config fails doctor's config line and still lets the checks
/// of the repository itself run; a reviewer agent that is missing fails
/// like the run's own agent.
#[test]
fn doctor_checks_the_repository_under_a_broken_config_and_needs_the_reviewer() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let config = fixture.repo.join(".orca/config.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\n[nonsense]\nkey = 1\n")).unwrap();
    let (code, report, _) = fixture.json(&["doctor"]);
    assert_eq!(code, Some(1), "{report}");
    let checks = report["checks"].as_array().unwrap();
    let named = |name: &str| checks.iter().find(|c| c["name"] == name).cloned();
    assert_eq!(named("config").unwrap()["status"], "fail", "{report}");
    assert!(named("repository").is_some(), "{report}");
    assert!(named("git identity").is_some(), "{report}");
    assert_eq!(named("store, agents").unwrap()["status"], "fail", "{report}");

    std::fs::write(&config, format!("{good}\n[review]\nagent = \"claude\"\n")).unwrap();
    let out =
        fixture.orca().args(["doctor", "--json"]).env("PATH", "/usr/bin:/bin").output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report}");
    let claude =
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "agent claude").unwrap();
    assert_eq!(claude["status"], "fail", "{report}");
}

/// `orca doctor` warns about an installed agent CLI outside the versions
/// its adapter is tested with, older or newer, and a run can still start.
#[test]
fn doctor_warns_about_an_agent_cli_outside_its_tested_versions() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let config = fixture.repo.join(".orca/config.toml");
    let text =
        std::fs::read_to_string(&config).unwrap().replace("agent = \"fake\"", "agent = \"claude\"");
    std::fs::write(&config, text).unwrap();
    let bin = fixture.tools.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, version) in
        [("claude", "1.0.0 (Claude Code)"), ("gemini", "99.0.0"), ("opencode", "1.18.33")]
    {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let mut doctor = fixture.orca();
    doctor.args(["doctor", "--json"]).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    for name in ["CLAUDE", "CODEX", "GEMINI", "OPENCODE", "QWEN"] {
        doctor.env_remove(format!("ORCA_AGENT_{name}"));
    }
    let out = doctor.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "only warnings: {report}");
    let check = |name: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
    };
    let claude = check("agent claude");
    assert_eq!(claude["status"], "warn", "{report}");
    let detail = claude["detail"].as_str().unwrap();
    assert!(detail.contains("claude 1.0.0 is installed"), "{detail}");
    assert!(detail.contains("tested with 2.1.197 to"), "{detail}");
    assert!(detail.contains("(this one is older)"), "{detail}");
    let gemini = check("agent gemini");
    assert_eq!(gemini["status"], "warn", "{report}");
    assert!(gemini["detail"].as_str().unwrap().contains("(this one is newer)"), "{report}");
    let opencode = check("agent opencode");
    assert_eq!(opencode["status"], "ok", "a tested version: {report}");
}

/// A plan an agent session loaded (`orca task load`) is worked through the
/// queue: `orca resume` passes it by instead of refusing it.
#[test]
fn resume_passes_by_runs_loaded_for_agent_sessions() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    let (code, _, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--until", "parallel"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = fixture.text(&["task", "load", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    // The session's run is newer; resume continues the orca run.
    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(outcome(&events), "completed");
}

/// A resumed run checks its agents before implement: a program that is
/// gone stops the run at once, without spending the tasks' tries.
#[test]
fn resume_checks_the_agents_before_spending_any_try() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--until", "parallel"]);
    assert_eq!(code, Some(0), "{stderr}");
    let run = run_id(&events);
    std::fs::remove_file(fixture.tools.join("agent.sh")).unwrap();
    let (code, events, _) = fixture.run_json(&["resume"]);
    assert_eq!(code, Some(1));
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(finished["stage"], "implement");
    assert!(finished["reason"].as_str().unwrap().contains("cannot start"), "{finished}");
    assert!(of_kind(&events, "task_started").is_empty(), "no attempt was made");
    let (_, status, _) = fixture.json(&["status", "--run", &run]);
    for task in status["tasks"].as_array().unwrap() {
        assert_eq!(task["tries"], 0, "{task}");
    }
}

/// A failed run can still be resumed: `orca clean` keeps its branches
/// and directory unless --force.
#[test]
fn clean_keeps_what_a_failed_run_can_still_use() {
    let fixture = Fixture::new(
        "case \"$task\" in T2) exit 1 ;; *) echo \"$task\" > \"out-$task.txt\" ;; esac",
    );
    fixture.config("max_attempts = 1\n");
    let plan = fixture.plan(&chain_plan(&["T1", "T2"]));
    let (code, events, _) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let run = run_id(&events);
    let (code, text, stderr) = fixture.text(&["clean"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(text.contains("a failed run's work"), "{text}");
    let branches = fixture.git(&["branch", "--list", &format!("orca/{run}/*")]);
    assert!(branches.contains("T1/a1") && branches.contains("T2/a1"), "{branches}");
    let (_, text, _) = fixture.text(&["clean", "--force"]);
    assert!(text.contains("removed branch"), "{text}");
    assert_eq!(fixture.git(&["branch", "--list", &format!("orca/{run}/*")]), "");
    // Nothing is left to report.
    let (_, text, _) = fixture.text(&["clean", "--force"]);
    assert!(!text.contains("removed"), "{text}");
}
