//! Requests to the `orca run` (or `orca resume`) driving a run, from
//! another process such as `orca dashboard`: pause dispatch, resume it,
//! cancel a running attempt. A request is an event in the run's log
//! (`control.pause`, `control.resume`, `control.cancel`), so it reaches
//! the driver wherever it runs and stays on record; the implement stage's
//! dispatcher reads new control events every second and records what it
//! did (`dispatch.paused`, `dispatch.resumed`, `attempt.cancelled`); an
//! `orca worker` running the attempt a cancel names acts on it at its next
//! heartbeat, and records `attempt.cancelled` itself.
//! A pause outlives the driver: a run resumed later starts paused until
//! someone resumes dispatch.

use orca_store::{Event, RunId, Store, StoreError, TaskState};

/// A request to the driver of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Start no new attempt until [`Control::Resume`]; running ones go on.
    Pause,
    Resume,
    /// Stop this attempt (its work is committed on its branch); the task
    /// is released and runs again with a fresh attempt once dispatch may.
    Cancel {
        task: String,
        attempt: i64,
    },
}

/// Why a request was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{task} has no running attempt {attempt}")]
    NotRunning { task: String, attempt: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Control {
    /// Its event kind in the run's log.
    pub fn kind(&self) -> &'static str {
        match self {
            Control::Pause => "control.pause",
            Control::Resume => "control.resume",
            Control::Cancel { .. } => CANCEL,
        }
    }

    /// The request an event of the log holds, if it holds one.
    pub fn from_event(event: &Event) -> Option<Control> {
        match event.kind.as_str() {
            "control.pause" => Some(Control::Pause),
            "control.resume" => Some(Control::Resume),
            CANCEL => Some(Control::Cancel { task: event.task.clone()?, attempt: event.attempt? }),
            _ => None,
        }
    }
}

/// Records `control` for the run's driver; `by` says who asked (shown to
/// watchers). A cancel must name the attempt running now.
pub async fn request(
    store: &Store,
    run: &RunId,
    control: &Control,
    by: &str,
) -> Result<i64, ControlError> {
    let payload = serde_json::json!({ "by": by }).to_string();
    match control {
        Control::Cancel { task, attempt } => {
            let status = store.run_status(run).await?;
            let running = status
                .tasks
                .iter()
                .any(|t| t.key == *task && t.state == TaskState::Leased && t.attempt == *attempt);
            if !running {
                return Err(ControlError::NotRunning { task: task.clone(), attempt: *attempt });
            }
            Ok(store
                .append_event(run, Some(task), Some(*attempt), control.kind(), &payload)
                .await?)
        }
        Control::Pause | Control::Resume => {
            Ok(store.append_event(run, None, None, control.kind(), &payload).await?)
        }
    }
}

/// The kind of a [`Control::Cancel`] request's event. An `orca worker`
/// running the attempt acts on it too, at its next heartbeat.
pub(crate) const CANCEL: &str = "control.cancel";

/// The kind of the event by which a run's driver asks every `orca worker`
/// to stop the run's attempts it runs (their work committed and pushed,
/// their tasks handed back without spending a try): the run's budget is
/// spent and `[run] on_budget = "stop"`. Its payload says why
/// (`{"reason": ...}`); only attempts that started before it stop.
pub(crate) const STOP_ATTEMPTS: &str = "control.stop_attempts";

/// Whether the run's log leaves dispatch paused, and the last event read.
pub async fn paused_now(store: &Store, run: &RunId) -> Result<(bool, i64), StoreError> {
    let (mut paused, mut seq) = (false, 0);
    loop {
        let events = store.events(run, seq, 1000).await?;
        let Some(last) = events.last() else { break };
        seq = last.seq;
        for event in &events {
            match Control::from_event(event) {
                Some(Control::Pause) => paused = true,
                Some(Control::Resume) => paused = false,
                _ => {}
            }
        }
    }
    Ok((paused, seq))
}
