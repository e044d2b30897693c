//! Importers on real files written by other people (tests/fixtures/import,
//! sources in its README).

use std::path::Path;

use orca_plan::import::{ImportError, ImportOptions, Imported, from_spec_kit, from_taskmaster};
use orca_plan::{Plan, PlanOptions, TaskId};

fn fixture(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn deps<'a>(imported: &'a Imported, id: &str) -> Vec<&'a str> {
    let task = imported
        .plan
        .tasks
        .iter()
        .find(|t| t.id.as_str() == id)
        .unwrap_or_else(|| panic!("no task {id}"));
    task.deps.iter().map(TaskId::as_str).collect()
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

/// The written Markdown passes `plan check` and reads back as the same plan.
fn assert_writes_a_valid_plan(imported: &Imported) -> String {
    let text = orca_plan::to_markdown(&imported.plan);
    let checked = orca_plan::check(&text, &PlanOptions::default());
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(checked.is_valid());
    assert_eq!(
        without_spans(checked.plan),
        imported.plan,
        "the Markdown must read back as the imported plan"
    );
    text
}

const SPEC_KIT: &[&str] = &[
    "spec-kit/scheduler-001-user-auth.tasks.md",
    "spec-kit/speck-001-core-project.tasks.md",
    "spec-kit/speck-008-stacked-pr-support.tasks.md",
];

#[test]
fn spec_kit_files_import_every_task_line() {
    for path in SPEC_KIT {
        let text = fixture(path);
        let imported = from_spec_kit(&text, &ImportOptions::default()).unwrap();
        assert_writes_a_valid_plan(&imported);
        // Count task lines independently: `- [ ] T<digits>...` / `- [x] ...`.
        let task_lines: Vec<&str> = text
            .lines()
            .map(str::trim_start)
            .filter(|l| {
                let rest = l
                    .strip_prefix("- [ ] ")
                    .or_else(|| l.strip_prefix("- [x] "))
                    .or_else(|| l.strip_prefix("- [X] "));
                rest.is_some_and(|r| {
                    r.starts_with('T') && r[1..].starts_with(|c: char| c.is_ascii_digit())
                })
            })
            .collect();
        assert_eq!(imported.plan.tasks.len(), task_lines.len(), "{path}");
        let done = task_lines.iter().filter(|l| !l.starts_with("- [ ]")).count();
        assert_eq!(imported.done.len(), done, "{path}");
        // Every dependency points to an earlier task: order is kept.
        for (i, task) in imported.plan.tasks.iter().enumerate() {
            for dep in &task.deps {
                let at = imported.plan.tasks.iter().position(|t| t.id == *dep).unwrap();
                assert!(at < i, "{path}: {} depends on later {dep}", task.id);
            }
        }
    }
}

#[test]
fn spec_kit_order_parallel_runs_and_depends_on_notes() {
    let imported = from_spec_kit(&fixture(SPEC_KIT[0]), &ImportOptions::default()).unwrap();
    assert_eq!(imported.plan.title, "User Authentication System");
    assert_eq!(imported.plan.phases.len(), 7);
    assert_eq!(
        imported.plan.phases[2].title,
        "Phase 3: User Story 1 — Login (Priority: P1) 🎯 MVP"
    );
    assert_eq!(deps(&imported, "T001"), Vec::<&str>::new());
    assert_eq!(deps(&imported, "T002"), ["T001"], "a [P] run waits for the task before it");
    // T003 follows the [P] task T002 and says "(depends on T001)".
    assert_eq!(deps(&imported, "T003"), ["T002", "T001"]);
    assert_eq!(deps(&imported, "T005"), ["T004", "T001"]);
    assert_eq!(deps(&imported, "T006"), ["T005"], "a phase starts after the previous one ends");
    assert_eq!(deps(&imported, "T007"), ["T005"], "consecutive [P] tasks share their predecessor");
    assert_eq!(
        deps(&imported, "T008"),
        ["T006", "T007"],
        "the task after a run waits for all of it"
    );
    let t018 = imported.plan.tasks.iter().find(|t| t.id.as_str() == "T018").unwrap();
    assert_eq!(t018.priority, orca_plan::Priority::MEDIUM, "Priority: P2");
    let files: Vec<&str> = t018.files.iter().flatten().map(|f| f.as_str()).collect();
    assert_eq!(files, ["src/routes/register.tsx"]);
    assert!(t018.description.contains("spec-kit markers: [P] [US2]"));
}

#[test]
fn spec_kit_wrapped_lines_belong_to_their_task() {
    let imported = from_spec_kit(&fixture(SPEC_KIT[1]), &ImportOptions::default()).unwrap();
    let t001 = &imported.plan.tasks[0];
    assert_eq!(
        t001.title,
        "Create `.speck/` directory structure with `scripts/` and `scripts/common/` subdirectories"
    );
    let files: Vec<&str> = t001.files.iter().flatten().map(|f| f.as_str()).collect();
    assert_eq!(files, [".speck", "scripts", "scripts/common"]);
    assert!(
        imported.plan.tasks.iter().any(|t| t.id.as_str() == "T049a"),
        "letter-suffixed IDs are tasks"
    );
}

#[test]
fn spec_kit_drop_done_removes_finished_work() {
    let text = fixture(SPEC_KIT[0]);
    let options = ImportOptions { drop_done: true, ..ImportOptions::default() };
    match from_spec_kit(&text, &options) {
        Err(ImportError::NoTasks(message)) => assert!(message.contains("done"), "{message}"),
        other => panic!("every task of this file is done: {other:?}"),
    }
}

const TASKMASTER: &[&str] = &[
    "taskmaster/expense-analyser.tasks.json",
    "taskmaster/testcraft.tasks.json",
    "taskmaster/taskmaster-sync.tasks.json",
];

#[test]
fn taskmaster_files_import_every_leaf_task() {
    for path in TASKMASTER {
        let text = fixture(path);
        let imported = from_taskmaster(&text, &ImportOptions::default()).unwrap();
        assert_writes_a_valid_plan(&imported);
        // Leaves counted independently from the JSON.
        fn leaves(tasks: &serde_json::Value) -> usize {
            tasks
                .as_array()
                .unwrap()
                .iter()
                .map(|t| match t.get("subtasks").and_then(|s| s.as_array()) {
                    Some(subtasks) if !subtasks.is_empty() => leaves(&t["subtasks"]),
                    _ => 1,
                })
                .sum()
        }
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let expected = leaves(&json["master"]["tasks"]);
        assert_eq!(imported.plan.tasks.len(), expected, "{path}");
    }
}

#[test]
fn taskmaster_subtasks_inherit_and_expand_dependencies() {
    let imported = from_taskmaster(&fixture(TASKMASTER[1]), &ImportOptions::default()).unwrap();
    assert_eq!(imported.plan.tasks.len(), 129);
    assert_eq!(imported.done.len(), 80);
    assert_eq!(deps(&imported, "T1.2"), ["T1.1"], "\"1.1\" names a subtask");
    assert_eq!(deps(&imported, "T1.5"), ["T1.1", "T1.3", "T1.4"]);
    // Task 2 depends on task 1, which was replaced by its five subtasks.
    assert_eq!(deps(&imported, "T2.1"), ["T1.1", "T1.2", "T1.3", "T1.4", "T1.5"]);
    // A top-level task without subtasks stays as it is.
    assert_eq!(deps(&imported, "T3"), ["T1.1", "T1.2", "T1.3", "T1.4", "T1.5"]);
    let t21 = imported.plan.tasks.iter().find(|t| t.id.as_str() == "T21").unwrap();
    assert_eq!(t21.priority, orca_plan::Priority::default().max(t21.priority));
    assert_eq!(t21.accept.len(), 1, "testStrategy is the acceptance item");
}

#[test]
fn taskmaster_string_ids_and_nested_subtasks() {
    let imported = from_taskmaster(&fixture(TASKMASTER[2]), &ImportOptions::default()).unwrap();
    let ids: Vec<&str> = imported.plan.tasks.iter().map(|t| t.id.as_str()).collect();
    assert!(ids.contains(&"rust-conversion-core.rust-cli-setup"), "{ids:?}");
    assert!(ids.contains(&"test-assignee-fix"), "a task without subtasks keeps its ID");
    assert_eq!(
        deps(&imported, "rust-data-models.rust-taskmaster-reader"),
        ["rust-conversion-core.rust-cli-setup", "rust-conversion-core.rust-error-types"]
    );
    assert!(
        imported.notes.iter().any(|n| n.contains("service-mesh-design")),
        "{:?}",
        imported.notes
    );
    let in_progress =
        imported.plan.tasks.iter().find(|t| t.id.as_str() == "test-assignee-fix").unwrap();
    assert!(
        in_progress.description.ends_with("Task Master status: in-progress."),
        "{}",
        in_progress.description
    );
}

#[test]
fn imported_plans_snapshot() {
    let spec_kit = from_spec_kit(&fixture(SPEC_KIT[0]), &ImportOptions::default()).unwrap();
    insta::assert_snapshot!("spec-kit-scheduler", assert_writes_a_valid_plan(&spec_kit));
    let taskmaster = from_taskmaster(&fixture(TASKMASTER[2]), &ImportOptions::default()).unwrap();
    insta::assert_snapshot!("taskmaster-sync", assert_writes_a_valid_plan(&taskmaster));
}
