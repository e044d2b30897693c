//! Claiming tasks under a lease and everything a lease holder may do.
//!
//! Every write through a [`Lease`] is guarded by (task, attempt, still
//! leased): `attempt` is the fencing token, and the next claim of the task
//! bumps it, so a worker whose lease expired and was rescued can change
//! nothing; it gets [`LeaseLost`] naming the current holder.

use std::time::Duration;

use crate::db::{Row, Sql, Tx, TxKind, args};
use crate::error::{LeaseError, LeaseLost, StoreError, TaskNow};
use crate::model::{AttemptInfo, FailOutcome, Lease, Rescued, RetryPolicy, RunId, TaskState};
use crate::runs::insert_event;
use crate::store::{Store, retry_transient};

/// On PostgreSQL every statement is a network round trip, so the lease,
/// its attempt row and its event are written by one statement there; on
/// SQLite (no round trips) the plain UPDATE runs and [`start_attempt`]
/// writes the rest. This tail logs whatever the `leased` CTE returned.
macro_rules! pg_start_attempts {
    () => {
        ", started AS (\
           INSERT INTO attempts (run_id, task_key, attempt, worker, started_ms, outcome) \
           SELECT $1, key, attempt, $3, $4, 'running' FROM leased), \
         logged AS (\
           INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
           SELECT $1, key, attempt, 'task.leased', \
             json_build_object('worker', $3::text, 'tries', tries)::text, $4 FROM leased) \
         SELECT key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms FROM leased"
    };
}

/// Leases ready tasks, highest priority first, then by key. On PostgreSQL
/// concurrent claimers skip each other's rows instead of waiting.
const CLAIM: Sql = Sql::each(
    "UPDATE tasks SET state = 'leased', attempt = attempt + 1, tries = tries + 1, \
     lease_owner = $3, leased_ms = $4, heartbeat_ms = $4, lease_expires_ms = $4 + $5, updated_ms = $4 \
     WHERE run_id = $1 AND state = 'ready' AND key IN (\
       SELECT key FROM tasks WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $4 \
       ORDER BY priority DESC, key LIMIT $2) \
     RETURNING key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms",
    // A CTE with FOR UPDATE runs exactly once; as an IN sub-select the
    // planner may re-run it and lease more than $2 rows.
    concat!(
        "WITH picked AS (\
           SELECT key FROM tasks WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $4 \
           ORDER BY priority DESC, key LIMIT $2 FOR UPDATE SKIP LOCKED), \
         leased AS (\
           UPDATE tasks t SET state = 'leased', attempt = t.attempt + 1, tries = t.tries + 1, \
           lease_owner = $3, leased_ms = $4, heartbeat_ms = $4, lease_expires_ms = $4 + $5, \
           updated_ms = $4 \
           FROM picked WHERE t.run_id = $1 AND t.key = picked.key \
           RETURNING t.key, t.attempt, t.tries, t.max_attempts, t.priority, t.spec_json, \
             t.lease_expires_ms)",
        pg_start_attempts!()
    ),
);
const CLAIM_ONE: Sql = Sql::each(
    "UPDATE tasks SET state = 'leased', attempt = attempt + 1, tries = tries + 1, \
     lease_owner = $3, leased_ms = $4, heartbeat_ms = $4, lease_expires_ms = $4 + $5, updated_ms = $4 \
     WHERE run_id = $1 AND key = $2 AND state = 'ready' AND run_after_ms <= $4 \
     RETURNING key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms",
    concat!(
        "WITH leased AS (\
           UPDATE tasks SET state = 'leased', attempt = attempt + 1, tries = tries + 1, \
           lease_owner = $3, leased_ms = $4, heartbeat_ms = $4, lease_expires_ms = $4 + $5, \
           updated_ms = $4 \
           WHERE run_id = $1 AND key = $2 AND state = 'ready' AND run_after_ms <= $4 \
           RETURNING key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms)",
        pg_start_attempts!()
    ),
);
const INSERT_ATTEMPT: Sql = Sql::both(
    "INSERT INTO attempts (run_id, task_key, attempt, worker, started_ms, outcome) \
     VALUES ($1, $2, $3, $4, $5, 'running')",
);
const HEARTBEAT: Sql = Sql::both(
    "UPDATE tasks SET lease_expires_ms = $4 + $5, heartbeat_ms = $4 \
     WHERE run_id = $1 AND key = $2 AND attempt = $3 AND state = 'leased' \
     RETURNING lease_expires_ms",
);
/// Locks the task row if (and only if) the lease still holds.
const GUARD: Sql = Sql::each(
    "SELECT attempt FROM tasks WHERE run_id = $1 AND key = $2 AND attempt = $3 AND state = 'leased'",
    "SELECT attempt FROM tasks WHERE run_id = $1 AND key = $2 AND attempt = $3 AND state = 'leased' \
     FOR UPDATE",
);
const CURRENT: Sql =
    Sql::both("SELECT state, attempt, lease_owner FROM tasks WHERE run_id = $1 AND key = $2");
/// Ends the lease and moves the task to `$4` (guarded): on SQLite just the
/// task row, then [`end_lease`] updates the attempt and logs the event; on
/// PostgreSQL all three in one statement (see `pg_start_attempts`).
macro_rules! end_lease_update {
    () => {
        "UPDATE tasks SET state = $4, result_json = COALESCE($5, result_json), \
         last_error = COALESCE($6, last_error), blocked_reason = $7, run_after_ms = $8, \
         tries = tries - $9, lease_owner = NULL, leased_ms = NULL, lease_expires_ms = NULL, \
         heartbeat_ms = NULL, updated_ms = $10 \
         WHERE run_id = $1 AND key = $2 AND attempt = $3 AND state = 'leased'"
    };
}
macro_rules! pg_end_lease {
    ($tail:expr) => {
        concat!(
            "WITH ended AS (",
            end_lease_update!(),
            " RETURNING key), \
             finished AS (\
               UPDATE attempts SET outcome = $11, error = $6, ended_ms = $10 \
               WHERE run_id = $1 AND task_key = $2 AND attempt = $3 \
               AND EXISTS (SELECT 1 FROM ended)), \
             logged AS (\
               INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
               SELECT $1, $2, $3, $12, $13, $10 FROM ended)",
            $tail,
            " SELECT count(*) AS ended FROM ended"
        )
    };
}
/// Columns: $1 run, $2 task, $3 attempt, $4 new state, $5 result, $6 error,
/// $7 blocked reason, $8 run after, $9 refunded tries, $10 now,
/// $11 attempt outcome, $12 event kind, $13 event payload.
const END_LEASE: Sql = Sql::each(end_lease_update!(), pg_end_lease!(""));
/// [`END_LEASE`] for a success, releasing the dependents in the same
/// statement on PostgreSQL (locked in key order, so two completions that
/// share dependents cannot deadlock).
const END_LEASE_SUCCEEDED: Sql = Sql::each(
    end_lease_update!(),
    pg_end_lease!(
        ", released AS (\
           UPDATE tasks SET deps_remaining = deps_remaining - 1, \
           state = CASE WHEN state = 'waiting' AND deps_remaining = 1 THEN 'ready' ELSE state END, \
           updated_ms = $10 \
           WHERE run_id = $1 AND EXISTS (SELECT 1 FROM ended) AND key IN (\
             SELECT t.key FROM tasks t JOIN task_deps d ON d.run_id = t.run_id AND d.task_key = t.key \
             WHERE d.run_id = $1 AND d.dep_key = $2 ORDER BY t.key FOR UPDATE OF t))"
    ),
);
const END_ATTEMPT: Sql = Sql::both(
    "UPDATE attempts SET outcome = $4, error = $5, ended_ms = $6 \
     WHERE run_id = $1 AND task_key = $2 AND attempt = $3",
);
/// One dependency done: dependents count down and the last one makes them
/// ready (SQLite; PostgreSQL does it inside [`END_LEASE_SUCCEEDED`]).
const RELEASE_DEPENDENTS: Sql = Sql::both(
    "UPDATE tasks SET deps_remaining = deps_remaining - 1, \
     state = CASE WHEN state = 'waiting' AND deps_remaining = 1 THEN 'ready' ELSE state END, \
     updated_ms = $3 \
     WHERE run_id = $1 AND key IN (SELECT task_key FROM task_deps WHERE run_id = $1 AND dep_key = $2)",
);
/// Blocks every task downstream of `$2` that has not started.
const BLOCK_DOWNSTREAM: Sql = Sql::both(
    "WITH RECURSIVE downstream(key) AS (\
       SELECT task_key FROM task_deps WHERE run_id = $1 AND dep_key = $2 \
       UNION \
       SELECT d.task_key FROM task_deps d JOIN downstream s ON d.dep_key = s.key WHERE d.run_id = $1) \
     UPDATE tasks SET state = 'blocked', blocked_reason = $3, updated_ms = $4 \
     WHERE run_id = $1 AND state IN ('waiting', 'ready') AND key IN (SELECT key FROM downstream) \
     RETURNING key",
);
const RECORD_ATTEMPT: Sql = Sql::both(
    "UPDATE attempts SET branch = COALESCE($4, branch), agent = COALESCE($5, agent), \
     agent_session_id = COALESCE($6, agent_session_id), commit_sha = COALESCE($7, commit_sha), \
     summary = COALESCE($8, summary), details_json = COALESCE($9, details_json) \
     WHERE run_id = $1 AND task_key = $2 AND attempt = $3",
);
const EXPIRED: Sql = Sql::each(
    "SELECT run_id, key, attempt, lease_owner, tries, max_attempts FROM tasks \
     WHERE state = 'leased' AND lease_expires_ms < $1 ORDER BY lease_expires_ms LIMIT 500",
    "SELECT run_id, key, attempt, lease_owner, tries, max_attempts FROM tasks \
     WHERE state = 'leased' AND lease_expires_ms < $1 ORDER BY lease_expires_ms LIMIT 500 \
     FOR UPDATE SKIP LOCKED",
);

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
                let lease = lease_from_row(row, run, worker, ttl_ms).map_err(err)?;
                if !tx.is_postgres() {
                    start_attempt(&mut tx, &lease, now).await.map_err(err)?;
                }
                leases.push(lease);
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
            let lease = lease_from_row(&row, run, worker, ttl_ms).map_err(err)?;
            if !tx.is_postgres() {
                start_attempt(&mut tx, &lease, now).await.map_err(err)?;
            }
            tx.commit().await.map_err(err)?;
            Ok(Some(lease))
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
                    args![lease.run.as_str(), &lease.task, lease.attempt, now, lease.ttl_ms],
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
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("record the failure", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let out_of_tries = lease.tries >= lease.max_attempts;
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
        retry_transient(move || async move {
            let err = |e| LeaseError::Store(self.db_error("release the task", e));
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let ending = Ending {
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
            };
            if let Err(lost) = end_lease(&mut tx, lease, &ending, now).await.map_err(err)? {
                return Err(lost.into());
            }
            tx.commit().await.map_err(err)
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
                .fetch_optional(GUARD, args![lease.run.as_str(), &lease.task, lease.attempt])
                .await
                .map_err(err)?
                .is_none()
            {
                return Err(lost(&mut tx, lease).await.map_err(err)?.into());
            }
            tx.execute(
                RECORD_ATTEMPT,
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
                ],
            )
            .await
            .map_err(err)?;
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
                let out_of_tries = row.int("tries").map_err(err)? >= row.int("max_attempts").map_err(err)?;
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
                    state: if out_of_tries { TaskState::Failed } else { TaskState::Ready },
                    outcome: "expired",
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

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
