//! What every part of a run shares, and what the dispatcher remembers about
//! each task between its attempts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::HostEnv;
use orca_config::{Config, Layout};
use orca_git::{
    Repo, attempt_branch, resolver_worktree_path, run_branch_prefix, task_worktree_path,
};
use orca_plan::{Plan, PlanGraph, Task, TaskIndex};
use orca_store::{RunId, Store};

use crate::budget::{Limit, Spend};
use crate::error::EngineError;
use crate::excerpt::error_chain;
use crate::git_thread::on_git;
use crate::profiles::{AgentProfile, AgentProfiles};
use crate::prompt::PreviousFailure;

/// The default time limit for a task's `verify`.
const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Shared, read-only state of one run.
#[derive(Debug)]
pub(super) struct RunContext {
    pub repo: Arc<Repo>,
    pub host: Arc<HostEnv>,
    pub layout: Layout,
    pub store: Store,
    pub config: Config,
    pub run: RunId,
    pub integration: String,
    pub plan: Plan,
    pub graph: PlanGraph,
    /// The graph's node for each task, by position in `plan.tasks`.
    pub nodes: Vec<TaskIndex>,
    pub profiles: AgentProfiles,
    /// The agent for tasks whose plan names none (`--agent`, else config).
    pub default_agent: String,
    /// The most agents at once.
    pub agents: usize,
    pub resolver: bool,
    pub keep_branches: bool,
    /// This process's name in the store's leases.
    pub worker: String,
    /// The git remote workers on other machines push their attempts to
    /// (docs/scale-out.md); None for a run on this machine alone.
    pub remote: Option<String>,
    /// What the run's task attempts may spend together.
    pub run_budget: Limit,
}

/// What the dispatcher remembers about a task.
#[derive(Debug, Clone, Default)]
pub(super) struct TaskMemory {
    /// The last attempt, for the next one: its branch, session and failure.
    pub previous: Option<PreviousAttempt>,
    /// The current attempt's start commit and its branch tip after commit.
    pub attempt_base: Option<String>,
    pub attempt_head: Option<String>,
    /// Set once merged: what dependents are told it changed.
    pub merged: Option<MergedChange>,
    /// What the task's attempts spent since it last failed for good: what
    /// its budget counts (`--retry-failed` gives it a fresh one).
    pub spent: Spend,
    /// What all its attempts in the run spent: what the run's budget counts.
    pub spent_in_run: Spend,
}

/// The attempt before this one.
#[derive(Debug, Clone)]
pub(super) struct PreviousAttempt {
    pub branch: String,
    pub agent: String,
    pub session: Option<String>,
    /// None when the attempt was interrupted rather than failed.
    pub failure: Option<PreviousFailure>,
    /// Its work passed `verify` (then its merge failed, or was cut short):
    /// a new attempt starts from the integration branch, not from it.
    pub verified: bool,
}

/// A merged task's change.
#[derive(Debug, Clone)]
pub(super) struct MergedChange {
    /// What its last attempt changed: the commit it started from and its
    /// branch's tip (or, when those are not known, the merge commit's first
    /// parent and the merge commit).
    pub base: String,
    pub head: String,
    /// What dependents are told it changed ([`Repo::summarize_range`] of
    /// `base..head`), once the first dependent has asked.
    pub summary: Option<String>,
}

impl RunContext {
    /// The graph node of the task at `index` in the plan.
    pub(super) fn node(&self, index: usize) -> TaskIndex {
        self.nodes[index]
    }

    pub(super) fn profile_for(&self, task: &Task) -> Result<Arc<AgentProfile>, EngineError> {
        let roles = &self.config.roles;
        Ok(self.profiles.for_role(roles, &task.role, task.agent.as_deref(), &self.default_agent)?)
    }

    pub(super) fn task_worktree(&self, task: &Task) -> PathBuf {
        task_worktree_path(&self.layout.worktrees_dir(), self.run.as_str(), task.id.as_str())
    }

    pub(super) fn resolver_worktree(&self, task: &Task) -> PathBuf {
        resolver_worktree_path(&self.layout.worktrees_dir(), self.run.as_str(), task.id.as_str())
    }

    /// `.orca/runs/<run>/tasks/<task>/`
    fn task_dir(&self, task: &Task) -> PathBuf {
        self.layout
            .run_dir(self.run.as_str())
            .join("tasks")
            .join(orca_git::ref_component(task.id.as_str()))
    }

    /// `.orca/runs/<run>/tasks/<task>/a<n>/`
    pub(super) fn attempt_dir(&self, task: &Task, attempt: i64) -> PathBuf {
        self.task_dir(task).join(format!("a{attempt}"))
    }

    /// `.orca/runs/<run>/tasks/<task>/isolated/`: the HOME and TMPDIR of an
    /// isolated agent, one per task rather than per attempt: the CLIs keep
    /// their sessions in HOME, and a retry resumes the previous attempt's.
    pub(super) fn isolation_dir(&self, task: &Task) -> PathBuf {
        self.task_dir(task).join("isolated")
    }

    pub(super) fn verify_timeout(&self, task: &Task) -> Duration {
        task.timeout_secs.map_or(DEFAULT_VERIFY_TIMEOUT, Duration::from_secs)
    }

    /// Deletes every attempt branch of the run (one git transaction); the
    /// integration branch, the run's result, stays.
    pub(super) async fn prune_attempt_branches(&self) {
        let prefixes: Vec<String> = self
            .plan
            .tasks
            .iter()
            .map(|task| {
                let first = attempt_branch(self.run.as_str(), task.id.as_str(), 1);
                first.trim_end_matches("a1").to_owned()
            })
            .collect();
        let run_prefix = run_branch_prefix(self.run.as_str());
        let pruned = on_git(&self.repo, move |repo| {
            repo.delete_branches_where(&run_prefix, |name| {
                prefixes.iter().any(|prefix| name.starts_with(prefix.as_str()))
            })
        })
        .await;
        if let Err(error) = pruned {
            tracing::warn!(error = %error_chain(&error), "cannot prune the run's attempt branches");
        }
    }
}
