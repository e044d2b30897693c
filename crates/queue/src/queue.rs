//! The queue operations of an agent session. Each is a few short store
//! transactions, so every `orca task` process and every MCP tool call can
//! run one and exit; the leases and fencing are the store's, shared with
//! `orca run` workers.

use orca_store::{
    AttemptInfo, Lease, LeaseError, Location, Remaining, RunId, RunScope, RunState, Store,
    StoreError, TaskState,
};

use crate::error::QueueError;
use crate::load::SESSION_MODE;
use crate::name::SessionName;
use crate::overlap::BusyFiles;
use crate::refusal::Refusal;
use crate::settings::QueueSettings;
use crate::view::{
    Blocked, Done, Failed, HeldBack, Holder, Idle, NextTask, QueueStatus, Renewed, RunEnd, TaskView,
};

/// How many ready tasks a claim looks at first when some tasks are running:
/// usually the first shares no file with them.
const FIRST_CANDIDATES: usize = 4;
/// How many ready tasks a claim looks at when the first ones all share
/// files with running tasks.
const CANDIDATES: usize = 64;
/// Claims of a picked candidate that another session took first, before giving up.
const CLAIM_RACES: usize = 3;

/// The task queue as agent sessions work it.
#[derive(Debug, Clone)]
pub struct Queue {
    store: Store,
    settings: QueueSettings,
    host: String,
}

impl Queue {
    pub fn new(store: Store, settings: QueueSettings) -> Queue {
        let host =
            nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        Queue { store, settings, host }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// The runs this queue's sessions see by default: their repository's.
    pub fn scope(&self) -> RunScope<'_> {
        match &self.settings.repo {
            Some(repo) => RunScope::Repo { repo, legacy: self.settings.legacy_runs },
            None => RunScope::All,
        }
    }

    /// The run to work on: `pick` if given (refused when it belongs to
    /// another repository), else this repository's newest active run, else
    /// its newest run (to say that it is finished).
    pub async fn resolve_run(&self, pick: Option<&RunId>) -> Result<orca_store::Run, QueueError> {
        if let Some(id) = pick {
            let run = self.store.run(id).await?;
            if let (Some(theirs), Some(ours)) = (&run.repo, &self.settings.repo)
                && theirs != ours
            {
                return Err(QueueError::OtherRepository {
                    run: run.id,
                    checkout: theirs.checkout.clone(),
                });
            }
            return Ok(run);
        }
        if let Some(run) = self.store.latest_run_in(self.scope(), &[RunState::Active]).await? {
            return Ok(run);
        }
        self.store.latest_run_in(self.scope(), &[]).await?.ok_or(QueueError::NoRun)
    }

    /// The task a claim would take now, without claiming it; or why there is none.
    pub async fn next(&self, run: &RunId) -> Result<NextTask, QueueError> {
        let leases = self.current_leases(run).await?;
        let (picked, held_back) = self.pick(run, &busy_files(&leases)).await?;
        match picked {
            Some(key) => Ok(NextTask::Ready { task: self.show(run, &key).await? }),
            None => Ok(NextTask::Idle { idle: self.idle(run, &leases, held_back).await? }),
        }
    }

    /// The first ready task, in claim order, that shares no file with a
    /// running one, and the tasks skipped because they do. Reads a few
    /// candidates first and up to [`CANDIDATES`] only when those all share
    /// files: every candidate is a row and a spec to parse.
    async fn pick(
        &self,
        run: &RunId,
        busy: &BusyFiles,
    ) -> Result<(Option<String>, Vec<HeldBack>), QueueError> {
        let mut held_back = Vec::new();
        for limit in [FIRST_CANDIDATES, CANDIDATES] {
            held_back.clear();
            let candidates = self.store.ready_tasks(run, limit).await?;
            let all_read = candidates.len() < limit;
            for candidate in candidates {
                match plan_task(&candidate.spec_json).and_then(|t| busy.conflict(&t)) {
                    Some(with) => {
                        held_back.push(HeldBack { task: candidate.key, conflicts_with: with })
                    }
                    None => return Ok((Some(candidate.key), held_back)),
                }
            }
            if all_read {
                break;
            }
        }
        Ok((None, held_back))
    }

    /// Leases the next ready task to `me` (skipping tasks that share files
    /// with running ones). A session that already holds a task of the run
    /// gets that one back, renewed: one task at a time.
    pub async fn claim_next(&self, run: &RunId, me: &SessionName) -> Result<NextTask, QueueError> {
        let leases = self.current_leases(run).await?;
        if let Some(mine) = leases.iter().find(|lease| lease.worker == me.as_str()) {
            self.touch(me).await?;
            return self.renewed(mine, me).await;
        }
        let busy = busy_files(&leases);
        if busy.is_empty() {
            // The claim records the session as seen, whatever it finds.
            return match self.claim_for(run, None, me).await? {
                Some(lease) => Ok(NextTask::Claimed { task: self.claimed_view(&lease).await? }),
                None => Ok(NextTask::Idle { idle: self.idle(run, &leases, Vec::new()).await? }),
            };
        }
        let mut held_back = Vec::new();
        let mut seen = false;
        for _ in 0..CLAIM_RACES {
            let (picked, skipped) = self.pick(run, &busy).await?;
            held_back = skipped;
            let Some(key) = picked else { break };
            seen = true;
            if let Some(lease) = self.claim_for(run, Some(&key), me).await? {
                return Ok(NextTask::Claimed { task: self.claimed_view(&lease).await? });
            }
            // Another session took it between the read and the claim.
        }
        if !seen {
            self.touch(me).await?;
        }
        Ok(NextTask::Idle { idle: self.idle(run, &leases, held_back).await? })
    }

    /// Leases one specific task to `me`, if it can be claimed now.
    pub async fn claim(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
    ) -> Result<NextTask, QueueError> {
        let leases = self.current_leases(run).await?;
        self.touch(me).await?;
        let ttl = self.settings.session_ttl;
        if let Some(lease) = leases.iter().find(|lease| lease.task == key) {
            if lease.worker == me.as_str() {
                return self.renewed(lease, me).await;
            }
            return Err(QueueError::NotReady {
                task: key.to_owned(),
                why: format!("it is leased to `{}` (attempt {})", lease.worker, lease.attempt),
            });
        }
        let spec = self.store.task_spec(run, key).await?;
        if let Some(with) = plan_task(&spec).and_then(|t| busy_files(&leases).conflict(&t)) {
            return Err(QueueError::NotReady {
                task: key.to_owned(),
                why: format!("it shares files with {with}, which is running"),
            });
        }
        if let Some(lease) = self.store.claim_task(run, key, me.as_str(), ttl).await? {
            return Ok(NextTask::Claimed { task: self.claimed_view(&lease).await? });
        }
        let status = self.store.task(run, key).await?;
        let why = match status.state {
            TaskState::Waiting => {
                let deps = self.store.deps_of(run, key).await?;
                let open: Vec<String> = deps
                    .iter()
                    .filter(|d| d.state != TaskState::Succeeded)
                    .map(|d| format!("{} ({})", d.key, d.state))
                    .collect();
                format!("it waits for {}", open.join(", "))
            }
            TaskState::Ready => "it waits out a retry backoff".to_owned(),
            TaskState::Leased => "another session claimed it just now".to_owned(),
            state => format!("it is {state}"),
        };
        Err(QueueError::NotReady { task: key.to_owned(), why })
    }

    /// One task: its spec, state, lease and dependencies.
    pub async fn show(&self, run: &RunId, key: &str) -> Result<TaskView, QueueError> {
        let status = self.store.task(run, key).await?;
        let spec = self.store.task_spec(run, key).await?;
        let deps = self.store.deps_of(run, key).await?;
        Ok(TaskView::from_status(run, status, &spec, deps))
    }

    /// Renews `me`'s lease on the task for another session TTL.
    pub async fn heartbeat(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
    ) -> Result<Renewed, QueueError> {
        let lease = self.my_lease(run, key, me).await?;
        // The store renews to now + TTL.
        self.store.heartbeat(&lease).await.map_err(|e| self.lost(e))?;
        Ok(Renewed {
            run: run.clone(),
            task: key.to_owned(),
            attempt: lease.attempt,
            expires_in_ms: lease.ttl_ms,
        })
    }

    /// Marks the task done: it succeeded, and dependents whose last
    /// dependency it was become ready. Repeating it is harmless.
    pub async fn done(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
        summary: Option<&str>,
    ) -> Result<Done, QueueError> {
        self.touch(me).await?;
        let lease = match self.store.lease_of(run, key, self.settings.session_ttl).await? {
            Some(lease) if lease.worker == me.as_str() => lease,
            _ => {
                let status = self.store.task(run, key).await?;
                let attempts = self.store.attempts(run, key).await?;
                let last = attempts.last();
                if status.state == TaskState::Succeeded
                    && last.is_some_and(|a| a.worker == me.as_str())
                {
                    let (remaining, _) = self.after_finish(run).await?;
                    return Ok(Done {
                        run: run.clone(),
                        task: key.to_owned(),
                        attempt: status.attempt,
                        already: true,
                        summary: last.and_then(|a| a.summary.clone()),
                        ready_now: remaining.ready,
                        run_end: None,
                    });
                }
                return Err(Refusal::explain(run, me.as_str(), &status, &attempts).into());
            }
        };
        if let Some(summary) = summary {
            let info = AttemptInfo { summary: Some(summary.to_owned()), ..AttemptInfo::default() };
            self.store.record_attempt(&lease, &info).await.map_err(|e| self.lost(e))?;
        }
        let result = serde_json::json!({ "session": me.as_str(), "summary": summary });
        if let Err(error) = self.store.complete(&lease, &result.to_string()).await {
            return Err(self.refusal_after(error, run, key, me).await);
        }
        let (remaining, run_end) = self.after_finish(run).await?;
        Ok(Done {
            run: run.clone(),
            task: key.to_owned(),
            attempt: lease.attempt,
            already: false,
            summary: summary.map(str::to_owned),
            ready_now: remaining.ready,
            run_end,
        })
    }

    /// Gives the task up with `reason`: retried after a backoff while it has
    /// tries left, else failed for good with every dependent blocked.
    pub async fn fail(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
        reason: &str,
    ) -> Result<Failed, QueueError> {
        let lease = self.my_lease(run, key, me).await?;
        let outcome = match self.store.fail(&lease, reason, &self.settings.retry).await {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.refusal_after(error, run, key, me).await),
        };
        let (remaining, run_end) = self.after_finish(run).await?;
        Ok(Failed {
            run: run.clone(),
            task: key.to_owned(),
            attempt: lease.attempt,
            tries: lease.tries,
            max_attempts: lease.max_attempts,
            outcome,
            ready_now: remaining.ready,
            run_end,
            now_ms: remaining.now_ms,
        })
    }

    /// The task cannot go on until someone acts on `reason`: it and every
    /// task downstream of it become blocked.
    pub async fn block(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
        reason: &str,
    ) -> Result<Blocked, QueueError> {
        let lease = self.my_lease(run, key, me).await?;
        let blocked = match self.store.block(&lease, reason).await {
            Ok(blocked) => blocked,
            Err(error) => return Err(self.refusal_after(error, run, key, me).await),
        };
        let (remaining, run_end) = self.after_finish(run).await?;
        Ok(Blocked {
            run: run.clone(),
            task: key.to_owned(),
            attempt: lease.attempt,
            reason: reason.to_owned(),
            blocked,
            ready_now: remaining.ready,
            run_end,
        })
    }

    /// The run at a glance: counts, who holds what, what comes next.
    pub async fn status(&self, run: &RunId) -> Result<QueueStatus, QueueError> {
        let info = self.store.run(run).await?;
        let counts = self.store.task_counts(run).await?;
        let leases = self.store.leases(run, self.settings.session_ttl).await?;
        let next = self.store.ready_tasks(run, 5).await?.into_iter().map(|t| t.key).collect();
        Ok(QueueStatus {
            run: run.clone(),
            title: info.title,
            run_state: info.state,
            counts,
            running: holders(&leases),
            next,
        })
    }

    /// The run's leases after taking expired ones back (so their tasks can
    /// be claimed again). On SQLite the store's clock is this machine's, so
    /// the leases read say whether any expired, and the write is skipped
    /// when none did (most calls); on PostgreSQL the clock is the server's,
    /// so the rescue always runs.
    async fn current_leases(&self, run: &RunId) -> Result<Vec<Lease>, QueueError> {
        let ttl = self.settings.session_ttl;
        if matches!(self.store.location(), Location::Postgres { .. }) {
            self.store.rescue_expired().await?;
            return Ok(self.store.leases(run, ttl).await?);
        }
        let leases = self.store.leases(run, ttl).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if leases.iter().any(|lease| lease.expires_ms < now) {
            self.store.rescue_expired().await?;
            return Ok(self.store.leases(run, ttl).await?);
        }
        Ok(leases)
    }

    /// Leases `key` (or the next ready task) to `me`, recording `me` as seen.
    async fn claim_for(
        &self,
        run: &RunId,
        key: Option<&str>,
        me: &SessionName,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = self.settings.session_ttl;
        self.store.claim_for_session(run, key, me.as_str(), &self.host, ttl).await
    }

    /// Records that the session is alive (it shows in the store's workers;
    /// a session has no long-lived process, hence pid 0).
    async fn touch(&self, me: &SessionName) -> Result<(), StoreError> {
        self.store.touch_worker(me.as_str(), &self.host, 0).await
    }

    /// `me`'s current lease on the task, or why `me` has none.
    async fn my_lease(
        &self,
        run: &RunId,
        key: &str,
        me: &SessionName,
    ) -> Result<Lease, QueueError> {
        self.touch(me).await?;
        match self.store.lease_of(run, key, self.settings.session_ttl).await? {
            Some(lease) if lease.worker == me.as_str() => Ok(lease),
            _ => Err(self.refusal(run, key, me).await),
        }
    }

    /// Explains why `me` does not hold the task (or the store error reading it).
    async fn refusal(&self, run: &RunId, key: &str, me: &SessionName) -> QueueError {
        let explain = async {
            let status = self.store.task(run, key).await?;
            let attempts = self.store.attempts(run, key).await?;
            Ok::<_, StoreError>(Refusal::explain(run, me.as_str(), &status, &attempts))
        };
        match explain.await {
            Ok(refusal) => refusal.into(),
            Err(error) => error.into(),
        }
    }

    /// A fenced write was refused: the lease was lost between reading it
    /// and writing through it. Explains the task as it is now.
    async fn refusal_after(
        &self,
        error: LeaseError,
        run: &RunId,
        key: &str,
        me: &SessionName,
    ) -> QueueError {
        match error {
            LeaseError::Lost(_) => self.refusal(run, key, me).await,
            LeaseError::Store(error) => error.into(),
        }
    }

    fn lost(&self, error: LeaseError) -> QueueError {
        match error {
            LeaseError::Lost(lost) => QueueError::Refused(Refusal {
                run: lost.run.clone(),
                task: lost.task.clone(),
                session: lost.worker.clone(),
                kind: match (lost.now.holder, lost.now.state) {
                    (Some(holder), TaskState::Leased) => {
                        crate::refusal::RefusalKind::LeasedToOther {
                            holder,
                            attempt: lost.now.attempt,
                            yours_expired: Some(lost.attempt),
                        }
                    }
                    (_, now) => crate::refusal::RefusalKind::Expired { attempt: lost.attempt, now },
                },
            }),
            LeaseError::Store(error) => error.into(),
        }
    }

    async fn renewed(&self, lease: &Lease, me: &SessionName) -> Result<NextTask, QueueError> {
        let expires_ms = match self.store.heartbeat(lease).await {
            Ok(expires_ms) => expires_ms,
            Err(error) => return Err(self.refusal_after(error, &lease.run, &lease.task, me).await),
        };
        let lease = Lease { expires_ms, ..lease.clone() };
        Ok(NextTask::Held { task: self.claimed_view(&lease).await? })
    }

    /// The view of a task just leased. A retry also shows why the last
    /// try failed: the retry gets the reason the session gave.
    async fn claimed_view(&self, lease: &Lease) -> Result<TaskView, QueueError> {
        let last_error = if lease.attempt > 1 {
            self.store.task(&lease.run, &lease.task).await?.last_error
        } else {
            None
        };
        Ok(TaskView::from_lease(lease, lease.expires_ms - lease.ttl_ms, last_error))
    }

    async fn idle(
        &self,
        run: &RunId,
        leases: &[Lease],
        held_back: Vec<HeldBack>,
    ) -> Result<Idle, QueueError> {
        let info = self.store.run(run).await?;
        let counts = self.store.task_counts(run).await?;
        // The leases read before claiming may be stale; read them again.
        let leases = if leases.is_empty() {
            self.store.leases(run, self.settings.session_ttl).await?
        } else {
            leases.to_vec()
        };
        Ok(Idle {
            run: run.clone(),
            run_state: info.state,
            counts,
            running: holders(&leases),
            held_back,
        })
    }

    /// Reopens a failed or blocked task (and the dependents it alone held
    /// back) with fresh tries; the run is active again.
    pub async fn reopen(
        &self,
        run: &RunId,
        key: &str,
        how: orca_store::Reopen,
    ) -> Result<Vec<String>, QueueError> {
        let reopened = self.store.reopen_tasks(run, &[key.to_owned()], how).await?;
        let info = self.store.run(run).await?;
        orca_engine::pipeline::session::reopened(&self.store, run, info.mode == SESSION_MODE)
            .await?;
        Ok(reopened)
    }

    /// After a task finished: how many tasks are ready now, and whether
    /// that was the last unfinished task of a session-driven run (which
    /// then ends: succeeded when every task did, else failed). Runs that
    /// `orca run` drives are ended by it, after the later stages.
    async fn after_finish(&self, run: &RunId) -> Result<(Remaining, Option<RunEnd>), QueueError> {
        let remaining = self.store.remaining(run).await?;
        if remaining.unfinished {
            return Ok((remaining, None));
        }
        let info = self.store.run(run).await?;
        if info.mode != SESSION_MODE || info.state != RunState::Active {
            return Ok((remaining, None));
        }
        let counts = self.store.task_counts(run).await?;
        let all_succeeded = counts.count(TaskState::Succeeded) == counts.total;
        let state =
            orca_engine::pipeline::session::finished(&self.store, run, all_succeeded).await?;
        Ok((remaining, Some(RunEnd { state, counts })))
    }
}

fn plan_task(spec_json: &str) -> Option<orca_plan::Task> {
    serde_json::from_str(spec_json).ok()
}

fn busy_files(leases: &[Lease]) -> BusyFiles {
    BusyFiles::new(leases.iter().map(|lease| plan_task(&lease.spec_json)))
}

fn holders(leases: &[Lease]) -> Vec<Holder> {
    leases
        .iter()
        .map(|lease| Holder {
            task: lease.task.clone(),
            holder: lease.worker.clone(),
            attempt: lease.attempt,
        })
        .collect()
}
