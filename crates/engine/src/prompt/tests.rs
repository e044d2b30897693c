use orca_plan::{FilePattern, Task, TaskId, Verify};

use super::*;

fn task() -> Task {
    let mut task = Task::new(TaskId::parse("T03").unwrap(), "Add the config loader", "backend");
    task.description = "Read `.app.toml` at start-up.\n\nMalformed files are an error.\n".into();
    task.files = Some(vec![
        FilePattern::parse("src/config.rs").unwrap(),
        FilePattern::parse("tests/config/**").unwrap(),
    ]);
    task.accept = vec!["a malformed file gives an error with a line number".into()];
    task.verify = Some(Verify::parse("cargo test config").unwrap());
    task
}

fn brief(task: &Task) -> TaskBrief<'_> {
    TaskBrief {
        plan_title: "Settings",
        task,
        role_instructions: Some("Prefer small functions; no new dependencies."),
        dependencies: vec![DependencyChange {
            id: "T01".into(),
            title: "Create the crate".into(),
            summary: "2 files changed, +40 -0\n  A src/lib.rs (+30)\n  A Cargo.toml (+10)\n".into(),
        }],
    }
}

#[test]
fn first_attempt_prompt() {
    let task = task();
    insta::assert_snapshot!(task_prompt(&brief(&task), None));
}

#[test]
fn retry_without_a_session_repeats_the_task_and_quotes_the_failure() {
    let task = task();
    let previous = PreviousFailure {
        attempt: 1,
        reason: "`cargo test config` exited with status 101".into(),
        verify_output: Some("test config::parses ... FAILED\nassertion failed: line 3".into()),
    };
    let prompt = task_prompt(&brief(&task), Some(&previous));
    assert!(prompt.starts_with("# Task T03: Add the config loader\n"));
    insta::assert_snapshot!(prompt);
}

#[test]
fn retry_in_a_resumed_session_sends_only_the_failure() {
    let task = task();
    let previous = PreviousFailure {
        attempt: 2,
        reason: "the agent stalled: no output for 5m".into(),
        verify_output: None,
    };
    insta::assert_snapshot!(retry_prompt(&task, &previous));
}

#[test]
fn long_verify_output_is_cut_to_its_tail() {
    let task = task();
    let output = format!("{}\nLAST LINE", "x".repeat(3 * MAX_QUOTED_OUTPUT));
    let previous =
        PreviousFailure { attempt: 1, reason: "verify failed".into(), verify_output: Some(output) };
    let prompt = retry_prompt(&task, &previous);
    assert!(prompt.contains("LAST LINE"));
    assert!(prompt.contains("earlier bytes cut"));
    assert!(prompt.len() < MAX_QUOTED_OUTPUT + 1_000, "{} bytes", prompt.len());
}

#[test]
fn a_task_without_optional_fields_gets_a_short_prompt() {
    let task = Task::new(TaskId::parse("T9").unwrap(), "Write the changelog", "docs");
    let brief = TaskBrief {
        plan_title: "Release",
        task: &task,
        role_instructions: None,
        dependencies: vec![],
    };
    insta::assert_snapshot!(task_prompt(&brief, None));
}

#[test]
fn resolver_prompt_names_the_files_and_the_tasks_it_collided_with() {
    let task = task();
    let files = vec!["src/config.rs".to_owned()];
    let brief = ConflictBrief {
        task: &task,
        files: &files,
        collided_with: vec![("T02".into(), "Add the CLI flags".into())],
    };
    insta::assert_snapshot!(resolver_prompt(&brief));
}

#[test]
fn continue_prompt_names_the_task() {
    insta::assert_snapshot!(continue_prompt(&task()));
}
