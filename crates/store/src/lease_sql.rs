//! The SQL behind leases, per dialect. Every write through a lease carries
//! the guard `attempt = $3 AND state = 'leased' AND lease_owner = <holder>`:
//! the attempt number alone does not tell a worker's lease from the
//! coordinator's merge lease on the same attempt.
//!
//! A statement that finds its row by key writes the state test as
//! `(state = 'leased') IS TRUE`: PostgreSQL's planner otherwise prefers
//! `tasks_by_state (run_id, state)` to the primary key and walks every
//! leased entry of the run, dead ones included (each task leaves some as it
//! passes through `leased`), so each lease write grew slower as a run went
//! on. The `IS TRUE` form cannot use that index (SQLite's `+state` idiom).
//! For the same reason a statement that joins a batch of tasks to their
//! rows names the keys as `key = ANY (ARRAY(...))`: a lookup in the primary
//! key, where a plain join let the planner scan the run's rows.
//!
//! On PostgreSQL the writes that make work appear tell the listeners of
//! [`Wake`](crate::Wake) at commit: `orca_ready` when tasks became ready,
//! `orca_verified` when an attempt was submitted; the payload is the run.

use std::sync::LazyLock;

use crate::db::Sql;

/// [`CLAIM`] as one statement on its own on PostgreSQL: the time (`$4`,
/// bound to NULL) from the database's clock.
pub(crate) static CLAIM_NOW: LazyLock<Sql> = LazyLock::new(|| CLAIM.with_db_clock("$4"));
/// [`END_LEASE_SUCCEEDED`] on its own, the time (`$10`) from the database.
pub(crate) static END_LEASE_SUCCEEDED_NOW: LazyLock<Sql> =
    LazyLock::new(|| END_LEASE_SUCCEEDED.with_db_clock("$10"));

/// A row while run `$run` hands out work to workers: it is active and its
/// implement stage runs (one halted by its budget or a refused push, or
/// stopped by its coordinator, hands out none).
macro_rules! run_hands_out_work {
    ($run:literal) => {
        concat!(
            "SELECT 1 FROM runs r JOIN run_stages s ON s.run_id = r.id \
             WHERE r.id = ",
            $run,
            " AND r.state = 'active' AND s.stage = 'implement' AND s.state = 'running'"
        )
    };
}

/// Whether run $1 hands out work (see `run_hands_out_work`).
pub(crate) const HANDS_OUT_WORK: Sql = Sql::both(run_hands_out_work!("$1"));

/// The CTEs of a worker's submit on PostgreSQL (see [`SUBMIT_PG`]). It
/// wakes the coordinator only when no other task of the run waits verified
/// (as this statement sees them): PostgreSQL signals every listening
/// session of the database on each NOTIFY, whatever its channel, so one
/// per task would wake all workers too. A coordinator that was told of an
/// earlier submit takes this one with it or on its next take, which
/// follows at once when the last take found work.
macro_rules! submit_pg {
    () => {
        "WITH clock AS (SELECT \
           (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now), \
         ended AS (\
           UPDATE tasks SET state = 'verified', blocked_reason = NULL, run_after_ms = 0, \
           lease_owner = NULL, leased_ms = NULL, lease_expires_ms = NULL, heartbeat_ms = NULL, \
           updated_ms = (SELECT now FROM clock) \
           WHERE run_id = $1 AND key = $2 AND attempt = $3 AND (state = 'leased') IS TRUE \
           AND lease_owner = $11 RETURNING key), \
         finished AS (\
           UPDATE attempts SET branch = COALESCE($4, branch), agent = COALESCE($5, agent), \
           agent_session_id = COALESCE($6, agent_session_id), \
           commit_sha = COALESCE($7, commit_sha), summary = COALESCE($8, summary), \
           details_json = COALESCE($9, details_json), outcome = 'verified', error = NULL, \
           ended_ms = (SELECT now FROM clock) \
           WHERE run_id = $1 AND task_key = $2 AND attempt = $3 \
           AND EXISTS (SELECT 1 FROM ended)), \
         logged AS (\
           INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
           SELECT $1, $2, $3, 'task.verified', $10, (SELECT now FROM clock) FROM ended), \
         told AS (SELECT pg_notify('orca_verified', $1) WHERE EXISTS (SELECT 1 FROM ended) \
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE run_id = $1 AND state = 'verified'))"
    };
}

/// A worker's submit on PostgreSQL, one statement on its own: the guarded
/// end of the lease (the task `verified`), the attempt's facts and its
/// outcome, the event. $1 run, $2 task, $3 attempt, $4..$9 branch, agent,
/// session, commit, summary, details; $10 the event's payload, $11 the
/// lease's holder.
pub(crate) const SUBMIT_PG: Sql = Sql::each(
    "-- PostgreSQL only",
    concat!(
        submit_pg!(),
        " SELECT count(*) AS ended, (SELECT count(*) FROM told) AS told FROM ended"
    ),
);

/// [`SUBMIT_PG`] and, once the submit went through, a claim of up to $12
/// more ready tasks of the same run for the same worker, leased for $13 ms
/// ([`CLAIM`] as on PostgreSQL): the slot the submit freed is filled in the
/// same round trip and commit. One row always; `key` is NULL when nothing
/// was claimed.
pub(crate) const SUBMIT_AND_CLAIM_PG: Sql = Sql::each(
    "-- PostgreSQL only",
    concat!(
        submit_pg!(),
        ", picked AS (\
           SELECT key FROM tasks WHERE run_id = $1 AND state = 'ready' \
           AND run_after_ms <= (SELECT now FROM clock) AND EXISTS (SELECT 1 FROM ended) \
           AND EXISTS (",
        run_hands_out_work!("$1"),
        ") \
           ORDER BY priority DESC, key LIMIT $12 FOR UPDATE SKIP LOCKED), \
         leased AS (\
           UPDATE tasks t SET state = 'leased', attempt = t.attempt + 1, tries = t.tries + 1, \
           lease_owner = $11, leased_ms = c.now, heartbeat_ms = c.now, \
           lease_expires_ms = c.now + $13, updated_ms = c.now \
           FROM picked, clock c WHERE t.run_id = $1 AND t.key = picked.key \
           RETURNING t.key, t.attempt, t.tries, t.max_attempts, t.priority, t.spec_json, \
             t.lease_expires_ms), \
         started AS (\
           INSERT INTO attempts (run_id, task_key, attempt, worker, started_ms, outcome) \
           SELECT $1, key, attempt, $11, (SELECT now FROM clock), 'running' FROM leased), \
         claim_logged AS (\
           INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
           SELECT $1, key, attempt, 'task.leased', \
             json_build_object('worker', $11::text, 'tries', tries)::text, \
             (SELECT now FROM clock) FROM leased) \
         SELECT l.key, l.attempt, l.tries, l.max_attempts, l.priority, l.spec_json, \
           l.lease_expires_ms, (SELECT count(*) FROM ended) AS ended, \
           (SELECT count(*) FROM told) AS told \
         FROM (SELECT 1) AS one LEFT JOIN leased l ON true"
    ),
);

/// The coordinator's take on PostgreSQL, one statement on its own: every
/// verified task of run $1 leased to $2 for $3 ms, its attempt marked
/// `merging` and read back, an event each.
pub(crate) const TAKE_VERIFIED_PG: Sql = Sql::each(
    "-- PostgreSQL only",
    "WITH clock AS (SELECT \
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now), \
     picked AS (SELECT key FROM tasks WHERE run_id = $1 AND state = 'verified' \
       ORDER BY key FOR UPDATE SKIP LOCKED), \
     taken AS (\
       UPDATE tasks t SET state = 'leased', lease_owner = $2, leased_ms = c.now, \
       heartbeat_ms = c.now, lease_expires_ms = c.now + $3, updated_ms = c.now \
       FROM picked, clock c WHERE t.run_id = $1 AND t.key = picked.key \
       RETURNING t.key, t.attempt, t.tries, t.max_attempts, t.priority, t.spec_json, \
         t.lease_expires_ms), \
     merging AS (\
       UPDATE attempts a SET outcome = 'merging' FROM taken \
       WHERE a.run_id = $1 AND a.task_key = ANY (ARRAY(SELECT key FROM taken)) \
       AND a.task_key = taken.key AND a.attempt = taken.attempt \
       RETURNING a.task_key, a.worker, a.branch, a.commit_sha, a.details_json), \
     logged AS (\
       INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
       SELECT $1, t.key, t.attempt, 'task.merging', \
         json_build_object('commit', m.commit_sha, 'submitted_by', COALESCE(m.worker, ''), \
           'worker', $2::text)::text, (SELECT now FROM clock) \
       FROM taken t LEFT JOIN merging m ON m.task_key = t.key) \
     SELECT t.key, t.attempt, t.tries, t.max_attempts, t.priority, t.spec_json, \
       t.lease_expires_ms, m.worker, m.branch, m.commit_sha, m.details_json \
     FROM taken t LEFT JOIN merging m ON m.task_key = t.key",
);

/// A batch of completions on PostgreSQL, one statement on its own: each
/// lease of `$2` (a JSON array of `{key, attempt, owner, result, payload}`)
/// fenced on its own, its attempt and event written, and the dependents of
/// every task that ended counted down together (a dependent of two tasks of
/// the batch by two), locked in key order as [`END_LEASE_SUCCEEDED`] locks
/// them. Returns the leases that ended (key, attempt, owner).
pub(crate) const COMPLETE_ALL_PG: Sql = Sql::each(
    "-- PostgreSQL only",
    "WITH clock AS (SELECT \
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now), \
     batch AS (SELECT * FROM json_to_recordset($2::json) \
       AS b(key text, attempt bigint, owner text, result text, payload text)), \
     ended AS (\
       UPDATE tasks t SET state = 'succeeded', result_json = COALESCE(b.result, t.result_json), \
       blocked_reason = NULL, run_after_ms = 0, lease_owner = NULL, leased_ms = NULL, \
       lease_expires_ms = NULL, heartbeat_ms = NULL, updated_ms = (SELECT now FROM clock) \
       FROM batch b WHERE t.run_id = $1 AND t.key = ANY (ARRAY(SELECT key FROM batch)) \
       AND t.key = b.key AND t.attempt = b.attempt \
       AND (t.state = 'leased') IS TRUE AND t.lease_owner = b.owner \
       RETURNING t.key, t.attempt, b.owner, b.payload), \
     finished AS (\
       UPDATE attempts a SET outcome = 'succeeded', error = NULL, ended_ms = (SELECT now FROM clock) \
       FROM ended e WHERE a.run_id = $1 AND a.task_key = ANY (ARRAY(SELECT key FROM ended)) \
       AND a.task_key = e.key AND a.attempt = e.attempt), \
     logged AS (\
       INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
       SELECT $1, e.key, e.attempt, 'task.succeeded', e.payload, (SELECT now FROM clock) \
       FROM ended e), \
     counted AS (\
       SELECT d.task_key AS key, count(*) AS done FROM task_deps d JOIN ended e ON d.dep_key = e.key \
       WHERE d.run_id = $1 GROUP BY d.task_key), \
     locked AS (\
       SELECT t.key, c.done FROM tasks t JOIN counted c ON c.key = t.key \
       WHERE t.run_id = $1 ORDER BY t.key FOR UPDATE OF t), \
     released AS (\
       UPDATE tasks t SET deps_remaining = t.deps_remaining - l.done, \
       state = CASE WHEN t.state = 'waiting' AND t.deps_remaining = l.done THEN 'ready' ELSE t.state END, \
       updated_ms = (SELECT now FROM clock) \
       FROM locked l WHERE t.run_id = $1 AND t.key = l.key RETURNING t.state), \
     told AS (\
       SELECT pg_notify('orca_ready', $1) WHERE EXISTS (SELECT 1 FROM released WHERE state = 'ready')) \
     SELECT e.key, e.attempt, e.owner, (SELECT count(*) FROM told) AS told FROM ended e",
);

/// On PostgreSQL every statement is a network round trip, so the lease,
/// its attempt row and its event are written by one statement there; on
/// SQLite (no round trips) the plain UPDATE runs and `leases::start_attempt`
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
///
/// On SQLite the `+` keeps the planner from reaching the picked rows
/// through `tasks_by_state`, which walks every ready task of the run (the
/// claim slowed down as the ready set grew); so it looks each one up by key.
pub(crate) const CLAIM: Sql = Sql::each(
    "UPDATE tasks SET state = 'leased', attempt = attempt + 1, tries = tries + 1, \
     lease_owner = $3, leased_ms = $4, heartbeat_ms = $4, lease_expires_ms = $4 + $5, updated_ms = $4 \
     WHERE run_id = $1 AND +state = 'ready' AND key IN (\
       SELECT key FROM tasks INDEXED BY tasks_ready \
       WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $4 \
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
pub(crate) const CLAIM_ONE: Sql = Sql::each(
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
pub(crate) const INSERT_ATTEMPT: Sql = Sql::both(
    "INSERT INTO attempts (run_id, task_key, attempt, worker, started_ms, outcome) \
     VALUES ($1, $2, $3, $4, $5, 'running')",
);
pub(crate) const HEARTBEAT: Sql = Sql::both(
    "UPDATE tasks SET lease_expires_ms = $4 + $5, heartbeat_ms = $4 \
     WHERE run_id = $1 AND key = $2 AND attempt = $3 AND (state = 'leased') IS TRUE AND lease_owner = $6 \
     RETURNING lease_expires_ms",
);
/// Locks the task row if (and only if) the lease still holds.
pub(crate) const GUARD: Sql = Sql::each(
    "SELECT attempt FROM tasks WHERE run_id = $1 AND key = $2 AND attempt = $3 AND (state = 'leased') IS TRUE \
     AND lease_owner = $4",
    "SELECT attempt FROM tasks WHERE run_id = $1 AND key = $2 AND attempt = $3 AND (state = 'leased') IS TRUE \
     AND lease_owner = $4 FOR UPDATE",
);
pub(crate) const CURRENT: Sql =
    Sql::both("SELECT state, attempt, lease_owner FROM tasks WHERE run_id = $1 AND key = $2");
/// Ends the lease and moves the task to `$4` (guarded): on SQLite just the
/// task row, then `leases::end_lease` updates the attempt and logs the event; on
/// PostgreSQL all three in one statement (see `pg_start_attempts`).
macro_rules! end_lease_update {
    () => {
        "UPDATE tasks SET state = $4, result_json = COALESCE($5, result_json), \
         last_error = COALESCE($6, last_error), blocked_reason = $7, run_after_ms = $8, \
         tries = tries - $9, lease_owner = NULL, leased_ms = NULL, lease_expires_ms = NULL, \
         heartbeat_ms = NULL, updated_ms = $10 \
         WHERE run_id = $1 AND key = $2 AND attempt = $3 AND (state = 'leased') IS TRUE AND lease_owner = $14"
    };
}
macro_rules! pg_end_lease {
    ($told:expr) => {
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
            $told,
            " SELECT count(*) AS ended, (SELECT count(*) FROM told) AS told FROM ended"
        )
    };
}
/// Columns: $1 run, $2 task, $3 attempt, $4 new state, $5 result, $6 error,
/// $7 blocked reason, $8 run after, $9 refunded tries, $10 now,
/// $11 attempt outcome, $12 event kind, $13 event payload, $14 the holder.
/// A task back to `ready` or `verified` wakes whoever waits for such work.
pub(crate) const END_LEASE: Sql = Sql::each(
    end_lease_update!(),
    pg_end_lease!(
        ", told AS (\
           SELECT pg_notify(CASE WHEN $4 = 'ready' THEN 'orca_ready' ELSE 'orca_verified' END, $1) \
           WHERE $4 IN ('ready', 'verified') AND EXISTS (SELECT 1 FROM ended))"
    ),
);
/// [`END_LEASE`] for a success, releasing the dependents in the same
/// statement on PostgreSQL (locked in key order, so two completions that
/// share dependents cannot deadlock).
pub(crate) const END_LEASE_SUCCEEDED: Sql = Sql::each(
    end_lease_update!(),
    pg_end_lease!(
        ", released AS (\
           UPDATE tasks SET deps_remaining = deps_remaining - 1, \
           state = CASE WHEN state = 'waiting' AND deps_remaining = 1 THEN 'ready' ELSE state END, \
           updated_ms = $10 \
           WHERE run_id = $1 AND EXISTS (SELECT 1 FROM ended) AND key IN (\
             SELECT t.key FROM tasks t JOIN task_deps d ON d.run_id = t.run_id AND d.task_key = t.key \
             WHERE d.run_id = $1 AND d.dep_key = $2 ORDER BY t.key FOR UPDATE OF t) \
           RETURNING state), \
         told AS (\
           SELECT pg_notify('orca_ready', $1) WHERE EXISTS (SELECT 1 FROM released WHERE state = 'ready'))"
    ),
);
pub(crate) const END_ATTEMPT: Sql = Sql::both(
    "UPDATE attempts SET outcome = $4, error = $5, ended_ms = $6 \
     WHERE run_id = $1 AND task_key = $2 AND attempt = $3",
);
/// One dependency done: dependents count down and the last one makes them
/// ready (SQLite; PostgreSQL does it inside [`END_LEASE_SUCCEEDED`]).
///
/// Left to itself SQLite's planner prefers the covering primary key of
/// `task_deps` with only `run_id` bound, a walk over every dependency of the
/// run on each completion; `INDEXED BY` makes it look the dependents up.
pub(crate) const RELEASE_DEPENDENTS: Sql = Sql::each(
    "UPDATE tasks SET deps_remaining = deps_remaining - 1, \
     state = CASE WHEN state = 'waiting' AND deps_remaining = 1 THEN 'ready' ELSE state END, \
     updated_ms = $3 \
     WHERE run_id = $1 AND key IN (\
       SELECT task_key FROM task_deps INDEXED BY task_deps_by_dep WHERE run_id = $1 AND dep_key = $2)",
    "UPDATE tasks SET deps_remaining = deps_remaining - 1, \
     state = CASE WHEN state = 'waiting' AND deps_remaining = 1 THEN 'ready' ELSE state END, \
     updated_ms = $3 \
     WHERE run_id = $1 AND key IN (SELECT task_key FROM task_deps WHERE run_id = $1 AND dep_key = $2)",
);
/// Blocks every task downstream of `$2` that has not started. On SQLite
/// each step looks dependents up by `task_deps_by_dep` (`CROSS JOIN` fixes
/// the loop order: the tasks found so far outside) and the blocked tasks by
/// key (see [`RELEASE_DEPENDENTS`] and [`CLAIM`] for why).
pub(crate) const BLOCK_DOWNSTREAM: Sql = Sql::each(
    "WITH RECURSIVE downstream(key) AS (\
       SELECT task_key FROM task_deps INDEXED BY task_deps_by_dep \
       WHERE run_id = $1 AND dep_key = $2 \
       UNION \
       SELECT d.task_key FROM downstream s \
       CROSS JOIN task_deps d INDEXED BY task_deps_by_dep ON d.run_id = $1 AND d.dep_key = s.key) \
     UPDATE tasks SET state = 'blocked', blocked_reason = $3, updated_ms = $4 \
     WHERE run_id = $1 AND +state IN ('waiting', 'ready') AND key IN (SELECT key FROM downstream) \
     RETURNING key",
    "WITH RECURSIVE downstream(key) AS (\
       SELECT task_key FROM task_deps WHERE run_id = $1 AND dep_key = $2 \
       UNION \
       SELECT d.task_key FROM task_deps d JOIN downstream s ON d.dep_key = s.key WHERE d.run_id = $1) \
     UPDATE tasks SET state = 'blocked', blocked_reason = $3, updated_ms = $4 \
     WHERE run_id = $1 AND (state IN ('waiting', 'ready')) IS TRUE \
     AND key IN (SELECT key FROM downstream) RETURNING key",
);
pub(crate) const RECORD_ATTEMPT: Sql = Sql::both(
    "UPDATE attempts SET branch = COALESCE($4, branch), agent = COALESCE($5, agent), \
     agent_session_id = COALESCE($6, agent_session_id), commit_sha = COALESCE($7, commit_sha), \
     summary = COALESCE($8, summary), details_json = COALESCE($9, details_json) \
     WHERE run_id = $1 AND task_key = $2 AND attempt = $3",
);
/// Expired leases, with the outcome of the attempt they hold: `merging`
/// marks a coordinator's merge lease, which goes back to `verified`.
pub(crate) const EXPIRED: Sql = Sql::each(
    "SELECT run_id, key, attempt, lease_owner, tries, max_attempts, \
     (SELECT a.outcome FROM attempts a WHERE a.run_id = tasks.run_id AND a.task_key = tasks.key \
       AND a.attempt = tasks.attempt) AS attempt_outcome FROM tasks \
     WHERE state = 'leased' AND lease_expires_ms < $1 ORDER BY lease_expires_ms LIMIT 500",
    "SELECT run_id, key, attempt, lease_owner, tries, max_attempts, \
     (SELECT a.outcome FROM attempts a WHERE a.run_id = tasks.run_id AND a.task_key = tasks.key \
       AND a.attempt = tasks.attempt) AS attempt_outcome FROM tasks \
     WHERE state = 'leased' AND lease_expires_ms < $1 ORDER BY lease_expires_ms LIMIT 500 \
     FOR UPDATE OF tasks SKIP LOCKED",
);
/// The coordinator takes its run's verified tasks: each becomes leased to
/// it under the attempt number the worker submitted with (no new attempt,
/// no try spent). $1 run, $2 coordinator, $3 now, $4 ttl.
pub(crate) const TAKE_VERIFIED: Sql = Sql::each(
    "UPDATE tasks SET state = 'leased', lease_owner = $2, leased_ms = $3, heartbeat_ms = $3, \
     lease_expires_ms = $3 + $4, updated_ms = $3 \
     WHERE run_id = $1 AND state = 'verified' \
     RETURNING key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms",
    "WITH picked AS (SELECT key FROM tasks WHERE run_id = $1 AND state = 'verified' \
       ORDER BY key FOR UPDATE SKIP LOCKED) \
     UPDATE tasks t SET state = 'leased', lease_owner = $2, leased_ms = $3, heartbeat_ms = $3, \
     lease_expires_ms = $3 + $4, updated_ms = $3 FROM picked \
     WHERE t.run_id = $1 AND t.key = picked.key \
     RETURNING t.key, t.attempt, t.tries, t.max_attempts, t.priority, t.spec_json, t.lease_expires_ms",
);
/// The attempt a coordinator took to merge: marked `merging`, read back.
pub(crate) const MARK_MERGING: Sql = Sql::both(
    "UPDATE attempts SET outcome = 'merging' WHERE run_id = $1 AND task_key = $2 AND attempt = $3 \
     RETURNING worker, branch, commit_sha, details_json",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_plan, plan, sqlite_store};

    /// The statements every claim and completion runs must stay lookups:
    /// a walk over the run's ready tasks or dependencies made each command
    /// slower as the plan grew.
    #[tokio::test]
    async fn claim_and_release_look_rows_up_instead_of_walking_the_run() {
        let (_dir, store) = sqlite_store().await;
        let walks = ["SCAN tasks", "SCAN task_deps", "SCAN d", "tasks_by_state"];
        let deps_walk = "sqlite_autoindex_task_deps_1 (run_id=?)";

        let claim = plan(&store, CLAIM, 5).await;
        assert_plan(
            &claim,
            &["tasks_ready", "sqlite_autoindex_tasks_1 (run_id=? AND key=?)"],
            &walks,
        );
        let claim_one = plan(&store, CLAIM_ONE, 5).await;
        assert_plan(&claim_one, &["sqlite_autoindex_tasks_1 (run_id=? AND key=?)"], &walks);
        let release = plan(&store, RELEASE_DEPENDENTS, 3).await;
        assert_plan(&release, &["task_deps_by_dep (run_id=? AND dep_key=?)"], &walks);
        assert_plan(&release, &[], &[deps_walk]);
        let block = plan(&store, BLOCK_DOWNSTREAM, 4).await;
        assert_plan(&block, &["task_deps_by_dep (run_id=? AND dep_key=?)"], &walks);
        assert_plan(&block, &[], &[deps_walk]);
    }
}
