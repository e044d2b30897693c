//! The review gate over real processes, with a `command` agent as
//! reviewer: a requested change becomes a fix task and the reviewer
//! approves the fixed result; an answer orca cannot read is sent back
//! once, twice fails the stage; orca's own plan checks (undeclared files,
//! unanswered acceptance items) are reported; out of fix rounds the run
//! stops at the gate and resumes after a human fix.

mod support;

use serde_json::Value;
use support::*;

const CHANGES: &str = r#"{"verdict": "changes", "changes": [{"file": "greeting.txt", "line": 1, "severity": "error", "reason": "the greeting is misspelled: it must say hello"}], "acceptance": [{"task": "T1", "item": "done", "addressed": false}]}"#;
const APPROVE: &str = r#"{"verdict": "approve", "changes": [], "acceptance": [{"task": "T1", "item": "done", "addressed": true}]}"#;

/// Writes `json` as the reviewer's answer, from a file beside the script.
fn answer(fixture: &Fixture, name: &str, json: &str) -> String {
    let path = fixture.tools.join(name);
    std::fs::write(&path, json).unwrap();
    format!("cp {} review.json", path.display())
}

/// T1 misspells the greeting; the reviewer asks for it to be fixed until
/// it says hello; a fix task spells it right when `fixes`.
fn agent(fixture: &Fixture, fixes: bool) -> String {
    let fix =
        if fixes { "printf 'hello\\n' > greeting.txt" } else { "printf 'hullo\\n' > greeting.txt" };
    format!(
        "case \"$task\" in\n  review) if grep -q hello greeting.txt; then {}; else {}; fi ;;\n  fix-review-*) {fix} ;;\n  *) printf 'helo\\n' > greeting.txt ;;\nesac",
        answer(fixture, "approve.json", APPROVE),
        answer(fixture, "changes.json", CHANGES)
    )
}

fn plan(fixture: &Fixture) -> std::path::PathBuf {
    fixture.plan(&format!("# Plan: Greeting\n\n{}", task("T1", "none", "greeting.txt", None)))
}

fn stage<'a>(value: &'a Value, name: &str) -> &'a Value {
    value["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
}

/// The prompts of turn `turn` of each review of the run.
fn review_prompts(fixture: &Fixture, run: &str, turn: &str) -> Vec<String> {
    let dir = fixture.repo.join(".orca/runs").join(run).join("review");
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|result| {
            std::fs::read_to_string(result.path().join(turn).join("prompt.md")).ok()
        })
        .collect()
}

fn kept_review(fixture: &Fixture, run: &str) -> Value {
    let path = fixture.repo.join(".orca/runs").join(run).join("review.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_requested_change_becomes_a_fix_task_and_the_reviewer_approves_the_fix() {
    let fixture = Fixture::new("true");
    fixture.agent(&agent(&fixture, true));
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let reviews: Vec<&Value> =
        of_kind(&events, "gate_checked").into_iter().filter(|e| e["gate"] == "review").collect();
    assert_eq!(reviews.len(), 2, "{reviews:?}");
    assert_eq!(
        (reviews[0]["failing"].as_u64(), reviews[1]["failing"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(events.iter().any(|e| e["event"] == "merged" && e["task"] == "fix-review-1-1"));
    let run = events[0]["run"].as_str().unwrap().to_owned();
    assert_eq!(fixture.show(&fixture.integration(&events), "greeting.txt"), "hello\n");

    // The fix task says what the reviewer asked, where.
    let (_, task, _) = fixture.json(&["task", "show", "fix-review-1-1", "--run", &run]);
    let text = task.to_string();
    assert!(text.contains("line 1, error: the greeting is misspelled"), "{text}");
    assert!(text.contains("The plan's task T1"), "{text}");

    let (_, status, _) = fixture.json(&["status"]);
    let review = stage(&status, "review");
    assert_eq!((review["state"].as_str(), review["rounds"].as_i64()), (Some("passed"), Some(1)));
    let kept = kept_review(&fixture, &run);
    assert_eq!(kept["answer"]["verdict"], "approve");
    // Its answer covers T1; the fix task's own item it did not answer.
    assert_eq!(
        kept["adherence"]["unanswered"],
        serde_json::json!(["fix-review-1-1: the greeting is misspelled: it must say hello"])
    );
    // The reviewer saw the goal's plan and the diff.
    let prompts = review_prompts(&fixture, &run, "t1");
    assert_eq!(prompts.len(), 2, "one review per result");
    assert!(
        prompts.iter().all(
            |p| p.contains("### T1: Task T1 (files: greeting.txt)") && p.contains("- [ ] done")
        )
    );
    assert!(prompts.iter().any(|p| p.contains("+helo")), "the diff is in the prompt: {prompts:?}");
    assert!(prompts.iter().any(|p| p.contains("### fix-review-1-1")), "{prompts:?}");
}

#[test]
fn an_answer_that_cannot_be_read_is_sent_back_once() {
    let fixture = Fixture::new("true");
    let body = format!(
        "case \"$task\" in\n  review) if [ -f ../asked-once ]; then {}; else touch ../asked-once; printf 'looks good to me' > review.json; fi ;;\n  *) printf 'hello\\n' > greeting.txt ;;\nesac",
        answer(&fixture, "approve.json", APPROVE)
    );
    fixture.agent(&body);
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let second = review_prompts(&fixture, &run, "t2");
    assert!(second[0].contains("review.json is not the JSON asked for"), "{second:?}");
}

#[test]
fn an_answer_unreadable_twice_fails_the_stage_saying_why() {
    let fixture = Fixture::new("true");
    fixture.agent("case \"$task\" in\n  review) printf '{\"verdict\": \"changes\"}' > review.json ;;\n  *) printf 'hello\\n' > greeting.txt ;;\nesac");
    let plan = plan(&fixture);
    let (code, events, _) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(finished["stage"], "review");
    let reason = finished["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not be read twice") && reason.contains("no change is listed"),
        "{reason}"
    );
}

#[test]
fn orca_checks_the_plan_itself_undeclared_files_and_unanswered_items() {
    // T1 also writes a file it did not declare; the reviewer approves
    // without answering the acceptance item.
    let fixture = Fixture::new("printf 'hello\\n' > greeting.txt; printf 'x\\n' > stray.txt");
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let kept = kept_review(&fixture, &run);
    assert_eq!(kept["adherence"]["undeclared_files"], serde_json::json!(["stray.txt"]));
    assert_eq!(kept["adherence"]["unanswered"], serde_json::json!(["T1: done"]));
    assert_eq!(kept["adherence"]["unfinished"], serde_json::json!([]));
    let (_, status, _) = fixture.json(&["status"]);
    let note = stage(&status, "review")["note"].as_str().unwrap().to_owned();
    assert!(
        note.contains("1 file(s) changed that no task declared")
            && note.contains("1 acceptance item(s) unanswered"),
        "{note}"
    );
}

#[test]
fn out_of_fix_rounds_the_run_stops_at_review_and_resumes_after_a_human_fix() {
    let fixture = Fixture::new("true");
    fixture.agent(&agent(&fixture, false));
    fixture.config("\n[gates]\nmax_fix_rounds = 1\n");
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(
        (finished["outcome"].as_str(), finished["stage"].as_str()),
        (Some("failed"), Some("review"))
    );
    let run = finished["run"].as_str().unwrap().to_owned();

    let integration = fixture.integration(&events);
    fixture.commit_on(&integration, "greeting.txt", "hello\n", "spell it");

    let (code, events, stderr) = fixture.run_json(&["resume", "--run", &run]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(stage(&status, "review")["state"], "passed");
    assert_eq!(status["run"]["state"], "succeeded");
}

#[test]
fn orca_review_shows_what_the_gate_found() {
    let fixture = Fixture::new("printf 'hello\\n' > greeting.txt; printf 'x\\n' > stray.txt");
    let plan = plan(&fixture);
    let (code, _, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, text, _) = fixture.text(&["review"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("the reviewer says approve"), "{text}");
    assert!(text.contains("files changed that no task declared:\n    stray.txt"), "{text}");
    let (_, kept, _) = fixture.json(&["review"]);
    assert_eq!(kept["answer"]["verdict"], "approve");
}
