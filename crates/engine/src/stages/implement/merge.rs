//! The merge queue: merges verified attempts into the run's integration
//! branch one at a time. A task only starts once its dependencies are
//! merged, so merging in the order attempts finish is consistent with the
//! dependencies. Conflicts go to a resolver agent in a worktree that holds
//! the merge in progress.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{AgentEvent, CancelToken, ErrorKind, Finish, HostEnv, RunError, Usage};
use orca_git::{MergeError, MergeOutcome, Repo};
use orca_plan::Task;
use tokio::sync::mpsc;

use super::messages::Msg;
use crate::agent_start::{AgentStart, StartError, start_agent};
use crate::events::RunEvent;
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::process::process_identity;
use crate::profiles::AgentProfile;
use crate::prompt::{ConflictBrief, resolver_prompt};
use crate::verify::{VerifyReport, run_verify};

/// A verified attempt waiting to be merged.
#[derive(Debug)]
pub(super) struct MergeJob {
    pub index: usize,
    pub task: Task,
    pub attempt: i64,
    pub branch: String,
    pub integration: String,
    /// Present when conflicts go to a resolver agent.
    pub resolver: Option<ResolverJob>,
}

/// How to resolve a conflict.
#[derive(Debug)]
pub(super) struct ResolverJob {
    pub profile: Arc<AgentProfile>,
    pub worktree: PathBuf,
    pub branch: String,
    pub dir: PathBuf,
    pub verify_timeout: Duration,
    pub cancel: CancelToken,
}

/// How a merge ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum MergeEnd {
    Merged {
        commit: String,
        resolved_conflict: bool,
    },
    /// The conflict could not be resolved; `reason` says why.
    Conflict {
        files: Vec<String>,
        reason: String,
    },
    /// git itself failed: not the task's fault (a stale lock file, the
    /// integration branch checked out somewhere, ...).
    Error {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub(super) struct MergeReport {
    pub index: usize,
    pub attempt: i64,
    pub end: MergeEnd,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
}

/// A merge this queue made: a resolver is told which of them collided
/// with the task it resolves.
#[derive(Debug, Clone)]
struct MergedTask {
    id: String,
    title: String,
    /// The integration branch's tip before and after the merge: what it
    /// changed is asked of git only when a resolver needs it.
    before: String,
    commit: String,
}

/// Merges jobs one by one until the channel closes.
pub(super) async fn merge_queue(
    repo: Arc<Repo>,
    host: Arc<HostEnv>,
    mut jobs: mpsc::UnboundedReceiver<MergeJob>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let mut merged = Vec::new();
    // Only this queue moves the integration branch: after its first merge
    // it knows the tip without asking git.
    let mut tip: Option<String> = None;
    while let Some(job) = jobs.recv().await {
        let before = match tip.take() {
            Some(tip) => Ok(tip),
            None => {
                on_git(&repo, {
                    let integration = job.integration.clone();
                    move |repo| repo.rev_parse(&integration).map(|sha| sha.to_string())
                })
                .await
            }
        };
        let (id, title) = (job.task.id.to_string(), job.task.title.clone());
        let report = merge(&repo, &host, job, &merged, &tx).await;
        match (before, &report.end) {
            (Ok(before), MergeEnd::Merged { commit, .. }) => {
                merged.push(MergedTask { id, title, before, commit: commit.clone() });
                tip = Some(commit.clone());
            }
            // Unchanged by a merge that did not happen (a conflict).
            (Ok(before), MergeEnd::Conflict { .. }) => tip = Some(before),
            _ => {}
        }
        if tx.send(Msg::MergeDone(Box::new(report))).is_err() {
            break;
        }
    }
}

async fn merge(
    repo: &Arc<Repo>,
    host: &Arc<HostEnv>,
    job: MergeJob,
    merged: &[MergedTask],
    tx: &mpsc::UnboundedSender<Msg>,
) -> MergeReport {
    let mut report = MergeReport {
        index: job.index,
        attempt: job.attempt,
        end: MergeEnd::Error { reason: String::new() },
        usage: Usage::default(),
        cost_usd: None,
    };
    let message =
        format!("orca: merge {} (attempt {}): {}", job.task.id, job.attempt, job.task.title);
    // `merge_into` computes the merge in the object store first and
    // changes nothing on a conflict: it is the precheck.
    report.end =
        match merge_branch(repo, &job.integration, &job.branch, message.clone(), false).await {
            Merged::Done(end) => end,
            Merged::Conflicted(files) => {
                let _ = tx.send(Msg::Event(RunEvent::Conflict {
                    task: job.task.id.to_string(),
                    files: files.clone(),
                    resolver: job.resolver.is_some(),
                }));
                match &job.resolver {
                    None => MergeEnd::Conflict {
                        files,
                        reason: "conflict resolution is off ([run] resolver = false)".into(),
                    },
                    Some(resolver) => {
                        let collided_with = collided_with(repo, &job, merged, &files).await;
                        let conflict = Conflict { files, collided_with };
                        resolve(repo, host, &job, resolver, conflict, message, &mut report).await
                    }
                }
            }
        };
    report
}

/// The result of one merge into the integration branch.
enum Merged {
    Done(MergeEnd),
    /// The merge would conflict in these files; nothing changed.
    Conflicted(Vec<String>),
}

async fn merge_branch(
    repo: &Arc<Repo>,
    integration: &str,
    branch: &str,
    message: String,
    resolved_conflict: bool,
) -> Merged {
    let merged = on_git(repo, {
        let (integration, branch) = (integration.to_owned(), branch.to_owned());
        move |repo| match repo.merge_into(&integration, &branch, &message) {
            Ok(outcome) => Ok(Ok(outcome)),
            Err(MergeError::Conflicted { files, .. }) => Ok(Err(files)),
            Err(error) => Err(error_chain(&error)),
        }
    })
    .await;
    Merged::Done(match merged {
        Ok(Ok(MergeOutcome::Merged { commit } | MergeOutcome::FastForwarded { commit })) => {
            MergeEnd::Merged { commit: commit.to_string(), resolved_conflict }
        }
        Ok(Ok(MergeOutcome::AlreadyMerged { tip })) => {
            MergeEnd::Merged { commit: tip.to_string(), resolved_conflict }
        }
        Ok(Err(files)) => return Merged::Conflicted(files),
        Err(reason) => MergeEnd::Error { reason },
    })
}

/// The files a merge could not merge, and the tasks whose merges changed
/// them after the attempt's branch left the integration branch.
struct Conflict {
    files: Vec<String>,
    collided_with: Vec<(String, String)>,
}

/// The merges of this queue that the task's branch has not seen and that
/// changed one of `files`. Worked out when the conflict happens: a merge
/// made after the task was queued counts too.
async fn collided_with(
    repo: &Arc<Repo>,
    job: &MergeJob,
    merged: &[MergedTask],
    files: &[String],
) -> Vec<(String, String)> {
    let (merged, branch, files) = (merged.to_vec(), job.branch.clone(), files.to_vec());
    on_git(repo, move |repo| {
        merged
            .into_iter()
            .filter(|task| {
                !repo.is_ancestor(&task.commit, &branch).unwrap_or(false)
                    && repo.changed_files(&task.before, &task.commit).is_ok_and(|changed| {
                        changed.iter().any(|change| files.contains(&change.path))
                    })
            })
            .map(|task| (task.id, task.title))
            .collect()
    })
    .await
}

/// Runs the resolver agent on a worktree holding the merge in progress,
/// checks the result, and merges it.
async fn resolve(
    repo: &Arc<Repo>,
    host: &Arc<HostEnv>,
    job: &MergeJob,
    resolver: &ResolverJob,
    Conflict { files, collided_with }: Conflict,
    message: String,
    report: &mut MergeReport,
) -> MergeEnd {
    let conflict = |reason: String| MergeEnd::Conflict { files: files.clone(), reason };
    if let Err(error) = std::fs::create_dir_all(&resolver.dir) {
        return conflict(format!("cannot create {}: {error}", resolver.dir.display()));
    }
    let prepared = on_git(repo, {
        let (path, branch, integration, source) = (
            resolver.worktree.clone(),
            resolver.branch.clone(),
            job.integration.clone(),
            job.branch.clone(),
        );
        move |repo| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            repo.remove_worktree(&path)?;
            // A resolution cut short (orca killed, then resumed) left its
            // branch: scratch work, never merged, made again from scratch.
            // The name ends in `-resolve`, so as a prefix it names only it.
            repo.delete_branches_with_prefix(&branch)?;
            let tip = repo.rev_parse(&integration)?.to_string();
            Ok(repo.prepare_conflict_worktree(&path, &branch, &tip, &source)?)
        }
    })
    .await;
    if let Err(error) = prepared {
        return MergeEnd::Error {
            reason: format!("cannot prepare the conflict for a resolver: {}", error_chain(&*error)),
        };
    }
    let prompt = resolver_prompt(&ConflictBrief { task: &job.task, files: &files, collided_with });
    let end = run_resolver(host, job, resolver, prompt, report).await;
    let end = match end {
        Err(error) => conflict(error_chain(&error)),
        Ok(()) => {
            let finished = on_git(repo, {
                let path = resolver.worktree.clone();
                let message = message.clone();
                move |repo| repo.finish_conflict_resolution(&path, &message)
            })
            .await;
            match finished {
                Err(error) => {
                    conflict(format!("the resolver did not resolve it: {}", error_chain(&error)))
                }
                Ok(_) => match verify_resolution(job, resolver).await {
                    Err(error) => conflict(error.to_string()),
                    Ok(()) => {
                        match merge_branch(repo, &job.integration, &resolver.branch, message, true)
                            .await
                        {
                            Merged::Done(end) => end,
                            Merged::Conflicted(files) => MergeEnd::Error {
                                reason: format!(
                                    "merging {} into {} conflicts in {}",
                                    resolver.branch,
                                    job.integration,
                                    files.join(", ")
                                ),
                            },
                        }
                    }
                },
            }
        }
    };
    let removed = on_git(repo, {
        let path = resolver.worktree.clone();
        move |repo| repo.remove_worktree(&path)
    })
    .await;
    if let Err(error) = removed {
        tracing::warn!(task = %job.task.id, error = %error_chain(&error), "cannot remove the resolver's worktree");
    }
    end
}

async fn run_resolver(
    host: &Arc<HostEnv>,
    job: &MergeJob,
    resolver: &ResolverJob,
    prompt: String,
    report: &mut MergeReport,
) -> Result<(), ResolverFailed> {
    let isolation = resolver.dir.join("isolated");
    let mut run = start_agent(
        host,
        AgentStart {
            profile: &resolver.profile,
            label: job.task.id.as_str(),
            prompt,
            workdir: &resolver.worktree,
            resume: None,
            isolation: &isolation,
            dir: &resolver.dir,
            log_name: "agent",
            timeout: job.task.timeout_secs.map(Duration::from_secs),
            cancel: &resolver.cancel,
        },
    )?;
    while let Some(event) = run.next_event().await {
        if let AgentEvent::Usage(more) = event {
            report.usage.add(&more);
        }
    }
    let outcome = run.outcome().await.map_err(ResolverFailed::Supervision)?;
    report.cost_usd = outcome.cost_usd;
    match outcome.status {
        Finish::Success => Ok(()),
        Finish::Failed { kind, message } => Err(ResolverFailed::Agent { kind, message }),
    }
}

/// Why the resolver agent left no resolution behind.
#[derive(Debug, thiserror::Error)]
enum ResolverFailed {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the resolver agent")]
    Supervision(#[source] RunError),
    #[error("the resolver agent failed ({kind}): {}", shorten(.message, 300))]
    Agent { kind: ErrorKind, message: String },
}

/// The task's `verify` failed on the resolver's resolution.
#[derive(Debug, thiserror::Error)]
#[error("after resolving the conflict, {}", .report.describe(.command))]
struct ResolutionRejected {
    command: String,
    report: VerifyReport,
}

async fn verify_resolution(
    job: &MergeJob,
    resolver: &ResolverJob,
) -> Result<(), ResolutionRejected> {
    let Some(verify) = &job.task.verify else { return Ok(()) };
    let pid_file = resolver.dir.join("verify.pid");
    let result = run_verify(
        &verify.argv(),
        &resolver.worktree,
        resolver.verify_timeout,
        &resolver.dir.join("verify.log"),
        &resolver.cancel,
        |pid| {
            let _ = std::fs::write(&pid_file, process_identity(pid));
        },
    )
    .await;
    if result.passed() {
        Ok(())
    } else {
        Err(ResolutionRejected { command: verify.command().to_owned(), report: result })
    }
}
