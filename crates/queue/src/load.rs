//! A validated plan becomes a run in the store: one task per plan task,
//! with the plan's dependencies, a priority from its dispatch order, and
//! the plan task itself as the spec.

use std::fmt;

use orca_plan::{Plan, PlanGraph};
use orca_store::{NewRun, NewTask, RunId, Stage, StageState};
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

/// Dispatch priorities: the first task of [`PlanGraph::sort_for_dispatch`]
/// gets the highest number, so the store's "highest priority first, then
/// key" claims in exactly the plan's dispatch order (critical path first).
pub fn dispatch_priorities(graph: &PlanGraph) -> Vec<i64> {
    let mut order: Vec<_> = graph.indices().collect();
    graph.sort_for_dispatch(&mut order);
    let n = i64::try_from(order.len()).unwrap_or(i64::MAX);
    let mut priorities = vec![0; order.len()];
    for (rank, task) in order.iter().enumerate() {
        priorities[task.index()] = n - i64::try_from(rank).unwrap_or(n);
    }
    priorities
}

/// The run the store creates for `plan`: the same task specs (`orca_plan::Task`
/// as JSON) and priorities that `orca run` uses, driven by sessions.
pub fn session_run(
    plan: &Plan,
    graph: &PlanGraph,
    plan_path: Option<String>,
    max_attempts: u32,
) -> NewRun {
    let priorities = dispatch_priorities(graph);
    let tasks = plan
        .tasks
        .iter()
        .zip(priorities)
        .map(|(task, priority)| NewTask {
            key: task.id.to_string(),
            deps: task.deps.iter().map(ToString::to_string).collect(),
            priority,
            max_attempts: i64::from(max_attempts.max(1)),
            spec_json: serde_json::to_string(task).unwrap_or_else(|_| "{}".to_owned()),
        })
        .collect();
    NewRun {
        title: plan.title.clone(),
        plan_path,
        plan_json: orca_plan::to_json(plan).to_string(),
        mode: SESSION_MODE.to_owned(),
        tasks,
    }
}

impl Queue {
    /// Loads a valid plan (`graph` is the one `orca_plan::check` built) as
    /// a new run for agent sessions, in one transaction, and marks stages
    /// plan and parallel passed, implement running.
    pub async fn load(
        &self,
        plan: &Plan,
        graph: Option<&PlanGraph>,
        plan_path: Option<String>,
    ) -> Result<Loaded, LoadError> {
        let graph = graph.ok_or(LoadError::Invalid)?;
        let store = self.store();
        let previous_active = store.latest_active_run().await?.map(|run| run.id);
        let new_run = session_run(plan, graph, plan_path, self.settings().max_attempts);
        let ready = new_run.tasks.iter().filter(|task| task.deps.is_empty()).count();
        let run = store.create_run(&new_run).await?;
        for (stage, state) in [
            (Stage::Plan, StageState::Passed),
            (Stage::Parallel, StageState::Passed),
            (Stage::Implement, StageState::Running),
        ] {
            store.set_stage(&run, stage, state).await?;
        }
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
