//! Point reads for processes that act on one task at a time (agent
//! sessions run one short `orca task ...` process per step): the newest
//! active run, one task, the current leases of a run, the ready tasks in
//! claim order, and counts that explain why nothing is ready.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::db::{Row, Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{Lease, Run, RunId, TaskState, TaskStatus};
use crate::status::{run_from_row, task_from_row};
use crate::store::Store;

const LATEST_ACTIVE_RUN: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms, repo_id, checkout \
     FROM runs WHERE state = 'active' ORDER BY created_ms DESC, id DESC LIMIT 1",
);
const TASK: Sql = Sql::both(
    "SELECT key, state, priority, attempt, tries, max_attempts, run_after_ms, lease_owner, \
     leased_ms, lease_expires_ms, heartbeat_ms, result_json, last_error, blocked_reason, updated_ms \
     FROM tasks WHERE run_id = $1 AND key = $2",
);
const TASK_SPEC: Sql = Sql::both("SELECT spec_json FROM tasks WHERE run_id = $1 AND key = $2");
const DEPS_OF: Sql = Sql::both(
    "SELECT d.dep_key AS key, t.state AS state FROM task_deps d \
     JOIN tasks t ON t.run_id = d.run_id AND t.key = d.dep_key \
     WHERE d.run_id = $1 AND d.task_key = $2 ORDER BY d.dep_key",
);
const LEASE_OF: Sql = Sql::both(
    "SELECT key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms, lease_owner \
     FROM tasks WHERE run_id = $1 AND key = $2 AND (state = 'leased') IS TRUE",
);
/// Through the partial index of leased tasks (few), not the run's tasks
/// (many): SQLite's planner prefers the primary key on `run_id` and would
/// scan the whole run, 8 ms for 10,000 tasks.
const LEASES: Sql = Sql::each(
    "SELECT key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms, lease_owner \
     FROM tasks INDEXED BY tasks_leased WHERE state = 'leased' AND run_id = $1 ORDER BY key",
    "SELECT key, attempt, tries, max_attempts, priority, spec_json, lease_expires_ms, lease_owner \
     FROM tasks WHERE state = 'leased' AND run_id = $1 ORDER BY key",
);
const READY: Sql = Sql::both(
    "SELECT key, priority, spec_json FROM tasks \
     WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $2 \
     ORDER BY priority DESC, key LIMIT $3",
);
/// On SQLite `INDEXED BY` counts the ready tasks from `tasks_ready`, which
/// holds `run_after_ms`; the planner would pick `tasks_by_state` and fetch
/// every ready task's row to check its backoff.
const REMAINING: Sql = Sql::each(
    "SELECT (SELECT count(*) FROM tasks INDEXED BY tasks_ready \
       WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $2) AS ready, \
     (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE run_id = $1 \
       AND state IN ('waiting', 'ready', 'leased', 'verified') LIMIT 1) AS open) AS unfinished",
    "SELECT (SELECT count(*) FROM tasks WHERE run_id = $1 AND state = 'ready' AND run_after_ms <= $2) \
       AS ready, \
     (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE run_id = $1 \
       AND state IN ('waiting', 'ready', 'leased', 'verified') LIMIT 1) AS open) AS unfinished",
);
const COUNTS: Sql =
    Sql::both("SELECT state, count(*) AS n FROM tasks WHERE run_id = $1 GROUP BY state");
const BACKING_OFF: Sql = Sql::each(
    "SELECT count(*) AS n, min(run_after_ms) AS first FROM tasks INDEXED BY tasks_ready \
     WHERE run_id = $1 AND state = 'ready' AND run_after_ms > $2",
    "SELECT count(*) AS n, min(run_after_ms) AS first FROM tasks \
     WHERE run_id = $1 AND state = 'ready' AND run_after_ms > $2",
);

/// What is left of a run, cheaply: enough to say what a finished task
/// leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Remaining {
    /// Tasks that can be claimed now (ready, not waiting out a backoff).
    pub ready: u64,
    /// Some task is still waiting, ready or leased.
    pub unfinished: bool,
    /// The store's clock when counted.
    pub now_ms: i64,
}

/// A task that could be claimed now, as [`Store::ready_tasks`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyTask {
    pub key: String,
    pub priority: i64,
    /// The task's spec from [`crate::NewTask::spec_json`].
    pub spec_json: String,
}

/// A dependency of a task and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepState {
    pub key: String,
    pub state: TaskState,
}

/// How many tasks of a run are in each state: enough to say why nothing
/// can be claimed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TaskCounts {
    /// Every task of the run.
    pub total: u64,
    /// Tasks per state; states without tasks are absent.
    pub by_state: Vec<(TaskState, u64)>,
    /// Ready tasks that may not be claimed yet (waiting out a retry backoff).
    pub backing_off: u64,
    /// When the first of those becomes claimable (ms since the epoch).
    pub next_retry_ms: Option<i64>,
    /// The store's clock when counted.
    pub now_ms: i64,
}

impl TaskCounts {
    /// How many tasks are in `state`.
    pub fn count(&self, state: TaskState) -> u64 {
        self.by_state.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n)
    }

    /// Tasks not yet in a final state.
    pub fn unfinished(&self) -> u64 {
        self.by_state.iter().filter(|(s, _)| !s.is_terminal()).map(|(_, n)| n).sum()
    }
}

impl Store {
    /// The most recently created run that is still active, if any.
    pub async fn latest_active_run(&self) -> Result<Option<Run>, StoreError> {
        let err = |e| self.db_error("read the latest active run", e);
        let row = self.pool.fetch_optional(LATEST_ACTIVE_RUN, vec![]).await.map_err(err)?;
        row.map(|row| run_from_row(&row).map_err(StoreError::BadData)).transpose()
    }

    /// One task of a run; [`StoreError::TaskNotFound`] if the run has no
    /// task `key` ([`StoreError::RunNotFound`] if there is no such run).
    pub async fn task(&self, run: &RunId, key: &str) -> Result<TaskStatus, StoreError> {
        let err = |e| self.db_error("read the task", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let now = tx.now().await.map_err(err)?;
        let Some(row) = tx.fetch_optional(TASK, args![run.as_str(), key]).await.map_err(err)?
        else {
            // Give the connection back first: a pool may have only one.
            drop(tx);
            return Err(self.missing_task(run, key).await);
        };
        let deps = tx.fetch_all(DEPS_OF, args![run.as_str(), key]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        let deps = deps.iter().map(|row| row.text("key")).collect::<Result<_, _>>().map_err(err)?;
        let mut deps = HashMap::from([(key.to_owned(), deps)]);
        task_from_row(&row, now, &mut deps).map_err(StoreError::BadData)
    }

    /// The spec a task was created with ([`crate::NewTask::spec_json`]).
    pub async fn task_spec(&self, run: &RunId, key: &str) -> Result<String, StoreError> {
        let err = |e| self.db_error("read the task", e);
        let row =
            self.pool.fetch_optional(TASK_SPEC, args![run.as_str(), key]).await.map_err(err)?;
        match row {
            Some(row) => row.text("spec_json").map_err(err),
            None => Err(self.missing_task(run, key).await),
        }
    }

    /// A task's dependencies with their states, by key.
    pub async fn deps_of(&self, run: &RunId, key: &str) -> Result<Vec<DepState>, StoreError> {
        let err = |e| self.db_error("read the dependencies", e);
        let rows = self.pool.fetch_all(DEPS_OF, args![run.as_str(), key]).await.map_err(err)?;
        rows.iter()
            .map(|row| {
                let state = row.text("state").map_err(err)?;
                Ok(DepState {
                    key: row.text("key").map_err(err)?,
                    state: state.parse().map_err(StoreError::BadData)?,
                })
            })
            .collect()
    }

    /// The lease someone holds on the task now, if it is leased: the same
    /// [`Lease`] its holder got from the claim, so a process other than the
    /// one that claimed it can act through it (an agent session runs one
    /// `orca task` process per step). `ttl` is how long renewals through
    /// it extend the lease. Whoever uses it must check `worker` first: the
    /// store fences by attempt, not by name.
    pub async fn lease_of(
        &self,
        run: &RunId,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let err = |e| self.db_error("read the lease", e);
        let row =
            self.pool.fetch_optional(LEASE_OF, args![run.as_str(), key]).await.map_err(err)?;
        row.map(|row| lease_from_row(&row, run, ttl).map_err(err)).transpose()
    }

    /// Every lease currently held on tasks of `run`, by task key (see
    /// [`Store::lease_of`] for `ttl`).
    pub async fn leases(&self, run: &RunId, ttl: Duration) -> Result<Vec<Lease>, StoreError> {
        let err = |e| self.db_error("read the leases", e);
        let rows = self.pool.fetch_all(LEASES, args![run.as_str()]).await.map_err(err)?;
        rows.iter().map(|row| lease_from_row(row, run, ttl).map_err(err)).collect()
    }

    /// Up to `limit` tasks that [`Store::claim`] could lease now, in the
    /// order it would lease them (highest priority first, then by key).
    /// Reads only: another worker may claim them first.
    pub async fn ready_tasks(
        &self,
        run: &RunId,
        limit: usize,
    ) -> Result<Vec<ReadyTask>, StoreError> {
        let err = |e| self.db_error("read the ready tasks", e);
        let now = self.pool.now().await.map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows =
            self.pool.fetch_all(READY, args![run.as_str(), now, limit]).await.map_err(err)?;
        rows.iter()
            .map(|row| {
                Ok(ReadyTask {
                    key: row.text("key")?,
                    priority: row.int("priority")?,
                    spec_json: row.text("spec_json")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }

    /// How many tasks of `run` are in each state, and how many ready ones
    /// wait out a retry backoff.
    pub async fn task_counts(&self, run: &RunId) -> Result<TaskCounts, StoreError> {
        let err = |e| self.db_error("count the tasks", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let now = tx.now().await.map_err(err)?;
        let mut counts = TaskCounts { now_ms: now, ..TaskCounts::default() };
        for row in tx.fetch_all(COUNTS, args![run.as_str()]).await.map_err(err)? {
            let state: TaskState =
                row.text("state").map_err(err)?.parse().map_err(StoreError::BadData)?;
            let n = u64::try_from(row.int("n").map_err(err)?).unwrap_or(0);
            counts.total += n;
            counts.by_state.push((state, n));
        }
        counts.by_state.sort_by_key(|(state, _)| TaskState::ALL.iter().position(|s| s == state));
        let row = tx.fetch_optional(BACKING_OFF, args![run.as_str(), now]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        if let Some(row) = row {
            counts.backing_off = u64::try_from(row.int("n").map_err(err)?).unwrap_or(0);
            counts.next_retry_ms = row.opt_int("first").map_err(err)?;
        }
        if counts.total == 0 {
            // An empty run and an unknown run look alike here; tell them apart.
            self.run(run).await?;
        }
        Ok(counts)
    }

    /// How many tasks can be claimed now and whether any is unfinished:
    /// two index lookups, where [`Store::task_counts`] counts every task.
    pub async fn remaining(&self, run: &RunId) -> Result<Remaining, StoreError> {
        let err = |e| self.db_error("count the remaining tasks", e);
        let now = self.pool.now().await.map_err(err)?;
        let row =
            self.pool.fetch_optional(REMAINING, args![run.as_str(), now]).await.map_err(err)?;
        let Some(row) = row else { return Ok(Remaining { now_ms: now, ..Remaining::default() }) };
        Ok(Remaining {
            ready: u64::try_from(row.int("ready").map_err(err)?).unwrap_or(0),
            unfinished: row.int("unfinished").map_err(err)? > 0,
            now_ms: now,
        })
    }

    /// `TaskNotFound`, or `RunNotFound` when the run itself is missing.
    async fn missing_task(&self, run: &RunId, key: &str) -> StoreError {
        match self.run(run).await {
            Ok(_) => StoreError::TaskNotFound { run: run.clone(), key: key.to_owned() },
            Err(error) => error,
        }
    }
}

fn lease_from_row(row: &Row, run: &RunId, ttl: Duration) -> Result<Lease, sqlx::Error> {
    Ok(Lease {
        run: run.clone(),
        task: row.text("key")?,
        attempt: row.int("attempt")?,
        worker: row.opt_text("lease_owner")?.unwrap_or_default(),
        expires_ms: row.opt_int("lease_expires_ms")?.unwrap_or(0),
        ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
        tries: row.int("tries")?,
        max_attempts: row.int("max_attempts")?,
        priority: row.int("priority")?,
        spec_json: row.text("spec_json")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_plan::{assert_plan, plan, sqlite_store};

    /// Counting what can be claimed now reads the ready-task index alone
    /// (it carries the backoff time), never a row per ready task.
    #[tokio::test]
    async fn ready_counts_come_from_the_index_alone() {
        let (_dir, store) = sqlite_store().await;
        let covering = "COVERING INDEX tasks_ready (run_id=?)";
        let remaining = plan(&store, REMAINING, 2).await;
        assert_plan(&remaining, &[covering], &["USING INDEX tasks_by_state"]);
        let backing_off = plan(&store, BACKING_OFF, 2).await;
        assert_plan(&backing_off, &[covering], &["SCAN tasks"]);
    }
}
