//! What can go wrong, per kind of operation: opening a store, a plain store
//! operation, and an operation fenced by a lease.

use std::fmt;
use std::path::PathBuf;

use crate::location::LocationError;
use crate::model::{RunId, TaskState};

/// Why [`crate::Store::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Layout(#[from] orca_config::LayoutError),
    #[error("no orca store at {path}")]
    Missing { path: PathBuf },
    #[error("cannot open the SQLite store {path}: {problem}")]
    Sqlite {
        path: PathBuf,
        problem: StorageProblem,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "{path} is not a valid orca store (the file is corrupt or not a SQLite database); it was left untouched"
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to PostgreSQL at {server}: {reason}")]
    Connect {
        server: String,
        reason: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the {store} has schema version {found}, newer than this orca supports (up to {supported}); upgrade orca"
    )]
    NewerSchema { store: String, found: i64, supported: i64 },
    #[error(
        "the {store} holds tables that are not orca's; refusing to use it (nothing was changed)"
    )]
    NotAnOrcaStore { store: String },
    #[error("cannot prepare the {store}")]
    Migrate {
        store: String,
        #[source]
        source: Box<StoreError>,
    },
}

/// A storage-level reason a database refused a write, in words a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageProblem {
    /// No space left (or a file size limit reached).
    Full,
    /// The file or its directory cannot be written.
    ReadOnly,
    /// The file or its directory cannot be opened at all.
    CannotOpen,
    /// The operating system reported an I/O error.
    Io,
    /// The database server cannot be reached (it restarts, the network
    /// dropped); the same operation may work once it is back.
    Unreachable,
    /// Anything else the database reported.
    Other,
}

impl fmt::Display for StorageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageProblem::Full => "the disk is full",
            StorageProblem::ReadOnly => {
                "it is read-only (check the permissions of the file and its directory)"
            }
            StorageProblem::CannotOpen => {
                "the file cannot be opened (check that the directory exists and is writable)"
            }
            StorageProblem::Io => {
                "the disk refused a write (disk full, file size limit, or I/O error)"
            }
            StorageProblem::Unreachable => {
                "the server cannot be reached (it may be restarting, or the network is down)"
            }
            StorageProblem::Other => "the database reported an error",
        })
    }
}

impl StorageProblem {
    /// Classifies a database error by its SQLite result code or PostgreSQL SQLSTATE.
    pub(crate) fn of(error: &sqlx::Error) -> StorageProblem {
        match error {
            sqlx::Error::Io(_) => StorageProblem::Io,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    match code.parse::<i32>().map(|c| c & 0xff) {
                        Ok(13) => StorageProblem::Full,
                        Ok(8) => StorageProblem::ReadOnly,
                        Ok(14) => StorageProblem::CannotOpen,
                        Ok(10) => StorageProblem::Io,
                        _ => StorageProblem::Other,
                    }
                } else {
                    match &*code {
                        "53100" => StorageProblem::Full,
                        "25006" => StorageProblem::ReadOnly,
                        "58030" => StorageProblem::Io,
                        _ => StorageProblem::Other,
                    }
                }
            }
            _ => StorageProblem::Other,
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} in the {store}: {problem}")]
    Database {
        op: &'static str,
        store: String,
        problem: StorageProblem,
        #[source]
        source: sqlx::Error,
    },
    #[error("no run {0} in the store")]
    RunNotFound(RunId),
    #[error("no task `{key}` in run {run}")]
    TaskNotFound { run: RunId, key: String },
    #[error("invalid run: {0}")]
    InvalidRun(String),
    #[error("task `{key}` is {state}, so it cannot be {action}")]
    NotReopenable { key: String, state: TaskState, action: &'static str },
    #[error("task `{key}` depends on `{dep}`, which is {state}; reopen `{dep}` first")]
    HeldBack { key: String, dep: String, state: TaskState },
    #[error("the store holds data this orca cannot read: {0}")]
    BadData(String),
}

/// Why an operation fenced by a lease failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The worker no longer holds the lease; nothing was changed.
    #[error(transparent)]
    Lost(#[from] LeaseLost),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LeaseError {
    /// The lease-lost details when that is why the operation failed.
    pub fn lease_lost(&self) -> Option<&LeaseLost> {
        match self {
            LeaseError::Lost(lost) => Some(lost),
            LeaseError::Store(_) => None,
        }
    }
}

/// A worker tried to act on a lease it no longer holds (it expired and was
/// rescued, the run was cancelled, ...). The store changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "worker `{worker}` lost its lease on task `{task}` (attempt {attempt}) of run {run}: {}",
    describe_now(.now)
)]
pub struct LeaseLost {
    pub run: RunId,
    pub task: String,
    /// The attempt the worker held.
    pub attempt: i64,
    /// The worker that held it.
    pub worker: String,
    /// Where the task is now.
    pub now: TaskNow,
}

/// The state of a task at the moment a stale worker's write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNow {
    pub state: TaskState,
    /// The task's latest attempt number.
    pub attempt: i64,
    /// Who holds the lease now, if anyone.
    pub holder: Option<String>,
}

fn describe_now(now: &TaskNow) -> String {
    match (&now.holder, now.state) {
        (Some(holder), TaskState::Leased) => {
            format!("worker `{holder}` holds it now (attempt {})", now.attempt)
        }
        (_, state) => format!("the task is now {state} (latest attempt {})", now.attempt),
    }
}
