//! Importers on files shaped like the ones real projects write
//! (tests/fixtures/import; see its README for what each file exercises).

use std::path::Path;

use orca_plan::import::{
    Format, ImportError, ImportOptions, Imported, detect, from_checklist, from_spec_kit,
    from_taskmaster,
};
use orca_plan::{Plan, PlanOptions, Status, Task, TaskId, TaskState};

fn fixture(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn task<'a>(imported: &'a Imported, id: &str) -> &'a Task {
    imported
        .plan
        .tasks
        .iter()
        .find(|t| t.id.as_str() == id)
        .unwrap_or_else(|| panic!("no task {id} in {:?}", ids(imported)))
}

fn ids(imported: &Imported) -> Vec<&str> {
    imported.plan.tasks.iter().map(|t| t.id.as_str()).collect()
}

fn deps<'a>(imported: &'a Imported, id: &str) -> Vec<&'a str> {
    task(imported, id).deps.iter().map(TaskId::as_str).collect()
}

fn done_ids(imported: &Imported) -> Vec<&str> {
    imported.plan.tasks.iter().filter(|t| t.status.is_done()).map(|t| t.id.as_str()).collect()
}

fn edges(imported: &Imported) -> usize {
    imported.plan.tasks.iter().map(|t| t.deps.len()).sum()
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
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
    assert!(checked.is_valid());
    assert_eq!(
        without_spans(checked.plan),
        imported.plan,
        "the Markdown must read back as the imported plan:\n{text}"
    );
    text
}

fn taskmaster(path: &str) -> Imported {
    from_taskmaster(&fixture(path), &ImportOptions::default()).unwrap()
}

const BOOKSHELF: &str = "taskmaster/bookshelf.tasks.json";
const LEGACY: &str = "taskmaster/release-train.legacy.json";
const RECIPES: &str = "spec-kit/recipe-box.tasks.md";
const VARIANTS: &str = "spec-kit/variants.tasks.md";
const CHECKLIST: &str = "checklist/orchestrator-todo.md";

#[test]
fn taskmaster_statuses_done_kept_visible_or_left_out() {
    let imported = taskmaster(BOOKSHELF);
    assert_writes_a_valid_plan(&imported);
    // `done` and `completed` are done; a done parent finishes its subtasks.
    assert_eq!(done_ids(&imported), ["T1", "T2.1", "T7"]);
    assert_eq!(imported.done.len(), 3);
    for (id, status) in [("T2.3", "review"), ("T3.2", "deferred"), ("T4", "blocked")] {
        assert!(
            task(&imported, id).description.contains(&format!("Task Master status: {status}.")),
            "{id}: {}",
            task(&imported, id).description
        );
    }
    // A parent's status is shown with its text in each subtask.
    assert!(task(&imported, "T2.2").description.contains("Task Master status of T2: in-progress."));
    assert!(!ids(&imported).contains(&"T5"), "cancelled tasks are left out");
    assert!(imported.notes.iter().any(|n| n.contains("left out 1 cancelled task: `T5`")));
    assert_eq!(deps(&imported, "T6"), ["T4"], "a dependency on a cancelled task is dropped");
}

#[test]
fn taskmaster_parents_keep_their_text_with_their_subtasks() {
    let imported = taskmaster(BOOKSHELF);
    let repo = &task(&imported, "T2.2").description;
    for kept in [
        "#### Part of T2: Book catalogue storage",
        "Persist books in SQLite with migrations.",
        "CREATE TABLE books",
        "Test strategy of T2: Integration test creates",
        "#### T2.2",
        "Keep queries in one module.",
    ] {
        assert!(repo.contains(kept), "`{kept}` missing from:\n{repo}");
    }
    assert_eq!(task(&imported, "T2.2").accept, Vec::<String>::new());
    assert!(!ids(&imported).contains(&"T3"), "T3 has subtasks, so it is not a task itself");
    let t31 = &task(&imported, "T3.1").description;
    assert!(t31.contains("Full-text search") && t31.contains("Estimate of T3: 3h."), "{t31}");
}

#[test]
fn taskmaster_subtask_dependencies_keep_the_source_edges() {
    let imported = taskmaster(BOOKSHELF);
    // The first subtask inherits its parent's dependency; the rest follow
    // their siblings.
    assert_eq!(deps(&imported, "T2.1"), ["T1"]);
    assert_eq!(deps(&imported, "T2.2"), ["T2.1"]);
    assert_eq!(deps(&imported, "T2.3"), ["T2.1"]);
    assert_eq!(deps(&imported, "T2.4"), ["T2.2", "T2.3"]);
    // Depending on task 2 is depending on the subtask that finishes it.
    assert_eq!(deps(&imported, "T3.1"), ["T2.4"]);
    assert_eq!(deps(&imported, "T3.2"), ["T2.4"]);
    assert_eq!(deps(&imported, "T4"), ["T2.4", "T3.1", "T3.2"]);
    assert_eq!(edges(&imported), 12);

    let legacy = taskmaster(LEGACY);
    // The source names a task it does not have: kept, so check reports it.
    let parsed = orca_plan::parse(&orca_plan::to_markdown(&legacy.plan));
    assert_eq!(without_spans(parsed.plan), legacy.plan);
    assert_eq!(deps(&legacy, "cli-core.commands.list"), ["cli-core.parser", "cli-core.errors"]);
    assert_eq!(deps(&legacy, "cli-core.commands.show"), ["cli-core.commands.list"]);
    // Each archive waits for the one subtask that finishes cli-core, not
    // for all four of its leaves.
    for archive in ["packaging.1", "packaging.2", "packaging.3"] {
        assert_eq!(deps(&legacy, archive), ["cli-core.commands.show"]);
    }
    assert_eq!(
        deps(&legacy, "announce"),
        ["packaging.1", "packaging.2", "packaging.3", "docs-site"]
    );
    assert!(legacy.notes.iter().any(|n| n.contains("`docs-site`, which is not in the file")));
    assert!(ids(&legacy).contains(&"bad-id-with-spaces-"), "{:?}", ids(&legacy));
}

#[test]
fn taskmaster_tags_are_listed_and_chosen() {
    let imported = taskmaster(BOOKSHELF);
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("`mobile-app`, `spike-search`") && n.contains("--tag")),
        "{:?}",
        imported.notes
    );
    let options = ImportOptions { tag: Some("mobile-app".into()), ..ImportOptions::default() };
    let mobile = from_taskmaster(&fixture(BOOKSHELF), &options).unwrap();
    assert_eq!(ids(&mobile), ["T1", "T2"]);
    assert_eq!(mobile.plan.title, "Task Master tasks (tag mobile-app)");
    let options = ImportOptions { tag: Some("nope".into()), ..ImportOptions::default() };
    assert!(matches!(
        from_taskmaster(&fixture(BOOKSHELF), &options),
        Err(ImportError::TagNotFound { .. })
    ));
}

#[test]
fn taskmaster_files_estimates_and_what_is_not_carried() {
    let imported = taskmaster(BOOKSHELF);
    let files = |id: &str| -> Vec<String> {
        task(&imported, id).files.iter().flatten().map(ToString::to_string).collect()
    };
    assert_eq!(files("T1"), ["src/main.rs", "src/config.rs"]);
    assert_eq!(files("T3.1"), ["src/search.rs"], "a subtask touches its parent's files");
    assert_eq!(task(&imported, "T1").estimate, Some(orca_plan::Estimate::Seconds(7200)));
    assert!(imported.notes.iter().any(|n| n.contains("`T4` has priority `urgent`")));
    assert!(
        imported.notes.iter().any(|n| n.contains("`T3") && n.contains("`complexity`")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn taskmaster_drop_done_of_an_all_done_tag_says_so() {
    let options = ImportOptions {
        tag: Some("spike-search".into()),
        drop_done: true,
        ..ImportOptions::default()
    };
    assert!(matches!(from_taskmaster(&fixture(BOOKSHELF), &options), Err(ImportError::AllDone)));
    let options = ImportOptions { drop_done: true, ..ImportOptions::default() };
    let dropped = from_taskmaster(&fixture(BOOKSHELF), &options).unwrap();
    assert!(done_ids(&dropped).is_empty());
    assert_eq!(deps(&dropped, "T2.2"), Vec::<&str>::new(), "done T2.1 satisfied it");
}

#[test]
fn spec_kit_parallel_markers_stories_and_phases() {
    let imported = from_spec_kit(&fixture(RECIPES), &ImportOptions::default()).unwrap();
    assert_writes_a_valid_plan(&imported);
    assert_eq!(imported.plan.title, "Recipe Box");
    assert_eq!(imported.plan.phases.len(), 6);
    assert_eq!(done_ids(&imported), ["T001", "T002", "T003", "T004"]);
    // [P] tasks of a phase do not depend on each other.
    assert_eq!(deps(&imported, "T002"), Vec::<&str>::new());
    assert_eq!(deps(&imported, "T003"), Vec::<&str>::new());
    assert_eq!(deps(&imported, "T004"), ["T001", "T002", "T003"]);
    assert_eq!(deps(&imported, "T005"), ["T001", "T002", "T003"]);
    assert_eq!(deps(&imported, "T006"), ["T001", "T002", "T003"]);
    assert_eq!(deps(&imported, "T007"), ["T004", "T005", "T006"]);
    // Each user story waits for the foundational phase, not for the story
    // before it.
    for first in ["T008", "T009", "T010", "T013", "T015", "T016"] {
        assert_eq!(deps(&imported, first), ["T007"], "{first}");
    }
    assert_eq!(deps(&imported, "T011"), ["T008", "T009", "T010"]);
    // Polish waits for every story.
    assert_eq!(deps(&imported, "T017"), ["T012", "T014", "T015", "T016"]);
    // The longest chain is phase by phase, not story after story; the done
    // setup tasks are not on it (8 tasks counting T001).
    let checked =
        orca_plan::check(&orca_plan::to_markdown(&imported.plan), &PlanOptions::default());
    assert_eq!(checked.graph.unwrap().critical_path().tasks.len(), 7);
    // Labels, goals and groups stay in the text.
    let t010 = &task(&imported, "T010").description;
    assert!(t010.contains("User story: US1."), "{t010}");
    assert!(t010.contains("Phase goal: A cook saves a recipe with ingredients and steps"));
    assert!(t010.contains("Section: Implementation for User Story 1."));
    assert_eq!(
        imported.plan.phases[2].description,
        "Goal: A cook saves a recipe with ingredients and steps"
    );
    assert!(task(&imported, "T012").description.contains("validation errors return 422"));
    assert!(!ids(&imported).contains(&"T999"), "code blocks hold no tasks");
    // Roles come from the files when they say it plainly.
    for (id, role) in
        [("T008", "test"), ("T016", "frontend"), ("T017", "docs"), ("T011", "backend")]
    {
        assert_eq!(task(&imported, id).role, role, "{id}");
    }
    let options = ImportOptions { infer_roles: false, ..ImportOptions::default() };
    let plain = from_spec_kit(&fixture(RECIPES), &options).unwrap();
    assert!(plain.plan.tasks.iter().all(|t| t.role == "backend"));
    assert!(
        imported.notes.iter().any(|n| n.contains("without a task ID") && n.contains("line 61")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn spec_kit_variants_are_read() {
    let imported = from_spec_kit(&fixture(VARIANTS), &ImportOptions::default()).unwrap();
    assert_writes_a_valid_plan(&imported);
    assert_eq!(ids(&imported), ["T001", "T002", "T003", "T004", "T005", "T006", "T007", "T008"]);
    assert_eq!(imported.plan.phases.len(), 2, "`### Phase` headings are phases");
    assert_eq!(done_ids(&imported), ["T001", "T002", "T006"]);
    assert_eq!(
        task(&imported, "T002").title,
        "Add the test runner config in widget/vitest.config.ts"
    );
    assert!(task(&imported, "T003").description.contains("[P]"));
    assert_eq!(deps(&imported, "T003"), Vec::<&str>::new());
    assert_eq!(deps(&imported, "T002"), ["T001"]);
    assert_eq!(deps(&imported, "T004"), ["T002", "T003"], "phase 2 waits for phase 1's end");
    // The run of [P] tasks already waits for phase 1: T007 needs only it.
    assert_eq!(deps(&imported, "T007"), ["T004", "T005", "T006"]);
    assert_eq!(deps(&imported, "T008"), ["T007"]);
}

#[test]
fn spec_kit_drop_done_of_an_all_done_file_says_so() {
    let options = ImportOptions { drop_done: true, ..ImportOptions::default() };
    let text = "# Tasks: x\n\n## Phase 1\n- [x] T001 Done already\n";
    assert!(matches!(from_spec_kit(text, &options), Err(ImportError::AllDone)));
}

#[test]
fn checklists_import_with_subtasks_notes_and_unreadable_lines() {
    let imported = from_checklist(&fixture(CHECKLIST), &ImportOptions::default()).unwrap();
    assert_writes_a_valid_plan(&imported);
    assert_eq!(imported.plan.title, "Newsletter service: work list");
    assert_eq!(
        ids(&imported),
        ["T1", "T2", "T3", "T4", "T5.1", "T5.2", "T5.3", "T6", "T8", "T7", "T9"]
    );
    assert_eq!(imported.plan.phases.len(), 3);
    assert_eq!(
        imported.plan.phases[0].description,
        "Everything here lands before the feature work."
    );
    assert_eq!(done_ids(&imported), ["T1", "T5.2"]);
    assert_eq!(deps(&imported, "T2"), ["T1"], "depends on");
    assert_eq!(deps(&imported, "T3"), ["T1"], "blocked-by");
    assert_eq!(deps(&imported, "T4"), ["T2"], "after");
    assert_eq!(deps(&imported, "T5.3"), ["T5.1"]);
    assert_eq!(
        deps(&imported, "T6"),
        ["T5.2", "T5.3", "T2"],
        "a parent is finished by its last subtasks"
    );
    assert_eq!(deps(&imported, "T7"), ["T6"], "blocked by");
    assert_eq!(deps(&imported, "T9"), ["T7"]);
    assert!(task(&imported, "T2").description.contains("a unique index on email"));
    assert!(task(&imported, "T5.1").description.contains("#### Part of T5: Delivery pipeline"));
    assert!(task(&imported, "T7").description.contains("## not a heading"));
    let files: Vec<String> =
        task(&imported, "T3").files.iter().flatten().map(ToString::to_string).collect();
    assert_eq!(files, ["newsletter.toml"]);
    assert!(
        imported.notes.iter().any(|n| n.contains("`T12`, which is not in the list")),
        "{:?}",
        imported.notes
    );
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("not read as tasks") && n.contains("lines 24, 25")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn formats_are_detected_from_content() {
    assert_eq!(detect(&fixture(BOOKSHELF)), Some(Format::Taskmaster));
    assert_eq!(detect(&fixture(LEGACY)), Some(Format::Taskmaster));
    assert_eq!(detect(&fixture(RECIPES)), Some(Format::SpecKit));
    assert_eq!(detect(&fixture(VARIANTS)), Some(Format::SpecKit));
    assert_eq!(detect(&fixture(CHECKLIST)), Some(Format::Checklist));
}

#[test]
fn done_tasks_are_never_offered_and_satisfy_their_dependents() {
    let imported = taskmaster(BOOKSHELF);
    let text = assert_writes_a_valid_plan(&imported);
    let checked = orca_plan::check(&text, &PlanOptions::default());
    let graph = checked.graph.unwrap();
    let state = |t: orca_plan::TaskIndex| {
        if checked.plan.tasks[t.index()].status == Status::Done {
            TaskState::Done
        } else {
            TaskState::Pending
        }
    };
    let ready: Vec<&str> = graph.ready(state).iter().map(|&t| graph.id(t).as_str()).collect();
    // T1 and T2.1 are done: T2.2 and T2.3 are ready, T1 is not offered.
    assert_eq!(ready, ["T2.2", "T2.3"]);
}
