//! Claiming tasks under a lease and everything a lease holder may do.
//!
//! Every write through a [`Lease`] is guarded by (task, attempt, holder,
//! still leased): `attempt` is the fencing token, and the next claim of the
//! task bumps it, so a worker whose lease expired and was rescued can change
//! nothing; it gets [`LeaseLost`] naming the current holder. The holder
//! tells a worker's lease from the coordinator's merge lease, which keeps
//! the attempt number the worker submitted with.

use std::collections::HashSet;
use std::time::Duration;

use crate::db::{Row, Tx, TxKind, args};
use crate::error::{LeaseError, LeaseLost, StoreError, TaskNow};
use crate::lease_sql::{
    BLOCK_DOWNSTREAM, CLAIM, CLAIM_NOW, CLAIM_ONE, COMPLETE_ALL_PG, CURRENT, END_ATTEMPT,
    END_LEASE, END_LEASE_SUCCEEDED, END_LEASE_SUCCEEDED_NOW, EXPIRED, GUARD, HANDS_OUT_WORK,
    HEARTBEAT, INSERT_ATTEMPT, MARK_MERGING, RECORD_ATTEMPT, RELEASE_DEPENDENTS,
    SUBMIT_AND_CLAIM_PG, SUBMIT_PG, TAKE_VERIFIED, TAKE_VERIFIED_PG,
};
use crate::model::{
    AttemptInfo, FailOutcome, Lease, Rescued, RetryPolicy, RunId, TaskState, VerifiedAttempt,
};
use crate::runs::insert_event;
use crate::store::{Store, retry_transient};
use crate::workers::TOUCH;

/// How a lease ends.
struct Ending<'a> {
    state: TaskState,
    /// Recorded on the attempt row.
    outcome: &'static str,
    result_json: Option<&'a str>,
    error: Option<&'a str>,
    blocked_reason: Option<&'a str>,
    run_after_ms: i64,
    /// 1 when the try does not count (a release).
    refund_try: i64,
    event: &'static str,
    payload: serde_json::Value,
    /// A success: dependents count down.
    releases_dependents: bool,
}

impl Store {
    /// Leases up to `k` ready tasks of `run` to `worker` for `ttl`, highest
    /// priority first, then by key. Each lease starts a new attempt.
    pub async fn claim(
        &self,
        run: &RunId,
        worker: &str,
        k: usize,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        if self.pool.is_postgres() {
            // One statement on its own: a round trip and a commit per claim.
            return retry_transient(move || async move {
                let err = |e| self.db_error("claim tasks", e);
                let ttl_ms = duration_ms(ttl);
                let rows = self
                    .pool
                    .fetch_all(*CLAIM_NOW, args![run.as_str(), k, worker, None::<i64>, ttl_ms])
                    .await
                    .map_err(err)?;
                let mut leases = rows
                    .iter()
                    .map(|row| lease_from_row(row, run, worker, ttl_ms))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                leases
                    .sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.task.cmp(&b.task)));
                Ok(leases)
            })
            .await;
        }
        retry_transient(move || async move {
            let op = "claim tasks";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ttl_ms = duration_ms(ttl);
            let rows = tx
                .fetch_all(CLAIM, args![run.as_str(), k, worker, now, ttl_ms])
                .await
                .map_err(err)?;
            let mut leases = Vec::with_capacity(rows.len());
            for row in &rows {
                leases.push(leased(&mut tx, row, run, worker, ttl_ms, now).await.map_err(err)?);
            }
            tx.commit().await.map_err(err)?;
            leases.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.task.cmp(&b.task)));
            Ok(leases)
        })
        .await
    }

    /// Leases one specific task if it is ready now; `None` if it is not
    /// (waiting, leased by someone, in retry backoff, finished).
    pub async fn claim_task(
        &self,
        run: &RunId,
        key: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        retry_transient(move || async move {
            let op = "claim the task";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ttl_ms = duration_ms(ttl);
            let Some(row) = tx
                .fetch_optional(CLAIM_ONE, args![run.as_str(), key, worker, now, ttl_ms])
                .await
                .map_err(err)?
            else {
                return Ok(None);
            };
            let lease = leased(&mut tx, &row, run, worker, ttl_ms, now).await.map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(Some(lease))
        })
        .await
    }

    /// Leases one task to an agent session: `key`, or else the next ready
    /// task as [`Store::claim`] picks it. In the same transaction it records
    /// the session as seen (as [`Store::touch_worker`] does, on `host` with
    /// no process id): a session has no process that lives from one command
    /// to the next, so each command says it is alive, and one commit instead
    /// of two keeps every claim a little cheaper. The session counts as seen
    /// even when nothing could be claimed.
    pub async fn claim_for_session(
        &self,
        run: &RunId,
        key: Option<&str>,
        session: &str,
        host: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("claim a task", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ttl_ms = duration_ms(ttl);
            tx.execute(TOUCH, args![session, host, 0_i64, now]).await.map_err(err)?;
            let row = match key {
                Some(key) => {
                    tx.fetch_optional(CLAIM_ONE, args![run.as_str(), key, session, now, ttl_ms])
                        .await
                }
                None => {
                    tx.fetch_optional(CLAIM, args![run.as_str(), 1_i64, session, now, ttl_ms]).await
                }
            }
            .map_err(err)?;
            let lease = match row {
                Some(row) => {
                    Some(leased(&mut tx, &row, run, session, ttl_ms, now).await.map_err(err)?)
                }
                None => None,
            };
            tx.commit().await.map_err(err)?;
            Ok(lease)
        })
        .await
    }

    /// Extends the lease by its TTL from now; returns the new expiry (ms).
    /// A lease that expired but was not yet rescued can still be renewed:
    /// nobody else holds it.
    pub async fn heartbeat(&self, lease: &Lease) -> Result<i64, LeaseError> {
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("renew the lease", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let row = tx
                .fetch_optional(
                    HEARTBEAT,
                    args![
                        lease.run.as_str(),
                        &lease.task,
                        lease.attempt,
                        now,
                        lease.ttl_ms,
                        &lease.worker
                    ],
                )
                .await
                .map_err(err)?;
            let Some(row) = row else {
                return Err(lost(&mut tx, lease).await.map_err(err)?.into());
            };
            let expires = row.int("lease_expires_ms").map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(expires)
        })
        .await
    }

    /// The attempt succeeded: the task becomes `succeeded` with `result_json`,
    /// and dependents whose last dependency this was become `ready`.
    ///
    /// Repeating a completion that already went through (e.g. the reply was
    /// lost when the connection dropped) succeeds without changing anything.
    pub async fn complete(&self, lease: &Lease, result_json: &str) -> Result<(), LeaseError> {
        if self.pool.is_postgres() {
            // One statement on its own: a round trip and a commit.
            return retry_transient(move || async move {
                let err = |e| LeaseError::Store(self.db_error("complete the task", e));
                let payload = serde_json::json!({ "worker": lease.worker }).to_string();
                let args = args![
                    lease.run.as_str(),
                    &lease.task,
                    lease.attempt,
                    TaskState::Succeeded.as_str(),
                    Some(result_json),
                    None::<&str>,
                    None::<&str>,
                    0_i64,
                    0_i64,
                    None::<i64>,
                    "succeeded",
                    "task.succeeded",
                    payload,
                    &lease.worker,
                ];
                let row = self
                    .pool
                    .fetch_optional(*END_LEASE_SUCCEEDED_NOW, args)
                    .await
                    .map_err(err)?
                    .ok_or(sqlx::Error::RowNotFound)
                    .map_err(err)?;
                if row.int("ended").map_err(err)? > 0 {
                    return Ok(());
                }
                let lost = self.lost_now(lease).await.map_err(err)?;
                if lost.now.state == TaskState::Succeeded && lost.now.attempt == lease.attempt {
                    return Ok(());
                }
                Err(lost.into())
            })
            .await;
        }
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("complete the task", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ending = Ending {
                state: TaskState::Succeeded,
                outcome: "succeeded",
                result_json: Some(result_json),
                error: None,
                blocked_reason: None,
                run_after_ms: 0,
                refund_try: 0,
                event: "task.succeeded",
                payload: serde_json::json!({ "worker": lease.worker }),
                releases_dependents: true,
            };
            if let Err(lost) = end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                if lost.now.state == TaskState::Succeeded && lost.now.attempt == lease.attempt {
                    return Ok(());
                }
                return Err(lost.into());
            }
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// [`Store::complete`] for several leases in one transaction (one
    /// commit, one flush to disk): a coordinator that merged a batch of
    /// verified tasks completes them together. Each lease is fenced on its
    /// own; the result says, per lease in order, whether it completed
    /// (`Err` names who holds the task now). Nothing is written when the
    /// transaction fails.
    pub async fn complete_all(
        &self,
        done: &[(Lease, String)],
    ) -> Result<Vec<Result<(), LeaseLost>>, StoreError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        if self.pool.is_postgres() {
            return self.complete_all_at_once(done).await;
        }
        retry_transient(move || async move {
            let err = |e| self.db_error("complete the tasks", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let mut results = Vec::with_capacity(done.len());
            for (lease, result_json) in done {
                let ending = Ending {
                    state: TaskState::Succeeded,
                    outcome: "succeeded",
                    result_json: Some(result_json),
                    error: None,
                    blocked_reason: None,
                    run_after_ms: 0,
                    refund_try: 0,
                    event: "task.succeeded",
                    payload: serde_json::json!({ "worker": lease.worker }),
                    releases_dependents: true,
                };
                results.push(match end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                    Err(lost)
                        if lost.now.state == TaskState::Succeeded
                            && lost.now.attempt == lease.attempt =>
                    {
                        Ok(())
                    }
                    other => other,
                });
            }
            tx.commit().await.map_err(err)?;
            Ok(results)
        })
        .await
    }

    /// [`Store::complete_all`] on PostgreSQL: one statement on its own
    /// ([`COMPLETE_ALL_PG`]) for the whole batch, of one run or several
    /// (one statement per run). A lease it did not end is looked up, as
    /// [`Store::complete`] does, to tell a repeated completion (fine) from
    /// a lost lease.
    async fn complete_all_at_once(
        &self,
        done: &[(Lease, String)],
    ) -> Result<Vec<Result<(), LeaseLost>>, StoreError> {
        let mut runs: Vec<&RunId> = done.iter().map(|(lease, _)| &lease.run).collect();
        runs.sort();
        runs.dedup();
        let mut ended = HashSet::new();
        for run in runs {
            let batch: Vec<_> = done
                .iter()
                .filter(|(lease, _)| &lease.run == run)
                .map(|(lease, result_json)| {
                    serde_json::json!({
                        "key": lease.task,
                        "attempt": lease.attempt,
                        "owner": lease.worker,
                        "result": result_json,
                        "payload": serde_json::json!({ "worker": lease.worker }).to_string(),
                    })
                })
                .collect();
            let batch = serde_json::Value::Array(batch).to_string();
            let rows = retry_transient(|| async {
                self.pool
                    .fetch_all(COMPLETE_ALL_PG, args![run.as_str(), batch.as_str()])
                    .await
                    .map_err(|e| self.db_error("complete the tasks", e))
            })
            .await?;
            for row in rows {
                let err = |e| self.db_error("complete the tasks", e);
                let key = row.text("key").map_err(err)?;
                let attempt = row.int("attempt").map_err(err)?;
                let owner = row.text("owner").map_err(err)?;
                ended.insert((run.clone(), key, attempt, owner));
            }
        }
        let mut results = Vec::with_capacity(done.len());
        for (lease, _) in done {
            let this = (lease.run.clone(), lease.task.clone(), lease.attempt, lease.worker.clone());
            if ended.contains(&this) {
                results.push(Ok(()));
                continue;
            }
            let lost = retry_transient(|| async {
                self.lost_now(lease).await.map_err(|e| self.db_error("complete the tasks", e))
            })
            .await?;
            results.push(
                if lost.now.state == TaskState::Succeeded && lost.now.attempt == lease.attempt {
                    Ok(())
                } else {
                    Err(lost)
                },
            );
        }
        Ok(results)
    }

    /// The attempt failed with `error`. With tries left the task goes back
    /// to `ready` after a backoff from `policy`; out of tries it becomes
    /// `failed` and every task downstream of it `blocked`, with a reason
    /// naming this task.
    pub async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        policy: &RetryPolicy,
    ) -> Result<FailOutcome, LeaseError> {
        self.end_in_failure(lease, error, policy, false).await
    }

    /// Like [`Store::fail`], but without a retry whatever tries are left:
    /// the failure is not one another attempt can fix (e.g. a merge
    /// conflict nobody could resolve). Returns the dependents it blocked.
    pub async fn fail_for_good(
        &self,
        lease: &Lease,
        error: &str,
    ) -> Result<Vec<String>, LeaseError> {
        match self.end_in_failure(lease, error, &RetryPolicy::default(), true).await? {
            FailOutcome::Failed { blocked } => Ok(blocked),
            FailOutcome::Retry { .. } => unreachable!("a final failure never retries"),
        }
    }

    async fn end_in_failure(
        &self,
        lease: &Lease,
        error: &str,
        policy: &RetryPolicy,
        final_failure: bool,
    ) -> Result<FailOutcome, LeaseError> {
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("record the failure", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let out_of_tries = final_failure || lease.tries >= lease.max_attempts;
            let run_after_ms = if out_of_tries { 0 } else { now + policy.delay_ms(lease.tries) };
            let ending = Ending {
                state: if out_of_tries { TaskState::Failed } else { TaskState::Ready },
                outcome: if out_of_tries { "failed" } else { "retry" },
                result_json: None,
                error: Some(error),
                blocked_reason: None,
                run_after_ms,
                refund_try: 0,
                event: if out_of_tries { "task.failed" } else { "task.retry" },
                payload: serde_json::json!({
                    "worker": lease.worker,
                    "error": error,
                    "tries": lease.tries,
                    "run_after_ms": run_after_ms,
                }),
                releases_dependents: false,
            };
            if let Err(lost) = end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                return Err(lost.into());
            }
            let outcome = if out_of_tries {
                let reason = format!(
                    "depends on `{}`, which failed on its last try ({} of {}): {}",
                    lease.task,
                    lease.tries,
                    lease.max_attempts,
                    first_line(error)
                );
                let blocked = block_downstream(&mut tx, &lease.run, &lease.task, &reason, now)
                    .await
                    .map_err(err)?;
                FailOutcome::Failed { blocked }
            } else {
                FailOutcome::Retry { run_after_ms }
            };
            tx.commit().await.map_err(err)?;
            Ok(outcome)
        })
        .await
    }

    /// The attempt was interrupted (e.g. Ctrl-C): the task goes back to
    /// `ready` at once and the try does not count against `max_attempts`.
    pub async fn release(&self, lease: &Lease, reason: &str) -> Result<(), LeaseError> {
        self.end_lease_alone(lease, "release the task", |now| Ending {
            state: TaskState::Ready,
            outcome: "released",
            result_json: None,
            error: Some(reason),
            blocked_reason: None,
            run_after_ms: now,
            refund_try: 1,
            event: "task.released",
            payload: serde_json::json!({ "worker": lease.worker, "reason": reason }),
            releases_dependents: false,
        })
        .await
    }

    /// The attempt cannot proceed (an agent said so): the task becomes
    /// `blocked` with `reason`, and so does every task downstream of it.
    /// Returns the keys of the dependents that were blocked.
    pub async fn block(&self, lease: &Lease, reason: &str) -> Result<Vec<String>, LeaseError> {
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("block the task", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ending = Ending {
                state: TaskState::Blocked,
                outcome: "blocked",
                result_json: None,
                error: None,
                blocked_reason: Some(reason),
                run_after_ms: 0,
                refund_try: 0,
                event: "task.blocked",
                payload: serde_json::json!({ "worker": lease.worker, "reason": reason }),
                releases_dependents: false,
            };
            if let Err(lost) = end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                return Err(lost.into());
            }
            let downstream_reason =
                format!("depends on `{}`, which is blocked: {}", lease.task, first_line(reason));
            let blocked =
                block_downstream(&mut tx, &lease.run, &lease.task, &downstream_reason, now)
                    .await
                    .map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(blocked)
        })
        .await
    }

    /// Records facts about the attempt (branch, agent session, commit, ...),
    /// only while the lease still holds.
    pub async fn record_attempt(
        &self,
        lease: &Lease,
        info: &AttemptInfo,
    ) -> Result<(), LeaseError> {
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("record the attempt", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            if tx
                .fetch_optional(
                    GUARD,
                    args![lease.run.as_str(), &lease.task, lease.attempt, &lease.worker],
                )
                .await
                .map_err(err)?
                .is_none()
            {
                return Err(lost(&mut tx, lease).await.map_err(err)?.into());
            }
            record(&mut tx, lease, info).await.map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// A worker's attempt passed `verify` and its branch is pushed: records
    /// `info` (the branch and the commit to merge, at least) on the attempt
    /// and moves the task to `verified`, ending the worker's lease, in one
    /// fenced transaction. The coordinator merges it ([`Store::take_verified`]);
    /// dependents wait until then. Repeating a submit that went through
    /// succeeds without changing anything.
    pub async fn submit(&self, lease: &Lease, info: &AttemptInfo) -> Result<(), LeaseError> {
        self.submit_once(lease, info).await.map(|_| ())
    }

    /// [`Store::submit`]; true when this call ended the lease, false when
    /// it repeated one that had (its reply lost).
    async fn submit_once(&self, lease: &Lease, info: &AttemptInfo) -> Result<bool, LeaseError> {
        if self.pool.is_postgres() {
            // One statement on its own: the lease checked, the attempt
            // recorded, the task verified, in one round trip and commit.
            return retry_transient(move || async move {
                let err = |e| LeaseError::Store(self.db_error("submit the verified attempt", e));
                let row = self
                    .pool
                    .fetch_optional(SUBMIT_PG, submit_args(lease, info))
                    .await
                    .map_err(err)?
                    .ok_or(sqlx::Error::RowNotFound)
                    .map_err(err)?;
                if row.int("ended").map_err(err)? > 0 {
                    return Ok(true);
                }
                self.submit_refused(lease).await.map(|()| false)
            })
            .await;
        }
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("submit the verified attempt", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if tx
                .fetch_optional(
                    GUARD,
                    args![lease.run.as_str(), &lease.task, lease.attempt, &lease.worker],
                )
                .await
                .map_err(err)?
                .is_none()
            {
                let lost = lost(&mut tx, lease).await.map_err(err)?;
                if lost.now.attempt == lease.attempt
                    && matches!(lost.now.state, TaskState::Verified | TaskState::Succeeded)
                {
                    return Ok(false);
                }
                return Err(lost.into());
            }
            record(&mut tx, lease, info).await.map_err(err)?;
            let ending = Ending {
                state: TaskState::Verified,
                outcome: "verified",
                result_json: None,
                error: None,
                blocked_reason: None,
                run_after_ms: 0,
                refund_try: 0,
                event: "task.verified",
                payload: serde_json::json!({
                    "worker": lease.worker,
                    "branch": info.branch,
                    "commit": info.commit_sha,
                }),
                releases_dependents: false,
            };
            if let Err(lost) = end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                return Err(lost.into());
            }
            tx.commit().await.map_err(err)?;
            Ok(true)
        })
        .await
    }

    /// [`Store::submit`], then, once it went through, [`Store::claim`] of up
    /// to `more` ready tasks of the same run for the lease's worker, leased
    /// for `ttl`: the worker fills the slot the attempt freed. On
    /// PostgreSQL both are one statement (one round trip and commit
    /// instead of two). Claims nothing when the submit is refused.
    pub async fn submit_and_claim(
        &self,
        lease: &Lease,
        info: &AttemptInfo,
        more: usize,
        ttl: Duration,
    ) -> Result<Vec<Lease>, LeaseError> {
        if !self.pool.is_postgres() || more == 0 {
            if !self.submit_once(lease, info).await? || more == 0 {
                return Ok(Vec::new());
            }
            let hands_out = self
                .pool
                .fetch_optional(HANDS_OUT_WORK, args![lease.run.as_str()])
                .await
                .map_err(|e| LeaseError::Store(self.db_error("claim more tasks", e)))?;
            if hands_out.is_none() {
                return Ok(Vec::new());
            }
            return self
                .claim(&lease.run, &lease.worker, more, ttl)
                .await
                .map_err(LeaseError::Store);
        }
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("submit the attempt and claim more", e));
            let ttl_ms = duration_ms(ttl);
            let mut args = submit_args(lease, info);
            args.push(i64::try_from(more).unwrap_or(i64::MAX).into());
            args.push(ttl_ms.into());
            let rows = self.pool.fetch_all(SUBMIT_AND_CLAIM_PG, args).await.map_err(err)?;
            let first = rows.first().ok_or(sqlx::Error::RowNotFound).map_err(err)?;
            if first.int("ended").map_err(err)? == 0 {
                return self.submit_refused(lease).await.map(|()| Vec::new());
            }
            let mut leases = Vec::with_capacity(rows.len());
            for row in &rows {
                if row.opt_text("key").map_err(err)?.is_some() {
                    leases
                        .push(lease_from_row(row, &lease.run, &lease.worker, ttl_ms).map_err(err)?);
                }
            }
            Ok(leases)
        })
        .await
    }

    /// Why a submit on PostgreSQL ended no lease: a repeat of one that went
    /// through (its reply lost) is fine; anything else lost the lease.
    async fn submit_refused(&self, lease: &Lease) -> Result<(), LeaseError> {
        let lost = self
            .lost_now(lease)
            .await
            .map_err(|e| LeaseError::Store(self.db_error("submit the verified attempt", e)))?;
        if lost.now.attempt == lease.attempt
            && matches!(lost.now.state, TaskState::Verified | TaskState::Succeeded)
        {
            return Ok(());
        }
        Err(lost.into())
    }

    /// The coordinator of `run` takes every task workers submitted as
    /// verified: each becomes leased to `coordinator` for `ttl` under the
    /// attempt number it was submitted with, and comes back with the branch
    /// and the commit the worker recorded. The lease ends as any other
    /// (complete after the merge, `fail_for_good` on a conflict), or with
    /// [`Store::return_verified`]; if it expires it goes back to `verified`.
    pub async fn take_verified(
        &self,
        run: &RunId,
        coordinator: &str,
        ttl: Duration,
    ) -> Result<Vec<VerifiedAttempt>, StoreError> {
        if self.pool.is_postgres() {
            // One statement on its own: one round trip and commit for the
            // whole batch.
            return retry_transient(move || async move {
                let err = |e| self.db_error("take verified tasks", e);
                let ttl_ms = duration_ms(ttl);
                let rows = self
                    .pool
                    .fetch_all(TAKE_VERIFIED_PG, args![run.as_str(), coordinator, ttl_ms])
                    .await
                    .map_err(err)?;
                let mut taken = Vec::with_capacity(rows.len());
                for row in &rows {
                    taken.push(VerifiedAttempt {
                        lease: lease_from_row(row, run, coordinator, ttl_ms).map_err(err)?,
                        worker: row.opt_text("worker").map_err(err)?.unwrap_or_default(),
                        branch: row.opt_text("branch").map_err(err)?,
                        commit_sha: row.opt_text("commit_sha").map_err(err)?,
                        details_json: row.opt_text("details_json").map_err(err)?,
                    });
                }
                taken.sort_by(|a, b| {
                    b.lease
                        .priority
                        .cmp(&a.lease.priority)
                        .then_with(|| a.lease.task.cmp(&b.lease.task))
                });
                Ok(taken)
            })
            .await;
        }
        retry_transient(move || async move {
            let err = |e| self.db_error("take verified tasks", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ttl_ms = duration_ms(ttl);
            let rows = tx
                .fetch_all(TAKE_VERIFIED, args![run.as_str(), coordinator, now, ttl_ms])
                .await
                .map_err(err)?;
            let mut taken = Vec::with_capacity(rows.len());
            for row in &rows {
                let lease = lease_from_row(row, run, coordinator, ttl_ms).map_err(err)?;
                let attempt = tx
                    .fetch_optional(MARK_MERGING, args![run.as_str(), &lease.task, lease.attempt])
                    .await
                    .map_err(err)?;
                let (worker, branch, commit_sha, details_json) = match attempt {
                    Some(row) => (
                        row.text("worker").map_err(err)?,
                        row.opt_text("branch").map_err(err)?,
                        row.opt_text("commit_sha").map_err(err)?,
                        row.opt_text("details_json").map_err(err)?,
                    ),
                    None => (String::new(), None, None, None),
                };
                let payload = serde_json::json!({
                    "worker": coordinator,
                    "submitted_by": worker,
                    "commit": commit_sha,
                });
                insert_event(
                    &mut tx,
                    run,
                    Some(&lease.task),
                    Some(lease.attempt),
                    "task.merging",
                    &payload.to_string(),
                    now,
                )
                .await
                .map_err(err)?;
                taken.push(VerifiedAttempt { lease, worker, branch, commit_sha, details_json });
            }
            tx.commit().await.map_err(err)?;
            taken.sort_by(|a, b| {
                b.lease
                    .priority
                    .cmp(&a.lease.priority)
                    .then_with(|| a.lease.task.cmp(&b.lease.task))
            });
            Ok(taken)
        })
        .await
    }

    /// The coordinator could not merge a verified attempt for a reason that
    /// is not the attempt's (git failed, the remote refused the integration
    /// branch): the task goes back to `verified`, to be taken again.
    pub async fn return_verified(&self, lease: &Lease, reason: &str) -> Result<(), LeaseError> {
        self.end_lease_alone(lease, "hand the verified task back", |_| Ending {
            state: TaskState::Verified,
            outcome: "verified",
            result_json: None,
            error: Some(reason),
            blocked_reason: None,
            run_after_ms: 0,
            refund_try: 0,
            event: "task.merge_returned",
            payload: serde_json::json!({ "worker": lease.worker, "reason": reason }),
            releases_dependents: false,
        })
        .await
    }

    /// Ends `lease` the way `ending` (given the store's time) says, in a
    /// transaction of its own; `op` names what failed if the store does.
    async fn end_lease_alone<'a>(
        &self,
        lease: &Lease,
        op: &'static str,
        ending: impl Fn(i64) -> Ending<'a>,
    ) -> Result<(), LeaseError> {
        let ending = &ending;
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error(op, e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if let Err(lost) = end_lease(&mut tx, lease, &ending(now), now).await.map_err(err)? {
                return Err(lost.into());
            }
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Takes back every lease (of any run) that expired: the task becomes
    /// `ready` again, or `failed` (dependents blocked) when that was its last
    /// try. Safe to call often and from many workers at once.
    pub async fn rescue_expired(&self) -> Result<Vec<Rescued>, StoreError> {
        retry_transient(move || async move {
            let op = "rescue expired leases";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let rows = tx.fetch_all(EXPIRED, args![now]).await.map_err(err)?;
            let mut rescued = Vec::with_capacity(rows.len());
            for row in rows {
                let run = RunId(row.text("run_id").map_err(err)?);
                let task = row.text("key").map_err(err)?;
                let attempt = row.int("attempt").map_err(err)?;
                let worker = row.opt_text("lease_owner").map_err(err)?.unwrap_or_default();
                let merging =
                    row.opt_text("attempt_outcome").map_err(err)?.as_deref() == Some("merging");
                // A coordinator's merge lease: the verified work waits for
                // the next coordinator, it is never redone.
                let out_of_tries = !merging
                    && row.int("tries").map_err(err)? >= row.int("max_attempts").map_err(err)?;
                let message = format!("the lease of worker `{worker}` on attempt {attempt} expired");
                let lease = Lease {
                    run: run.clone(),
                    task: task.clone(),
                    attempt,
                    worker: worker.clone(),
                    expires_ms: 0,
                    ttl_ms: 0,
                    tries: 0,
                    max_attempts: 0,
                    priority: 0,
                    spec_json: String::new(),
                };
                let ending = Ending {
                    state: if merging {
                        TaskState::Verified
                    } else if out_of_tries {
                        TaskState::Failed
                    } else {
                        TaskState::Ready
                    },
                    outcome: if merging { "verified" } else { "expired" },
                    result_json: None,
                    error: Some(&message),
                    blocked_reason: None,
                    run_after_ms: now,
                    refund_try: 0,
                    event: "task.expired",
                    payload: serde_json::json!({ "worker": worker, "failed": out_of_tries }),
                    releases_dependents: false,
                };
                if end_lease(&mut tx, &lease, &ending, now).await.map_err(err)?.is_err() {
                    continue;
                }
                if out_of_tries {
                    let reason = format!(
                        "depends on `{task}`, which failed: out of tries after its lease expired"
                    );
                    block_downstream(&mut tx, &run, &task, &reason, now).await.map_err(err)?;
                }
                let now_state = ending.state;
                rescued.push(Rescued { run, task, attempt, worker, now: now_state });
            }
            tx.commit().await.map_err(err)?;
            for r in &rescued {
                tracing::info!(run = %r.run, task = %r.task, attempt = r.attempt, worker = %r.worker, "rescued an expired lease");
            }
            Ok(rescued)
        })
        .await
    }
}

/// Applies `ending` to the leased task and its attempt, logs the event, and
/// on success counts the dependents down. `Ok(Err(lost))` when the lease no
/// longer holds: nothing was written.
async fn end_lease(
    tx: &mut Tx,
    lease: &Lease,
    ending: &Ending<'_>,
    now: i64,
) -> Result<Result<(), LeaseLost>, sqlx::Error> {
    let sql = if ending.releases_dependents { END_LEASE_SUCCEEDED } else { END_LEASE };
    let args = args![
        lease.run.as_str(),
        &lease.task,
        lease.attempt,
        ending.state.as_str(),
        ending.result_json,
        ending.error,
        ending.blocked_reason,
        ending.run_after_ms,
        ending.refund_try,
        now,
        ending.outcome,
        ending.event,
        ending.payload.to_string(),
        &lease.worker,
    ];
    if tx.is_postgres() {
        let row = tx.fetch_optional(sql, args).await?.ok_or(sqlx::Error::RowNotFound)?;
        if row.int("ended")? == 0 {
            return Ok(Err(lost(tx, lease).await?));
        }
        return Ok(Ok(()));
    }
    if tx.execute(sql, args).await? == 0 {
        return Ok(Err(lost(tx, lease).await?));
    }
    tx.execute(
        END_ATTEMPT,
        args![lease.run.as_str(), &lease.task, lease.attempt, ending.outcome, ending.error, now],
    )
    .await?;
    insert_event(
        tx,
        &lease.run,
        Some(&lease.task),
        Some(lease.attempt),
        ending.event,
        &ending.payload.to_string(),
        now,
    )
    .await?;
    if ending.releases_dependents {
        tx.execute(RELEASE_DEPENDENTS, args![lease.run.as_str(), &lease.task, now]).await?;
    }
    Ok(Ok(()))
}

/// Stores `info` on the lease's attempt row (the caller checked the guard).
async fn record(tx: &mut Tx, lease: &Lease, info: &AttemptInfo) -> Result<(), sqlx::Error> {
    tx.execute(RECORD_ATTEMPT, attempt_facts(lease, info)).await?;
    Ok(())
}

/// $1..$9 of [`RECORD_ATTEMPT`] (and of the submit statements): the
/// attempt, then what `info` says of it.
fn attempt_facts(lease: &Lease, info: &AttemptInfo) -> Vec<crate::db::Arg> {
    args![
        lease.run.as_str(),
        &lease.task,
        lease.attempt,
        info.branch.as_deref(),
        info.agent.as_deref(),
        info.agent_session_id.as_deref(),
        info.commit_sha.as_deref(),
        info.summary.as_deref(),
        info.details_json.as_deref(),
    ]
}

impl Store {
    /// Where the task of `lease` is now, read on its own: why a write
    /// through the lease changed nothing.
    async fn lost_now(&self, lease: &Lease) -> Result<LeaseLost, sqlx::Error> {
        let mut tx = self.pool.begin(TxKind::Read).await?;
        let lost = lost(&mut tx, lease).await?;
        tx.commit().await?;
        Ok(lost)
    }
}

/// Reads where the task is now, to explain a refused write.
async fn lost(tx: &mut Tx, lease: &Lease) -> Result<LeaseLost, sqlx::Error> {
    let row = tx
        .fetch_optional(CURRENT, args![lease.run.as_str(), &lease.task])
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let state_text = row.text("state")?;
    let state = state_text.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
    Ok(LeaseLost {
        run: lease.run.clone(),
        task: lease.task.clone(),
        attempt: lease.attempt,
        worker: lease.worker.clone(),
        now: TaskNow { state, attempt: row.int("attempt")?, holder: row.opt_text("lease_owner")? },
    })
}

/// The lease a claim statement returned as `row`, its attempt started (on
/// PostgreSQL the claim statement itself started it).
async fn leased(
    tx: &mut Tx,
    row: &Row,
    run: &RunId,
    worker: &str,
    ttl_ms: i64,
    now: i64,
) -> Result<Lease, sqlx::Error> {
    let lease = lease_from_row(row, run, worker, ttl_ms)?;
    if !tx.is_postgres() {
        start_attempt(tx, &lease, now).await?;
    }
    Ok(lease)
}

async fn start_attempt(tx: &mut Tx, lease: &Lease, now: i64) -> Result<(), sqlx::Error> {
    tx.execute(
        INSERT_ATTEMPT,
        args![lease.run.as_str(), &lease.task, lease.attempt, &lease.worker, now],
    )
    .await?;
    let payload = serde_json::json!({ "worker": lease.worker, "tries": lease.tries });
    insert_event(
        tx,
        &lease.run,
        Some(&lease.task),
        Some(lease.attempt),
        "task.leased",
        &payload.to_string(),
        now,
    )
    .await?;
    Ok(())
}

async fn block_downstream(
    tx: &mut Tx,
    run: &RunId,
    task: &str,
    reason: &str,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = tx.fetch_all(BLOCK_DOWNSTREAM, args![run.as_str(), task, reason, now]).await?;
    let mut blocked = rows.iter().map(|row| row.text("key")).collect::<Result<Vec<_>, _>>()?;
    blocked.sort();
    if !blocked.is_empty() {
        let payload = serde_json::json!({ "because_of": task, "tasks": blocked, "reason": reason });
        insert_event(tx, run, Some(task), None, "tasks.blocked", &payload.to_string(), now).await?;
    }
    Ok(blocked)
}

fn lease_from_row(row: &Row, run: &RunId, worker: &str, ttl_ms: i64) -> Result<Lease, sqlx::Error> {
    Ok(Lease {
        run: run.clone(),
        task: row.text("key")?,
        attempt: row.int("attempt")?,
        worker: worker.to_owned(),
        expires_ms: row.int("lease_expires_ms")?,
        ttl_ms,
        tries: row.int("tries")?,
        max_attempts: row.int("max_attempts")?,
        priority: row.int("priority")?,
        spec_json: row.text("spec_json")?,
    })
}

/// $1..$11 of [`SUBMIT_PG`] and [`SUBMIT_AND_CLAIM_PG`].
fn submit_args(lease: &Lease, info: &AttemptInfo) -> Vec<crate::db::Arg> {
    let payload = serde_json::json!({
        "worker": lease.worker,
        "branch": info.branch,
        "commit": info.commit_sha,
    });
    let mut args = attempt_facts(lease, info);
    args.extend(args![payload.to_string(), &lease.worker]);
    args
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
