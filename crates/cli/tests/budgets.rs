//! Budgets end to end with `command` agents that report usage as JSON
//! lines: a task over its budget is stopped at the event that crosses it
//! and fails with its own kind; a run over its budget stops dispatching,
//! lets running attempts finish or stops them, and a resume with a higher
//! budget completes it.

mod support;

use serde_json::Value;
use support::*;

fn usage(input: u64, output: u64) -> String {
    format!(
        "echo '{{\"type\":\"usage\",\"input_tokens\":{input},\"output_tokens\":{output},\"cached_tokens\":0}}'"
    )
}

fn budgeted_task(id: &str, budget: &str) -> String {
    format!(
        "### {id}: Task {id}\n- deps: none\n- role: backend\n- files: out-{id}.txt\n- budget: {budget}\n\n"
    )
}

#[test]
fn a_task_over_its_budget_is_stopped_at_the_crossing_event_and_fails_with_its_kind() {
    // Each task reports 300 tokens twice, then works on until stopped: only
    // a budget can end it. T1 allows 500 tokens, T2 $0.50 at $1 per 1,000
    // tokens; T3 has no budget and does not hang.
    let fixture = Fixture::new(&format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n{}\n{}\n\
         if [ \"$task\" != T3 ]; then while :; do sleep 0.05; done; fi",
        usage(200, 100),
        usage(200, 100),
    ));
    fixture.config("agents = 3\n\n[pricing.fake]\ninput = 1000.0\noutput = 1000.0");
    let plan = fixture.plan(&format!(
        "# Plan: Budgets\n\n{}{}{}### T4: After T1\n- deps: T1\n- role: backend\n- files: out-T4.txt\n\n",
        budgeted_task("T1", "500 tokens"),
        budgeted_task("T2", "$0.50"),
        task("T3", "none", "out-T3.txt", None),
    ));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");

    let over: Vec<&Value> = of_kind(&events, "over_budget");
    let spent_of = |task: &str| {
        over.iter()
            .find(|event| event["task"] == task)
            .unwrap_or_else(|| panic!("no over_budget for {task} in {over:?}"))["spent"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The first 300 tokens ($0.30) were within budget; the second report
    // crossed it, and that is the figure orca stopped at.
    assert_eq!(spent_of("T1"), "600 tokens of 500");
    assert_eq!(spent_of("T2"), "$0.6000 of $0.5");

    let failed = of_kind(&events, "task_failed");
    let reason_of = |task: &str| {
        failed.iter().find(|event| event["task"] == task).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason_of("T1").contains("over its budget (600 tokens of 500; budget: 500 tokens)"));
    assert!(reason_of("T2").contains("over its budget ($0.6000 of $0.5; budget: $0.5)"));
    let t1 = failed.iter().find(|event| event["task"] == "T1").unwrap();
    assert_eq!(t1["blocked"], serde_json::json!(["T4"]));
    // One attempt each: another would spend more of a spent budget.
    assert_eq!(of_kind(&events, "task_started").iter().filter(|e| e["task"] == "T1").count(), 1);
    // T3 had no budget and merged.
    assert!(of_kind(&events, "merged").iter().any(|event| event["task"] == "T3"));

    // The work of the stopped attempt is kept on its branch, and the store
    // says how it ended.
    let run = events[0]["run"].as_str().unwrap().to_owned();
    assert_eq!(fixture.show(&format!("orca/{run}/T1/a1"), "out-T1.txt"), "work of T1\n");
    let (_, status, stderr) = fixture.json(&["status"]);
    let tasks = status["tasks"].as_array().unwrap_or_else(|| panic!("{status}\n{stderr}"));
    let t1 = tasks.iter().find(|task| task["key"] == "T1").unwrap();
    assert_eq!(t1["state"], "failed", "{t1}");
    assert_eq!(status["usage"]["tasks"]["T1"]["input_tokens"], 400, "{status}");
    // The price table gave T2's money.
    let t2_cost = status["usage"]["tasks"]["T2"]["cost_usd"].as_f64().unwrap();
    assert!((t2_cost - 0.6).abs() < 1e-9, "{status}");
}

/// Four independent tasks, one agent at a time, 400 tokens each; the run
/// may spend 1,000. The third task crosses it: it finishes (the default
/// `on_budget = "finish"`) and the fourth never starts. A resume with a
/// higher budget runs the fourth.
#[test]
fn a_run_over_its_budget_stops_dispatching_and_resumes_with_a_higher_one() {
    let fixture = Fixture::new(&format!("{WRITE_OWN_FILE}\n{}", usage(300, 100)));
    fixture.config("agents = 1\nbudget_tokens = 1000");
    let mut plan = String::from("# Plan: Four\n\n");
    for id in ["T1", "T2", "T3", "T4"] {
        plan += &task(id, "none", &format!("out-{id}.txt"), None);
    }
    let plan = fixture.plan(&plan);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");
    let over = of_kind(&events, "over_budget");
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0]["spent"], "1,200 tokens of 1,000");
    assert!(over[0].get("task").is_none(), "the run's budget, not a task's: {over:?}");
    let started: Vec<&str> =
        of_kind(&events, "task_started").iter().map(|e| e["task"].as_str().unwrap()).collect();
    assert_eq!(started, ["T1", "T2", "T3"]);
    let merged = of_kind(&events, "merged").len();
    assert_eq!(merged, 3, "the running attempt finished and merged");
    let finished = of_kind(&events, "run_finished");
    assert_eq!(finished[0]["outcome"], "halted", "{finished:?}");
    let reason = finished[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("--budget-tokens"), "the way on is named: {reason}");

    // `orca status` says how much of it is spent, and what to do.
    let (_, text, _) = fixture.text(&["status"]);
    assert!(text.contains("budget: 1,200 of 1,000 tokens — spent"), "{text}");
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["budget"]["tokens"], 1000, "{status}");
    assert_eq!(status["budget"]["spent_tokens"], 1200, "{status}");
    assert_eq!(status["budget"]["exceeded"], true, "{status}");

    // Resuming without a higher budget stops at once, before any try.
    let (code, events, stderr) = fixture.run_json(&["resume"]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(of_kind(&events, "task_started").is_empty(), "{events:?}");
    assert_eq!(of_kind(&events, "over_budget")[0]["spent"], "1,200 tokens of 1,000");

    let (code, events, stderr) = fixture.run_json(&["resume", "--budget-tokens", "5000"]);
    assert_eq!(code, Some(0), "{stderr}");
    let started: Vec<&str> =
        of_kind(&events, "task_started").iter().map(|e| e["task"].as_str().unwrap()).collect();
    assert_eq!(started, ["T4"]);
    assert_eq!(of_kind(&events, "run_finished")[0]["outcome"], "completed");
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "out-T4.txt"), "work of T4\n");
    // The raised budget is kept with the run.
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(status["budget"]["tokens"], 5000, "{status}");
    assert_eq!(status["budget"]["exceeded"], false, "{status}");
}

/// `on_budget = "stop"`: the attempt still running when another crosses
/// the run's budget is stopped with its work committed, spends no try,
/// and is taken up again on resume.
#[test]
fn on_budget_stop_stops_running_attempts_and_resume_finishes_them() {
    let release = tempfile::tempdir().unwrap();
    let release = release.path().join("release");
    // T1 reports 600 tokens and works until released; T2 waits until T1
    // is at work, then reports 600: together over the 1,000 allowed.
    let fixture = Fixture::new(&format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n{}\n\
         if [ \"$task\" = T1 ] && [ ! -e {release} ]; then echo $$ > ../hung-pid; \
         while [ ! -e {release} ]; do sleep 0.05; done; fi\n\
         if [ \"$task\" = T2 ]; then while [ ! -e ../hung-pid ]; do sleep 0.05; done; fi",
        usage(500, 100),
        release = release.display()
    ));
    fixture.config("agents = 2\nbudget_tokens = 1000\non_budget = \"stop\"");
    let plan = fixture.plan(&format!(
        "# Plan: Two\n\n{}{}",
        task("T1", "none", "out-T1.txt", None),
        task("T2", "none", "out-T2.txt", None)
    ));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");
    assert_eq!(of_kind(&events, "over_budget")[0]["spent"], "1,200 tokens of 1,000");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    // T1 was stopped, not failed: its work is on its branch, no try spent.
    assert!(of_kind(&events, "task_failed").is_empty(), "{events:?}");
    assert!(!of_kind(&events, "merged").iter().any(|event| event["task"] == "T1"));
    assert_eq!(fixture.show(&format!("orca/{run}/T1/a1"), "out-T1.txt"), "work of T1\n");

    std::fs::write(&release, "").unwrap();
    let (code, events, stderr) = fixture.run_json(&["resume", "--budget-tokens", "10000"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(of_kind(&events, "run_finished")[0]["outcome"], "completed");
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "out-T1.txt"), "work of T1\n");
}

#[test]
fn a_bad_budget_on_the_command_line_or_in_the_plan_is_refused_before_anything_runs() {
    let fixture = Fixture::new(WRITE_OWN_FILE);
    let plan = fixture.plan(&format!("# Plan: One\n\n{}", task("T1", "none", "out-T1.txt", None)));
    let (code, _, stderr) =
        fixture.text(&["run", "--plan", plan.to_str().unwrap(), "--budget-usd=-3"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not an amount of US dollars above 0"), "{stderr}");

    let plan = fixture.plan(&format!("# Plan: One\n\n{}", budgeted_task("T1", "lots")));
    let (code, _, stderr) = fixture.text(&["run", "--plan", plan.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("`lots` is not a budget"), "{stderr}");
    assert!(fixture.orca_branches().is_empty(), "nothing was created");
}
