//! The processes that claim tasks, and when each was last seen.

use crate::db::{Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{RunId, Worker, WorkerInfo};
use crate::store::{Store, retry_transient};

const REGISTER: Sql = Sql::both(
    "INSERT INTO workers (id, host, pid, started_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
     started_ms = excluded.started_ms, last_seen_ms = excluded.last_seen_ms",
);
/// Keeps `started_ms` of a known worker: an agent session touches its row
/// with every command, and it started with the first.
pub(crate) const TOUCH: Sql = Sql::both(
    "INSERT INTO workers (id, host, pid, started_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
     last_seen_ms = excluded.last_seen_ms",
);
const SEEN: Sql = Sql::both("UPDATE workers SET last_seen_ms = $2 WHERE id = $1");
const WORKERS: Sql = Sql::both(
    "SELECT id, host, pid, started_ms, last_seen_ms, role, version, schema_version, protocol, \
     agents, tasks_json, stopping FROM workers ORDER BY id",
);
const REGISTER_PROCESS: Sql = Sql::both(
    "INSERT INTO workers (id, host, pid, started_ms, last_seen_ms, role, version, schema_version, \
     protocol, agents, tasks_json, stopping) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, '[]', 0) \
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
     started_ms = excluded.started_ms, last_seen_ms = excluded.last_seen_ms, role = excluded.role, \
     version = excluded.version, schema_version = excluded.schema_version, \
     protocol = excluded.protocol, agents = excluded.agents, tasks_json = '[]', stopping = 0",
);
const ALIVE: Sql =
    Sql::both("UPDATE workers SET last_seen_ms = $2, tasks_json = $3, stopping = $4 WHERE id = $1");
/// Only runs whose implement stage runs: one halted (its budget spent, a
/// push refused) or stopped by its coordinator hands out no new work.
const ACTIVE_RUNS_OF_REPO: Sql = Sql::both(concat!(
    "SELECT id FROM runs WHERE repo_id = $1 AND EXISTS (",
    run_hands_out_work!("runs.id"),
    ") ORDER BY created_ms, id"
));
const FORGET: Sql = Sql::both("DELETE FROM workers WHERE id = $1");

impl Store {
    /// Records that worker `id` (a process `pid` on `host`) started now.
    pub async fn register_worker(&self, id: &str, host: &str, pid: u32) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("register the worker", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            tx.execute(REGISTER, args![id, host, i64::from(pid), now]).await.map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Records that worker `id` (on `host`, process `pid`) is alive now,
    /// registering it if it is new; unlike [`Store::register_worker`] a
    /// known worker keeps its start time.
    pub async fn touch_worker(&self, id: &str, host: &str, pid: u32) -> Result<(), StoreError> {
        // One statement, atomic on its own: no transaction around it.
        retry_transient(move || async move {
            let err = |e| self.db_error("update the worker", e);
            let now = self.pool.now().await.map_err(err)?;
            self.pool.execute(TOUCH, args![id, host, i64::from(pid), now]).await.map_err(err)?;
            Ok(())
        })
        .await
    }

    /// Records that worker `id` is alive now.
    pub async fn worker_seen(&self, id: &str) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("update the worker", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            tx.execute(SEEN, args![id, now]).await.map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Records that a process (an `orca worker`, a coordinator) started
    /// now, with what it says about itself: role, versions, agents.
    pub async fn register_process(&self, info: &WorkerInfo) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("register the worker", e);
            let now = self.pool.now().await.map_err(err)?;
            self.pool
                .execute(
                    REGISTER_PROCESS,
                    args![
                        &info.id,
                        &info.host,
                        i64::from(info.pid),
                        now,
                        &info.role,
                        &info.version,
                        info.schema_version,
                        info.protocol,
                        info.agents
                    ],
                )
                .await
                .map_err(err)?;
            Ok(())
        })
        .await
    }

    /// Records that worker `id` is alive now, what it runs (`run/task/a<n>`)
    /// and whether it stopped claiming.
    pub async fn worker_alive(
        &self,
        id: &str,
        tasks: &[String],
        stopping: bool,
    ) -> Result<(), StoreError> {
        let tasks = serde_json::to_string(tasks).unwrap_or_else(|_| "[]".to_owned());
        let tasks = tasks.as_str();
        retry_transient(move || async move {
            let err = |e| self.db_error("update the worker", e);
            let now = self.pool.now().await.map_err(err)?;
            self.pool
                .execute(ALIVE, args![id, now, tasks, i64::from(stopping)])
                .await
                .map_err(err)?;
            Ok(())
        })
        .await
    }

    /// Removes worker `id` from the list (it stopped for good).
    pub async fn forget_worker(&self, id: &str) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("remove the worker", e);
            self.pool.execute(FORGET, args![id]).await.map_err(err)?;
            Ok(())
        })
        .await
    }

    /// The store's clock now (ms since the epoch): what `last_seen_ms` and
    /// lease expiries are measured against.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        self.pool.now().await.map_err(|e| self.db_error("read the clock", e))
    }

    /// The active runs of a repository (by its identity, whatever the
    /// checkout) whose implement stage is running, oldest first: what an
    /// `orca worker` of that repository may claim tasks of.
    pub async fn active_runs_of_repo(&self, repo_id: &str) -> Result<Vec<RunId>, StoreError> {
        let err = |e| self.db_error("list the repository's runs", e);
        let rows = self.pool.fetch_all(ACTIVE_RUNS_OF_REPO, args![repo_id]).await.map_err(err)?;
        rows.iter().map(|row| row.text("id").map(RunId)).collect::<Result<_, _>>().map_err(err)
    }

    /// Every registered worker, by id.
    pub async fn workers(&self) -> Result<Vec<Worker>, StoreError> {
        let err = |e| self.db_error("read the workers", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let rows = tx.fetch_all(WORKERS, vec![]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        rows.iter()
            .map(|row| {
                Ok(Worker {
                    id: row.text("id")?,
                    host: row.text("host")?,
                    pid: row.int("pid")?,
                    started_ms: row.int("started_ms")?,
                    last_seen_ms: row.int("last_seen_ms")?,
                    role: row.opt_text("role")?,
                    version: row.opt_text("version")?,
                    schema_version: row.opt_int("schema_version")?,
                    protocol: row.opt_int("protocol")?,
                    agents: row.opt_int("agents")?,
                    tasks: row
                        .opt_text("tasks_json")?
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
                    stopping: row.opt_int("stopping")?.unwrap_or(0) != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }
}
