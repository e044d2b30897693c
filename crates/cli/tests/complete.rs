//! The complete stage over real processes (the test gate skipped, so that
//! a failing suite reaches the final validation): it runs the
//! repository's test command on the result, a failure fails the run with
//! what broke and resumes after a human fix; the report is written at the
//! run's end and by `orca report`; `orca merge` takes the result only when
//! nothing of the user's can be lost.

mod support;

use serde_json::Value;
use support::*;

/// The agent writes the greeting, misspelled unless told otherwise.
fn agent(greeting: &str) -> String {
    format!("printf '{greeting}\\n' > greeting.txt")
}

/// A repository whose test suite (standard-library unittest, found by the
/// analysis: no configuration) checks the greeting.
fn fixture_with_tests(greeting: &str) -> Fixture {
    let fixture = Fixture::new(&agent(greeting));
    std::fs::create_dir_all(fixture.repo.join("tests")).unwrap();
    std::fs::write(
        fixture.repo.join("tests/test_greeting.py"),
        "import pathlib\nimport unittest\n\n\nclass Greeting(unittest.TestCase):\n    def test_says_hello(self):\n        self.assertEqual(pathlib.Path(\"greeting.txt\").read_text(), \"hello\\n\")\n",
    )
    .unwrap();
    fixture.git(&["add", "tests"]);
    fixture.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tests"]);
    fixture
}

fn plan(fixture: &Fixture) -> std::path::PathBuf {
    fixture.plan(&format!("# Plan: Greeting\n\n{}", task("T1", "none", "greeting.txt", None)))
}

fn stage<'a>(value: &'a Value, name: &str) -> &'a Value {
    value["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
}

fn run_dir(fixture: &Fixture, run: &str) -> std::path::PathBuf {
    fixture.repo.join(".orca/runs").join(run)
}

#[test]
fn a_failing_suite_fails_the_run_with_what_broke_and_resume_passes_after_a_fix() {
    let fixture = fixture_with_tests("helo");
    let plan = plan(&fixture);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--skip", "test"]);
    assert_eq!(code, Some(1), "{stderr}\n{events:?}");
    let checks = of_kind(&events, "check_finished");
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["command"], "python3 -m unittest discover -s tests");
    assert_eq!(checks[0]["passed"], false);
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(
        (finished["outcome"].as_str(), finished["stage"].as_str()),
        (Some("failed"), Some("complete"))
    );
    let reason = finished["reason"].as_str().unwrap();
    assert!(
        reason.contains("python3 -m unittest discover -s tests` exited with status 1"),
        "{reason}"
    );
    let run = finished["run"].as_str().unwrap().to_owned();
    // What broke is in the log the reason names, and in the report.
    let log = run_dir(&fixture, &run).join("complete/1.log");
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(
        printed.contains("AssertionError") && printed.contains("'helo\\n' != 'hello\\n'"),
        "{printed}"
    );
    assert!(of_kind(&events, "report_written").len() == 1, "a failed run has a report too");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(&fixture, &run).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["validation"][0]["passed"], false);
    assert!(report["validation"][0]["tail"].as_str().unwrap().contains("AssertionError"));
    assert_eq!(stage(&report, "complete")["state"], "failed");
    let markdown = std::fs::read_to_string(run_dir(&fixture, &run).join("report.md")).unwrap();
    assert!(markdown.contains("- FAILED: `python3 -m unittest discover -s tests`"), "{markdown}");

    // The human fixes the result on the integration branch.
    let integration = fixture.integration(&events);
    fixture.commit_on(&integration, "greeting.txt", "hello\n", "spell it");

    let (code, events, stderr) = fixture.run_json(&["resume", "--retry-failed"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(of_kind(&events, "task_started").is_empty(), "nothing is done twice");
    let checks = of_kind(&events, "check_finished");
    assert_eq!((checks.len(), checks[0]["passed"].as_bool()), (1, Some(true)));
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(stage(&status, "complete")["state"], "passed");
    assert_eq!(status["run"]["state"], "succeeded");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir(&fixture, &run).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["validation"][0]["passed"], true);
    assert!(
        !fixture.repo.join(".orca/worktrees").join(&run).join("_complete").exists(),
        "a passed validation's worktree is removed"
    );
}

#[test]
fn configured_commands_replace_the_detected_ones() {
    let fixture = fixture_with_tests("helo");
    fixture.config("\n[complete]\ncommands = [[\"grep\", \"-q\", \"helo\", \"greeting.txt\"]]\n");
    let plan = plan(&fixture);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--skip", "test"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let checks = of_kind(&events, "check_finished");
    assert_eq!(checks.len(), 1, "only the configured command: {checks:?}");
    assert_eq!(checks[0]["command"], "grep -q helo greeting.txt");
}

#[test]
fn orca_report_prints_and_writes_each_format() {
    let fixture = fixture_with_tests("hello");
    let plan = plan(&fixture);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--skip", "test"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    std::fs::remove_file(run_dir(&fixture, &run).join("report.html")).unwrap();

    let (code, stdout, stderr) = fixture.text(&["report"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!(".orca/runs/{run}/report.html")), "{stdout}");
    let page = std::fs::read_to_string(run_dir(&fixture, &run).join("report.html")).unwrap();
    assert!(page.contains("id=\"task-T1\""), "written again from the store");

    let (code, stdout, _) = fixture.text(&["report", &run, "--format", "md"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("python3 -m unittest discover -s tests"), "{stdout}");
    let file = fixture.tools.join("out.json");
    let (code, _, stderr) = fixture.text(&["report", "-o", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(written["run"]["id"], status["run"]["id"]);
    assert_eq!(written["tasks"][0]["state"], status["tasks"][0]["state"]);

    let (code, _, stderr) = fixture.text(&["report", "-o", "out.pdf"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot tell the report's format") && stderr.contains("--format"),
        "{stderr}"
    );
}

#[test]
fn orca_merge_fast_forwards_a_clean_checkout_and_refuses_to_lose_changes() {
    let fixture = fixture_with_tests("hello");
    let plan = plan(&fixture);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--skip", "test"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let integration = fixture.integration(&events);
    let before = fixture.git(&["rev-parse", "HEAD"]);

    // Uncommitted changes: refused, nothing moves.
    std::fs::write(fixture.repo.join("README.md"), "# mine\n").unwrap();
    let (code, _, stderr) = fixture.text(&["merge"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("uncommitted changes") && stderr.contains("git stash"), "{stderr}");
    assert_eq!(fixture.git(&["rev-parse", "HEAD"]), before);
    assert_eq!(std::fs::read_to_string(fixture.repo.join("README.md")).unwrap(), "# mine\n");

    fixture.git(&["checkout", "--", "README.md"]);
    let (code, stdout, stderr) = fixture.text(&["merge"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("main fast-forwarded"), "{stdout}");
    assert_eq!(fixture.git(&["rev-parse", "HEAD"]), fixture.git(&["rev-parse", &integration]));
    assert_eq!(std::fs::read_to_string(fixture.repo.join("greeting.txt")).unwrap(), "hello\n");
    let (code, stdout, _) = fixture.text(&["merge"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("already has"), "{stdout}");
}

#[test]
fn orca_run_merge_takes_the_result_when_the_run_completes() {
    let fixture = fixture_with_tests("hello");
    let plan = plan(&fixture);
    let (code, stdout, stderr) =
        fixture.text(&["run", "--plan", plan.to_str().unwrap(), "--merge", "--skip", "test"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("main fast-forwarded"), "{stdout}");
    assert_eq!(std::fs::read_to_string(fixture.repo.join("greeting.txt")).unwrap(), "hello\n");
}

#[test]
fn orca_merge_refuses_a_failed_run_unless_forced() {
    let fixture = fixture_with_tests("helo");
    let plan = plan(&fixture);
    let (code, events, _) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--skip", "test"]);
    assert_eq!(code, Some(1));
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let (code, _, stderr) = fixture.text(&["merge"]);
    assert_eq!(code, Some(2), "no succeeded run: {stderr}");
    let (code, _, stderr) = fixture.text(&["merge", &run]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not succeeded") && stderr.contains("--force"), "{stderr}");
    let (code, _, stderr) = fixture.text(&["merge", &run, "--force"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(fixture.repo.join("greeting.txt")).unwrap(), "helo\n");
}
