//! What a gate found, turned into ordinary tasks of the run: they join the
//! run's plan and its queue, go through implement and the merge queue like
//! any task, and the gate runs again. IDs say which gate and which round
//! made them (`fix-security-1-2`), so a report can tell them apart.

use orca_plan::{FilePattern, Task, TaskId, Verify};
use orca_store::Stage;

use crate::error::EngineError;
use crate::pipeline::Pipeline;

/// One problem to fix, as a gate describes it.
#[derive(Debug, Clone)]
pub(crate) struct FixTask {
    pub title: String,
    /// The role of whoever fixes it (`security`, `test`, `review`, ...).
    pub role: String,
    /// The files the problem is in.
    pub files: Vec<String>,
    /// What is wrong, where, and what to do: the prompt's body. Never holds
    /// a secret (gates redact what they quote).
    pub description: String,
    /// A command that passes once the problem is gone, when one exists.
    pub verify: Option<Vec<String>>,
    pub accept: Vec<String>,
}

/// The ID prefix of a gate's fix tasks.
pub(crate) fn id_prefix(gate: Stage) -> String {
    format!("fix-{gate}-")
}

/// Adds the fix tasks of `gate`'s fix round `round` to the run (its plan and
/// its queue). Returns how many were added.
pub(crate) async fn add(
    p: &Pipeline,
    gate: Stage,
    round: u32,
    fixes: Vec<FixTask>,
) -> Result<usize, EngineError> {
    if fixes.is_empty() {
        return Ok(0);
    }
    let store = &p.ws.store;
    let mut plan = crate::stages::parallel::stored_plan(store, &p.run).await?;
    let known: Vec<String> = p.ws.config.roles.known.clone();
    let mut added = Vec::new();
    for (n, fix) in fixes.into_iter().enumerate() {
        let id = format!("{}{round}-{}", id_prefix(gate), n + 1);
        let id = TaskId::parse(&id).map_err(|error| EngineError::StoredPlan {
            run: p.run.clone(),
            source: Box::new(error),
        })?;
        // A role the repository does not know would make the plan invalid.
        let role = if known.contains(&fix.role) {
            fix.role
        } else {
            known.first().cloned().unwrap_or(fix.role)
        };
        let mut task = Task::new(id, fix.title, role);
        task.files = Some(fix.files.iter().filter_map(|f| FilePattern::parse(f).ok()).collect());
        task.verify = fix.verify.as_deref().and_then(|argv| Verify::from_argv(argv).ok());
        task.accept = fix.accept;
        task.description = fix.description;
        plan.tasks.push(task.clone());
        added.push(task);
    }
    let graph = orca_plan::PlanGraph::new(&plan)
        .map_err(|error| EngineError::StoredPlan { run: p.run.clone(), source: Box::new(error) })?;
    let all = crate::stages::parallel::new_tasks(&plan, &graph, p.ws.config.run.max_attempts);
    let new: Vec<_> = all.into_iter().skip(plan.tasks.len() - added.len()).collect();
    // One transaction: the plan and the queue never disagree about them.
    store.add_tasks(&p.run, &new, Some(&orca_plan::to_json(&plan).to_string())).await?;
    Ok(added.len())
}
