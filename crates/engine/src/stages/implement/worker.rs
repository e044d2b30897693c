//! The worker side of scale-out (docs/scale-out.md): `orca worker` on any
//! machine claims ready tasks of its repository's runs whose coordinator
//! works with a git remote, runs each attempt here (the same
//! [`run_attempt`] `orca run` uses: worktree, agent, commit, verify),
//! pushes the attempt branch to the remote and submits the commit through
//! its lease. The coordinator merges; a worker never touches the
//! integration branch on the remote.
//!
//! The store decides whose work counts: every write is fenced by the
//! attempt number, so a worker that lost its lease (frozen, cut off, too
//! slow) changes nothing; it stops its agent and submits nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orca_agents::{CancelToken, LimitKind};
use orca_git::{PushError, attempt_branch, integration_branch};
use orca_plan::PlanGraph;
use orca_store::{
    AttemptInfo, AttemptRecord, Lease, LeaseError, RetryPolicy, RunId, Store, StoreError,
    WorkerInfo,
};
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::attempt::{AttemptEnd, AttemptJob, AttemptReport, NewAttempt, run_attempt};
use super::context::RunContext;
use super::messages::Msg;
use super::remote_push::NotPushed;
use crate::error::EngineError;
use crate::excerpt::{error_chain, shorten};
use crate::git_thread::on_git;
use crate::pipeline::{OpenWorkspace, PipelineRecord};
use crate::profiles::AgentProfiles;
use crate::prompt::{DependencyChange, last_bytes};

/// How often the worker looks for runs and ready tasks when it has a
/// free slot and found nothing last time.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// A peer is live when it was seen within this many lease TTLs.
const LIVE_TTLS: u32 = 3;

/// How often a running attempt's spending so far is written to the store.
const LIVE_SPEND_EVERY: Duration = Duration::from_millis(500);

/// The longest wait between tries while the store cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What `orca worker` was asked to do.
#[derive(Debug, Clone)]
pub struct WorkerRequest {
    /// This worker's name in the store (unique per process).
    pub name: String,
    /// The git remote attempt branches go to (URL or a remote's name).
    pub remote: String,
    /// The most attempts at once.
    pub agents: usize,
    /// The agent for tasks whose plan names none (else the run's, else config).
    pub agent: Option<String>,
    /// After SIGTERM: how long running attempts may take to finish before
    /// they are stopped and their tasks handed back.
    pub grace: Duration,
    /// The orca version, as registered.
    pub version: String,
}

/// One thing a worker did, for its log (`--json`: one object per line).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    WorkerStarted { name: String, host: String, agents: usize, remote: String },
    Claimed { run: String, task: String, attempt: i64, agent: String },
    Pushed { run: String, task: String, attempt: i64, branch: String, commit: String },
    Submitted { run: String, task: String, attempt: i64, commit: String },
    AttemptFailed { run: String, task: String, attempt: i64, reason: String },
    Released { run: String, task: String, attempt: i64, reason: String },
    LeaseLost { run: String, task: String, attempt: i64, detail: String },
    PushRejected { run: String, task: String, attempt: i64, reason: String },
    RunRefused { run: String, reason: String },
    StoreUnavailable { error: String, retry_in_ms: u64 },
    StoreBack,
    Paused { reason: String, seconds: u64 },
    Stopping { reason: String },
}

/// What the worker did before it stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerReport {
    pub name: String,
    pub submitted: usize,
    pub failed: usize,
    pub released: usize,
    pub lost: usize,
}

/// Why a verified attempt's work is not on the remote.
#[derive(Debug, thiserror::Error)]
enum Unpushed {
    #[error("the attempt left no commit")]
    NoCommit,
    #[error(transparent)]
    Push(#[from] NotPushed),
}

/// A run this worker may work on.
struct RunSlot {
    ctx: Arc<RunContext>,
}

/// An attempt running here.
struct Running {
    run: RunId,
    lease: Lease,
    branch: String,
    cancel: CancelToken,
    last_heartbeat: Instant,
    lost: bool,
    /// When the attempt's spending was last written to the store, and
    /// what arrived since then, not written yet.
    spend_written: Option<Instant>,
    spend_pending: Option<serde_json::Value>,
}

/// Works the queue until interrupted. The first interrupt stops claiming
/// and gives running attempts `grace` to finish; then they are stopped
/// (their work committed and pushed) and their tasks handed back. A
/// second interrupt kills the agents.
pub async fn work(
    ws: OpenWorkspace,
    request: WorkerRequest,
    events: mpsc::UnboundedSender<WorkerEvent>,
    mut interrupts: mpsc::UnboundedReceiver<()>,
) -> Result<WorkerReport, EngineError> {
    let store = ws.store.clone();
    // A database restart or a network drop is ridden out, not fatal.
    orca_store::set_reconnect_patience(ws.config.lease.ttl * 2);
    let host = crate::process::host_name();
    let me = WorkerInfo::this_process(
        &request.name,
        &host,
        "worker",
        &request.version,
        i64::try_from(request.agents).unwrap_or(i64::MAX),
    );
    store.register_process(&me).await?;
    refuse_incompatible_coordinators(&store, &me, ws.config.lease.ttl).await?;
    // A worker killed with kill -9 left its agents running in this clone:
    // their leases are gone, their work will not be submitted.
    let runs_dir = ws.layout.state_dir().join("runs");
    for run in std::fs::read_dir(&runs_dir).into_iter().flatten().flatten() {
        let killed = super::recovery::kill_orphans(&run.path().join("tasks"));
        if killed > 0 {
            tracing::info!(killed, run = %run.path().display(), "killed agents a previous worker left running");
        }
    }
    let repo_id = ws.repo_ref.as_ref().map(|r| r.id.clone()).ok_or(EngineError::NoCommit)?;
    let _ = events.send(WorkerEvent::WorkerStarted {
        name: request.name.clone(),
        host: host.clone(),
        agents: request.agents,
        remote: orca_store::redact_url(&request.remote),
    });
    let mut worker = Worker {
        ws,
        request,
        events,
        store,
        me,
        repo_id,
        runs: HashMap::new(),
        refused: HashSet::new(),
        running: HashMap::new(),
        next_slot: 0,
        report: WorkerReport::default(),
        store_down_since: None,
        paused_until: None,
        stopping: false,
    };
    worker.report.name = worker.request.name.clone();
    let result = worker.main_loop(&mut interrupts).await;
    if let Err(error) = worker.store.forget_worker(&worker.request.name).await {
        tracing::warn!(%error, "cannot remove this worker from the store's list");
    }
    result.map(|()| worker.report)
}

/// Refuses to start next to a live coordinator of another protocol.
async fn refuse_incompatible_coordinators(
    store: &Store,
    me: &WorkerInfo,
    ttl: Duration,
) -> Result<(), EngineError> {
    let now = store.now_ms().await?;
    let live = i64::try_from((ttl * LIVE_TTLS).as_millis()).unwrap_or(i64::MAX);
    for peer in store.workers().await? {
        if peer.role.as_deref() == Some("coordinator")
            && now - peer.last_seen_ms < live
            && let Some(why) = peer.incompatibility(me)
        {
            return Err(EngineError::Incompatible(why));
        }
    }
    Ok(())
}

struct Worker {
    ws: OpenWorkspace,
    request: WorkerRequest,
    events: mpsc::UnboundedSender<WorkerEvent>,
    store: Store,
    me: WorkerInfo,
    repo_id: String,
    runs: HashMap<RunId, RunSlot>,
    /// Runs this worker will not work on (local runs, other protocols).
    refused: HashSet<RunId>,
    running: HashMap<usize, Running>,
    next_slot: usize,
    report: WorkerReport,
    store_down_since: Option<Instant>,
    paused_until: Option<Instant>,
    stopping: bool,
}

impl Worker {
    async fn main_loop(
        &mut self,
        interrupts: &mut mpsc::UnboundedReceiver<()>,
    ) -> Result<(), EngineError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Msg)>();
        let lease = self.ws.config.lease.clone();
        let mut heartbeat = tokio::time::interval(lease.heartbeat.min(lease.ttl / 3));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rescue = tokio::time::interval(lease.ttl / 2);
        rescue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping: Option<Instant> = None;
        let mut stopped_agents = false;
        let mut interrupts_seen = 0u32;
        let mut backoff = IDLE_POLL;
        loop {
            if let Some(deadline) = stopping {
                if self.running.is_empty() {
                    return Ok(());
                }
                if !stopped_agents && Instant::now() >= deadline {
                    stopped_agents = true;
                    for running in self.running.values() {
                        running.cancel.stop();
                    }
                }
            }
            let mut claimed_any = false;
            if stopping.is_none() && self.paused_until.is_none_or(|until| until <= Instant::now()) {
                match self.claim(&tx).await {
                    Ok(claimed) => {
                        claimed_any = claimed;
                        self.store_is_back();
                        backoff = IDLE_POLL;
                    }
                    Err(EngineError::Store(error)) => {
                        backoff = self.store_is_down(&error, backoff);
                    }
                    Err(error) => return Err(error),
                }
            }
            let wait = if claimed_any { Duration::ZERO } else { backoff };
            let grace_left = stopping
                .filter(|_| !stopped_agents)
                .map(|deadline| deadline.saturating_duration_since(Instant::now()));
            tokio::select! {
                Some((slot, msg)) = rx.recv() => self.handle(slot, msg).await,
                _ = heartbeat.tick() => self.heartbeat().await,
                _ = rescue.tick() => {
                    if let Err(error) = self.store.rescue_expired().await {
                        tracing::warn!(%error, "cannot rescue expired leases");
                    }
                }
                Some(()) = interrupts.recv() => {
                    interrupts_seen += 1;
                    if interrupts_seen == 1 {
                        stopping = Some(Instant::now() + self.request.grace);
                        self.stopping = true;
                        let _ = self.events.send(WorkerEvent::Stopping {
                            reason: format!(
                                "stopping: no new claims; {} running attempt(s) get {} to finish",
                                self.running.len(),
                                orca_agents::format_duration(self.request.grace)
                            ),
                        });
                        self.alive().await;
                    } else {
                        let _ = self.events.send(WorkerEvent::Stopping {
                            reason: "interrupted again: killing agents".into(),
                        });
                        for running in self.running.values() {
                            running.cancel.kill();
                        }
                    }
                }
                () = tokio::time::sleep(grace_left.map_or(wait, |left| left.min(wait.max(IDLE_POLL)))) => {}
            }
        }
    }

    fn store_is_down(&mut self, error: &StoreError, backoff: Duration) -> Duration {
        self.store_down_since.get_or_insert_with(Instant::now);
        let _ = self.events.send(WorkerEvent::StoreUnavailable {
            error: shorten(&error_chain(error), 300),
            retry_in_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        });
        (backoff * 2).min(MAX_BACKOFF)
    }

    fn store_is_back(&mut self) {
        if self.store_down_since.take().is_some() {
            let _ = self.events.send(WorkerEvent::StoreBack);
        }
    }

    /// Claims what the free slots allow, from the repository's runs
    /// oldest first. Returns whether it claimed anything.
    async fn claim(
        &mut self,
        tx: &mpsc::UnboundedSender<(usize, Msg)>,
    ) -> Result<bool, EngineError> {
        let free = self.request.agents.saturating_sub(self.running.len());
        if free == 0 {
            return Ok(false);
        }
        let ttl = self.ws.config.lease.ttl;
        let mut claimed = false;
        let mut free = free;
        for run in self.store.active_runs_of_repo(&self.repo_id).await? {
            if free == 0 {
                break;
            }
            if self.refused.contains(&run) {
                continue;
            }
            match self.accept_run(&run).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error @ EngineError::Store(_)) => return Err(error),
                // Something about this run (its plan, this machine's
                // config for it): the other runs go on.
                Err(error) => {
                    self.refused.insert(run.clone());
                    let reason = format!("cannot work on it: {}", error_chain(&error));
                    let _ =
                        self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
                    continue;
                }
            }
            let leases = self.store.claim(&run, &self.request.name, free, ttl).await?;
            free -= leases.len();
            for lease in leases {
                claimed = true;
                self.launch(lease, tx).await?;
            }
        }
        Ok(claimed)
    }

    /// Whether this worker works on `run`: a run whose coordinator works
    /// with a remote and speaks this worker's protocol. Builds the run's
    /// context the first time.
    async fn accept_run(&mut self, run: &RunId) -> Result<bool, EngineError> {
        if self.runs.contains_key(run) {
            return Ok(true);
        }
        let record = PipelineRecord::load(&self.store, run).await?;
        let refuse = match (&record.options.remote, record.protocol) {
            (None, _) => Some(None),
            (Some(_), Some(protocol)) if protocol == self.me.protocol => None,
            (Some(_), protocol) => Some(Some(format!(
                "its coordinator speaks scale-out protocol {}, this orca {} speaks {}: run the \
                 same orca version on every machine",
                protocol.map_or_else(|| "(none)".to_owned(), |p| p.to_string()),
                self.me.version,
                self.me.protocol
            ))),
        };
        if let Some(reason) = refuse {
            self.refused.insert(run.clone());
            if let Some(reason) = reason {
                let _ = self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
            }
            return Ok(false);
        }
        let plan = crate::stages::parallel::stored_plan(&self.store, run).await?;
        let graph = PlanGraph::new(&plan).map_err(|error| EngineError::StoredPlan {
            run: run.clone(),
            source: Box::new(error),
        })?;
        let ws = &self.ws;
        let default_agent = self
            .request
            .agent
            .clone()
            .or_else(|| record.options.agent.clone())
            .unwrap_or_else(|| ws.config.run.agent.clone());
        // Agents this machine cannot run would spend every try of the
        // run's tasks: leave the run to workers that can.
        let options =
            crate::RunOptions { agent: Some(default_agent.clone()), ..Default::default() };
        let usable = match crate::stages::parallel::check_agents(ws, &options, Some(&plan)).await {
            Ok(()) => None,
            Err(error @ (EngineError::AgentsUnusable(_) | EngineError::Profile(_))) => {
                Some(format!("this machine cannot run its agents: {}", error_chain(&error)))
            }
            Err(error) => return Err(error),
        };
        if let Some(reason) = usable {
            self.refused.insert(run.clone());
            let _ = self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
            return Ok(false);
        }
        let profiles = AgentProfiles::from_config(&ws.config, &ws.host)?;
        let ctx = RunContext {
            agents: self.request.agents,
            resolver: false,
            keep_branches: true,
            repo: ws.repo.clone(),
            host: ws.host.clone(),
            layout: ws.layout.clone(),
            store: self.store.clone(),
            config: ws.config.clone(),
            run: run.clone(),
            integration: integration_branch(run.as_str()),
            nodes: graph.indices().collect(),
            plan,
            graph,
            profiles,
            default_agent,
            worker: self.request.name.clone(),
            remote: Some(self.request.remote.clone()),
            // The coordinator keeps the run's budget; a worker stops an
            // attempt over its task's budget.
            run_budget: crate::budget::Limit::of_run(&ws.config, record.options.budget),
        };
        self.runs.insert(run.clone(), RunSlot { ctx: Arc::new(ctx) });
        Ok(true)
    }

    async fn launch(
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
        let memory = super::recovery::remembered(&attempts);
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
            },
        );
        self.alive().await;
        Ok(())
    }

    /// What each dependency changed, from the attempts the store recorded
    /// and the objects the integration branch brought.
    async fn dependency_changes(
        &self,
        ctx: &Arc<RunContext>,
        index: usize,
    ) -> Result<Vec<DependencyChange>, EngineError> {
        let mut changes = Vec::new();
        for dep in ctx.graph.deps(ctx.node(index)) {
            let task = &ctx.plan.tasks[dep.index()];
            let attempts = self.store.attempts(&ctx.run, task.id.as_str()).await?;
            let Some(merged) = super::recovery::remembered(&attempts).merged else { continue };
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

    async fn handle(&mut self, slot: usize, msg: Msg) {
        match msg {
            Msg::Event(_) | Msg::MergeDone(_) => {}
            // The coordinator counts the run's budget from the attempts'
            // records: what this attempt spent so far goes there as it
            // grows, at most once a LIVE_SPEND_EVERY (the rest at the next
            // heartbeat, all of it when the attempt ends).
            Msg::Spend { attempt, usage, cost_usd, .. } => {
                let Some(running) =
                    self.running.get_mut(&slot).filter(|r| r.lease.attempt == attempt && !r.lost)
                else {
                    return;
                };
                running.spend_pending = Some(serde_json::json!({
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cached_tokens": usage.cached_tokens,
                    "cost_usd": cost_usd,
                }));
                if running.spend_written.is_none_or(|at| at.elapsed() >= LIVE_SPEND_EVERY) {
                    write_spend(&self.store, running).await;
                }
            }
            Msg::Session { attempt, session, .. } => {
                let Some(running) = self.running.get(&slot).filter(|r| r.lease.attempt == attempt)
                else {
                    return;
                };
                let info =
                    AttemptInfo { agent_session_id: Some(session), ..AttemptInfo::default() };
                if let Err(error) = self.store.record_attempt(&running.lease, &info).await {
                    tracing::warn!(%error, "cannot record the agent's session");
                }
            }
            Msg::Agent { task, attempt, kind, payload } => {
                let Some(running) = self.running.get(&slot) else { return };
                let payload = payload.to_string();
                if let Err(error) = self
                    .store
                    .append_event(&running.run, Some(&task), Some(attempt), kind, &payload)
                    .await
                {
                    tracing::warn!(%task, attempt, %error, "cannot record the agent's event");
                }
            }
            Msg::AttemptDone(report) => {
                if let Some(running) = self.running.remove(&slot) {
                    self.attempt_done(running, *report).await;
                }
                self.alive().await;
            }
        }
    }

    async fn attempt_done(&mut self, running: Running, report: AttemptReport) {
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
        let details = serde_json::json!({
            "end": match &report.end {
                AttemptEnd::Verified if pushed.is_err() => "unpushed",
                AttemptEnd::Verified => "verified",
                AttemptEnd::Failed { .. } => "failed",
                AttemptEnd::Limited { .. } => "limited",
                AttemptEnd::Interrupted => "interrupted",
                AttemptEnd::OverBudget { .. } => "over_budget",
            },
            "base": report.base,
            "head": report.head,
            "input_tokens": report.usage.input_tokens,
            "output_tokens": report.usage.output_tokens,
            "cached_tokens": report.usage.cached_tokens,
            "cost_usd": report.cost_usd,
            "host": self.me.host,
            "verify_output": match &report.end {
                AttemptEnd::Failed { verify_output: Some(output), .. } => Some(last_bytes(output, 4_000)),
                _ => None,
            },
        });
        let info = AttemptInfo {
            branch: Some(running.branch.clone()),
            agent: Some(report.agent.clone()),
            agent_session_id: report.session.clone(),
            commit_sha: report.head.clone(),
            summary: report.summary.clone(),
            details_json: Some(details.to_string()),
        };
        match report.end {
            AttemptEnd::Verified => {
                let commit = match (pushed, report.head.clone()) {
                    (Ok(()), Some(commit)) => Ok(commit),
                    (Err(unpushed), _) => Err(unpushed),
                    (Ok(()), None) => Err(Unpushed::NoCommit),
                };
                match commit {
                    Ok(commit) => match self.store.submit(&lease, &info).await {
                        Ok(()) => {
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
                self.release(&lease, "the worker stopped; its work is on its branch").await;
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
                    Ok(_) => {
                        self.report.failed += 1;
                        let _ = self.events.send(WorkerEvent::AttemptFailed {
                            run: lease.run.to_string(),
                            task: lease.task.clone(),
                            attempt: lease.attempt,
                            reason: shorten(&message, 300),
                        });
                    }
                    Err(error) => self.lease_error(&lease, error),
                }
            }
        }
    }

    /// Pushes the attempt's branch.
    async fn push(&self, running: &Running, head: &str) -> Result<(), NotPushed> {
        let ctx = self.runs[&running.run].ctx.clone();
        let (remote, branch) = (self.request.remote.clone(), running.branch.clone());
        let pushed = on_git(&ctx.repo, move |repo| {
            repo.push_branch(&remote, &branch)?;
            // The remote keeps it now: this clone does not collect one
            // branch per attempt it ever ran.
            let prefix = orca_git::run_branch_prefix(running_run(&branch));
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

    async fn record(&mut self, lease: &Lease, info: &AttemptInfo) {
        if let Err(error) = self.store.record_attempt(lease, info).await {
            tracing::warn!(task = %lease.task, %error, "cannot record the attempt");
        }
    }

    async fn fail(&mut self, lease: &Lease, reason: &str) {
        let policy = RetryPolicy {
            base: self.ws.config.limits.retry_backoff_base,
            max: self.ws.config.limits.retry_backoff_max,
            ..RetryPolicy::default()
        };
        match self.store.fail(lease, reason, &policy).await {
            Ok(_) => {
                self.report.failed += 1;
                let _ = self.events.send(WorkerEvent::AttemptFailed {
                    run: lease.run.to_string(),
                    task: lease.task.clone(),
                    attempt: lease.attempt,
                    reason: shorten(reason, 300),
                });
            }
            Err(error) => self.lease_error(lease, error),
        }
    }

    async fn release(&mut self, lease: &Lease, reason: &str) {
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

    fn lease_error(&mut self, lease: &Lease, error: LeaseError) {
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

    /// Renews every lease. A lease the store says is lost, or that could
    /// not be renewed for a whole TTL (the store unreachable), stops its
    /// agent: someone else may hold the task by now.
    async fn heartbeat(&mut self) {
        let ttl = self.ws.config.lease.ttl;
        let mut store_failed = None;
        for running in self.running.values_mut() {
            if running.lost {
                continue;
            }
            write_spend(&self.store, running).await;
            let lost = match self.store.heartbeat(&running.lease).await {
                Ok(_) => {
                    running.last_heartbeat = Instant::now();
                    None
                }
                Err(LeaseError::Lost(lost)) => Some(lost.to_string()),
                Err(LeaseError::Store(error)) => {
                    store_failed = Some(error);
                    (running.last_heartbeat.elapsed() >= ttl).then(|| {
                        format!(
                            "no heartbeat reached the store for {}",
                            orca_agents::format_duration(ttl)
                        )
                    })
                }
            };
            if let Some(detail) = lost {
                running.lost = true;
                running.cancel.kill();
                let _ = self.events.send(WorkerEvent::LeaseLost {
                    run: running.lease.run.to_string(),
                    task: running.lease.task.clone(),
                    attempt: running.lease.attempt,
                    detail: format!("{}; stopping its agent", shorten(&detail, 300)),
                });
            }
        }
        match store_failed {
            Some(error) => {
                self.store_is_down(&error, IDLE_POLL);
            }
            None => self.alive().await,
        }
    }

    /// Tells the store this worker is alive and what it runs.
    async fn alive(&mut self) {
        let tasks: Vec<String> = self
            .running
            .values()
            .map(|r| format!("{}/{}/a{}", r.run, r.lease.task, r.lease.attempt))
            .collect();
        if let Err(error) = self.store.worker_alive(&self.request.name, &tasks, self.stopping).await
        {
            tracing::warn!(%error, "cannot tell the store this worker is alive");
        }
    }
}

/// The run component of an attempt branch `orca/<run>/<task>/a<n>`.
/// Writes what `running` spent so far, if anything is new, to its
/// attempt's record (replaced by the whole record when it ends).
async fn write_spend(store: &Store, running: &mut Running) {
    let Some(details) = running.spend_pending.take() else { return };
    running.spend_written = Some(Instant::now());
    let info = AttemptInfo { details_json: Some(details.to_string()), ..AttemptInfo::default() };
    // A lost lease shows at the heartbeat, which stops the attempt.
    if let Err(error) = store.record_attempt(&running.lease, &info).await {
        tracing::warn!(task = %running.lease.task, %error, "cannot record the attempt's spending");
    }
}

fn running_run(branch: &str) -> &str {
    branch.split('/').nth(1).unwrap_or_default()
}
