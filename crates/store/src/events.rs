//! The append-only event log.

use crate::db::{Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{Event, RunId};
use crate::runs::insert_event;
use crate::store::{Store, retry_transient};

const EVENTS: Sql = Sql::both(
    "SELECT seq, run_id, task_key, attempt, kind, payload_json, at_ms FROM events \
     WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
);

/// The newest `agent.*` event of each attempt of a run: the implement
/// stage writes the tokens and cost so far on each of them.
const LATEST_AGENT_EVENTS: Sql = Sql::both(
    "SELECT seq, run_id, task_key, attempt, kind, payload_json, at_ms FROM events \
     WHERE seq IN (SELECT MAX(seq) FROM events WHERE run_id = $1 AND task_key IS NOT NULL \
     AND kind LIKE 'agent.%' GROUP BY task_key, attempt) ORDER BY seq",
);

/// The newest event's number in a run's log (0 for none).
const LAST_SEQ: Sql =
    Sql::both("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE run_id = $1");

/// The newest event of one kind after a sequence number: reads only the
/// part of the run's log after it (the `events_by_run` index).
const NEWEST_OF_KIND_AFTER: Sql = Sql::both(
    "SELECT seq, run_id, task_key, attempt, kind, payload_json, at_ms FROM events \
     WHERE run_id = $1 AND seq > $2 AND kind = $3 ORDER BY seq DESC LIMIT 1",
);

const OF_KIND_AFTER: Sql = Sql::both(
    "SELECT seq, run_id, task_key, attempt, kind, payload_json, at_ms FROM events \
     WHERE run_id = $1 AND seq > $2 AND kind = $3 ORDER BY seq LIMIT $4",
);

impl Store {
    /// Appends an event to the run's log; returns its sequence number.
    /// Events are facts for reports and audits; they change no task state.
    pub async fn append_event(
        &self,
        run: &RunId,
        task: Option<&str>,
        attempt: Option<i64>,
        kind: &str,
        payload_json: &str,
    ) -> Result<i64, StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("append an event", e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let seq = insert_event(&mut tx, run, task, attempt, kind, payload_json, now)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(seq)
        })
        .await
    }

    /// The newest `agent.*` event of each attempt of `run`, oldest first.
    pub async fn latest_agent_events(&self, run: &RunId) -> Result<Vec<Event>, StoreError> {
        let err = |e| self.db_error("read events", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let rows = tx.fetch_all(LATEST_AGENT_EVENTS, args![run.as_str()]).await.map_err(err)?;
        rows.iter().map(event_from_row).collect::<Result<_, sqlx::Error>>().map_err(err)
    }

    /// Up to `limit` events of `run` after sequence number `after_seq`
    /// (0 for the start), in log order.
    pub async fn events(
        &self,
        run: &RunId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let err = |e| self.db_error("read events", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows =
            tx.fetch_all(EVENTS, args![run.as_str(), after_seq, limit]).await.map_err(err)?;
        rows.iter().map(event_from_row).collect::<Result<_, sqlx::Error>>().map_err(err)
    }
}

impl Store {
    /// The sequence number of the newest event in `run`'s log, 0 when it
    /// has none: what a reader that wants only later events starts after.
    pub async fn last_event_seq(&self, run: &RunId) -> Result<i64, StoreError> {
        let err = |e| self.db_error("read events", e);
        let row = self.pool.fetch_optional(LAST_SEQ, args![run.as_str()]).await.map_err(err)?;
        row.map_or(Ok(0), |row| row.int("seq")).map_err(err)
    }

    /// The newest event of `kind` in `run`'s log after sequence number
    /// `after_seq`, if there is one.
    pub async fn newest_event_after(
        &self,
        run: &RunId,
        after_seq: i64,
        kind: &str,
    ) -> Result<Option<Event>, StoreError> {
        let err = |e| self.db_error("read events", e);
        let row = self
            .pool
            .fetch_optional(NEWEST_OF_KIND_AFTER, args![run.as_str(), after_seq, kind])
            .await
            .map_err(err)?;
        row.as_ref().map(event_from_row).transpose().map_err(err)
    }

    /// Up to `limit` events of `kind` in `run`'s log after sequence number
    /// `after_seq`, in log order.
    pub async fn events_of_kind_after(
        &self,
        run: &RunId,
        after_seq: i64,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let err = |e| self.db_error("read events", e);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .pool
            .fetch_all(OF_KIND_AFTER, args![run.as_str(), after_seq, kind, limit])
            .await
            .map_err(err)?;
        rows.iter().map(event_from_row).collect::<Result<_, sqlx::Error>>().map_err(err)
    }
}

fn event_from_row(row: &crate::db::Row) -> Result<Event, sqlx::Error> {
    Ok(Event {
        seq: row.int("seq")?,
        run: RunId(row.text("run_id")?),
        task: row.opt_text("task_key")?,
        attempt: row.opt_int("attempt")?,
        kind: row.text("kind")?,
        payload_json: row.text("payload_json")?,
        at_ms: row.int("at_ms")?,
    })
}
