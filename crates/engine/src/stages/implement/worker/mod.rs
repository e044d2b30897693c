//! The worker side of scale-out (docs/scale-out.md): `orca worker` on any
//! machine claims ready tasks of its repository's runs whose coordinator
//! works with a git remote, runs each attempt here (the same
//! `run_attempt` `orca run` uses: worktree, agent, commit, verify),
//! pushes the attempt branch to the remote and submits the commit through
//! its lease. The coordinator merges; a worker never touches the
//! integration branch on the remote.
//!
//! The store decides whose work counts: every write is fenced by the
//! attempt number, so a worker that lost its lease (frozen, cut off, too
//! slow) changes nothing; it stops its agent and submits nothing.
//!
//! [`work`] owns the worker's state and its loop; the rest is split by
//! what happens to an attempt: `claim` (which runs, which tasks),
//! `launch` (an attempt started), `finish` (pushed, then submitted,
//! failed or handed back) and `upkeep` (heartbeats, spending so far).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orca_agents::CancelToken;
use orca_store::{AttemptInfo, Lease, RunId, Store, StoreError, WorkerInfo};
use serde::Serialize;
use tokio::sync::mpsc;

use super::context::RunContext;
use super::messages::Msg;
use crate::error::EngineError;
use crate::excerpt::{error_chain, shorten};
use crate::pipeline::OpenWorkspace;

mod claim;
mod finish;
mod launch;
mod upkeep;

/// How often the worker looks for runs and ready tasks when it has a
/// free slot and found nothing last time.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// A peer is live when it was seen within this many lease TTLs.
const LIVE_TTLS: u32 = 3;

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
    WorkerStarted {
        name: String,
        host: String,
        agents: usize,
        remote: String,
    },
    Claimed {
        run: String,
        task: String,
        attempt: i64,
        agent: String,
    },
    Pushed {
        run: String,
        task: String,
        attempt: i64,
        branch: String,
        commit: String,
    },
    Submitted {
        run: String,
        task: String,
        attempt: i64,
        commit: String,
    },
    AttemptFailed {
        run: String,
        task: String,
        attempt: i64,
        reason: String,
    },
    Released {
        run: String,
        task: String,
        attempt: i64,
        reason: String,
    },
    LeaseLost {
        run: String,
        task: String,
        attempt: i64,
        detail: String,
    },
    PushRejected {
        run: String,
        task: String,
        attempt: i64,
        reason: String,
    },
    RunRefused {
        run: String,
        reason: String,
    },
    StoreUnavailable {
        error: String,
        retry_in_ms: u64,
    },
    StoreBack,
    Paused {
        reason: String,
        seconds: u64,
    },
    Stopping {
        reason: String,
    },
    /// The run's coordinator asked its attempts to stop (`on_budget =
    /// "stop"`): `attempts` of them ran here.
    RunStopped {
        run: String,
        reason: String,
        attempts: usize,
    },
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
    /// The run's log as it was when the attempt started: a request to stop
    /// the run's attempts written before it was not meant for this one.
    events_before: i64,
    /// Why this attempt was asked to stop (by the run's coordinator, or
    /// a cancel request), once it was.
    stopped_by: Option<String>,
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
        claimed_with_submit: Vec::new(),
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
    /// Leases the store handed over with a submit, to launch next.
    claimed_with_submit: Vec<Lease>,
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
        // Told when tasks become ready; the idle poll is the fallback.
        let ready = self.store.wakeup(orca_store::Wake::Ready);
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
            for lease in std::mem::take(&mut self.claimed_with_submit) {
                if stopping.is_some() {
                    self.release(&lease, "the worker is stopping").await;
                    continue;
                }
                claimed_any = true;
                self.launch(lease, &tx).await?;
            }
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
                _ = ready.wait(grace_left.map_or(wait, |left| left.min(wait.max(IDLE_POLL)))) => {}
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

    async fn handle(&mut self, slot: usize, msg: Msg) {
        match msg {
            Msg::Event(_) | Msg::MergeDone(_) => {}
            Msg::Spend { attempt, usage, cost_usd, .. } => {
                self.spent_so_far(slot, attempt, &usage, cost_usd).await;
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
}
