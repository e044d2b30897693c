//! The processes that claim tasks, and when each was last seen.

use crate::db::{Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::Worker;
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
const WORKERS: Sql =
    Sql::both("SELECT id, host, pid, started_ms, last_seen_ms FROM workers ORDER BY id");

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
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }
}
