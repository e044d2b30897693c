//! Making a run whole again before `orca resume` continues it: agents a
//! killed orca left running are killed, work left in worktrees is
//! committed, leases of the dead process are released (or completed, if
//! the merge had already happened), and stale worktrees are removed.

use std::path::Path;

use orca_store::{AttemptRecord, Lease, TaskState, TaskStatus};

use super::context::{MergedChange, PreviousAttempt, RunContext, TaskMemory};
use super::dispatcher::PendingMerges;
use crate::budget::Spend;
use crate::error::EngineError;
use crate::excerpt::error_chain;
use crate::git_thread::on_git;
use crate::process::{kill_marked, kill_recorded, process_start_time};
use crate::prompt::PreviousFailure;
use crate::schedule::{Schedule, TaskPhase};

/// A git ref lock this old, with no git process at work in the
/// repository, was left by a git that was killed: ref updates take
/// milliseconds.
const STALE_LOCK_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// What recovery learned, for the dispatcher.
#[derive(Debug)]
pub(super) struct Recovered {
    pub memory: Vec<TaskMemory>,
    pub pending_merges: PendingMerges,
    /// Each task's state in the store after recovery, by plan position.
    pub states: Vec<TaskState>,
    /// Git lock files that block the run's branches and could not be
    /// removed (too recent, or git is at work), with why.
    pub blocking_locks: Vec<(std::path::PathBuf, String)>,
}

pub(super) async fn recover(ctx: &RunContext) -> Result<Recovered, EngineError> {
    let run_dir = ctx.layout.run_dir(ctx.run.as_str());
    let killed = kill_orphans(&run_dir.join("tasks"));
    if killed > 0 {
        tracing::info!(killed, "killed agents left running by a previous orca");
    }
    // A git killed mid-update (with orca, or by a power loss) leaves a lock
    // that fails every merge: remove it when it is stale, else report it.
    let prefix = orca_git::run_branch_prefix(ctx.run.as_str()).trim_end_matches('/').to_owned();
    let locks =
        on_git(&ctx.repo, move |repo| repo.clear_stale_ref_locks(&prefix, STALE_LOCK_AGE)).await;
    let status = ctx.store.run_status(&ctx.run).await?;
    let mut memory = vec![TaskMemory::default(); ctx.plan.tasks.len()];
    let mut pending_merges = Vec::new();
    for (index, task) in ctx.plan.tasks.iter().enumerate() {
        let Some(state) = status.tasks.iter().find(|t| t.key == task.id.as_str()) else { continue };
        let attempts = ctx.store.attempts(&ctx.run, &state.key).await?;
        if state.state == TaskState::Leased && holder_is_dead(state) {
            // Nothing is lost: whatever the attempt left is committed first.
            let worktree = ctx.task_worktree(task);
            let resolver = ctx.resolver_worktree(task);
            let message = format!(
                "{}: {} (orca attempt {}, interrupted)",
                task.id, task.title, state.attempt
            );
            let saved = on_git(
                &ctx.repo,
                move |repo| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                    if worktree.join(".git").exists() {
                        repo.commit_all(&worktree, &message)?;
                    }
                    repo.remove_worktree(&worktree)?;
                    repo.remove_worktree(&resolver)?;
                    Ok(())
                },
            )
            .await;
            if let Err(error) = saved {
                tracing::warn!(task = %task.id, error = %error_chain(&*error), "cannot save the interrupted attempt's worktree");
            }
            let lease = dead_lease(ctx, state);
            let last = attempts.last();
            match last.filter(|record| details_end(record) == Some("verified")) {
                Some(record) => {
                    let branch = record.branch.clone().unwrap_or_default();
                    if already_merged(ctx, record).await {
                        let result =
                            serde_json::json!({ "branch": branch, "recovered": true }).to_string();
                        ctx.store.complete(&lease, &result).await.map_err(lease_error)?;
                    } else if record.outcome == "merging" {
                        // A worker's attempt (scale-out): verified again, to
                        // be fetched at its recorded commit and merged.
                        ctx.store
                            .return_verified(&lease, "the coordinator stopped before merging it")
                            .await
                            .map_err(lease_error)?;
                    } else {
                        ctx.store
                            .release(&lease, "orca stopped before merging this verified attempt")
                            .await
                            .map_err(lease_error)?;
                        pending_merges.push((index, branch));
                    }
                }
                None => ctx
                    .store
                    .release(
                        &lease,
                        "orca stopped while this attempt ran; its work is committed on its branch",
                    )
                    .await
                    .map_err(lease_error)?,
            }
        } else if state.state == TaskState::Ready
            // Not an attempt whose merge failed (a conflict): a task given
            // fresh attempts after that (`--retry-failed`) runs again.
            && let Some(record) = attempts
                .last()
                .filter(|record| details_end(record) == Some("verified") && record.outcome != "failed")
            // A worker's verified attempt waits in the `verified` state, not
            // here: a ready task's last attempt from a worker is not merged.
            && (ctx.remote.is_none() || record.worker.starts_with("orca-run:"))
            && !already_merged(ctx, record).await
        {
            // Verified, then handed back before its merge finished (Ctrl-C
            // while a resolver worked): merge it; its agent's work is done.
            pending_merges.push((index, record.branch.clone().unwrap_or_default()));
        }
        memory[index] = remembered(&attempts);
    }
    let prune_dir = ctx.layout.worktrees_dir().join(orca_git::ref_component(ctx.run.as_str()));
    let pruned = on_git(&ctx.repo, move |repo| repo.prune_stale(&prune_dir)).await;
    if let Err(error) = pruned {
        tracing::warn!(error = %error_chain(&error), "cannot prune stale worktrees");
    }
    let status = ctx.store.run_status(&ctx.run).await?;
    let states = ctx
        .plan
        .tasks
        .iter()
        .map(|task| {
            status
                .tasks
                .iter()
                .find(|t| t.key == task.id.as_str())
                .map_or(TaskState::Waiting, |t| t.state)
        })
        .collect();
    Ok(Recovered { memory, pending_merges, states, blocking_locks: locks.kept })
}

/// Brings a fresh schedule to the store's states: merged tasks are merged,
/// failed ones fail (blocking their dependents), in dependency order.
pub(super) fn replay(ctx: &RunContext, schedule: &mut Schedule, states: &[TaskState]) {
    for &node in ctx.graph.topological_order() {
        let index = node.index();
        match states[index] {
            TaskState::Succeeded => {
                if schedule.start(index) {
                    schedule.merged(index);
                }
            }
            TaskState::Failed | TaskState::Cancelled | TaskState::Blocked => {
                if matches!(schedule.phase(index), TaskPhase::Waiting | TaskPhase::Ready) {
                    schedule.failed(index);
                }
            }
            TaskState::Waiting | TaskState::Ready | TaskState::Leased | TaskState::Verified => {}
        }
    }
}

/// What the attempts say for the next one: the last attempt's branch,
/// session and failure, and for a merged task the change it made.
pub(super) fn remembered(attempts: &[AttemptRecord]) -> TaskMemory {
    let mut memory = TaskMemory::default();
    for record in attempts {
        let spend = Spend::of_record(record);
        memory.spent_in_run.add(spend);
        // A task that failed for good and was given fresh attempts
        // (`--retry-failed`) gets a fresh budget too.
        memory.spent =
            if record.outcome == "failed" { Spend::default() } else { memory.spent.plus(spend) };
    }
    let Some(last) = attempts.last() else { return memory };
    let details: serde_json::Value = last
        .details_json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    if let Some(branch) = &last.branch {
        memory.previous = Some(PreviousAttempt {
            branch: branch.clone(),
            agent: last.agent.clone().unwrap_or_default(),
            session: last.agent_session_id.clone(),
            failure: matches!(last.outcome.as_str(), "retry" | "failed").then(|| PreviousFailure {
                attempt: last.attempt,
                reason: last.error.clone().unwrap_or_else(|| "the attempt failed".into()),
                verify_output: details["verify_output"].as_str().map(str::to_owned),
            }),
            verified: details["end"] == "verified",
        });
    }
    if last.outcome == "succeeded"
        && let (Some(base), Some(head)) = (details["base"].as_str(), details["head"].as_str())
    {
        memory.merged = Some(MergedChange { base: base.into(), head: head.into(), summary: None });
    }
    memory
}

fn details_end(record: &AttemptRecord) -> Option<&'static str> {
    let details: serde_json::Value = serde_json::from_str(record.details_json.as_deref()?).ok()?;
    match details["end"].as_str()? {
        "verified" => Some("verified"),
        _ => None,
    }
}

async fn already_merged(ctx: &RunContext, record: &AttemptRecord) -> bool {
    let Some(head) = record.commit_sha.clone() else { return false };
    let integration = ctx.integration.clone();
    on_git(&ctx.repo, move |repo| repo.is_ancestor(&head, &integration)).await.unwrap_or(false)
}

/// Whether the lease holder is an orca on this machine that is gone (its
/// worker name carries host, pid and process start time).
fn holder_is_dead(state: &TaskStatus) -> bool {
    let Some(lease) = &state.lease else { return false };
    let mut parts = lease.worker.split(':');
    if parts.next() != Some("orca-run") {
        return false;
    }
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let this_host =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    if host != this_host {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    process_start_time(pid) != Some(start)
}

/// The lease the dead process held, to end it under its own fencing token.
fn dead_lease(ctx: &RunContext, state: &TaskStatus) -> Lease {
    let holder = state.lease.as_ref();
    Lease {
        run: ctx.run.clone(),
        task: state.key.clone(),
        attempt: state.attempt,
        worker: holder.map(|lease| lease.worker.clone()).unwrap_or_default(),
        expires_ms: 0,
        ttl_ms: 0,
        tries: state.tries,
        max_attempts: state.max_attempts,
        priority: state.priority,
        spec_json: String::new(),
    }
}

fn lease_error(error: orca_store::LeaseError) -> EngineError {
    match error {
        orca_store::LeaseError::Store(error) => EngineError::Store(error),
        orca_store::LeaseError::Lost(lost) => {
            EngineError::LeaseLostInRecovery { task: lost.task.clone(), source: Box::new(lost) }
        }
    }
}

/// Kills the process groups of agents and `verify` commands whose pid file
/// still names a live process that started when the file says, then those
/// that carry this run's tasks directory in their environment (started
/// just before a kill -9, with no pid file yet). Returns how many it killed.
pub(super) fn kill_orphans(tasks_dir: &Path) -> usize {
    pid_files(tasks_dir).iter().filter(|file| kill_recorded(file)).count() + kill_marked(tasks_dir)
}

/// The pid files of agents and `verify` commands:
/// `tasks/<task>/a<n>/{agent,verify}.pid` and the same under `resolve/`.
fn pid_files(tasks_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(tasks) = std::fs::read_dir(tasks_dir) else { return files };
    for task in tasks.flatten() {
        let Ok(attempts) = std::fs::read_dir(task.path()) else { continue };
        for attempt in attempts.flatten() {
            let resolve = attempt.path().join("resolve");
            for candidate in [
                attempt.path().join("agent.pid"),
                attempt.path().join("verify.pid"),
                resolve.join("agent.pid"),
                resolve.join("verify.pid"),
            ] {
                if candidate.exists() {
                    files.push(candidate);
                }
            }
        }
    }
    files
}
