//! What can go wrong in the queue, per kind of operation.

use orca_store::{RunId, StoreError};

use crate::refusal::Refusal;

/// Why a queue operation on a loaded run failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The store has no run to work on.
    #[error("this repository has no runs yet")]
    NoRun,
    /// `--run` named a run of another repository.
    #[error("run {run} belongs to another repository ({checkout})")]
    OtherRepository { run: RunId, checkout: String },
    /// The session does not hold the task it tried to act on.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A specific task was asked for but cannot be claimed now.
    #[error("{task} cannot be claimed now: {why}")]
    NotReady { task: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a plan could not be loaded into the queue.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plan has errors; `orca_plan::check` lists them.
    #[error("the plan is not valid")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}
