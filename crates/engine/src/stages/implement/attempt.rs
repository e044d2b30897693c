//! One attempt at one task: a worktree from the right starting point, the
//! agent, orca's commit of whatever the agent left, and `verify`. The
//! attempt writes nothing to the store: it reports to the dispatcher,
//! which owns the task's lease.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{
    AgentEvent, AgentOutcome, CancelLevel, CancelToken, ErrorKind, Finish, HostEnv, LimitKind,
    StopReason, Usage,
};
use orca_git::{RefError, Repo, WorktreeError};
use orca_plan::Task;
use tokio::sync::mpsc;

use super::context::RunContext;
use super::messages::Msg;
use crate::agent_start::{AgentStart, start_agent};
use crate::budget::{Limit, Meter, Spend};
use crate::events::RunEvent;
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::process::process_identity;
use crate::profiles::AgentProfile;
use crate::prompt::{
    DependencyChange, PreviousFailure, TaskBrief, continue_prompt, last_bytes, retry_prompt,
    task_prompt,
};
use crate::verify::{VerifyStatus, run_verify};

/// Everything one attempt needs; built by the dispatcher.
#[derive(Debug)]
pub(super) struct AttemptJob {
    pub index: usize,
    pub task: Task,
    pub attempt: i64,
    pub branch: String,
    /// Where the attempt's branch starts: the integration branch, or the
    /// previous attempt's branch when continuing its work.
    pub start_from: String,
    pub worktree: PathBuf,
    /// `.orca/runs/<run>/tasks/<task>/a<n>/`: prompt, logs, verify output.
    pub dir: PathBuf,
    /// Holds the agent's own HOME and TMPDIR when its profile isolates.
    pub isolation: PathBuf,
    pub profile: Arc<AgentProfile>,
    pub prompt: String,
    /// The agent session to resume, if the previous attempt left one.
    pub resume: Option<String>,
    /// The prompt to use when the resumed session cannot be found.
    pub fresh_prompt: String,
    pub verify_timeout: Duration,
    pub cancel: CancelToken,
    /// The task's budget, and what its earlier attempts spent against it.
    pub budget: Limit,
    pub spent_before: Spend,
    /// Counts this attempt's spending (priced for its agent's model).
    pub meter: Meter,
}

/// What decides a new attempt, besides the run: where it starts, which
/// agent, what the last attempt left, what the task's dependencies changed.
pub(super) struct NewAttempt<'a> {
    pub index: usize,
    pub attempt: i64,
    pub branch: String,
    pub start_from: String,
    pub profile: Arc<AgentProfile>,
    /// Why the previous attempt failed, for the prompt.
    pub failure: Option<&'a PreviousFailure>,
    /// The agent session to continue, if any.
    pub resume: Option<String>,
    pub dependencies: Vec<DependencyChange>,
    /// What the task's earlier attempts spent against its budget.
    pub spent_before: Spend,
}

impl AttemptJob {
    /// The job for `new` in `ctx`'s run, with its prompts (a continued
    /// session gets the short one, the full one kept for when it cannot be
    /// continued), its own cancel token and the task's budget.
    pub(super) fn new(ctx: &RunContext, new: NewAttempt<'_>) -> AttemptJob {
        let task = ctx.plan.tasks[new.index].clone();
        let fresh_prompt = task_prompt(
            &TaskBrief {
                plan_title: &ctx.plan.title,
                task: &task,
                role_instructions: ctx
                    .config
                    .roles
                    .instructions
                    .get(&task.role)
                    .map(String::as_str),
                dependencies: new.dependencies,
            },
            new.failure,
        );
        let prompt = match (&new.resume, new.failure) {
            (Some(_), Some(failure)) => retry_prompt(&task, failure),
            (Some(_), None) => continue_prompt(&task),
            (None, _) => fresh_prompt.clone(),
        };
        AttemptJob {
            index: new.index,
            attempt: new.attempt,
            branch: new.branch,
            start_from: new.start_from,
            worktree: ctx.task_worktree(&task),
            dir: ctx.attempt_dir(&task, new.attempt),
            isolation: ctx.isolation_dir(&task),
            meter: Meter::for_agent(&ctx.config, &new.profile),
            profile: new.profile,
            prompt,
            resume: new.resume,
            fresh_prompt,
            verify_timeout: ctx.verify_timeout(&task),
            cancel: CancelToken::new(),
            budget: Limit::of_task(task.budget),
            spent_before: new.spent_before,
            task,
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AttemptEnd {
    /// The agent finished and `verify` passed (or the task has none).
    Verified,
    /// The agent or `verify` failed; another attempt may fix it.
    Failed { reason: String, verify_output: Option<String> },
    /// The agent hit a usage or rate limit: pause, then continue the session.
    Limited { kind: LimitKind, resets_at: Option<u64>, message: String },
    /// Stopped on request (Ctrl-C); its work is committed.
    Interrupted,
    /// Stopped because the task's attempts spent more than its budget;
    /// its work is committed. `spent` says what went over what.
    OverBudget { spent: String },
}

/// What an attempt reports back.
#[derive(Debug, Clone)]
pub(super) struct AttemptReport {
    pub index: usize,
    pub attempt: i64,
    pub end: AttemptEnd,
    pub agent: String,
    pub session: Option<String>,
    /// The commit the attempt started from.
    pub base: Option<String>,
    /// The attempt branch's tip after orca's commit.
    pub head: Option<String>,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    /// Tokens and money together, as budgets count them.
    pub spend: Spend,
    /// The agent's last words, shortened.
    pub summary: Option<String>,
}

impl AttemptEnd {
    /// How the store names this ending in an attempt's details.
    pub(super) fn name(&self) -> &'static str {
        match self {
            AttemptEnd::Verified => "verified",
            AttemptEnd::Failed { .. } => "failed",
            AttemptEnd::Limited { .. } => "limited",
            AttemptEnd::Interrupted => "interrupted",
            AttemptEnd::OverBudget { .. } => "over_budget",
        }
    }
}

impl AttemptReport {
    /// What the store records of this attempt, made on `branch`: its facts
    /// and, as details, how it ended (`end`, normally [`AttemptEnd::name`]),
    /// what it spent, the tail of a failed `verify`, and the `host` of a
    /// worker that ran it elsewhere.
    pub(super) fn record(
        &self,
        branch: &str,
        end: &str,
        host: Option<&str>,
    ) -> orca_store::AttemptInfo {
        let mut details = serde_json::json!({
            "end": end,
            "base": self.base,
            "head": self.head,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cached_tokens": self.usage.cached_tokens,
            "cost_usd": self.cost_usd,
            "verify_output": match &self.end {
                AttemptEnd::Failed { verify_output: Some(output), .. } => {
                    Some(last_bytes(output, 4_000))
                }
                _ => None,
            },
        });
        if let Some(host) = host {
            details["host"] = serde_json::Value::from(host);
        }
        orca_store::AttemptInfo {
            branch: Some(branch.to_owned()),
            agent: Some(self.agent.clone()),
            agent_session_id: self.session.clone(),
            commit_sha: self.head.clone(),
            summary: self.summary.clone(),
            details_json: Some(details.to_string()),
        }
    }
}

/// Runs the attempt and sends its report to the dispatcher.
pub(super) async fn run_attempt(
    repo: Arc<Repo>,
    host: Arc<HostEnv>,
    job: AttemptJob,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let report = attempt(&repo, &host, &job, &tx).await;
    let _ = tx.send(Msg::AttemptDone(Box::new(report)));
}

async fn attempt(
    repo: &Arc<Repo>,
    host: &Arc<HostEnv>,
    job: &AttemptJob,
    tx: &mpsc::UnboundedSender<Msg>,
) -> AttemptReport {
    let mut report = AttemptReport {
        index: job.index,
        attempt: job.attempt,
        end: AttemptEnd::Interrupted,
        agent: job.profile.name.clone(),
        session: job.resume.clone(),
        base: None,
        head: None,
        usage: Usage::default(),
        cost_usd: None,
        spend: Spend::default(),
        summary: None,
    };
    if let Err(error) = std::fs::create_dir_all(&job.dir) {
        report.end = failed(format!("cannot create {}: {error}", job.dir.display()));
        return report;
    }
    let prepared = on_git(repo, {
        let (worktree, branch, start) =
            (job.worktree.clone(), job.branch.clone(), job.start_from.clone());
        move |repo| prepare_worktree(repo, &worktree, &branch, &start)
    })
    .await;
    match prepared {
        Ok(base) => report.base = Some(base),
        Err(error) => {
            report.end = failed(format!("cannot prepare the worktree: {}", error_chain(&error)));
            return report;
        }
    }

    let mut meter = Watch { meter: job.meter.clone(), over: None };
    let mut agent =
        run_agent(host, job, &job.prompt, job.resume.as_deref(), "agent", &mut meter, tx).await;
    // A session the CLI cannot find fails at once without using the model:
    // start over with the full prompt rather than spending a try.
    if job.resume.is_some() && agent.as_ref().is_ok_and(|(outcome, _)| resume_was_refused(outcome))
    {
        let _ = tx.send(Msg::Event(RunEvent::SessionRestarted {
            task: job.task.id.to_string(),
            attempt: job.attempt,
            reason: "the agent could not resume its previous session; starting a new one with the full prompt"
                .into(),
        }));
        agent = run_agent(host, job, &job.fresh_prompt, None, "agent-fresh", &mut meter, tx).await;
    }
    report.usage = meter.meter.usage();
    report.cost_usd = meter.meter.cost_usd();
    report.spend = meter.meter.spend();
    report.end = match agent {
        Ok((outcome, last_text)) => {
            report.session = outcome.session_id.clone().or(report.session);
            report.summary = last_text.map(|text| shorten(&text, 600));
            let _ = tx.send(Msg::Event(RunEvent::AgentFinished {
                task: job.task.id.to_string(),
                attempt: job.attempt,
                status: match &outcome.status {
                    Finish::Success => "success".into(),
                    Finish::Failed { kind, .. } => kind.to_string(),
                },
                message: match &outcome.status {
                    Finish::Success => None,
                    Finish::Failed { message, .. } => Some(shorten(message, 300)),
                },
            }));
            match meter.over.take() {
                Some(spent) => AttemptEnd::OverBudget { spent },
                None => judge(&outcome, &job.cancel),
            }
        }
        // Stopped over budget before it could even report: still over.
        Err(_) if meter.over.is_some() => {
            AttemptEnd::OverBudget { spent: meter.over.take().unwrap_or_default() }
        }
        Err(reason) => failed(reason),
    };

    // Whatever the agent left is committed before anything else happens to
    // it: a failed or interrupted attempt's work is kept on its branch.
    let message = format!("{}: {} (orca attempt {})", job.task.id, job.task.title, job.attempt);
    let committed = on_git(repo, {
        let (worktree, branch) = (job.worktree.clone(), job.branch.clone());
        move |repo| -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
            repo.commit_all(&worktree, &message)?;
            Ok(repo.branch_tip(&branch)?.map(|sha| sha.to_string()))
        }
    })
    .await;
    match committed {
        Ok(head) => report.head = head,
        Err(error) => {
            report.end =
                failed(format!("cannot commit the attempt's work: {}", error_chain(&*error)));
        }
    }

    if report.end == AttemptEnd::Verified
        && let Some(verify) = &job.task.verify
    {
        if job.cancel.level() != CancelLevel::Running {
            report.end = AttemptEnd::Interrupted;
        } else {
            let task = job.task.id.to_string();
            let _ = tx.send(Msg::Event(RunEvent::VerifyStarted {
                task: task.clone(),
                attempt: job.attempt,
                command: verify.command().to_owned(),
            }));
            // `orca resume` kills what a killed orca left running: it reads
            // verify.pid as it reads agent.pid.
            let pid_file = job.dir.join("verify.pid");
            let result = run_verify(
                &verify.argv(),
                &job.worktree,
                job.verify_timeout,
                &job.dir.join("verify.log"),
                &job.cancel,
                |pid| {
                    let _ = std::fs::write(&pid_file, process_identity(pid));
                },
            )
            .await;
            let summary = result.describe(verify.command());
            let _ = tx.send(Msg::Event(RunEvent::VerifyFinished {
                task,
                attempt: job.attempt,
                passed: result.passed(),
                summary: summary.clone(),
            }));
            if result.status == VerifyStatus::Interrupted {
                report.end = AttemptEnd::Interrupted;
            } else if !result.passed() {
                report.end =
                    AttemptEnd::Failed { reason: summary, verify_output: Some(result.output) };
            }
        }
    }

    let removed = on_git(repo, {
        let worktree = job.worktree.clone();
        move |repo| repo.remove_worktree(&worktree)
    })
    .await;
    if let Err(error) = removed {
        tracing::warn!(task = %job.task.id, attempt = job.attempt, error = %error_chain(&error), "cannot remove the attempt's worktree");
    }
    report
}

/// Creates the attempt's worktree on a new branch at `start`, replacing a
/// worktree left in the task's directory by an earlier attempt. Returns
/// the commit the branch starts at.
fn prepare_worktree(
    repo: &Repo,
    worktree: &Path,
    branch: &str,
    start: &str,
) -> Result<String, WorktreeError> {
    repo.remove_worktree(worktree)?;
    match repo.add_worktree(worktree, branch, start) {
        // A new worktree on a new branch at `start` has `start` checked out.
        Ok(added) => match added.head {
            Some(base) => Ok(base.to_string()),
            None => Ok(repo.rev_parse(start)?.to_string()),
        },
        // A crash after creating the branch: the branch may hold work.
        Err(WorktreeError::Ref(RefError::BranchExists { .. })) => {
            let base = repo.rev_parse(start)?.to_string();
            repo.add_worktree_for_branch(worktree, branch)?;
            Ok(base)
        }
        Err(error) => Err(error),
    }
}

/// An attempt's spending across its agent runs, and whether it went over
/// the task's budget.
struct Watch {
    meter: Meter,
    /// Set when the budget tripped: what went over what.
    over: Option<String>,
}

async fn run_agent(
    host: &Arc<HostEnv>,
    job: &AttemptJob,
    prompt: &str,
    resume: Option<&str>,
    log_name: &str,
    watch: &mut Watch,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<(AgentOutcome, Option<String>), String> {
    let task = job.task.id.to_string();
    let mut run = start_agent(
        host,
        AgentStart {
            profile: &job.profile,
            label: job.task.id.as_str(),
            prompt: prompt.to_owned(),
            workdir: &job.worktree,
            resume,
            isolation: &job.isolation,
            dir: &job.dir,
            log_name,
            timeout: job.task.timeout_secs.map(Duration::from_secs),
            cancel: &job.cancel,
        },
    )
    .map_err(|error| error_chain(&error))?;
    let mut last_text = None;
    let mut texts = 0usize;
    while let Some(event) = run.next_event().await {
        if watch.meter.observe(&event) {
            let spend = watch.meter.spend();
            let _ = tx.send(Msg::Spend {
                index: job.index,
                attempt: job.attempt,
                spend,
                usage: watch.meter.usage(),
                cost_usd: watch.meter.cost_usd(),
            });
            if watch.over.is_none()
                && let Some(spent) = job.budget.exceeded(job.spent_before.plus(spend))
            {
                // Stopped like an interrupt (its work is committed below),
                // but the attempt ends over budget, not interrupted.
                let _ = tx.send(Msg::Event(RunEvent::OverBudget {
                    task: Some(task.clone()),
                    attempt: Some(job.attempt),
                    spent: spent.clone(),
                }));
                watch.over = Some(spent);
                job.cancel.stop();
            }
        }
        let usage = watch.meter.usage();
        if let AgentEvent::Text { .. } = &event {
            texts += 1;
        }
        let recorded =
            watched(&event).filter(|(kind, _)| *kind != "agent.text" || texts <= RECORDED_TEXTS);
        if let Some((kind, mut payload)) = recorded {
            payload["input_tokens"] = usage.input_tokens.into();
            payload["output_tokens"] = usage.output_tokens.into();
            payload["cached_tokens"] = usage.cached_tokens.into();
            payload["cost_usd"] = watch.meter.cost_usd().unwrap_or(0.0).into();
            let _ = tx.send(Msg::Agent { task: task.clone(), attempt: job.attempt, kind, payload });
        }
        match event {
            AgentEvent::ToolUse { name, .. } => {
                let _ = tx.send(Msg::Event(RunEvent::AgentActivity {
                    task: task.clone(),
                    tool: Some(name),
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                }));
            }
            AgentEvent::Usage(_) => {
                let _ = tx.send(Msg::Event(RunEvent::AgentActivity {
                    task: task.clone(),
                    tool: None,
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                }));
            }
            AgentEvent::Started { session_id, .. } => {
                let _ = tx.send(Msg::Session {
                    index: job.index,
                    attempt: job.attempt,
                    session: session_id,
                });
            }
            AgentEvent::Text { text } if !text.trim().is_empty() => last_text = Some(text),
            _ => {}
        }
    }
    let outcome = run
        .outcome()
        .await
        .map_err(|error| format!("agent `{}`: {}", job.profile.name, error_chain(&error)))?;
    Ok((outcome, last_text))
}

/// How many of an attempt's messages go into the store's event log: a
/// `command` agent's every output line is a message, and a chatty build
/// would otherwise fill the log (`events.jsonl` keeps them all).
const RECORDED_TEXTS: usize = 200;

/// The store event kind and payload of an agent event a watcher wants to
/// see live; token counts are added by the caller. Usage and cost
/// increments ride along in those counts rather than as rows of their own.
fn watched(event: &AgentEvent) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    Some(match event {
        AgentEvent::ToolUse { name, summary, .. } => {
            ("agent.tool_use", json!({ "tool": name, "summary": shorten(summary, 300) }))
        }
        AgentEvent::ToolResult { ok: false, summary, .. } => {
            ("agent.tool_failed", json!({ "summary": summary.as_deref().map(|s| shorten(s, 300)) }))
        }
        AgentEvent::Text { text } if !text.trim().is_empty() => {
            ("agent.text", json!({ "text": shorten(text, 500) }))
        }
        AgentEvent::Warning { message } => {
            ("agent.warning", json!({ "message": shorten(message, 300) }))
        }
        AgentEvent::Limited(limit) => (
            "agent.limited",
            json!({ "kind": limit.kind, "message": shorten(&limit.message, 300) }),
        ),
        AgentEvent::Stopping { reason, signal } => {
            ("agent.stopping", json!({ "reason": reason, "signal": signal }))
        }
        _ => return None,
    })
}

/// What the agent's outcome means for the attempt (before `verify`).
fn judge(outcome: &AgentOutcome, cancel: &CancelToken) -> AttemptEnd {
    if outcome.stopped == Some(StopReason::Cancelled) || cancel.level() != CancelLevel::Running {
        return AttemptEnd::Interrupted;
    }
    match &outcome.status {
        Finish::Success => AttemptEnd::Verified,
        Finish::Failed { kind: ErrorKind::UsageLimit, message } => AttemptEnd::Limited {
            kind: outcome.limit.as_ref().map_or(LimitKind::Usage, |limit| limit.kind),
            resets_at: outcome.limit.as_ref().and_then(|limit| limit.resets_at),
            message: message.clone(),
        },
        Finish::Failed { kind: ErrorKind::Cancelled, .. } => AttemptEnd::Interrupted,
        Finish::Failed { kind, message } => {
            failed(format!("the agent failed ({kind}): {}", shorten(message, 400)))
        }
    }
}

fn resume_was_refused(outcome: &AgentOutcome) -> bool {
    match &outcome.status {
        Finish::Failed { kind, .. } => {
            outcome.usage.is_zero()
                && outcome.stopped.is_none()
                && !matches!(
                    kind,
                    ErrorKind::UsageLimit | ErrorKind::Cancelled | ErrorKind::Authentication
                )
        }
        Finish::Success => false,
    }
}

fn failed(reason: String) -> AttemptEnd {
    AttemptEnd::Failed { reason, verify_output: None }
}
