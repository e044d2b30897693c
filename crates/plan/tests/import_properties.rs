//! Property tests for the importers: whatever text a source carries
//! (code fences left open, lines that look like headings or fields, HTML),
//! import → write → check → export → import keeps every task, every
//! dependency and every done state.

use std::collections::BTreeMap;

use orca_plan::import::{
    ImportOptions, Imported, from_checklist, from_json, from_spec_kit, from_taskmaster,
};
use orca_plan::{Plan, PlanOptions};
use proptest::prelude::*;
use serde_json::json;

/// Lines that could break a plan's structure if written as they are.
const HOSTILE: &[&str] = &[
    "```",
    "```rust",
    "~~~",
    "````",
    "# Plan: not the title",
    "## Phase 9: not a phase",
    "### T1: not a task",
    "###T2: no space",
    "- deps: T1",
    "- role: backend",
    "- status: done",
    "- accept:",
    "  - [ ] nested",
    "- [ ] T001 a spec-kit line",
    "<details><summary>HTML</summary>",
    "<!-- comment",
    "\\",
    "    indented code",
    "",
    "\t- tabbed: x",
];

/// Free text: words and hostile lines mixed.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => "[a-z ]{0,12}".prop_map(String::from),
            2 => prop::sample::select(HOSTILE).prop_map(String::from),
        ],
        0..6,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn status() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "pending",
            "done",
            "completed",
            "in-progress",
            "review",
            "deferred",
            "blocked",
            "cancelled",
            "",
        ][..],
    )
}

/// One Task Master task: text, status, dependencies on earlier tasks and
/// up to three subtasks (with dependencies on earlier siblings).
type RandomTask =
    (String, String, String, &'static str, Vec<usize>, Vec<(String, &'static str, Vec<usize>)>);

fn random_task() -> impl Strategy<Value = RandomTask> {
    (
        text(),
        text(),
        text(),
        status(),
        prop::collection::vec(0usize..12, 0..3),
        prop::collection::vec((text(), status(), prop::collection::vec(0usize..3, 0..2)), 0..4),
    )
}

fn taskmaster_json(tasks: &[RandomTask]) -> String {
    let list: Vec<serde_json::Value> = tasks
        .iter()
        .enumerate()
        .map(|(i, (title, description, details, status, deps, subtasks))| {
            let deps: Vec<usize> = deps.iter().filter(|&&d| d < i).map(|d| d + 1).collect();
            let subtasks: Vec<serde_json::Value> = subtasks
                .iter()
                .enumerate()
                .map(|(j, (details, status, deps))| {
                    let deps: Vec<usize> = deps.iter().filter(|&&d| d < j).map(|d| d + 1).collect();
                    json!({"id": j + 1, "title": format!("sub {j}"), "details": details,
                           "status": status, "dependencies": deps})
                })
                .collect();
            json!({"id": i + 1, "title": title, "description": description, "details": details,
                   "status": status, "dependencies": deps, "subtasks": subtasks,
                   "testStrategy": details})
        })
        .collect();
    json!({"master": {"tasks": list}}).to_string()
}

fn without_spans(mut plan: Plan) -> Plan {
    plan.title_span = Default::default();
    for phase in &mut plan.phases {
        phase.span = Default::default();
    }
    for task in &mut plan.tasks {
        task.spans = Default::default();
    }
    plan
}

/// Each task's dependencies and done state, by ID.
fn shape(plan: &Plan) -> BTreeMap<String, (Vec<String>, bool)> {
    plan.tasks
        .iter()
        .map(|t| {
            (
                t.id.to_string(),
                (t.deps.iter().map(ToString::to_string).collect(), t.status.is_done()),
            )
        })
        .collect()
}

/// import → write → check (no error, same plan) → JSON → import (same
/// tasks, dependencies and done states).
fn round_trips(imported: &Imported) -> Result<(), TestCaseError> {
    let written = orca_plan::to_markdown(&imported.plan);
    let checked = orca_plan::check(&written, &PlanOptions::default());
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
    prop_assert!(errors.is_empty(), "{errors:?}\n{written}");
    prop_assert_eq!(without_spans(checked.plan.clone()), imported.plan.clone(), "{}", written);
    let exported = orca_plan::to_json(&checked.plan).to_string();
    let again = from_json(&exported).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(shape(&again.plan), shape(&imported.plan));
    prop_assert_eq!(
        again.plan.tasks.iter().map(|t| t.description.clone()).collect::<Vec<_>>(),
        imported.plan.tasks.iter().map(|t| t.description.clone()).collect::<Vec<_>>()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn taskmaster_imports_round_trip(tasks in prop::collection::vec(random_task(), 1..8)) {
        let json = taskmaster_json(&tasks);
        let Ok(imported) = from_taskmaster(&json, &ImportOptions::default()) else {
            // Only a file whose every task is cancelled has nothing to import.
            let cancelled = |t: &RandomTask| {
                t.3 == "cancelled"
                    || (!t.5.is_empty()
                        && !matches!(t.3, "done" | "completed")
                        && t.5.iter().all(|s| s.1 == "cancelled"))
            };
            prop_assert!(tasks.iter().all(cancelled));
            return Ok(());
        };
        round_trips(&imported)?;
        // Every source status lands: done and completed are done, unless a
        // parent overrides them.
        for task in &imported.plan.tasks {
            let top: usize = task.id.as_str()[1..].split('.').next().unwrap().parse().unwrap();
            let parent_status = tasks[top - 1].3;
            if matches!(parent_status, "done" | "completed") {
                prop_assert!(task.status.is_done(), "{}", task.id);
            }
        }
    }

    #[test]
    fn spec_kit_imports_round_trip(
        lines in prop::collection::vec((any::<bool>(), any::<bool>(), text(), any::<bool>()), 1..12)
    ) {
        let mut file = String::from("# Tasks: random\n\n## Phase 1: Setup\n");
        for (i, (done, parallel, text, heading)) in lines.iter().enumerate() {
            // An indented task line is a task of its own, not text.
            let text = text.replace("- [ ] T001", "- [ ] X001");
            if *heading {
                file.push_str(&format!("\n## Phase {}: Next\n", i + 2));
            }
            let first = text.lines().next().unwrap_or_default();
            let rest: Vec<String> = text.lines().skip(1).map(|l| format!("  {l}")).collect();
            file.push_str(&format!(
                "- [{}] T{:03} {}{first}\n{}\n",
                if *done { "x" } else { " " },
                i + 1,
                if *parallel { "[P] " } else { "" },
                rest.join("\n")
            ));
        }
        let imported = from_spec_kit(&file, &ImportOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{file}")))?;
        prop_assert_eq!(imported.plan.tasks.len(), lines.len(), "{}", file);
        let done = lines.iter().filter(|l| l.0).count();
        prop_assert_eq!(imported.plan.tasks.iter().filter(|t| t.status.is_done()).count(), done);
        round_trips(&imported)?;
    }

    #[test]
    fn checklist_imports_round_trip(
        items in prop::collection::vec((any::<bool>(), 0usize..3, text()), 1..12)
    ) {
        let mut file = String::from("# Todo\n\n");
        let mut depth = 0;
        for (done, wanted, text) in &items {
            // Nesting grows one level at a time, as lists do.
            depth = (*wanted).min(depth + 1);
            let indent = "  ".repeat(depth);
            let first = text.lines().next().unwrap_or_default();
            file.push_str(&format!("{indent}- [{}] item {first}\n", if *done { "x" } else { " " }));
        }
        let imported = from_checklist(&file, &ImportOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{file}")))?;
        round_trips(&imported)?;
    }
}
