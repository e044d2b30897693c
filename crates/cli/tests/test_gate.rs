//! The test gate over real processes, with `command` agents and a real
//! unittest suite: a test the run breaks becomes a fix task holding its
//! failure, routed to the task that declared the file; a test that already
//! failed at the run's base does not count; out of fix rounds, the run
//! stops at the gate and resumes after a human fix.

mod support;

use serde_json::Value;
use support::*;

const TEST_GREETING: &str = "import pathlib\nimport unittest\n\n\nclass Greeting(unittest.TestCase):\n    def test_says_hello(self):\n        self.assertEqual(pathlib.Path(\"greeting.txt\").read_text(), \"hello\\n\")\n";

/// T1 writes the greeting misspelled; a fix task spells it right, and
/// with `breaks_another` misspells the farewell while at it.
fn agent(breaks_another: bool) -> String {
    let mut fix = "printf 'hello\\n' > greeting.txt".to_owned();
    if breaks_another {
        fix.push_str("; printf 'by\\n' > farewell.txt");
    }
    format!(
        "case \"$task\" in\n  fix-test-*) {fix} ;;\n  *) printf 'helo\\n' > greeting.txt ;;\nesac"
    )
}

const TEST_FAREWELL: &str = "import pathlib\nimport unittest\n\n\nclass Farewell(unittest.TestCase):\n    def test_says_bye(self):\n        self.assertEqual(pathlib.Path(\"farewell.txt\").read_text(), \"bye\\n\")\n";

fn fixture(agent_script: &str, extra_tests: &[(&str, &str)]) -> Fixture {
    let fixture = Fixture::new(agent_script);
    std::fs::create_dir_all(fixture.repo.join("tests")).unwrap();
    std::fs::write(fixture.repo.join("tests/test_greeting.py"), TEST_GREETING).unwrap();
    std::fs::write(fixture.repo.join("greeting.txt"), "hello\n").unwrap();
    std::fs::write(fixture.repo.join("farewell.txt"), "bye\n").unwrap();
    for (path, text) in extra_tests {
        std::fs::write(fixture.repo.join(path), text).unwrap();
    }
    fixture.git(&["add", "."]);
    fixture.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tests"]);
    fixture
}

fn plan(fixture: &Fixture) -> std::path::PathBuf {
    fixture.plan(&format!(
        "# Plan: Greeting\n\n{}",
        task("T1", "none", "greeting.txt", Some("test -s greeting.txt"))
    ))
}

fn stage<'a>(value: &'a Value, name: &str) -> &'a Value {
    value["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
}

fn test_json(fixture: &Fixture, run: &str) -> Value {
    let path = fixture.repo.join(".orca/runs").join(run).join("test.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_test_the_run_breaks_becomes_a_fix_task_and_the_gate_passes_after_it() {
    let fixture = fixture(&agent(false), &[]);
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let checks: Vec<&Value> =
        of_kind(&events, "gate_checked").into_iter().filter(|e| e["gate"] == "test").collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert_eq!((checks[0]["failing"].as_u64(), checks[1]["failing"].as_u64()), (Some(1), Some(0)));
    assert!(events.iter().any(|e| e["event"] == "merged" && e["task"] == "fix-test-1-1"));
    let run = events[0]["run"].as_str().unwrap().to_owned();

    // The fix task holds the failure, the file, the task that declared it,
    // and a verify that runs that one test.
    let (_, task, _) = fixture.json(&["task", "show", "fix-test-1-1", "--run", &run]);
    let text = task.to_string();
    assert!(text.contains("test_greeting.Greeting.test_says_hello"), "{text}");
    assert!(text.contains("AssertionError") && text.contains("helo"), "{text}");
    assert!(text.contains("tests/test_greeting.py"), "{text}");
    assert!(
        text.contains("The plan's task(s) T1 (Task T1) declared this file")
            || text.contains("greeting.txt"),
        "{text}"
    );
    assert!(
        text.contains(
            "python3 -m unittest discover -s tests -p test_greeting.py -k test_says_hello"
        ),
        "{text}"
    );
    let prompt_dir = fixture.repo.join(".orca/runs").join(&run).join("tasks/fix-test-1-1");
    assert!(prompt_dir.exists(), "{}", prompt_dir.display());

    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(
        (stage(&status, "test")["state"].as_str(), stage(&status, "test")["rounds"].as_i64()),
        (Some("passed"), Some(1))
    );
    assert_eq!(stage(&status, "complete")["state"], "passed");
    let report = test_json(&fixture, &run);
    assert_eq!((report["passed"].as_u64(), report["failed"].as_u64()), (Some(1), Some(0)));
    // The report shows the loop.
    let full: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.repo.join(".orca/runs").join(&run).join("report.json"))
            .unwrap(),
    )
    .unwrap();
    let gate = full["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "test").unwrap();
    assert_eq!(gate["fix_tasks"], serde_json::json!(["fix-test-1-1"]));
    assert_eq!(gate["files"], serde_json::json!(["test.json"]));
}

#[test]
fn a_test_failing_before_the_run_does_not_count() {
    let old = "import unittest\n\n\nclass Old(unittest.TestCase):\n    def test_was_broken(self):\n        self.assertTrue(False, 'broken long ago')\n";
    let fixture = fixture("printf 'hello\\n' > greeting.txt", &[("tests/test_old.py", old)]);
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let report = test_json(&fixture, &run);
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["already_failing"][0]["name"], "test_old.Old.test_was_broken");
    let (_, status, _) = fixture.json(&["status"]);
    let note = stage(&status, "test")["note"].as_str().unwrap().to_owned();
    assert!(note.contains("1 already failing at the run's base"), "{note}");
    let complete = stage(&status, "complete")["state"].as_str().unwrap().to_owned();
    assert_eq!(complete, "passed", "{status}");
    assert!(of_kind(&events, "task_started").iter().all(|e| e["task"] == "T1"), "no fix task");
}

#[test]
fn out_of_fix_rounds_the_run_stops_at_the_gate_and_resumes_after_a_human_fix() {
    let fixture = fixture(&agent(true), &[("tests/test_farewell.py", TEST_FAREWELL)]);
    fixture.config("\n[gates]\nmax_fix_rounds = 1\n");
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(
        (finished["outcome"].as_str(), finished["stage"].as_str()),
        (Some("failed"), Some("test"))
    );
    assert!(finished["reason"].as_str().unwrap().contains("1 fix round"), "{finished}");
    let run = finished["run"].as_str().unwrap().to_owned();

    let integration = fixture.integration(&events);
    fixture.commit_on(&integration, "farewell.txt", "bye\n", "spell it");

    let (code, events, stderr) = fixture.run_json(&["resume", "--run", &run]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(stage(&status, "test")["state"], "passed");
    assert_eq!(status["run"]["state"], "succeeded");
}

#[test]
fn orca_test_runs_the_suites_here_and_names_each_failure() {
    let fixture = fixture("true", &[("tests/test_farewell.py", TEST_FAREWELL)]);
    let (code, report, stderr) = fixture.json(&["test"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!((report["passed"].as_u64(), report["failed"].as_u64()), (Some(2), Some(0)));

    std::fs::write(fixture.repo.join("farewell.txt"), "ciao\n").unwrap();
    let (code, report, _) = fixture.json(&["test"]);
    assert_eq!(code, Some(1));
    assert_eq!((report["passed"].as_u64(), report["failed"].as_u64()), (Some(1), Some(1)));
    let failure = &report["failures"][0];
    assert_eq!(failure["name"], "test_farewell.Farewell.test_says_bye");
    assert_eq!(failure["file"], "tests/test_farewell.py");
    assert!(failure["output"].as_str().unwrap().contains("'ciao\\n' != 'bye\\n'"), "{failure}");
    let (code, text, _) = fixture.text(&["test"]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("FAILED test_farewell.Farewell.test_says_bye (tests/test_farewell.py)"),
        "{text}"
    );
}
