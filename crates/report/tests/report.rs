//! A realistic run made through the store's own API (a diamond and a
//! chain, two agents, a failed attempt that was retried, a task blocked
//! behind a failure), reported: the JSON says what the store holds, the
//! Markdown reads well (snapshot), and the page renders in headless
//! Chromium without errors, with every task visible.

mod browser;

use std::time::Duration;

use browser::{artifact, chromium_dom, chromium_screenshot};

use orca_report::{ReportData, collect, render_html, render_markdown};
use orca_store::{AttemptInfo, NewRun, NewTask, RetryPolicy, RunId, Stage, StageState, Store};

const TTL: Duration = Duration::from_secs(60);

/// The plan as orca stores it: written in the plan format, parsed, as JSON.
fn plan_json(ids: &[(&str, &[&str])]) -> String {
    let mut text = String::from("# Plan: Reported run\n\n");
    for (id, deps) in ids {
        let deps = if deps.is_empty() { "none".to_owned() } else { deps.join(", ") };
        text.push_str(&format!(
            "### {id}: Work on {id}\n- deps: {deps}\n- role: backend\n- files: src/{}.rs\n- verify: cargo test\n- accept:\n  - [ ] it works\n\n",
            id.to_lowercase()
        ));
    }
    let parsed = orca_plan::parse(&text);
    assert!(parsed.diagnostics.iter().all(|d| !d.is_error()), "{:?}", parsed.diagnostics);
    orca_plan::to_json(&parsed.plan).to_string()
}

/// A diamond (A → B, C → D), a chain (E → F → G), H–L independent; B fails
/// once then succeeds, G fails for good, so nothing is left blocked but G's
/// failure shows; two agents share the work.
async fn realistic_run(store: &Store, tasks: &[(&str, &[&str])]) -> RunId {
    let new_tasks = tasks
        .iter()
        .map(|(id, deps)| NewTask {
            key: (*id).to_owned(),
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            priority: 0,
            max_attempts: 2,
            spec_json: "{}".into(),
            done: false,
        })
        .collect();
    let run = store
        .create_run(&NewRun {
            title: "Reported run".into(),
            plan_json: plan_json(tasks),
            mode: "orca-run".into(),
            tasks: new_tasks,
            pipeline_json: Some(
                r#"{"goal":"Make it all work","base":"0123456789abcdef0123456789abcdef01234567"}"#
                    .into(),
            ),
            ..NewRun::default()
        })
        .await
        .unwrap();
    for stage in [Stage::Analyze, Stage::Plan, Stage::Parallel] {
        store.set_stage(&run, stage, StageState::Running).await.unwrap();
        store.set_stage(&run, stage, StageState::Passed).await.unwrap();
    }
    store.set_stage(&run, Stage::Implement, StageState::Running).await.unwrap();
    let mut round = 0;
    loop {
        let leases = store.claim(&run, &format!("worker-{}", round % 2), 3, TTL).await.unwrap();
        if leases.is_empty() {
            break;
        }
        round += 1;
        for lease in leases {
            let agent = if lease.task.as_str() < "F" { "claude" } else { "codex" };
            let details = |end: &str, verify: Option<&str>| {
                serde_json::json!({ "end": end, "input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.01, "verify_output": verify }).to_string()
            };
            let failing = (lease.task == "B" && lease.attempt == 1) || lease.task == "G";
            let info = AttemptInfo {
                branch: Some(format!("orca/{run}/{}/a{}", lease.task, lease.attempt)),
                agent: Some(agent.into()),
                commit_sha: Some("89abcdef0123456789abcdef0123456789abcdef".into()),
                details_json: Some(if failing {
                    details("failed", Some("test it_works ... FAILED"))
                } else {
                    details("verified", None)
                }),
                ..AttemptInfo::default()
            };
            store.record_attempt(&lease, &info).await.unwrap();
            if failing {
                store
                    .fail(
                        &lease,
                        "`cargo test` failed (exit status 101)",
                        &RetryPolicy::immediate(),
                    )
                    .await
                    .unwrap();
            } else {
                let result = serde_json::json!({ "merge_commit": "fedcba9876543210fedcba9876543210fedcba98", "resolved_conflict": lease.task == "D" });
                store.complete(&lease, &result.to_string()).await.unwrap();
            }
        }
    }
    store.set_stage(&run, Stage::Implement, StageState::Failed).await.unwrap();
    run
}

const TASKS: &[(&str, &[&str])] = &[
    ("A", &[]),
    ("B", &["A"]),
    ("C", &["A"]),
    ("D", &["B", "C"]),
    ("E", &[]),
    ("F", &["E"]),
    ("G", &["F"]),
    ("H", &[]),
    ("I", &[]),
    ("J", &["H", "I"]),
    ("K", &["J"]),
    ("L", &["G"]),
];

async fn report() -> (tempfile::TempDir, Store, RunId, ReportData) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("orca.db").display().to_string()).await.unwrap();
    let run = realistic_run(&store, TASKS).await;
    let run_dir = dir.path().join("runs").join(run.as_str());
    std::fs::create_dir_all(&run_dir).unwrap();
    let data = collect(&store, &run, &run_dir).await.unwrap();
    (dir, store, run, data)
}

#[tokio::test]
async fn the_json_is_what_the_store_holds() {
    let (_dir, store, run, data) = report().await;
    let status = store.run_status(&run).await.unwrap();
    assert_eq!(data.run.id, run.as_str());
    assert_eq!(data.run.goal.as_deref(), Some("Make it all work"));
    assert_eq!(data.stages.len(), 9);
    for (stage, stored) in data.stages.iter().zip(&status.stages) {
        assert_eq!(stage.state, stored.state.as_str());
        assert_eq!(stage.started_ms, stored.started_ms);
    }
    assert_eq!(
        data.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        TASKS.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "plan order"
    );
    for task in &data.tasks {
        let stored = status.tasks.iter().find(|t| t.key == task.id).unwrap();
        assert_eq!(task.state, stored.state.as_str(), "{}", task.id);
        assert_eq!(task.deps, stored.deps);
        let attempts = store.attempts(&run, &task.id).await.unwrap();
        assert_eq!(task.attempts.len(), attempts.len(), "{}", task.id);
        for (reported, stored) in task.attempts.iter().zip(&attempts) {
            assert_eq!(
                (reported.attempt, &reported.outcome, &reported.agent),
                (stored.attempt, &stored.outcome, &stored.agent)
            );
        }
    }
    let b = data.tasks.iter().find(|t| t.id == "B").unwrap();
    assert_eq!(b.attempts.len(), 2);
    assert_eq!(b.attempts[0].verify_passed, Some(false));
    assert_eq!(b.attempts[1].verify_passed, Some(true));
    let d = data.tasks.iter().find(|t| t.id == "D").unwrap();
    assert!(d.merge.as_ref().unwrap().resolved_conflict);
    let l = data.tasks.iter().find(|t| t.id == "L").unwrap();
    assert_eq!(l.state, "blocked");
    assert_eq!(data.totals.attempts, data.tasks.iter().map(|t| t.attempts.len()).sum::<usize>());
    assert_eq!(data.totals.input_tokens, 1200 * data.totals.attempts as u64);
    // report.json reads back whole.
    let json = serde_json::to_string(&data).unwrap();
    assert_eq!(serde_json::from_str::<ReportData>(&json).unwrap(), data);
}

#[tokio::test]
async fn the_markdown_lists_stages_tasks_and_problems() {
    let (_dir, _store, run, data) = report().await;
    let markdown = render_markdown(&data);
    // Times and ids vary; the structure does not.
    let stable = regex_lite(&markdown.replace(run.as_str(), "<RUN>"));
    insta::assert_snapshot!(stable);
}

/// Durations (`12ms`, `3s`, `1m05s`) vary from run to run.
fn regex_lite(text: &str) -> String {
    text.split('|')
        .map(|cell| {
            let t = cell.trim();
            let is_duration = !t.is_empty()
                && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                && (t.ends_with("ms") || t.ends_with('s') || t.ends_with('m'))
                && t.chars().all(|c| c.is_ascii_digit() || "hms".contains(c));
            if is_duration { " <DUR> ".to_owned() } else { cell.to_owned() }
        })
        .collect::<Vec<_>>()
        .join("|")
        .lines()
        .map(|line| if line.contains("wall time") { "- <totals>" } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_page_has_every_task_and_loads_nothing() {
    let (_dir, _store, _run, data) = report().await;
    let html = render_html(&data);
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing");
    for task in &data.tasks {
        assert!(html.contains(&format!("id=\"task-{}\"", task.id)), "{} in the table", task.id);
        assert!(html.contains(&format!("id=\"node-{}\"", task.id)), "{} in the graph", task.id);
    }
    assert_eq!(
        html.matches("class=\"edge\"").count(),
        TASKS.iter().map(|(_, deps)| deps.len()).sum::<usize>()
    );
    assert_eq!(html.matches("<g class=\"bar ").count(), data.totals.attempts);
    // Text from the store is escaped.
    let mut hostile = data.clone();
    hostile.tasks[0].title = "<script>alert(1)</script>".into();
    assert!(!render_html(&hostile).contains("<script>alert(1)"));
}

/// The browser: the page renders from file:// without a console error,
/// every task ID is visible, and a screenshot is kept under target/.
#[tokio::test]
async fn the_page_renders_in_headless_chromium() {
    let (dir, store, _run, data) = report().await;
    let page = dir.path().join("report.html");
    std::fs::write(&page, render_html(&data)).unwrap();
    let shot = artifact("report.png");
    let visible = chromium_dom(&page);
    for task in &data.tasks {
        assert!(visible.contains(&format!("id=\"node-{}\"", task.id)), "{}", task.id);
    }
    chromium_screenshot(&page, &shot, (1400, 1100));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
    eprintln!("screenshot: {}", shot.display());

    // A large plan stays readable: 200 tasks in layers.
    let many: Vec<(String, Vec<String>)> = (0..200)
        .map(|i| {
            (
                format!("T{i:03}"),
                if i < 20 {
                    vec![]
                } else {
                    vec![format!("T{:03}", i - 20), format!("T{:03}", (i * 7) % i)]
                },
            )
        })
        .collect();
    let borrowed: Vec<(&str, Vec<&str>)> = many
        .iter()
        .map(|(id, deps)| (id.as_str(), deps.iter().map(String::as_str).collect()))
        .collect();
    let refs: Vec<(&str, &[&str])> =
        borrowed.iter().map(|(id, deps)| (*id, deps.as_slice())).collect();
    let big = realistic_run(&store, &refs).await;
    let big_data = collect(&store, &big, dir.path()).await.unwrap();
    let big_page = dir.path().join("big.html");
    std::fs::write(&big_page, render_html(&big_data)).unwrap();
    let dom = chromium_dom(&big_page);
    assert!(dom.contains("id=\"node-T199\""));
    chromium_screenshot(&big_page, &artifact("report-200-tasks.png"), (1400, 1100));
}
