//! Why a session may not act on a task, in words that say what happened:
//! someone else holds it, the session's own lease expired, it was never
//! claimed, or it is finished.

use std::fmt;

use orca_store::{AttemptRecord, RunId, TaskState, TaskStatus};
use serde::Serialize;

/// A session asked to act on a task it does not hold; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct Refusal {
    pub run: RunId,
    pub task: String,
    /// The session that asked.
    pub session: String,
    #[serde(flatten)]
    pub kind: RefusalKind,
}

/// What stands between the session and the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RefusalKind {
    /// Another session or worker holds the lease.
    LeasedToOther {
        holder: String,
        attempt: i64,
        /// The attempt this session held before its lease expired, if any.
        yours_expired: Option<i64>,
    },
    /// This session's lease ran out and was taken back; the task is `now`.
    Expired { attempt: i64, now: TaskState },
    /// This session never held the task (or gave it back); it is `state`.
    NotClaimed { state: TaskState },
    /// The task is finished: `state` is succeeded, failed, blocked or cancelled.
    Finished {
        state: TaskState,
        attempt: i64,
        /// Who made the last attempt.
        by: Option<String>,
        /// The blocked reason or last error.
        detail: Option<String>,
    },
}

impl Refusal {
    /// Explains why `session` does not hold `status`'s task, from the task
    /// as it is now and its attempts.
    pub(crate) fn explain(
        run: &RunId,
        session: &str,
        status: &TaskStatus,
        attempts: &[AttemptRecord],
    ) -> Refusal {
        let mine = attempts.iter().rev().find(|a| a.worker == session);
        let latest = attempts.last();
        let mine_expired = mine.filter(|a| a.outcome == "expired").map(|a| a.attempt);
        let kind = match (status.state, &status.lease) {
            (TaskState::Leased, Some(lease)) => RefusalKind::LeasedToOther {
                holder: lease.worker.clone(),
                attempt: lease.attempt,
                yours_expired: mine_expired,
            },
            (state, _) => match mine_expired {
                // The latest attempt was ours and ran out: that is the news.
                Some(attempt) if latest.is_some_and(|l| l.attempt == attempt) => {
                    RefusalKind::Expired { attempt, now: state }
                }
                _ if state.is_terminal() => RefusalKind::Finished {
                    state,
                    attempt: status.attempt,
                    by: latest.map(|a| a.worker.clone()),
                    detail: status.blocked_reason.clone().or_else(|| status.last_error.clone()),
                },
                Some(attempt) => RefusalKind::Expired { attempt, now: state },
                None => RefusalKind::NotClaimed { state },
            },
        };
        Refusal { run: run.clone(), task: status.key.clone(), session: session.to_owned(), kind }
    }

    /// Whether the session should drop its work on the task: it held the
    /// task once and lost it (as opposed to never having held it).
    pub fn lost_lease(&self) -> bool {
        matches!(
            self.kind,
            RefusalKind::Expired { .. } | RefusalKind::LeasedToOther { yours_expired: Some(_), .. }
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = &self.task;
        match &self.kind {
            RefusalKind::LeasedToOther { holder, attempt, yours_expired } => {
                write!(f, "{task} is leased to `{holder}` (attempt {attempt}), not to you")?;
                if let Some(mine) = yours_expired {
                    write!(f, "; your lease (attempt {mine}) expired")?;
                }
                Ok(())
            }
            RefusalKind::Expired { now: TaskState::Ready | TaskState::Waiting, .. } => {
                write!(f, "your lease on {task} expired and it went back to the queue")
            }
            RefusalKind::Expired { now: TaskState::Failed, attempt } => write!(
                f,
                "your lease on {task} (attempt {attempt}) expired on its last try, so the task failed"
            ),
            RefusalKind::Expired { now, attempt } => {
                write!(f, "your lease on {task} (attempt {attempt}) expired; the task is {now} now")
            }
            RefusalKind::NotClaimed { state: TaskState::Waiting } => {
                write!(f, "{task} is not leased to you: it is still waiting for its dependencies")
            }
            RefusalKind::NotClaimed { state } => {
                write!(f, "{task} is not leased to you: nobody holds it (it is {state})")
            }
            RefusalKind::Finished { state: TaskState::Succeeded, attempt, by, .. } => match by {
                Some(by) => write!(f, "{task} is already done (by `{by}`, attempt {attempt})"),
                None => write!(f, "{task} is already done"),
            },
            RefusalKind::Finished { state, detail, .. } => {
                let state = match state {
                    TaskState::Failed => "has failed for good",
                    TaskState::Blocked => "is blocked",
                    TaskState::Cancelled => "was cancelled with its run",
                    _ => "is finished",
                };
                write!(f, "{task} {state}")?;
                if let Some(detail) = detail {
                    write!(f, ": {}", detail.lines().next().unwrap_or(""))?;
                }
                Ok(())
            }
        }
    }
}
