//! What a caller holds: the running agent (a stream of events) and, at
//! the end, its outcome.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::RunError;
use crate::adapter::ExitInfo;
use crate::event::{AgentEvent, Finish, Limit, StopReason, Usage};

/// The result of one agent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentOutcome {
    pub adapter: String,
    /// Serialized flat: `"status": "failed", "kind": ..., "message": ...`.
    #[serde(flatten)]
    pub status: Finish,
    /// The agent's session id (resume it with `AgentRequest::resume_session`).
    pub session_id: Option<String>,
    /// Total tokens.
    pub usage: Usage,
    /// Total cost in USD, when the CLI reports it.
    pub cost_usd: Option<f64>,
    /// The last rate or usage limit reported.
    pub limit: Option<Limit>,
    pub exit: ExitInfo,
    /// Set when orca stopped the agent.
    pub stopped: Option<StopReason>,
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
    /// The agent's pid, which is also its process group id.
    pub pid: u32,
    /// Processes of the group still alive after the agent exited; orca
    /// killed them.
    pub leftovers_killed: usize,
    /// Processes that survived even SIGKILL (should be empty).
    pub survivors: Vec<u32>,
    pub log_dir: PathBuf,
    /// A log file could not be written.
    pub log_error: Option<String>,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// A running agent: a stream of its events, then its outcome. Dropping it
/// kills the agent's whole process group.
#[derive(Debug)]
pub struct AgentRun {
    pub(super) pid: u32,
    pub(super) events: mpsc::UnboundedReceiver<AgentEvent>,
    pub(super) task: Option<JoinHandle<Result<AgentOutcome, RunError>>>,
}

impl AgentRun {
    /// The agent's pid (and process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next event; `None` after `Finished`.
    pub async fn next_event(&mut self) -> Option<AgentEvent> {
        self.events.recv().await
    }

    /// Waits for the end. Events not read yet are dropped (they are in
    /// `events.jsonl`).
    pub async fn outcome(mut self) -> Result<AgentOutcome, RunError> {
        self.events.close();
        let task = self.task.take().expect("the supervisor task is taken only here");
        task.await.map_err(RunError::Supervisor)?
    }
}

impl futures_core::Stream for AgentRun {
    type Item = AgentEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AgentEvent>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        // Aborting drops the supervisor, whose process-group guard kills
        // every process of the agent.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
