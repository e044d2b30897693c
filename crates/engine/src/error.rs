//! Why a run could not start, go on, or be resumed. Library errors keep
//! their type (`#[from]`); the CLI maps each to its message, hints and
//! exit code in one place.

use std::path::PathBuf;

use orca_config::LayoutError;
use orca_git::{GitError, RefError, WorktreeError};
use orca_store::{LeaseLost, LockError, RunId, RunState, Stage, StoreError};
use orca_workspace::IdentityError;

use crate::profiles::ProfileError;

/// An agent a run needs but cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableAgent {
    /// The agent's name under `[agents]`.
    pub agent: String,
    /// The program it runs.
    pub program: String,
    /// Why it cannot be used: not found, not runnable, ...
    pub problem: String,
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("git failed")]
    Git(#[from] GitError),
    #[error(transparent)]
    Discover(#[from] orca_git::DiscoverError),
    #[error("a run needs a git repository: run orca inside one")]
    NoRepository,
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    #[error("cannot tell which repository this is")]
    Identity(#[from] IdentityError),
    #[error("the repository has no commit yet; commit something first, the run starts from HEAD")]
    NoCommit,
    #[error("no run to resume: this repository has no unfinished run")]
    NothingToResume,
    #[error("run {run} is {state}; there is nothing to resume")]
    AlreadyFinished { run: RunId, state: RunState, failed_at: Option<Stage> },
    #[error("run {run} belongs to another repository ({checkout})")]
    OtherRepository { run: RunId, checkout: String },
    #[error(
        "run {run} was not started by `orca run` (mode `{mode}`); agent sessions work it with `orca task`"
    )]
    NotOrcaRun { run: RunId, mode: String },
    #[error("the plan stored with run {run} cannot be read back")]
    StoredPlan {
        run: RunId,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", unusable_message(.0))]
    AgentsUnusable(Vec<UnusableAgent>),
    #[error("lost the lease on task {task} while recovering the run")]
    LeaseLostInRecovery {
        task: String,
        #[source]
        source: Box<LeaseLost>,
    },
    #[error("the run cannot make progress ({0}); this is a bug in orca")]
    Stuck(String),
    /// A worker or coordinator of another orca: they must not work together.
    #[error("refusing to work with an incompatible orca: {0}")]
    Incompatible(String),
    #[error("a run from a goal needs its plan stage, and {how} leaves it out")]
    GoalWithoutPlan { how: String },
    #[error("cannot move {branch} forward")]
    Advance {
        branch: String,
        #[source]
        source: orca_git::FastForwardError,
    },
}

fn unusable_message(agents: &[UnusableAgent]) -> String {
    let each: Vec<String> = agents
        .iter()
        .map(|a| format!("agent `{}` runs `{}`: {}", a.agent, a.program, a.problem))
        .collect();
    format!("the run needs agents that cannot start: {}", each.join("; "))
}

impl EngineError {
    /// An I/O error writing `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { path, source }
    }
}
