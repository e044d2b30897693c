//! The coordinator side of scale-out (docs/scale-out.md): with a git
//! remote, `orca worker`s on other machines run attempts and submit them
//! as `verified`; the dispatcher takes each verified task under its own
//! lease (same attempt number), fetches the attempt's branch from the
//! remote, sets it to exactly the commit the worker recorded, and hands it
//! to the merge queue like a local attempt. After each merge the
//! integration branch is pushed before the task completes, so workers
//! always start dependents from a remote branch that holds their deps.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use orca_git::Sha;
use orca_store::{LeaseError, TaskState, VerifiedAttempt, WorkerInfo};

use super::Dispatcher;
use crate::budget::Spend;
use crate::error::EngineError;
use crate::events::RunEvent;
use crate::excerpt::error_chain;
use crate::git_thread::on_git;
use crate::schedule::TaskPhase;
use crate::stages::implement::context::RunContext;
use crate::stages::implement::remote_push::NotPushed;

/// Pushes the run's integration branch to its remote (nothing without
/// one).
pub(in crate::stages::implement) async fn push_integration(
    ctx: &RunContext,
) -> Result<(), NotPushed> {
    let Some(remote) = ctx.remote.clone() else { return Ok(()) };
    let integration = ctx.integration.clone();
    on_git(&ctx.repo, move |repo| repo.push_branch(&remote, &integration))
        .await
        .map_err(NotPushed::from)
}

/// Why a worker's submitted attempt cannot be merged as it stands on the
/// remote: its push is not what its fenced submit recorded.
#[derive(Debug, thiserror::Error)]
enum NotAsSubmitted {
    #[error("the remote has no branch {branch}")]
    NoBranch { branch: String },
    #[error("`{sha}` is not a commit id")]
    NotACommit { sha: String },
    #[error("branch {branch} on the remote does not hold the submitted commit {sha}")]
    CommitMissing { branch: String, sha: String },
}

/// What the coordinator remembers between polls.
#[derive(Debug, Default)]
pub(in crate::stages::implement) struct RemoteState {
    /// Tasks whose lease came from `take_verified`: handing one back
    /// returns it to `verified`, not to `ready`.
    pub taken: HashSet<usize>,
    /// The attempt of each task last seen running on a worker.
    seen: HashMap<usize, i64>,
    last_rescue: Option<Instant>,
    last_status: Option<Instant>,
    /// The attempts this dispatcher started (task, attempt): their
    /// spending is counted live, not from the store.
    pub own: HashSet<(String, i64)>,
    /// What this dispatcher's own finished attempts spent.
    pub own_spent: Spend,
    /// What every other attempt of the run spent (workers', earlier
    /// sessions'), as the store last said.
    pub others_spent: Spend,
    /// Merged into the integration branch, not yet pushed and completed.
    pub unpublished: Vec<Unpublished>,
    /// When the oldest of them goes out at the latest.
    pub publish_by: Option<Instant>,
    /// Telling workers the run's budget is spent, until it is done.
    pub telling_workers: Option<tokio::task::JoinHandle<()>>,
}

/// A task merged into the integration branch whose lease is still the
/// coordinator's: it completes once the branch is on the remote.
#[derive(Debug)]
pub(in crate::stages::implement) struct Unpublished {
    pub index: usize,
    pub lease: orca_store::Lease,
    /// The task's result, as the store keeps it.
    pub result: String,
    pub attempt: i64,
    pub commit: String,
    pub resolved_conflict: bool,
}

/// At most this many merges wait for one push of the integration branch.
pub(in crate::stages::implement) const PUBLISH_BATCH: usize = 32;
/// A merge waits at most this long for others to share its push (a
/// conflict being resolved by an agent can hold the merge queue for
/// minutes).
pub(in crate::stages::implement) const PUBLISH_WAIT: std::time::Duration =
    std::time::Duration::from_secs(1);

/// How often the coordinator reads every task of the run to follow what
/// workers do (a whole-run read: less often than it looks for verified
/// tasks, which is one indexed statement).
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Dispatcher {
    /// Before the first dispatch: refuse workers of another protocol,
    /// register as the run's coordinator, publish the integration branch.
    /// Returns why the run cannot go on, if it cannot.
    pub(super) async fn start_remote(&mut self) -> Result<Option<String>, EngineError> {
        let ctx = self.ctx.clone();
        let Some(remote) = ctx.remote.clone() else { return Ok(None) };
        let me = WorkerInfo::this_process(
            &ctx.worker,
            &crate::process::host_name(),
            "coordinator",
            env!("CARGO_PKG_VERSION"),
            i64::try_from(ctx.agents).unwrap_or(i64::MAX),
        );
        ctx.store.register_process(&me).await?;
        ctx.store.worker_alive(&ctx.worker, &[ctx.run.to_string()], false).await?;
        let now = ctx.store.now_ms().await?;
        let live = i64::try_from((ctx.config.lease.ttl * 3).as_millis()).unwrap_or(i64::MAX);
        for peer in ctx.store.workers().await? {
            if peer.role.as_deref() == Some("worker")
                && now - peer.last_seen_ms < live
                && let Some(why) = peer.incompatibility(&me)
            {
                return Ok(Some(format!("refusing to work with an incompatible worker: {why}")));
            }
        }
        self.read_others_spend().await?;
        if let Err(error) = self.publish_integration().await {
            return Ok(Some(format!(
                "cannot push {} to the remote {}: {}",
                ctx.integration,
                orca_store::redact_url(&remote),
                error_chain(&error)
            )));
        }
        Ok(None)
    }

    /// Pushes the integration branch to the remote (nothing without one).
    pub(super) async fn publish_integration(&self) -> Result<(), NotPushed> {
        push_integration(&self.ctx).await
    }

    /// Pushes the integration branch once for every merge since the last
    /// push, then completes those tasks in one step; their dependents start
    /// only then, here and on workers, from a remote branch that holds them.
    /// If the push fails, the tasks go back to `verified` (their merges are
    /// found on the integration branch when the run resumes) and the run
    /// halts with the reason.
    pub(super) async fn publish_merged(&mut self) -> Result<(), EngineError> {
        self.remote.publish_by = None;
        let batch = std::mem::take(&mut self.remote.unpublished);
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.publish_integration().await {
            let reason = format!(
                "pushing {} to the remote failed: {}",
                self.ctx.integration,
                error_chain(&error)
            );
            for merged in &batch {
                self.release(merged.index, &merged.lease, &reason).await?;
            }
            self.halt(reason);
            return Ok(());
        }
        let done: Vec<_> = batch.iter().map(|m| (m.lease.clone(), m.result.clone())).collect();
        let results = self.ctx.store.complete_all(&done).await?;
        for (merged, result) in batch.into_iter().zip(results) {
            match result {
                Ok(()) => self.completed(merged),
                Err(lost) => self.lease_error(merged.index, lost.into())?,
            }
        }
        Ok(())
    }

    /// Takes the tasks workers verified into the merge queue, follows
    /// what workers do (for the display) and what failed on them.
    pub(super) async fn poll_remote(&mut self) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        if ctx.remote.is_none() || self.stopping {
            return Ok(());
        }
        // Workers rescue expired leases too; with none alive the run must
        // still move once they come back, and its own merges expire here.
        let ttl = ctx.config.lease.ttl;
        if self.remote.last_rescue.is_none_or(|at| at.elapsed() >= ttl / 2) {
            self.remote.last_rescue = Some(Instant::now());
            if let Err(error) = ctx.store.rescue_expired().await {
                tracing::warn!(%error, "cannot rescue expired leases");
            }
        }
        let taken = match ctx.store.take_verified(&ctx.run, &ctx.worker, ttl).await {
            Ok(taken) => taken,
            Err(error) => {
                tracing::warn!(%error, "cannot look for verified tasks; trying again");
                return Ok(());
            }
        };
        for verified in taken {
            self.merge_verified(verified).await?;
        }
        if self.remote.last_status.is_some_and(|at| at.elapsed() < STATUS_EVERY) {
            return Ok(());
        }
        self.remote.last_status = Some(Instant::now());
        if let Err(error) = self.read_others_spend().await {
            tracing::warn!(%error, "cannot read what the run's attempts spent; trying again");
        }
        self.check_run_budget();
        let status = match ctx.store.run_status(&ctx.run).await {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(%error, "cannot read the run's tasks; trying again");
                return Ok(());
            }
        };
        for task in &status.tasks {
            let Some(index) = ctx.plan.tasks.iter().position(|t| t.id.as_str() == task.key) else {
                continue;
            };
            match (task.state, &task.lease) {
                (TaskState::Leased, Some(lease))
                    if lease.worker != ctx.worker
                        && self.remote.seen.get(&index) != Some(&lease.attempt) =>
                {
                    self.remote.seen.insert(index, lease.attempt);
                    self.emit(RunEvent::TaskStarted {
                        task: task.key.clone(),
                        title: ctx.plan.tasks[index].title.clone(),
                        attempt: lease.attempt,
                        agent: format!("worker {}", lease.worker),
                        branch: orca_git::attempt_branch(
                            ctx.run.as_str(),
                            &task.key,
                            u32::try_from(lease.attempt).unwrap_or(u32::MAX),
                        ),
                        resumed_session: false,
                    });
                }
                // Out of tries on a worker: its dependents can never run.
                (TaskState::Failed, _)
                    if matches!(
                        self.schedule.phase(index),
                        TaskPhase::Waiting | TaskPhase::Ready | TaskPhase::Held
                    ) =>
                {
                    self.held.remove(&index);
                    let reason = task.last_error.clone().unwrap_or_else(|| "failed".into());
                    let blocked = self
                        .schedule
                        .failed(index)
                        .into_iter()
                        .map(|i| ctx.plan.tasks[i].id.to_string())
                        .collect();
                    self.failures.push((task.key.clone(), reason.clone()));
                    self.emit(RunEvent::TaskFailed {
                        task: task.key.clone(),
                        reason: crate::excerpt::shorten(&reason, 600),
                        blocked,
                    });
                }
                _ => {}
            }
        }
        self.progress();
        Ok(())
    }

    /// Reads what the run's attempts that this dispatcher did not start
    /// spent (workers record it on each attempt as it grows): what the
    /// run's budget counts besides this dispatcher's own attempts. Nothing
    /// to read for a run without a budget.
    pub(super) async fn read_others_spend(&mut self) -> Result<(), orca_store::StoreError> {
        if self.ctx.run_budget.is_unlimited() {
            return Ok(());
        }
        let mut spent = Spend::default();
        for (task, record) in self.ctx.store.run_attempts(&self.ctx.run).await? {
            if !self.remote.own.contains(&(task, record.attempt)) {
                spent.add(Spend::of_record(&record));
            }
        }
        self.remote.others_spent = spent;
        Ok(())
    }

    /// The run's budget is spent: its implement stage stops running in the
    /// store at once, so workers claim no more of its tasks (what they run
    /// finishes and waits `verified` for the run to go on). With
    /// `stop_attempts` (`on_budget = "stop"`), workers are also asked to
    /// stop the run's attempts they run, as this dispatcher stops its own.
    pub(super) fn tell_workers_budget_spent(
        &mut self,
        note: String,
        stop_attempts: Option<String>,
    ) {
        let (store, run) = (self.ctx.store.clone(), self.ctx.run.clone());
        self.remote.telling_workers = Some(tokio::spawn(async move {
            let change = orca_store::StageChange {
                state: Some(orca_store::StageState::Pending),
                note: Some(note),
                rounds: None,
            };
            if let Err(error) =
                store.set_stage_with(&run, orca_store::Stage::Implement, &change).await
            {
                tracing::warn!(%error, "cannot tell workers the run's budget is spent");
            }
            let Some(reason) = stop_attempts else { return };
            let payload = serde_json::json!({ "reason": reason }).to_string();
            if let Err(error) =
                store.append_event(&run, None, None, crate::control::STOP_ATTEMPTS, &payload).await
            {
                tracing::warn!(%error, "cannot ask workers to stop the run's attempts");
            }
        }));
    }

    /// One verified task: its branch fetched and set to the recorded
    /// commit, then to the merge queue under the coordinator's lease.
    async fn merge_verified(&mut self, verified: VerifiedAttempt) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let VerifiedAttempt { lease, worker, branch, commit_sha, details_json } = verified;
        let Some(index) = ctx.plan.tasks.iter().position(|t| t.id.as_str() == lease.task) else {
            tracing::warn!(task = %lease.task, "a verified task that is not in the plan");
            return Ok(());
        };
        self.held.remove(&index);
        self.schedule.unhold(index);
        if !self.schedule.start(index) {
            tracing::warn!(task = %lease.task, phase = ?self.schedule.phase(index), "a verified task the schedule cannot start");
            if let Err(error) = ctx.store.return_verified(&lease, "not mergeable yet").await {
                tracing::warn!(%error, "cannot hand the verified task back");
            }
            return Ok(());
        }
        self.leases.insert(index, lease.clone());
        self.remote.taken.insert(index);
        self.started_at.entry(index).or_insert_with(Instant::now);
        let (Some(branch), Some(sha)) = (branch, commit_sha) else {
            let reason = format!("worker `{worker}` submitted no branch or commit");
            self.remote.taken.remove(&index);
            return self.failed_attempt(index, &lease, &reason).await;
        };
        let remote = ctx.remote.clone().unwrap_or_default();
        let fetched = on_git(&ctx.repo, {
            let (branch, sha) = (branch.clone(), sha.clone());
            move |repo| -> Result<Result<(), NotAsSubmitted>, orca_git::RefError> {
                let Some(tip) = repo.fetch_branch(&remote, &branch)? else {
                    return Ok(Err(NotAsSubmitted::NoBranch { branch }));
                };
                let Ok(wanted) = Sha::parse(&sha) else {
                    return Ok(Err(NotAsSubmitted::NotACommit { sha }));
                };
                // Exactly the commit the fenced submit recorded; whatever
                // came after it on the branch is not merged.
                if tip != wanted && !repo.is_ancestor(wanted.as_str(), tip.as_str())? {
                    return Ok(Err(NotAsSubmitted::CommitMissing { branch, sha }));
                }
                repo.set_branch(&branch, &wanted)?;
                Ok(Ok(()))
            }
        })
        .await;
        match fetched {
            Ok(Ok(())) => {}
            // The worker's push is not what it said: another attempt.
            Ok(Err(mismatch)) => {
                self.remote.taken.remove(&index);
                return self.failed_attempt(index, &lease, &mismatch.to_string()).await;
            }
            // The remote cannot be reached: taken again at a later poll.
            Err(error) => {
                tracing::warn!(task = %lease.task, error = %error_chain(&error), "cannot fetch the verified attempt");
                self.leases.remove(&index);
                self.remote.taken.remove(&index);
                self.schedule.returned(index);
                if let Err(error) = ctx.store.return_verified(&lease, &error_chain(&error)).await {
                    tracing::warn!(%error, "cannot hand the verified task back");
                }
                return Ok(());
            }
        }
        let details: serde_json::Value = details_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        let memory = &mut self.memory[index];
        memory.attempt_base = details["base"].as_str().map(str::to_owned);
        memory.attempt_head = Some(sha);
        self.send_to_merge(index, lease.attempt, branch);
        Ok(())
    }

    /// The run is complete: its attempt branches leave the remote too (the
    /// integration branch stays).
    pub(super) async fn prune_remote_attempt_branches(&self) {
        let Some(remote) = self.ctx.remote.clone() else { return };
        let prefix = orca_git::run_branch_prefix(self.ctx.run.as_str());
        let keep = self.ctx.integration.clone();
        let pruned = on_git(&self.ctx.repo, move |repo| {
            repo.delete_remote_branches(&remote, &prefix, &keep)
        })
        .await;
        if let Err(error) = pruned {
            tracing::warn!(error = %error_chain(&error), "cannot delete the run's attempt branches on the remote");
        }
    }

    /// Hands a task back: a verified task taken from a worker goes back to
    /// `verified`, anything else to `ready`.
    pub(super) async fn hand_back(
        &mut self,
        index: usize,
        lease: &orca_store::Lease,
        reason: &str,
    ) -> Result<Result<(), LeaseError>, EngineError> {
        if self.remote.taken.remove(&index) {
            return Ok(self.ctx.store.return_verified(lease, reason).await);
        }
        Ok(self.ctx.store.release(lease, reason).await)
    }
}
