//! orca's agent layer: one adapter per agent CLI (argv, environment, output
//! parsing into [`AgentEvent`]s) and the supervision of agent processes
//! ([`run_agent`]).
//!
//! docs/agents.md describes the adapters, the error kinds, supervision and
//! the files each run leaves.

mod adapter;
pub mod adapters;
mod environment;
mod event;
mod program;
mod request;
mod run_files;
mod summary;
mod supervise;
mod verdict;
mod version;

pub use adapter::{Adapter, BuildError, EventParser, ExitInfo, FileToWrite, Invocation};
pub use environment::HostEnv;
pub use event::{AgentEvent, ErrorKind, Finish, Limit, LimitKind, StopReason, Usage};
pub use program::locate;
pub use request::{AgentRequest, Endpoint};
pub use run_files::RunFiles;
pub use supervise::{
    AgentOutcome, AgentRun, CancelLevel, CancelToken, DurationError, ProcessGroup, RunError,
    StopSignal, SupervisionPolicy, format_duration, group_members, parse_duration, run_agent,
};
pub use version::{ProgramProbe, TestedVersions, VersionStatus, parse_version, probe};
