//! orca's durable state: runs, pipeline stages, tasks with dependencies,
//! leases, attempts, an append-only event log and workers, on SQLite (the
//! embedded default, `.orca/orca.db`) or PostgreSQL (a shared store for many
//! machines), chosen by URL. One logical schema; migrations are embedded.
//!
//! The queue follows the lease/fencing pattern: [`Store::claim`] leases
//! ready tasks for a TTL and bumps each task's attempt number; every later
//! write through the [`Lease`] (heartbeat, complete, fail, release, block,
//! record_attempt) is accepted only while the task is still leased under
//! that attempt, so a worker that lost its lease changes nothing and gets
//! [`LeaseLost`]. Every state change is one transaction. On PostgreSQL a
//! [`Wakeup`] tells workers and coordinators when work appears, so they
//! need not poll for it.
//!
//! Times are milliseconds since the Unix epoch: the database clock on
//! PostgreSQL, this machine's clock on SQLite.
//!
//! [`session_lock`] holds the per-repository session lock (`.orca/lock`).

mod db;
mod error;
mod events;
#[macro_use]
mod lease_sql;
mod leases;
mod location;
mod lookup;
mod model;
#[cfg(test)]
mod query_plan;
mod reopen;
pub use reopen::Reopen;
mod runs;
mod schema;
pub mod session_lock;
mod status;
mod store;
mod wake;
mod workers;

pub use error::{LeaseError, LeaseLost, OpenError, StorageProblem, StoreError, TaskNow};
pub use location::{Location, LocationError, redact_url};
pub use lookup::{DepState, ReadyTask, Remaining, TaskCounts};
pub use model::{
    AttemptInfo, AttemptRecord, Event, FailOutcome, Lease, LeaseView, NewRun, NewTask, RepoRef,
    Rescued, RetryPolicy, Run, RunId, RunScope, RunState, RunStatus, RunSummary, Stage,
    StageChange, StageState, StageStatus, TaskState, TaskStatus, VerifiedAttempt, Worker,
    WorkerInfo, utc_timestamp,
};
pub use schema::SCHEMA_VERSION;

/// What workers and coordinators on different machines expect of each
/// other (docs/scale-out.md): the `verified` state, branch names, what a
/// submit records. Bumped whenever that changes; peers that differ refuse
/// to work together.
pub const PROTOCOL_VERSION: i64 = 1;
pub use session_lock::{LockError, LockHolder, SessionLock};
pub use store::{Store, StoreOptions, set_reconnect_patience};
pub use wake::{Wake, Wakeup};
