//! Starting an attempt on a claimed task: its record, the integration
//! branch (and the previous attempt's work) from the remote, the prompt's
//! dependencies, then [`run_attempt`] on a task of its own.

use std::sync::Arc;
use std::time::Instant;

use orca_git::attempt_branch;
use orca_store::{AttemptInfo, AttemptRecord, Lease};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Running, Worker, WorkerEvent};
use crate::error::EngineError;
use crate::excerpt::error_chain;
use crate::git_thread::on_git;
use crate::prompt::DependencyChange;
use crate::stages::implement::attempt::{AttemptJob, NewAttempt, run_attempt};
use crate::stages::implement::context::RunContext;
use crate::stages::implement::messages::Msg;
use crate::stages::implement::recovery;

impl Worker {
    pub(super) async fn launch(
        &mut self,
        lease: Lease,
        tx: &mpsc::UnboundedSender<(usize, Msg)>,
    ) -> Result<(), EngineError> {
        let mut ctx = self.runs[&lease.run].ctx.clone();
        if !ctx.plan.tasks.iter().any(|t| t.id.as_str() == lease.task) {
            // A task added since this worker read the plan (a gate's fix
            // task): read the run's plan again.
            self.runs.remove(&lease.run);
            if !self.accept_run(&lease.run).await? {
                self.release(&lease, "this worker does not work on the run").await;
                return Ok(());
            }
            ctx = self.runs[&lease.run].ctx.clone();
        }
        let Some(index) = ctx.plan.tasks.iter().position(|t| t.id.as_str() == lease.task) else {
            let reason = format!("task {} is not in the run's plan", lease.task);
            self.release(&lease, &reason).await;
            self.refused.insert(lease.run.clone());
            let _ =
                self.events.send(WorkerEvent::RunRefused { run: lease.run.to_string(), reason });
            return Ok(());
        };
        let task = ctx.plan.tasks[index].clone();
        let profile = match ctx.profile_for(&task) {
            Ok(profile) => profile,
            Err(error) => {
                // Not the task's fault: another machine may have the agent.
                let reason = format!("this machine has no agent for it: {}", error_chain(&error));
                self.release(&lease, &reason).await;
                self.refused.insert(lease.run.clone());
                let _ = self
                    .events
                    .send(WorkerEvent::RunRefused { run: lease.run.to_string(), reason });
                return Ok(());
            }
        };
        let attempt = u32::try_from(lease.attempt).unwrap_or(u32::MAX);
        let branch = attempt_branch(lease.run.as_str(), task.id.as_str(), attempt);
        let info = AttemptInfo {
            branch: Some(branch.clone()),
            agent: Some(profile.name.clone()),
            ..AttemptInfo::default()
        };
        if let Err(error) = self.store.record_attempt(&lease, &info).await {
            self.lease_error(&lease, error);
            return Ok(());
        }
        // Read as soon as the attempt is on record: a stop request for the
        // run written from now on reaches it (one written in the instant
        // since the claim lets it finish, as `on_budget = "finish"` would).
        let events_before = self.store.last_event_seq(&lease.run).await?;
        // The integration branch as the coordinator last pushed it: it
        // holds every dependency (a task is ready only once they merged).
        let remote = self.request.remote.clone();
        let integration = ctx.integration.clone();
        let fetched = on_git(&ctx.repo, {
            let (remote, integration) = (remote.clone(), integration.clone());
            move |repo| -> Result<bool, orca_git::RefError> {
                match repo.fetch_branch(&remote, &integration)? {
                    Some(tip) => {
                        repo.set_branch(&integration, &tip)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
        })
        .await;
        match fetched {
            Ok(true) => {}
            Ok(false) => {
                self.release(&lease, "the remote has no integration branch for the run yet").await;
                return Ok(());
            }
            Err(error) => {
                let reason = format!("cannot fetch {integration}: {}", error_chain(&error));
                self.release(&lease, &reason).await;
                return Ok(());
            }
        }
        let attempts: Vec<AttemptRecord> = self
            .store
            .attempts(&lease.run, &lease.task)
            .await?
            .into_iter()
            .filter(|record| record.attempt < lease.attempt)
            .collect();
        let memory = recovery::remembered(&attempts);
        let previous = memory.previous.clone();
        let ran_here = attempts.last().is_some_and(|last| last.worker == self.request.name);
        let resume = previous
            .as_ref()
            .filter(|p| p.agent == profile.name && ran_here)
            .and_then(|p| p.session.clone());
        let mut start_from = integration.clone();
        if let Some(previous) = previous.as_ref().filter(|p| !p.verified) {
            // Continue the previous attempt's work, wherever it ran.
            let branch = previous.branch.clone();
            let remote = remote.clone();
            let continued = on_git(&ctx.repo, move |repo| -> Result<bool, orca_git::RefError> {
                match repo.fetch_branch(&remote, &branch)? {
                    Some(tip) => {
                        repo.set_branch(&branch, &tip)?;
                        Ok(true)
                    }
                    None => Ok(repo.branch_exists(&branch)?),
                }
            })
            .await;
            if continued.unwrap_or(false) {
                start_from = previous.branch.clone();
            }
        }
        let dependencies = self.dependency_changes(&ctx, index).await?;
        let job = AttemptJob::new(
            &ctx,
            NewAttempt {
                index,
                attempt: lease.attempt,
                branch: branch.clone(),
                start_from,
                profile: profile.clone(),
                failure: previous.as_ref().and_then(|p| p.failure.as_ref()),
                resume,
                dependencies,
                spent_before: memory.spent,
            },
        );
        let cancel = job.cancel.clone();
        let _ = self.events.send(WorkerEvent::Claimed {
            run: lease.run.to_string(),
            task: lease.task.clone(),
            attempt: lease.attempt,
            agent: profile.name.clone(),
        });
        let slot = self.next_slot;
        self.next_slot += 1;
        let (attempt_tx, mut attempt_rx) = mpsc::unbounded_channel();
        let forward = tx.clone();
        tokio::spawn(async move {
            while let Some(msg) = attempt_rx.recv().await {
                if forward.send((slot, msg)).is_err() {
                    break;
                }
            }
        });
        let span = tracing::info_span!("attempt", run = %lease.run, task = %task.id, attempt = lease.attempt);
        tokio::spawn(
            run_attempt(ctx.repo.clone(), ctx.host.clone(), job, attempt_tx).instrument(span),
        );
        self.running.insert(
            slot,
            Running {
                run: lease.run.clone(),
                lease,
                branch,
                cancel,
                last_heartbeat: Instant::now(),
                lost: false,
                spend_written: None,
                spend_pending: None,
                events_before,
                stopped_by: None,
            },
        );
        self.alive().await;
        Ok(())
    }

    /// What each dependency changed, from the attempts the store recorded
    /// and the objects the integration branch brought.
    pub(super) async fn dependency_changes(
        &self,
        ctx: &Arc<RunContext>,
        index: usize,
    ) -> Result<Vec<DependencyChange>, EngineError> {
        let mut changes = Vec::new();
        for dep in ctx.graph.deps(ctx.node(index)) {
            let task = &ctx.plan.tasks[dep.index()];
            let attempts = self.store.attempts(&ctx.run, task.id.as_str()).await?;
            let Some(merged) = recovery::remembered(&attempts).merged else { continue };
            let summary = on_git(&ctx.repo, move |repo| {
                repo.summarize_range(&merged.base, &merged.head).map(|s| s.render(1_500))
            })
            .await
            .unwrap_or_else(|error| format!("(no summary: {})", error_chain(&error)));
            changes.push(DependencyChange {
                id: task.id.to_string(),
                title: task.title.clone(),
                summary,
            });
        }
        Ok(changes)
    }
}
