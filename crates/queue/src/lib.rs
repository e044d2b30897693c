//! orca's task queue as agent sessions work it: `orca task ...` and the
//! `orca mcp` server (in the CLI) both call this crate.
//!
//! A validated plan is loaded as a run ([`Queue::load`]); a session, named
//! by a [`SessionName`], claims the next ready task ([`Queue::claim_next`]),
//! renews its lease while it works ([`Queue::heartbeat`]) and finishes it
//! ([`Queue::done`], [`Queue::fail`], [`Queue::block`]). Everything goes
//! through the store's leases and fencing, the same ones `orca run`'s
//! workers use, so sessions and workers can share one queue. A session
//! that acts on a task it does not hold changes nothing and gets a
//! [`Refusal`] saying who holds it or that its own lease expired.
//!
//! The task specs are the plan's tasks (`orca_plan::Task` as JSON), the
//! same format `orca run` stores.

mod error;
mod load;
mod name;
mod overlap;
mod queue;
mod refusal;
mod settings;
mod view;

pub use error::{LoadError, QueueError};
pub use load::{Loaded, SESSION_MODE, session_run};
pub use name::{NameError, SessionName};
pub use queue::Queue;
pub use refusal::{Refusal, RefusalKind};
pub use settings::QueueSettings;
pub use view::{
    Blocked, Done, Failed, HeldBack, Holder, Idle, LeaseInfo, NextTask, QueueStatus, Renewed,
    RunEnd, TaskView,
};
