//! The whole pipeline from a goal, over real processes, with a `command`
//! agent as planner and implementer: analysis, a first plan that orca
//! refuses and a second it accepts from the diagnostics, the plan's tasks
//! implemented and merged, the final validation, the report. Then the same
//! run killed with SIGKILL at each stage's end (its work done but not yet
//! recorded) and between each pair of stages, and resumed: it completes,
//! and no agent runs twice for the same work.

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

const GOAL: &str = "Greet the user and say goodbye";

/// The first plan depends on a task that does not exist.
const INVALID_PLAN: &str = "# Plan: Greetings\n\n### T1: Write the greeting\n- deps: T9\n- role: backend\n- files: greeting.txt\n- accept:\n  - [ ] it says hello\n";

const VALID_PLAN: &str = "# Plan: Greetings\n\n### T1: Write the greeting\n- deps: none\n- role: backend\n- files: greeting.txt\n- verify: test -s greeting.txt\n- accept:\n  - [ ] it says hello\n\n### T2: Write the farewell\n- deps: T1\n- role: backend\n- files: farewell.txt\n- verify: test -s farewell.txt\n- accept:\n  - [ ] it says goodbye\n";

/// The agent: as planner (`plan`), an invalid plan first and a valid one
/// once its first plan is there; as implementer, each task's file. Every
/// call is appended to `calls.log` beside the script.
fn agent(tools: &Path) -> String {
    format!(
        "echo \"$task\" >> {calls}\ncase \"$task\" in\n  plan)\n    if [ -f plan.md ]; then\n      cat > plan.md <<'PLAN'\n{VALID_PLAN}PLAN\n    else\n      cat > plan.md <<'PLAN'\n{INVALID_PLAN}PLAN\n    fi ;;\n  T1) printf 'hello\\n' > greeting.txt ;;\n  T2) printf 'goodbye\\n' > farewell.txt ;;\nesac",
        calls = tools.join("calls.log").display()
    )
}

/// A repository with a unittest suite the final validation runs.
fn fixture() -> Fixture {
    let fixture = Fixture::new("true");
    fixture.agent(&agent(&fixture.tools));
    std::fs::create_dir_all(fixture.repo.join("tests")).unwrap();
    std::fs::write(
        fixture.repo.join("tests/test_greeting.py"),
        "import pathlib\nimport unittest\n\n\nclass Greeting(unittest.TestCase):\n    def test_greets(self):\n        self.assertEqual(pathlib.Path(\"greeting.txt\").read_text(), \"hello\\n\")\n",
    )
    .unwrap();
    fixture.git(&["add", "tests"]);
    fixture.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tests"]);
    fixture
}

fn calls(fixture: &Fixture) -> Vec<String> {
    std::fs::read_to_string(fixture.tools.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stage_states(status: &Value) -> Vec<(String, String)> {
    status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect()
}

/// What a completed run of this fixture looks like in the store.
fn assert_completed(fixture: &Fixture) -> Value {
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["run"]["state"], "succeeded", "{status}");
    let expected: Vec<(String, String)> = [
        ("analyze", "passed"),
        ("plan", "passed"),
        ("parallel", "passed"),
        ("implement", "passed"),
        ("security", "passed"),
        ("test", "passed"),
        ("cleanup", "skipped"),
        ("review", "passed"),
        ("complete", "passed"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(stage_states(&status), expected);
    let integration = format!("orca/{}/integration", status["run"]["id"].as_str().unwrap());
    assert_eq!(fixture.show(&integration, "greeting.txt"), "hello\n");
    assert_eq!(fixture.show(&integration, "farewell.txt"), "goodbye\n");
    status
}

#[test]
fn a_goal_becomes_a_checked_plan_merged_work_and_a_report() {
    let fixture = fixture();
    let (code, events, stderr) = fixture.run_json(&["run", GOAL, "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(calls(&fixture), ["plan", "plan", "T1", "T2", "review"]);

    let analyzed = of_kind(&events, "analyzed");
    assert_eq!(analyzed.len(), 1);
    let checked = of_kind(&events, "plan_checked");
    let rounds: Vec<(bool, u64)> = checked
        .iter()
        .map(|e| (e["valid"].as_bool().unwrap(), e["errors"].as_u64().unwrap()))
        .collect();
    assert!(!rounds[0].0, "{checked:?}");
    assert!(rounds[0].1 >= 1);
    assert_eq!(rounds[1], (true, 0));

    let run = events[0]["run"].as_str().unwrap().to_owned();
    let dir = fixture.repo.join(".orca/runs").join(&run);
    // The second round's prompt is orca's diagnostics of the first plan.
    let diagnostics = std::fs::read_to_string(dir.join("plan/r1/diagnostics.txt")).unwrap();
    assert!(diagnostics.contains("T9"), "{diagnostics}");
    let second = std::fs::read_to_string(dir.join("plan/r2/prompt.md")).unwrap();
    assert!(second.contains(diagnostics.lines().next().unwrap()), "{second}");
    assert_eq!(std::fs::read_to_string(dir.join("plan.md")).unwrap(), VALID_PLAN);
    assert!(std::fs::read_to_string(dir.join("analysis.md")).unwrap().contains("python"));

    let status = assert_completed(&fixture);
    // The report holds what the store holds.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["run"]["id"], status["run"]["id"]);
    assert_eq!(report["run"]["goal"], GOAL);
    assert_eq!(report["run"]["state"], "succeeded");
    for (reported, stored) in
        report["tasks"].as_array().unwrap().iter().zip(status["tasks"].as_array().unwrap())
    {
        assert_eq!(reported["id"], stored["key"]);
        assert_eq!(reported["state"], stored["state"]);
        assert_eq!(
            reported["attempts"].as_array().unwrap().len() as i64,
            stored["attempt"].as_i64().unwrap()
        );
    }
    let reported_stages: Vec<(String, String)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap().to_owned(), s["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(reported_stages, stage_states(&status));
    assert_eq!(report["validation"][0]["passed"], true);
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("id=\"task-T1\"") && page.contains("id=\"task-T2\""));
}

#[test]
fn without_yes_the_run_waits_for_approval_and_resume_yes_runs_the_plan() {
    let fixture = fixture();
    let (code, events, stderr) = fixture.run_json(&["run", GOAL]);
    assert_eq!(code, Some(0), "waiting is not a failure: {stderr}");
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(finished["outcome"], "awaiting_approval", "{finished}");
    assert_eq!(calls(&fixture), ["plan", "plan"]);
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["run"]["state"], "active");

    let (code, events, stderr) = fixture.run_json(&["resume", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(
        calls(&fixture),
        ["plan", "plan", "T1", "T2", "review"],
        "the planner is not asked again"
    );
    assert_completed(&fixture);
}

#[test]
fn plan_generate_stops_after_the_plan() {
    let fixture = fixture();
    let (code, stdout, stderr) = fixture.text(&["plan", "generate", GOAL]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("plan: ") && stdout.contains("plan.md"), "{stdout}");
    assert_eq!(calls(&fixture), ["plan", "plan"]);
    let (_, status, _) = fixture.json(&["status"]);
    let states = stage_states(&status);
    assert_eq!(states[1], ("plan".to_owned(), "passed".to_owned()));
    assert_eq!(states[2], ("parallel".to_owned(), "pending".to_owned()));
}

/// Runs the goal with orca killed (SIGKILL) at `point`, then resumes
/// until the run completes; every agent call happened exactly once.
fn killed_at_then_resumed(point: &str) {
    let fixture = fixture();
    let out = fixture
        .orca()
        .args(["run", GOAL, "--yes", "--json"])
        .env("ORCA_TEST_KILL_AT", point)
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "orca was to be killed at {point}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, events, stderr) = fixture.run_json(&["resume", "--yes"]);
    assert_eq!(code, Some(0), "resume after a kill at {point}: {stderr}\n{events:?}");
    assert_eq!(
        calls(&fixture),
        ["plan", "plan", "T1", "T2", "review"],
        "killed at {point}: nothing runs twice"
    );
    assert_completed(&fixture);
    assert_eq!(fixture.git(&["status", "--porcelain"]), "", "the checkout is untouched");
}

macro_rules! killed_at {
    ($($name:ident: $stage:literal;)*) => {
        $(
            mod $name {
                #[test]
                fn killed_as_its_work_is_done_then_resumed() {
                    super::killed_at_then_resumed(concat!($stage, ":done"));
                }

                #[test]
                fn killed_after_it_is_recorded_then_resumed() {
                    super::killed_at_then_resumed(concat!($stage, ":recorded"));
                }
            }
        )*
    };
}

killed_at! {
    analyze: "analyze";
    plan: "plan";
    parallel: "parallel";
    implement: "implement";
    security: "security";
    test: "test";
    cleanup: "cleanup";
    review: "review";
    complete: "complete";
}

#[test]
fn a_planner_killed_mid_round_is_stopped_asked_again_and_the_run_completes() {
    let fixture = fixture();
    // The planner's second round hangs, once.
    let script = agent(&fixture.tools).replacen(
        "if [ -f plan.md ]; then",
        "if [ -f plan.md ]; then\n      if [ ! -f ../hung-once ]; then\n        touch ../hung-once\n        echo $$ > ../hung-pid\n        while true; do sleep 0.05; done\n      fi",
        1,
    );
    fixture.agent(&script);
    let pid = fixture.run_then_kill_9(&["run", GOAL, "--yes"]);
    let (code, events, stderr) = fixture.run_json(&["resume", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(!process_alive(pid), "the planner the killed orca left running is stopped");
    // The killed round never finished, so it is run again; nothing else is.
    assert_eq!(calls(&fixture), ["plan", "plan", "plan", "T1", "T2", "review"]);
    assert_completed(&fixture);
}

#[test]
fn a_goal_run_that_leaves_out_the_plan_stage_is_refused_before_it_starts() {
    let fixture = fixture();
    for args in [["--skip", "plan"], ["--from", "parallel"]] {
        let mut argv = vec!["run", GOAL, "--yes"];
        argv.extend(args);
        let (code, stdout, stderr) = fixture.text(&argv);
        assert_eq!(code, Some(2), "{stdout}{stderr}");
        assert!(stderr.contains("a run from a goal needs its plan stage"), "{stderr}");
        assert!(stderr.contains("orca run --plan FILE"), "{stderr}");
    }
    let (_, runs, _) = fixture.json(&["runs"]);
    assert_eq!(runs, serde_json::json!([]), "no run was created");
}

#[test]
fn a_plan_stage_out_of_rounds_gets_fresh_rounds_on_resume() {
    let fixture = fixture();
    fixture.config("\n[plan]\nmax_rounds = 1\n");
    let (code, events, _) = fixture.run_json(&["run", GOAL, "--yes"]);
    assert_eq!(code, Some(1));
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(finished["stage"], "plan");
    let run = finished["run"].as_str().unwrap().to_owned();
    let (code, events, stderr) = fixture.run_json(&["resume", "--run", &run, "--yes"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(calls(&fixture), ["plan", "plan", "T1", "T2", "review"]);
    assert_completed(&fixture);
}

#[test]
fn a_plan_given_to_start_at_implement_still_gets_its_integration_branch() {
    let fixture = fixture();
    let plan = fixture.plan(VALID_PLAN);
    let (code, events, stderr) =
        fixture.run_json(&["run", "--plan", plan.to_str().unwrap(), "--from", "implement"]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert_eq!(of_kind(&events, "merged").len(), 2);
}
