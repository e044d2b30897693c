//! An attempt that ended: its branch pushed to the remote, then the
//! task submitted `verified`, failed or handed back through its lease.

use std::time::{Duration, Instant};

use orca_agents::LimitKind;
use orca_git::PushError;
use orca_store::{AttemptInfo, Lease, LeaseError, RetryPolicy};

use super::{Running, Worker, WorkerEvent};
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::stages::implement::attempt::{AttemptEnd, AttemptReport};
use crate::stages::implement::remote_push::NotPushed;

/// Why a verified attempt's work is not on the remote.
#[derive(Debug, thiserror::Error)]
enum Unpushed {
    #[error("the attempt left no commit")]
    NoCommit,
    #[error(transparent)]
    Push(#[from] NotPushed),
}

impl Worker {
    pub(super) async fn attempt_done(&mut self, running: Running, report: AttemptReport) {
        let lease = running.lease.clone();
        if running.lost {
            // Nothing of a lost attempt leaves this machine.
            self.report.lost += 1;
            return;
        }
        // Everything the attempt committed goes to the remote, verified or
        // not: the next attempt, on whatever machine, continues from it.
        let pushed = match &report.head {
            Some(head) => self.push(&running, head).await.map_err(Unpushed::from),
            None => Err(Unpushed::NoCommit),
        };
        let end = match &report.end {
            AttemptEnd::Verified if pushed.is_err() => "unpushed",
            end => end.name(),
        };
        let info = report.record(&running.branch, end, Some(&self.me.host));
        match report.end {
            AttemptEnd::Verified => {
                let commit = match (pushed, report.head.clone()) {
                    (Ok(()), Some(commit)) => Ok(commit),
                    (Err(unpushed), _) => Err(unpushed),
                    (Ok(()), None) => Err(Unpushed::NoCommit),
                };
                // The slot this attempt held is free: the submit claims its
                // next task of the same run in the same step.
                let more = if self.stopping
                    || self.paused_until.is_some_and(|until| until > Instant::now())
                {
                    0
                } else {
                    self.request
                        .agents
                        .saturating_sub(self.running.len() + self.claimed_with_submit.len())
                };
                let ttl = self.ws.config.lease.ttl;
                match commit {
                    Ok(commit) => match self.store.submit_and_claim(&lease, &info, more, ttl).await
                    {
                        Ok(claimed) => {
                            self.claimed_with_submit.extend(claimed);
                            self.report.submitted += 1;
                            let _ = self.events.send(WorkerEvent::Submitted {
                                run: lease.run.to_string(),
                                task: lease.task.clone(),
                                attempt: lease.attempt,
                                commit,
                            });
                        }
                        Err(error) => self.lease_error(&lease, error),
                    },
                    Err(unpushed) => {
                        self.record(&lease, &info).await;
                        let reason = format!(
                            "verified, but its branch is not on the remote: {}",
                            error_chain(&unpushed)
                        );
                        self.fail(&lease, &reason).await;
                    }
                }
            }
            AttemptEnd::Failed { reason, .. } => {
                self.record(&lease, &info).await;
                self.fail(&lease, &reason).await;
            }
            AttemptEnd::Limited { kind, resets_at, message } => {
                self.record(&lease, &info).await;
                let what = match kind {
                    LimitKind::Usage => "usage limit",
                    LimitKind::Rate => "rate limit",
                };
                self.release(&lease, &format!("{what}: {}", shorten(&message, 200))).await;
                let now = crate::events::now_ms() / 1000;
                let wait = Duration::from_secs(resets_at.map_or(300, |at| at.saturating_sub(now)))
                    + self.ws.config.limits.usage_limit_margin;
                self.paused_until = Some(Instant::now() + wait);
                let _ = self.events.send(WorkerEvent::Paused {
                    reason: format!("{what}: {}", shorten(&message, 200)),
                    seconds: wait.as_secs(),
                });
            }
            AttemptEnd::Interrupted => {
                self.record(&lease, &info).await;
                let reason = match &running.stopped_by {
                    Some(why) => format!("{why}; its work is on its branch"),
                    None => "the worker stopped; its work is on its branch".to_owned(),
                };
                self.release(&lease, &reason).await;
            }
            // Another try would spend more of what is already spent.
            AttemptEnd::OverBudget { spent } => {
                self.record(&lease, &info).await;
                let task = &self.runs[&lease.run].ctx.plan.tasks;
                let budget = task
                    .iter()
                    .find(|t| t.id.as_str() == lease.task)
                    .and_then(|t| t.budget)
                    .map(|budget| budget.to_string())
                    .unwrap_or_default();
                let message = format!(
                    "over its budget ({spent}; budget: {budget}); its work is kept on {}; \
                     `orca resume --retry-failed` gives it fresh attempts and a fresh budget",
                    running.branch
                );
                match self.store.fail_for_good(&lease, &message).await {
                    Ok(_) => self.attempt_failed(&lease, &message),
                    Err(error) => self.lease_error(&lease, error),
                }
            }
        }
    }

    /// Pushes the attempt's branch.
    pub(super) async fn push(&self, running: &Running, head: &str) -> Result<(), NotPushed> {
        let ctx = self.runs[&running.run].ctx.clone();
        let (remote, branch) = (self.request.remote.clone(), running.branch.clone());
        let pushed = on_git(&ctx.repo, move |repo| {
            repo.push_branch(&remote, &branch)?;
            // The remote keeps it now: this clone does not collect one
            // branch per attempt it ever ran.
            let prefix = orca_git::run_branch_prefix(run_of_branch(&branch));
            if let Err(error) = repo.delete_branches_where(&prefix, |name| name == branch) {
                tracing::warn!(%error, %branch, "cannot delete the pushed attempt branch here");
            }
            Ok::<_, PushError>(())
        })
        .await;
        let lease = &running.lease;
        match pushed {
            Ok(()) => {
                let _ = self.events.send(WorkerEvent::Pushed {
                    run: lease.run.to_string(),
                    task: lease.task.clone(),
                    attempt: lease.attempt,
                    branch: running.branch.clone(),
                    commit: head.to_owned(),
                });
                Ok(())
            }
            Err(error) => {
                let error = NotPushed::from(error);
                let _ = self.events.send(WorkerEvent::PushRejected {
                    run: lease.run.to_string(),
                    task: lease.task.clone(),
                    attempt: lease.attempt,
                    reason: shorten(&error_chain(&error), 300),
                });
                Err(error)
            }
        }
    }

    pub(super) async fn record(&mut self, lease: &Lease, info: &AttemptInfo) {
        if let Err(error) = self.store.record_attempt(lease, info).await {
            tracing::warn!(task = %lease.task, %error, "cannot record the attempt");
        }
    }

    pub(super) async fn fail(&mut self, lease: &Lease, reason: &str) {
        let policy = RetryPolicy {
            base: self.ws.config.limits.retry_backoff_base,
            max: self.ws.config.limits.retry_backoff_max,
            ..RetryPolicy::default()
        };
        match self.store.fail(lease, reason, &policy).await {
            Ok(_) => self.attempt_failed(lease, reason),
            Err(error) => self.lease_error(lease, error),
        }
    }

    pub(super) async fn release(&mut self, lease: &Lease, reason: &str) {
        match self.store.release(lease, reason).await {
            Ok(()) => {
                self.report.released += 1;
                let _ = self.events.send(WorkerEvent::Released {
                    run: lease.run.to_string(),
                    task: lease.task.clone(),
                    attempt: lease.attempt,
                    reason: shorten(reason, 300),
                });
            }
            Err(error) => self.lease_error(lease, error),
        }
    }

    /// The store took the attempt's failure: counted and told.
    fn attempt_failed(&mut self, lease: &Lease, reason: &str) {
        self.report.failed += 1;
        let _ = self.events.send(WorkerEvent::AttemptFailed {
            run: lease.run.to_string(),
            task: lease.task.clone(),
            attempt: lease.attempt,
            reason: shorten(reason, 300),
        });
    }

    pub(super) fn lease_error(&mut self, lease: &Lease, error: LeaseError) {
        let detail = match &error {
            LeaseError::Lost(lost) => {
                self.report.lost += 1;
                lost.to_string()
            }
            LeaseError::Store(error) => format!("the store failed: {}", error_chain(error)),
        };
        let _ = self.events.send(WorkerEvent::LeaseLost {
            run: lease.run.to_string(),
            task: lease.task.clone(),
            attempt: lease.attempt,
            detail: shorten(&detail, 400),
        });
    }
}

/// The run component of an attempt branch `orca/<run>/<task>/a<n>`.
fn run_of_branch(branch: &str) -> &str {
    branch.split('/').nth(1).unwrap_or_default()
}
