//! The one owner of a run's state. Attempts, the merge queue, heartbeats,
//! pauses and interrupts all arrive as messages or timers in one loop; only
//! the dispatcher writes task state to the store and the schedule.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orca_agents::{CancelToken, LimitKind, Usage};
use orca_git::attempt_branch;
use orca_store::{AttemptInfo, FailOutcome, Lease, LeaseError, RetryPolicy};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::attempt::{AttemptEnd, AttemptJob, AttemptReport, NewAttempt, run_attempt};
use super::context::{MergedChange, PreviousAttempt, RunContext, TaskMemory};
use super::merge::{MergeEnd, MergeJob, MergeReport, ResolverJob, merge_queue};
use super::messages::Msg;
use super::{ImplementEnd, ImplementReport};
use crate::budget::Spend;
use crate::control::Control;
use crate::error::EngineError;
use crate::events::{RunEvent, TimedEvent, Totals, now_ms};
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::pipeline::Interrupts;
use crate::prompt::{DependencyChange, PreviousFailure};
use crate::schedule::{Schedule, TaskPhase};
use orca_config::OnBudget;

pub(super) mod coordinator;
use coordinator::{PUBLISH_BATCH, PUBLISH_WAIT, Unpublished};

/// How often a coordinator looks for tasks workers verified.
const REMOTE_POLL: Duration = Duration::from_millis(250);

/// How long a task whose claim failed waits before the next try (another
/// worker holds it, or its retry backoff has not passed in the store).
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// How long dispatch pauses on a usage limit whose reset time is unknown
/// (plus `[limits] usage_limit_margin`).
const UNKNOWN_RESET: Duration = Duration::from_secs(5 * 60);

/// How long dispatch pauses on a rate limit whose retry time is unknown:
/// rate limits lift within seconds, unlike a spent usage allowance.
const UNKNOWN_RETRY: Duration = Duration::from_secs(30);

const PAUSED_BY_REQUEST: &str = "paused by a request (orca dashboard); resume dispatch there";

/// How often the run's log is read for requests from other processes
/// (`orca dashboard`): pause, resume, cancel an attempt.
const CONTROL_POLL: Duration = Duration::from_secs(1);

/// Verified attempts whose merge a crash interrupted: merge them without
/// running the agent again.
pub(super) type PendingMerges = Vec<(usize, String)>;

pub(super) struct Dispatcher {
    ctx: Arc<RunContext>,
    schedule: Schedule,
    memory: Vec<TaskMemory>,
    leases: HashMap<usize, Lease>,
    /// Leases the store says we lost: the attempt's report is ignored.
    lost: HashMap<usize, i64>,
    cancels: HashMap<usize, CancelToken>,
    held: HashMap<usize, Instant>,
    pending_merges: PendingMerges,
    paused_until: Option<Instant>,
    /// Dispatch paused by a request (crate::control) until one resumes it.
    paused_by_request: bool,
    /// The last event of the run's log read for requests.
    control_seq: i64,
    stopping: bool,
    killing: bool,
    /// Why the run stopped when it was not the user: the merge queue hit
    /// something that is not a task's fault.
    halted: Option<String>,
    executors: usize,
    merges: usize,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    merge_tx: Option<mpsc::UnboundedSender<MergeJob>>,
    events: mpsc::UnboundedSender<TimedEvent>,
    interrupts: Interrupts,
    started: Instant,
    started_at: HashMap<usize, Instant>,
    /// Seconds spent per unit of plan weight, over merged tasks.
    pace: (f64, u64),
    usage: Usage,
    cost_usd: f64,
    /// What each running attempt has spent so far, by task.
    live_spend: HashMap<usize, Spend>,
    /// What merge-conflict resolvers spent in this session.
    resolver_spend: Spend,
    /// The run's budget is spent: nothing new starts.
    budget_spent: bool,
    failures: Vec<(String, String)>,
    resumed: bool,
    /// Scale-out: what the coordinator side keeps (docs/scale-out.md).
    remote: coordinator::RemoteState,
}

impl Dispatcher {
    pub(super) fn new(
        ctx: Arc<RunContext>,
        schedule: Schedule,
        memory: Vec<TaskMemory>,
        pending_merges: PendingMerges,
        events: mpsc::UnboundedSender<TimedEvent>,
        interrupts: Interrupts,
        resumed: bool,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (merge_tx, merge_rx) = mpsc::unbounded_channel();
        tokio::spawn(merge_queue(ctx.repo.clone(), ctx.host.clone(), merge_rx, tx.clone()));
        Dispatcher {
            ctx,
            schedule,
            memory,
            leases: HashMap::new(),
            lost: HashMap::new(),
            cancels: HashMap::new(),
            held: HashMap::new(),
            pending_merges,
            paused_until: None,
            paused_by_request: false,
            control_seq: 0,
            stopping: false,
            killing: false,
            halted: None,
            executors: 0,
            merges: 0,
            tx,
            rx,
            merge_tx: Some(merge_tx),
            events,
            interrupts,
            started: Instant::now(),
            started_at: HashMap::new(),
            pace: (0.0, 0),
            usage: Usage::default(),
            cost_usd: 0.0,
            live_spend: HashMap::new(),
            resolver_spend: Spend::default(),
            budget_spent: false,
            failures: Vec::new(),
            resumed,
            remote: coordinator::RemoteState::default(),
        }
    }

    pub(super) async fn run(mut self) -> Result<ImplementReport, EngineError> {
        let ctx = self.ctx.clone();
        self.emit(RunEvent::ImplementStarted {
            tasks: ctx.plan.tasks.len(),
            agents: ctx.agents,
            integration_branch: ctx.integration.clone(),
            resumed: self.resumed,
        });
        self.progress();
        if let Some(reason) = self.start_remote().await? {
            self.halt(reason);
        }
        for (index, branch) in std::mem::take(&mut self.pending_merges) {
            self.merge_again(index, branch).await?;
        }
        let (paused, seq) = crate::control::paused_now(&ctx.store, &ctx.run).await?;
        self.control_seq = seq;
        if paused {
            self.paused_by_request = true;
            self.emit(RunEvent::Paused { reason: PAUSED_BY_REQUEST.into(), until_ms: 0 });
        }
        // A run resumed without a higher budget stops here, before any try.
        self.check_run_budget();
        let mut heartbeat = tokio::time::interval(ctx.config.lease.heartbeat);
        heartbeat.tick().await;
        let mut control = tokio::time::interval(CONTROL_POLL);
        control.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        control.tick().await;
        let mut remote_poll = tokio::time::interval(REMOTE_POLL);
        remote_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let remote = ctx.remote.is_some();
        // Told at once when a worker submits; the poll above is the
        // fallback (and follows what workers do).
        let verified = remote.then(|| ctx.store.wakeup(orca_store::Wake::Verified));
        loop {
            let now = Instant::now();
            let due: Vec<usize> =
                self.held.iter().filter(|(_, at)| **at <= now).map(|(i, _)| *i).collect();
            for index in due {
                self.held.remove(&index);
                self.schedule.unhold(index);
            }
            if self.paused_until.is_some_and(|until| until <= now) {
                self.paused_until = None;
                self.emit(RunEvent::Unpaused);
            }
            if !self.stopping && self.paused_until.is_none() && !self.paused_by_request {
                self.dispatch().await?;
            }
            if self.executors == 0 && self.merges == 0 {
                if self.stopping || self.schedule.is_finished() {
                    break;
                }
                // With a remote, workers elsewhere hold the tasks.
                if self.held.is_empty()
                    && self.paused_until.is_none()
                    && !self.paused_by_request
                    && !remote
                {
                    return Err(EngineError::Stuck(format!("{:?}", self.schedule.counts())));
                }
            }
            if self.remote.publish_by.is_some_and(|by| by <= Instant::now()) {
                self.publish_merged().await?;
            }
            let wake = self
                .held
                .values()
                .chain(self.paused_until.iter())
                .chain(self.remote.publish_by.iter())
                .min()
                .copied();
            tokio::select! {
                Some(msg) = self.rx.recv() => self.handle(msg).await?,
                _ = heartbeat.tick() => self.heartbeat().await,
                _ = control.tick() => self.control().await,
                _ = remote_poll.tick(), if remote && !self.stopping => self.poll_remote().await?,
                true = told(verified.as_ref()), if remote && !self.stopping => self.poll_remote().await?,
                count = self.interrupts.next() => self.interrupt(count),
                () = sleep_until(wake) => {}
            }
        }
        self.finish().await
    }

    /// Starts every task the schedule allows now.
    async fn dispatch(&mut self) -> Result<(), EngineError> {
        for index in self.schedule.start_ready() {
            self.launch(index).await?;
        }
        Ok(())
    }

    async fn launch(&mut self, index: usize) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let task = ctx.plan.tasks[index].clone();
        let lease = match ctx
            .store
            .claim_task(&ctx.run, task.id.as_str(), &ctx.worker, ctx.config.lease.ttl)
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                // Not claimable now: its backoff runs, or someone else holds it.
                self.schedule.hold(index);
                self.held.insert(index, Instant::now() + CLAIM_RETRY);
                return Ok(());
            }
            Err(error) => return Err(EngineError::Store(error)),
        };
        let profile = ctx.profile_for(&task)?;
        let branch =
            attempt_branch(ctx.run.as_str(), task.id.as_str(), attempt_number(lease.attempt));
        let info = AttemptInfo {
            branch: Some(branch.clone()),
            agent: Some(profile.name.clone()),
            ..AttemptInfo::default()
        };
        if let Err(error) = ctx.store.record_attempt(&lease, &info).await {
            return self.lease_error(index, error);
        }
        let previous = self.memory[index].previous.clone();
        let resume =
            previous.as_ref().filter(|p| p.agent == profile.name).and_then(|p| p.session.clone());
        let start_from = match &previous {
            // Verified work whose merge failed would collide the same way again.
            Some(previous) if previous.verified => ctx.integration.clone(),
            Some(previous) if branch_exists(&ctx, &previous.branch).await => {
                previous.branch.clone()
            }
            _ => ctx.integration.clone(),
        };
        let job = AttemptJob::new(
            &ctx,
            NewAttempt {
                index,
                attempt: lease.attempt,
                branch: branch.clone(),
                start_from,
                profile: profile.clone(),
                failure: previous.as_ref().and_then(|p| p.failure.as_ref()),
                resume: resume.clone(),
                dependencies: self.dependency_changes(index).await,
                spent_before: self.memory[index].spent,
            },
        );
        let cancel = job.cancel.clone();
        self.emit(RunEvent::TaskStarted {
            task: task.id.to_string(),
            title: task.title.clone(),
            attempt: lease.attempt,
            agent: profile.name.clone(),
            branch,
            resumed_session: resume.is_some(),
        });
        self.started_at.insert(index, Instant::now());
        self.cancels.insert(index, cancel);
        if ctx.remote.is_some() {
            self.remote.own.insert((lease.task.clone(), lease.attempt));
        }
        self.leases.insert(index, lease);
        self.executors += 1;
        let span = tracing::info_span!("attempt", task = %task.id, attempt = job.attempt);
        tokio::spawn(
            run_attempt(ctx.repo.clone(), ctx.host.clone(), job, self.tx.clone()).instrument(span),
        );
        self.progress();
        Ok(())
    }

    async fn handle(&mut self, msg: Msg) -> Result<(), EngineError> {
        match msg {
            // Live agent numbers; totals are added when an attempt ends.
            Msg::Event(event) => self.emit(event),
            Msg::Session { index, attempt, session } => {
                self.record_session(index, attempt, session).await
            }
            Msg::Spend { index, attempt, spend, .. } => {
                if self.leases.get(&index).is_some_and(|lease| lease.attempt == attempt) {
                    self.live_spend.insert(index, spend);
                    self.check_run_budget();
                }
            }
            Msg::Agent { task, attempt, kind, payload } => {
                let ctx = self.ctx.clone();
                let payload = payload.to_string();
                // A fact for watchers, not task state: a store hiccup
                // here must not stop the run.
                if let Err(error) = ctx
                    .store
                    .append_event(&ctx.run, Some(&task), Some(attempt), kind, &payload)
                    .await
                {
                    tracing::warn!(%task, attempt, %error, "cannot record the agent's event");
                }
            }
            Msg::AttemptDone(report) => {
                self.attempt_done(*report).await?;
                self.progress();
            }
            Msg::MergeDone(report) => {
                self.merge_done(*report).await?;
                // The merge queue ran dry: what it merged goes out now.
                if self.merges == 0 {
                    self.publish_merged().await?;
                }
                self.progress();
            }
        }
        Ok(())
    }

    async fn attempt_done(&mut self, report: AttemptReport) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let index = report.index;
        self.executors -= 1;
        self.cancels.remove(&index);
        self.usage.add(&report.usage);
        self.cost_usd += report.cost_usd.unwrap_or(0.0);
        self.live_spend.remove(&index);
        self.memory[index].spent.add(report.spend);
        self.memory[index].spent_in_run.add(report.spend);
        if self.ctx.remote.is_some() {
            self.remote.own_spent.add(report.spend);
        }
        self.check_run_budget();
        let task = ctx.plan.tasks[index].clone();
        let Some(lease) = self.leases.get(&index).cloned() else {
            return Ok(());
        };
        let branch =
            attempt_branch(ctx.run.as_str(), task.id.as_str(), attempt_number(report.attempt));
        self.memory[index].previous = Some(PreviousAttempt {
            branch: branch.clone(),
            agent: report.agent.clone(),
            session: report.session.clone(),
            failure: match &report.end {
                AttemptEnd::Failed { reason, verify_output } => Some(PreviousFailure {
                    attempt: report.attempt,
                    reason: reason.clone(),
                    verify_output: verify_output.clone(),
                }),
                AttemptEnd::OverBudget { spent } => Some(PreviousFailure {
                    attempt: report.attempt,
                    reason: format!("stopped over the task's budget ({spent})"),
                    verify_output: None,
                }),
                _ => None,
            },
            verified: matches!(report.end, AttemptEnd::Verified),
        });
        if self.lost.remove(&index).is_some() {
            self.leases.remove(&index);
            self.schedule.hold(index);
            self.held.insert(index, Instant::now() + CLAIM_RETRY);
            return Ok(());
        }
        let info = report.record(&branch, report.end.name(), None);
        if let Err(error) = ctx.store.record_attempt(&lease, &info).await {
            return self.lease_error(index, error);
        }
        match report.end {
            AttemptEnd::Verified => {
                self.memory[index].attempt_base = report.base.clone();
                self.memory[index].attempt_head = report.head.clone();
                self.send_to_merge(index, report.attempt, branch);
            }
            AttemptEnd::Failed { reason, .. } => {
                self.failed_attempt(index, &lease, &reason).await?
            }
            AttemptEnd::Limited { kind, resets_at, message } => {
                self.leases.remove(&index);
                let what = limit_name(kind);
                self.release(index, &lease, &format!("{what}: {}", shorten(&message, 200))).await?;
                self.pause(kind, resets_at, &message);
            }
            AttemptEnd::Interrupted => {
                self.leases.remove(&index);
                self.release(index, &lease, "interrupted; its work is committed on its branch")
                    .await?;
            }
            // Another try would spend more of what is already spent: the
            // task fails for good, its work kept on its branch.
            AttemptEnd::OverBudget { spent } => {
                self.leases.remove(&index);
                let message = format!(
                    "over its budget ({spent}; budget: {}); its work is kept on {branch}; \
                     `orca resume --retry-failed` gives it fresh attempts and a fresh budget",
                    task.budget.map(|budget| budget.to_string()).unwrap_or_default()
                );
                match ctx.store.fail_for_good(&lease, &message).await {
                    Ok(blocked) => {
                        self.memory[index].spent = Spend::default();
                        self.task_failed(index, message, blocked);
                    }
                    Err(error) => return self.lease_error(index, error),
                }
            }
        }
        Ok(())
    }

    /// What the run's task attempts spent, the running ones so far. A
    /// coordinator adds every attempt of the run the store records
    /// (workers' included) but its own, which it counts live.
    fn run_spend(&self) -> Spend {
        let mut spend = self.resolver_spend;
        if self.ctx.remote.is_some() {
            spend.add(self.remote.own_spent);
            spend.add(self.remote.others_spent);
        } else {
            for memory in &self.memory {
                spend.add(memory.spent_in_run);
            }
        }
        for live in self.live_spend.values() {
            spend.add(*live);
        }
        spend
    }

    /// Stops dispatching once the run's budget is spent: running attempts
    /// finish or, with `[run] on_budget = "stop"`, are stopped with their
    /// work committed. The run stops resumable; a higher budget continues it.
    fn check_run_budget(&mut self) {
        if self.budget_spent {
            return;
        }
        let Some(spent) = self.ctx.run_budget.exceeded(self.run_spend()) else { return };
        self.budget_spent = true;
        self.emit(RunEvent::OverBudget { task: None, attempt: None, spent: spent.clone() });
        let stop = self.ctx.config.run.on_budget == OnBudget::Stop;
        let running = self.executors + self.merges;
        self.emit(RunEvent::Stopping {
            reason: match (running, stop) {
                (0, _) => format!("the run's budget is spent ({spent})"),
                (_, false) => format!(
                    "the run's budget is spent ({spent}): nothing new starts, running attempts finish"
                ),
                (_, true) => format!(
                    "the run's budget is spent ({spent}): stopping running attempts, their work kept"
                ),
            },
        });
        if stop {
            for cancel in self.cancels.values() {
                cancel.stop();
            }
        }
        let halted = self.halted.get_or_insert(format!(
            "the run's budget is spent ({spent}); `orca resume --budget-usd N` or \
             `--budget-tokens N` with a higher limit (or a higher `[run] budget_usd` / \
             `budget_tokens`) continues it"
        ));
        if self.ctx.remote.is_some() {
            let note = format!("halted: {halted}");
            let stop_attempts = stop.then(|| format!("the run's budget is spent ({spent})"));
            self.tell_workers_budget_spent(note, stop_attempts);
        }
        self.stopping = true;
    }

    async fn record_session(&mut self, index: usize, attempt: i64, session: String) {
        let Some(lease) = self.leases.get(&index).filter(|lease| lease.attempt == attempt) else {
            return;
        };
        let info = AttemptInfo { agent_session_id: Some(session), ..AttemptInfo::default() };
        // A lost lease shows at the next heartbeat, which stops the attempt.
        if let Err(error) = self.ctx.store.record_attempt(lease, &info).await {
            tracing::warn!(task = %lease.task, attempt, %error, "cannot record the agent's session");
        }
    }

    fn send_to_merge(&mut self, index: usize, attempt: i64, branch: String) {
        // Interrupts and a lost lease reach a resolver through this token.
        let cancel = self.cancels.entry(index).or_default().clone();
        let ctx = &self.ctx;
        let task = ctx.plan.tasks[index].clone();
        let resolver = ctx.resolver.then(|| {
            let profile = ctx.profile_for(&task).ok()?;
            Some(ResolverJob {
                profile,
                worktree: ctx.resolver_worktree(&task),
                branch: format!("{branch}-resolve"),
                dir: ctx.attempt_dir(&task, attempt).join("resolve"),
                verify_timeout: ctx.verify_timeout(&task),
                cancel,
            })
        });
        let job = MergeJob {
            index,
            task,
            attempt,
            branch,
            integration: ctx.integration.clone(),
            resolver: resolver.flatten(),
        };
        if let Some(merge_tx) = &self.merge_tx
            && merge_tx.send(job).is_ok()
        {
            self.merges += 1;
            // The agent is done: its slot goes to the next ready task while
            // the merge queue works.
            self.schedule.release_slot(index);
        }
    }

    async fn merge_done(&mut self, report: MergeReport) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let index = report.index;
        self.merges -= 1;
        self.usage.add(&report.usage);
        self.cost_usd += report.cost_usd.unwrap_or(0.0);
        self.resolver_spend.add(Spend::of_usage(&report.usage, report.cost_usd.unwrap_or(0.0)));
        let task = ctx.plan.tasks[index].clone();
        let Some(lease) = self.leases.remove(&index) else {
            return Ok(());
        };
        if self.lost.remove(&index).is_some() {
            self.schedule.hold(index);
            self.held.insert(index, Instant::now() + CLAIM_RETRY);
            return Ok(());
        }
        match report.end {
            MergeEnd::Merged { commit, resolved_conflict } => {
                let memory = &mut self.memory[index];
                // What the attempt changed, as a worker or a resumed run
                // reads it back from the attempt's record: the merge commit
                // would also bring every task merged since the attempt
                // started.
                memory.merged = Some(match (&memory.attempt_base, &memory.attempt_head) {
                    (Some(base), Some(head)) => {
                        MergedChange { base: base.clone(), head: head.clone(), summary: None }
                    }
                    _ => MergedChange {
                        base: format!("{commit}^1"),
                        head: commit.clone(),
                        summary: None,
                    },
                });
                let result = serde_json::json!({
                    "merge_commit": commit,
                    "branch": attempt_branch(ctx.run.as_str(), task.id.as_str(), attempt_number(report.attempt)),
                    "resolved_conflict": resolved_conflict,
                    "base": memory.attempt_base,
                    "head": memory.attempt_head,
                });
                self.cancels.remove(&index);
                let merged = Unpublished {
                    index,
                    lease,
                    result: result.to_string(),
                    attempt: report.attempt,
                    commit,
                    resolved_conflict,
                };
                // Workers start dependents from the remote's integration
                // branch: it must hold this merge before the task completes.
                // One push serves every merge the queue has ready
                // (`publish_merged`), up to a batch or a second's wait.
                if ctx.remote.is_some() {
                    self.remote.unpublished.push(merged);
                    self.remote.publish_by.get_or_insert_with(|| Instant::now() + PUBLISH_WAIT);
                    if self.remote.unpublished.len() >= PUBLISH_BATCH {
                        self.publish_merged().await?;
                    }
                    return Ok(());
                }
                if let Err(error) = ctx.store.complete(&merged.lease, &merged.result).await {
                    return self.lease_error(index, error);
                }
                self.completed(merged);
            }
            // A resolver stopped by Ctrl-C did not fail: the task waits for
            // `orca resume` like any interrupted attempt.
            MergeEnd::Conflict { .. } if self.stopping => {
                self.cancels.remove(&index);
                self.release(index, &lease, "interrupted while resolving a merge conflict").await?;
            }
            MergeEnd::Conflict { files, reason } => {
                let message = format!("merge conflict in {}: {reason}", files.join(", "));
                self.cancels.remove(&index);
                match ctx.store.fail_for_good(&lease, &message).await {
                    Ok(blocked) => self.task_failed(index, message, blocked),
                    Err(error) => return self.lease_error(index, error),
                }
            }
            // Not the task's fault: its verified work waits on its branch,
            // and the run stops until the cause is fixed (`orca resume`
            // merges it then). No try is spent.
            MergeEnd::Error { reason } => {
                self.cancels.remove(&index);
                let reason =
                    format!("merging {} into {} failed: {reason}", task.id, ctx.integration);
                self.release(index, &lease, &reason).await?;
                self.halt(reason);
            }
        }
        Ok(())
    }

    /// A merged task whose completion the store took: its dependents may
    /// start.
    fn completed(&mut self, merged: Unpublished) {
        let index = merged.index;
        if let Some(started) = self.started_at.remove(&index) {
            let weight = self.ctx.graph.weight(self.ctx.node(index));
            self.pace.0 += started.elapsed().as_secs_f64();
            self.pace.1 += weight;
        }
        self.schedule.merged(index);
        self.emit(RunEvent::Merged {
            task: self.ctx.plan.tasks[index].id.to_string(),
            attempt: merged.attempt,
            commit: merged.commit,
            resolved_conflict: merged.resolved_conflict,
        });
    }

    async fn failed_attempt(
        &mut self,
        index: usize,
        lease: &Lease,
        reason: &str,
    ) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        self.leases.remove(&index);
        let policy = RetryPolicy {
            base: ctx.config.limits.retry_backoff_base,
            max: ctx.config.limits.retry_backoff_max,
            ..RetryPolicy::default()
        };
        match ctx.store.fail(lease, reason, &policy).await {
            Ok(FailOutcome::Retry { run_after_ms }) => {
                let delay =
                    Duration::from_millis(u64::try_from(run_after_ms - now_ms_i64()).unwrap_or(0));
                self.schedule.hold(index);
                self.held.insert(index, Instant::now() + delay);
                self.emit(RunEvent::Retrying {
                    task: ctx.plan.tasks[index].id.to_string(),
                    attempt: lease.attempt,
                    reason: shorten(reason, 300),
                    after_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                });
                Ok(())
            }
            Ok(FailOutcome::Failed { blocked }) => {
                self.task_failed(index, reason.to_owned(), blocked);
                Ok(())
            }
            Err(error) => self.lease_error(index, error),
        }
    }

    fn task_failed(&mut self, index: usize, reason: String, blocked: Vec<String>) {
        let id = self.ctx.plan.tasks[index].id.to_string();
        self.schedule.failed(index);
        self.failures.push((id.clone(), reason.clone()));
        self.emit(RunEvent::TaskFailed { task: id, reason: shorten(&reason, 600), blocked });
    }

    async fn release(
        &mut self,
        index: usize,
        lease: &Lease,
        reason: &str,
    ) -> Result<(), EngineError> {
        match self.hand_back(index, lease, reason).await? {
            Ok(()) => {
                self.schedule.returned(index);
                Ok(())
            }
            Err(error) => self.lease_error(index, error),
        }
    }

    /// A store write through a lease failed. A lost lease means another
    /// worker owns the task now: step back and look again later.
    fn lease_error(&mut self, index: usize, error: LeaseError) -> Result<(), EngineError> {
        match error {
            LeaseError::Lost(lost) => {
                tracing::warn!(task = %self.ctx.plan.tasks[index].id, %lost, "lease lost");
                self.leases.remove(&index);
                if self.schedule.phase(index) == TaskPhase::InFlight {
                    self.schedule.hold(index);
                }
                self.held.insert(index, Instant::now() + CLAIM_RETRY);
                Ok(())
            }
            LeaseError::Store(error) => Err(EngineError::Store(error)),
        }
    }

    /// Stops dispatching until the limit lifts. A usage limit waits for
    /// its reset time plus `[limits] usage_limit_margin`; a rate limit for
    /// its retry time alone (what the CLI reports of the server's
    /// `retry-after` or rate-limit reset). docs/run.md says the same.
    fn pause(&mut self, kind: LimitKind, resets_at: Option<u64>, message: &str) {
        let margin = self.ctx.config.limits.usage_limit_margin;
        let wait = match (kind, resets_at) {
            (LimitKind::Usage, Some(at)) => {
                Duration::from_secs(at.saturating_sub(now_secs())) + margin
            }
            (LimitKind::Usage, None) => UNKNOWN_RESET + margin,
            (LimitKind::Rate, Some(at)) => Duration::from_secs(at.saturating_sub(now_secs())),
            (LimitKind::Rate, None) => UNKNOWN_RETRY,
        };
        let until = Instant::now() + wait;
        if self.paused_until.is_none_or(|current| current < until) {
            self.paused_until = Some(until);
            self.emit(RunEvent::Paused {
                reason: format!("{}: {}", limit_name(kind), shorten(message, 200)),
                until_ms: now_ms() + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }

    /// Acts on the requests (crate::control) the run's log gained since
    /// the last look, and records what it did.
    async fn control(&mut self) {
        let ctx = self.ctx.clone();
        let events = match ctx.store.events(&ctx.run, self.control_seq, 1000).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "cannot read the run's log for requests");
                return;
            }
        };
        for event in &events {
            self.control_seq = event.seq;
            let Some(request) = Control::from_event(event) else { continue };
            let by = serde_json::from_str::<serde_json::Value>(&event.payload_json)
                .ok()
                .and_then(|payload| payload["by"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let done = match &request {
                Control::Pause if !self.paused_by_request => {
                    self.paused_by_request = true;
                    self.emit(RunEvent::Paused { reason: PAUSED_BY_REQUEST.into(), until_ms: 0 });
                    Some(("dispatch.paused", None, None))
                }
                Control::Resume if self.paused_by_request => {
                    self.paused_by_request = false;
                    self.emit(RunEvent::Unpaused);
                    Some(("dispatch.resumed", None, None))
                }
                Control::Cancel { task, attempt } => {
                    let index = ctx.plan.tasks.iter().position(|t| t.id.as_str() == task);
                    let running = index.filter(|index| {
                        self.leases.get(index).is_some_and(|lease| lease.attempt == *attempt)
                    });
                    match running.and_then(|index| self.cancels.get(&index)) {
                        Some(cancel) => {
                            cancel.stop();
                            Some(("attempt.cancelled", Some(task.as_str()), Some(*attempt)))
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            if let Some((kind, task, attempt)) = done {
                tracing::info!(kind, ?task, ?attempt, %by, "acted on a request");
                let payload = serde_json::json!({ "by": by, "request": event.seq }).to_string();
                if let Err(error) =
                    ctx.store.append_event(&ctx.run, task, attempt, kind, &payload).await
                {
                    tracing::warn!(%error, kind, "cannot record what a request did");
                }
            }
        }
    }

    async fn heartbeat(&mut self) {
        for (index, lease) in &self.leases {
            if let Err(LeaseError::Lost(lost)) = self.ctx.store.heartbeat(lease).await {
                tracing::warn!(task = %lease.task, %lost, "lease lost while running; stopping the attempt");
                self.lost.insert(*index, lease.attempt);
                if let Some(cancel) = self.cancels.get(index) {
                    cancel.kill();
                }
            }
        }
    }

    /// Stops dispatching for a reason that is not the user's: running
    /// attempts finish and are kept, the run stays resumable.
    fn halt(&mut self, reason: String) {
        if self.halted.is_none() {
            self.emit(RunEvent::Stopping {
                reason: format!("{reason}; `orca resume` continues once that is fixed"),
            });
            self.halted = Some(reason);
        }
        self.stopping = true;
    }

    /// The user's interrupt number `count`: the first stops gracefully,
    /// later ones kill.
    fn interrupt(&mut self, count: u32) {
        if count <= 1 {
            self.stopping = true;
            self.emit(RunEvent::Stopping {
                reason: "interrupted: stopping agents and committing their work; `orca resume` continues".into(),
            });
            for cancel in self.cancels.values() {
                cancel.stop();
            }
        } else if !self.killing {
            self.killing = true;
            self.emit(RunEvent::Stopping { reason: "interrupted again: killing agents".into() });
            for cancel in self.cancels.values() {
                cancel.kill();
            }
        }
    }

    /// Re-queues a verified attempt whose merge a crash interrupted: a new
    /// lease, then straight to the merge queue.
    async fn merge_again(&mut self, index: usize, branch: String) -> Result<(), EngineError> {
        let ctx = self.ctx.clone();
        let task = &ctx.plan.tasks[index];
        let Some(lease) = ctx
            .store
            .claim_task(&ctx.run, task.id.as_str(), &ctx.worker, ctx.config.lease.ttl)
            .await?
        else {
            return Ok(());
        };
        let info = AttemptInfo { branch: Some(branch.clone()), ..AttemptInfo::default() };
        if let Err(error) = ctx.store.record_attempt(&lease, &info).await {
            return self.lease_error(index, error);
        }
        self.schedule.start(index);
        self.started_at.insert(index, Instant::now());
        self.leases.insert(index, lease.clone());
        self.send_to_merge(index, lease.attempt, branch);
        Ok(())
    }

    /// What each dependency of the task changed. A dependency's summary is
    /// asked of git once, by its first dependent, and kept.
    async fn dependency_changes(&mut self, index: usize) -> Vec<DependencyChange> {
        let ctx = self.ctx.clone();
        let mut changes = Vec::new();
        for dep in ctx.graph.deps(ctx.node(index)) {
            let dep = dep.index();
            let Some(merged) = &mut self.memory[dep].merged else { continue };
            let summary = match &merged.summary {
                Some(summary) => summary.clone(),
                None => {
                    let (base, head) = (merged.base.clone(), merged.head.clone());
                    let summary = on_git(&ctx.repo, move |repo| {
                        repo.summarize_range(&base, &head).map(|s| s.render(1_500))
                    })
                    .await;
                    match summary {
                        Ok(summary) => {
                            merged.summary = Some(summary.clone());
                            summary
                        }
                        // Not kept: the next dependent asks again.
                        Err(error) => format!("(no summary: {})", error_chain(&error)),
                    }
                }
            };
            let task = &ctx.plan.tasks[dep];
            changes.push(DependencyChange {
                id: task.id.to_string(),
                title: task.title.clone(),
                summary,
            });
        }
        changes
    }

    async fn finish(mut self) -> Result<ImplementReport, EngineError> {
        self.merge_tx = None;
        self.publish_merged().await?;
        // Workers must hear that the run's budget is spent even when
        // nothing of this dispatcher's own was left running to wait for.
        if let Some(telling) = self.remote.telling_workers.take() {
            let _ = telling.await;
        }
        let ctx = self.ctx.clone();
        let counts = self.schedule.counts();
        let end = if let Some(reason) = self.halted.take() {
            ImplementEnd::Halted { reason }
        } else if self.stopping && !self.schedule.is_finished() {
            ImplementEnd::Interrupted
        } else if counts.failed + counts.blocked == 0 {
            if !ctx.keep_branches {
                ctx.prune_attempt_branches().await;
                self.prune_remote_attempt_branches().await;
            }
            ImplementEnd::Completed
        } else {
            ImplementEnd::Failed
        };
        let blocked = (0..self.schedule.len())
            .filter_map(|index| match self.schedule.phase(index) {
                TaskPhase::Blocked { by } => {
                    Some((ctx.plan.tasks[index].id.to_string(), ctx.plan.tasks[by].id.to_string()))
                }
                _ => None,
            })
            .collect::<Vec<_>>();
        Ok(ImplementReport {
            end,
            merged: counts.merged,
            failed: std::mem::take(&mut self.failures),
            blocked,
            duration: self.started.elapsed(),
            usage: self.usage,
            cost_usd: self.cost_usd,
        })
    }

    fn progress(&self) {
        let counts = self.schedule.counts();
        let totals = Totals {
            done: counts.merged,
            running: counts.in_flight,
            queued: counts.waiting + counts.ready + counts.held,
            failed: counts.failed,
            blocked: counts.blocked,
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cost_usd: self.cost_usd,
            eta_secs: self.eta_secs(),
        };
        self.emit(RunEvent::Progress(totals));
    }

    /// Remaining critical path (or remaining work spread over the agents,
    /// if longer) at the pace observed so far.
    fn eta_secs(&self) -> Option<u64> {
        let (seconds, weight) = self.pace;
        if weight == 0 {
            return None;
        }
        let per_unit = seconds / weight as f64;
        let graph = &self.ctx.graph;
        let unfinished = (0..self.schedule.len()).filter(|&index| {
            matches!(
                self.schedule.phase(index),
                TaskPhase::Waiting | TaskPhase::Ready | TaskPhase::InFlight | TaskPhase::Held
            )
        });
        let (mut path, mut work) = (0u64, 0u64);
        for index in unfinished {
            let task = self.ctx.node(index);
            path = path.max(graph.remaining_path(task));
            work += graph.weight(task);
        }
        let spread = work as f64 / self.ctx.agents.max(1) as f64;
        Some((path as f64).max(spread).mul_add(per_unit, 0.0).round() as u64)
    }

    fn emit(&self, event: RunEvent) {
        crate::events::log(&event);
        let _ = self.events.send(TimedEvent { at_ms: now_ms(), event });
    }
}

fn limit_name(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Usage => "usage limit",
        LimitKind::Rate => "rate limit",
    }
}

fn attempt_number(attempt: i64) -> u32 {
    u32::try_from(attempt).unwrap_or(u32::MAX)
}

async fn branch_exists(ctx: &RunContext, branch: &str) -> bool {
    let branch = branch.to_owned();
    on_git(&ctx.repo, move |repo| repo.branch_exists(&branch)).await.unwrap_or(false)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn now_ms_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Whether a worker submitted something within a remote poll's time.
async fn told(verified: Option<&orca_store::Wakeup>) -> bool {
    match verified {
        Some(wakeup) => wakeup.wait(REMOTE_POLL).await,
        None => false,
    }
}
