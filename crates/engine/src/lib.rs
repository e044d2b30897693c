//! orca's engine: the pipeline driver that moves a run through the nine
//! stages ([`pipeline`]), a module per stage ([`stages`]), the scheduler
//! that keeps agents busy ([`schedule`]) and what they share: agent
//! profiles, prompts, `verify`.

mod agent_start;
pub mod budget;
pub mod checks;
pub mod control;
pub mod error;
pub mod events;
mod excerpt;
mod fix_tasks;
mod git_thread;
pub mod pipeline;
mod process;
pub mod profiles;
pub mod prompt;
pub mod schedule;
pub mod simulate;
mod stage_agent;
pub mod stages;
pub mod verify;

pub use error::{EngineError, UnusableAgent};
pub use events::{RunEvent, TimedEvent, Totals};
pub use pipeline::{
    OpenWorkspace, PlanInput, PlanSummary, ResumeRequest, RunChannels, RunInput, RunOptions,
    RunOutcome, RunReport, RunRequest, resume, start,
};
