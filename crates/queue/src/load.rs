//! A validated plan becomes a run in the store: one task per plan task,
//! with the plan's dependencies, a priority from its dispatch order, and
//! the plan task itself as the spec.

use std::fmt;

use orca_plan::{Plan, PlanGraph};
use orca_store::{NewRun, RunId, RunState};
use serde::Serialize;

use crate::error::LoadError;
use crate::queue::Queue;

/// How runs loaded for agent sessions are marked (`runs.mode`).
pub const SESSION_MODE: &str = "session";

/// A plan put into the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loaded {
    pub run: RunId,
    pub title: String,
    pub plan_path: Option<String>,
    pub tasks: usize,
    /// Tasks without dependencies: claimable at once.
    pub ready: usize,
    /// A run that was active before this one; commands without `--run`
    /// now use the new one.
    pub previous_active: Option<RunId>,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.plan_path.as_deref().map(|p| format!("{p} ")).unwrap_or_default();
        write!(
            f,
            "loaded {from}as run {}: {} ({} task{}, {} ready)",
            self.run,
            self.title,
            self.tasks,
            if self.tasks == 1 { "" } else { "s" },
            self.ready
        )
    }
}

/// The run the store creates for `plan`, driven by sessions: the same
/// tasks `orca run` creates (`orca_engine::stages::parallel::new_run`).
pub fn session_run(
    plan: &Plan,
    graph: &PlanGraph,
    plan_path: Option<String>,
    max_attempts: u32,
) -> NewRun {
    orca_engine::stages::parallel::new_run(plan, graph, plan_path, SESSION_MODE, max_attempts)
}

impl Queue {
    /// Loads a valid plan (`graph` is the one `orca_plan::check` built) as
    /// a new run for agent sessions, in one transaction, and records its
    /// stages (implement running).
    pub async fn load(
        &self,
        plan: &Plan,
        graph: Option<&PlanGraph>,
        plan_path: Option<String>,
    ) -> Result<Loaded, LoadError> {
        let graph = graph.ok_or(LoadError::Invalid)?;
        let store = self.store();
        let previous_active =
            store.latest_run_in(self.scope(), &[RunState::Active]).await?.map(|run| run.id);
        let mut new_run = session_run(plan, graph, plan_path, self.settings().max_attempts);
        new_run.repo = self.settings().repo.clone();
        // Done tasks (the plan's `status: done`) satisfy their dependents.
        let done: std::collections::HashSet<&str> =
            new_run.tasks.iter().filter(|task| task.done).map(|task| task.key.as_str()).collect();
        let ready = new_run
            .tasks
            .iter()
            .filter(|task| !task.done && task.deps.iter().all(|dep| done.contains(dep.as_str())))
            .count();
        let run = store.create_run(&new_run).await?;
        orca_engine::pipeline::session::loaded(store, &run).await?;
        Ok(Loaded {
            run,
            title: new_run.title,
            plan_path: new_run.plan_path,
            tasks: new_run.tasks.len(),
            ready,
            previous_active,
        })
    }
}
