//! What orca tells an agent: the task prompt, the follow-up after a failed
//! attempt, and the brief for a conflict resolver. Pure text building; the
//! prompts are saved in each attempt's directory.
//!
//! Every prompt names the task as `Task <ID>` in its first line, so a
//! scripted model (and a person reading logs) can tell them apart.

use std::fmt::Write;

use orca_plan::Task;

/// The most output of a failed `verify` a prompt quotes (its tail).
pub const MAX_QUOTED_OUTPUT: usize = 6_000;

/// Everything a task prompt is built from.
#[derive(Debug, Clone)]
pub struct TaskBrief<'a> {
    pub plan_title: &'a str,
    pub task: &'a Task,
    /// Extra instructions for the task's role, from `[roles]` in the config.
    pub role_instructions: Option<&'a str>,
    /// What each dependency changed, in plan order.
    pub dependencies: Vec<DependencyChange>,
}

/// What a dependency task changed, as merged into the integration branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyChange {
    pub id: String,
    pub title: String,
    /// A bounded summary: files, line counts, commit subjects.
    pub summary: String,
}

/// Why the previous attempt did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousFailure {
    /// The attempt that failed (1-based).
    pub attempt: i64,
    /// One line: what went wrong.
    pub reason: String,
    /// The failing `verify` output, if that is what failed.
    pub verify_output: Option<String>,
}

/// The full prompt for a task's first attempt, or for a retry that cannot
/// resume the agent's session (then `previous` says what failed).
pub fn task_prompt(brief: &TaskBrief<'_>, previous: Option<&PreviousFailure>) -> String {
    let task = brief.task;
    let mut out = String::new();
    let _ = writeln!(out, "# Task {}: {}", task.id, task.title);
    out.push('\n');
    let _ = writeln!(
        out,
        "You are doing one task of the plan \"{}\", in a git worktree made for this task \
         alone. Other agents are doing other tasks of the plan at the same time, each in \
         its own worktree; orca merges the results.",
        brief.plan_title
    );
    if !task.description.trim().is_empty() {
        out.push_str("\n## What to do\n\n");
        out.push_str(task.description.trim());
        out.push('\n');
    }
    match &task.files {
        Some(files) if !files.is_empty() => {
            out.push_str("\n## Files this task touches\n\n");
            for file in files {
                let _ = writeln!(out, "- `{file}`");
            }
            out.push_str(
                "\nChange other files only when the task truly needs it: other tasks own them.\n",
            );
        }
        Some(_) => out.push_str("\n## Files this task touches\n\nNone: change no files.\n"),
        None => {}
    }
    if !task.accept.is_empty() {
        out.push_str("\n## Acceptance criteria\n\n");
        for item in &task.accept {
            let _ = writeln!(out, "- [ ] {item}");
        }
    }
    if let Some(verify) = &task.verify {
        let _ = write!(
            out,
            "\n## How orca checks it\n\nWhen you finish, orca runs `{}` in this worktree. The \
             task counts as done only if it exits 0, so run it yourself before you finish.\n",
            verify.command()
        );
    }
    let _ = write!(out, "\n## Role: {}\n", task.role);
    if let Some(instructions) = brief.role_instructions.filter(|text| !text.trim().is_empty()) {
        out.push('\n');
        out.push_str(instructions.trim());
        out.push('\n');
    }
    if !brief.dependencies.is_empty() {
        out.push_str("\n## What the tasks before this one changed\n\n");
        out.push_str("Their work is already in this worktree.\n");
        for dep in &brief.dependencies {
            let _ = write!(out, "\n### {}: {}\n\n{}\n", dep.id, dep.title, dep.summary.trim_end());
        }
    }
    if let Some(previous) = previous {
        out.push('\n');
        out.push_str(&failure_section(previous));
    }
    out.push_str(RULES);
    out
}

/// The message sent into a resumed agent session after a failed attempt:
/// the agent still has the task in its context, so only the failure is new.
pub fn retry_prompt(task: &Task, previous: &PreviousFailure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Task {}: {} (attempt {})", task.id, task.title, previous.attempt + 1);
    out.push('\n');
    out.push_str(&failure_section(previous));
    out.push_str(
        "\nFix the cause in this worktree (your earlier changes are still here), check it \
         yourself, then reply with a short summary of what you changed.\n",
    );
    out
}

/// The message that continues an attempt that was interrupted (Ctrl-C,
/// a crash, a usage limit) in its own, resumed session.
pub fn continue_prompt(task: &Task) -> String {
    format!(
        "# Task {}: {} (continued)\n\nYou were interrupted before you finished. Everything you \
         had changed is still in this worktree. Check where you stopped, finish the task, then \
         reply with a short summary of what you changed.\n",
        task.id, task.title
    )
}

/// What a conflict resolver is told.
#[derive(Debug, Clone)]
pub struct ConflictBrief<'a> {
    pub task: &'a Task,
    /// The files git could not merge.
    pub files: &'a [String],
    /// Tasks merged since this task started that changed those files.
    pub collided_with: Vec<(String, String)>,
}

/// The prompt for a resolver attempt: a worktree holds the merge of the
/// task's branch into the integration branch, with conflict markers.
pub fn resolver_prompt(brief: &ConflictBrief<'_>) -> String {
    let task = brief.task;
    let mut out = String::new();
    let _ = writeln!(out, "# Task {}: resolve merge conflict", task.id);
    out.push('\n');
    let _ = writeln!(
        out,
        "Task {} (\"{}\") was done on its own branch while other tasks were merged. Merging \
         it now conflicts. This worktree holds that merge in progress: the conflicting files \
         contain markers (<<<<<<<, |||||||, =======, >>>>>>>).",
        task.id, task.title
    );
    out.push_str("\n## Conflicting files\n\n");
    for file in brief.files {
        let _ = writeln!(out, "- `{file}`");
    }
    if !brief.collided_with.is_empty() {
        out.push_str("\n## The tasks it collided with\n\n");
        for (id, title) in &brief.collided_with {
            let _ = writeln!(out, "- {id}: {title}");
        }
    }
    if !task.description.trim().is_empty() {
        out.push_str("\n## What the task was meant to do\n\n");
        out.push_str(task.description.trim());
        out.push('\n');
    }
    out.push_str(
        "\n## What to do\n\nEdit each conflicting file so it keeps the intent of both sides, and \
         remove every conflict marker. Do not drop the other tasks' changes. Do not commit and \
         do not run git merge commands: orca finishes the merge. Reply with a short summary.\n",
    );
    if let Some(verify) = &task.verify {
        let _ = write!(out, "\nAfterwards orca runs `{}`; it must exit 0.\n", verify.command());
    }
    out
}

fn failure_section(previous: &PreviousFailure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Attempt {} did not pass", previous.attempt);
    out.push('\n');
    let _ = writeln!(out, "{}", previous.reason.trim());
    if let Some(output) = &previous.verify_output {
        let quoted = tail(output, MAX_QUOTED_OUTPUT);
        out.push_str("\nThe end of its output:\n\n````text\n");
        out.push_str(quoted.trim_end());
        out.push_str("\n````\n");
    }
    out
}

/// The last `max` bytes of `text`, cut at a character boundary, with a
/// note when something was cut.
fn tail(text: &str, max: usize) -> String {
    let kept = last_bytes(text, max);
    if kept.len() == text.len() {
        return text.to_owned();
    }
    format!("[... {} earlier bytes cut ...]\n{kept}", text.len() - kept.len())
}

/// The last `max` bytes of `text` (fewer, to cut at a character boundary).
pub(crate) fn last_bytes(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

const RULES: &str = "
## Rules

- Work only inside this worktree. Do not touch the plan file or `.orca/`.
- You need not commit: orca commits everything you leave in the worktree. Commits you
  make yourself are kept.
- Finish with a short summary of what you changed and how you checked it.
";

#[cfg(test)]
mod tests;

/// What the planner is told.
#[derive(Debug, Clone)]
pub struct PlannerBrief<'a> {
    pub goal: &'a str,
    /// `analysis.md` of the analyze stage, when it ran.
    pub analysis: Option<&'a str>,
    /// The plan format ([`orca_plan::spec::format_spec`]).
    pub format: &'a str,
    /// The agents a task may name.
    pub agents: &'a [String],
    /// Where to write the plan, relative to the worktree.
    pub plan_file: &'a str,
}

/// The first message to the planner: goal, map of the repository, format.
pub fn planner_prompt(brief: &PlannerBrief<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Plan the goal: {}", first_line(brief.goal));
    let _ = write!(
        out,
        "\nYou are the planner of an orca run. Write a plan that reaches the goal below as \
         tasks that other agents will do, several at once, each in its own git worktree; orca \
         merges their work in dependency order. Do not do the tasks yourself: write the plan \
         to `{}` at the top of this worktree, in orca's plan format, and nothing else. orca \
         checks it with `orca plan check` and sends you back every problem it finds.\n",
        brief.plan_file
    );
    out.push_str("\n## The goal\n\n");
    out.push_str(brief.goal.trim());
    out.push('\n');
    if let Some(analysis) = brief.analysis.filter(|text| !text.trim().is_empty()) {
        out.push_str("\n## The repository\n\n");
        out.push_str(analysis.trim());
        out.push('\n');
    }
    out.push_str(
        "\n## How to plan\n\n\
         - Small tasks, each one coherent change that one agent can finish and prove with its \
           `verify` command.\n\
         - `deps` only where a task needs another's result; independent tasks run in parallel.\n\
         - `files` as precise as you can: tasks that share files never run at the same time.\n\
         - Every task gets a `verify` that fails before the task and passes after it.\n",
    );
    if !brief.agents.is_empty() {
        let _ = writeln!(out, "- Agents a task may name in `agent`: {}.", brief.agents.join(", "));
    }
    out.push_str("\n## The plan format\n\n");
    out.push_str(brief.format.trim_end());
    out.push('\n');
    out
}

/// The message after a plan orca refused: every diagnostic, as `orca plan
/// check` prints them.
pub fn planner_feedback_prompt(
    plan_file: &str,
    diagnostics: &str,
    round: u32,
    rounds: u32,
) -> String {
    format!(
        "# Plan the goal: fix the plan (round {round} of {rounds})\n\n`orca plan check {plan_file}` \
         refused the plan. Fix every problem below in `{plan_file}` (keep what was right), then \
         reply with a short summary.\n\n```text\n{}\n```\n",
        diagnostics.trim_end()
    )
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("")
}
