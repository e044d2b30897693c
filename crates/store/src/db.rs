//! The thin layer that lets one body of store logic run on both databases:
//! a pool, a transaction, bind arguments and row access over SQLite or
//! PostgreSQL. sqlx's SQLite driver accepts `$N` placeholders, so most SQL is
//! shared; where the dialects differ, [`Sql`] carries one text per backend.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _, Sqlite, Transaction};

/// One SQL statement, as text for each backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Sql {
    /// The same text works on both databases.
    pub(crate) const fn both(text: &'static str) -> Sql {
        Sql { sqlite: text, postgres: text }
    }

    /// The dialects differ (e.g. `FOR UPDATE SKIP LOCKED` exists only on PostgreSQL).
    pub(crate) const fn each(sqlite: &'static str, postgres: &'static str) -> Sql {
        Sql { sqlite, postgres }
    }

    /// The same statement where, on PostgreSQL, parameter `param` (the
    /// time, `$4`) is read from the database's clock when it is bound to
    /// NULL, inside the statement: a statement that needs the time then runs
    /// on its own, in one round trip, instead of BEGIN, a clock read, the
    /// statement and COMMIT. The PostgreSQL text must start with `WITH `.
    /// Built once per statement (the text lives as long as the process).
    pub(crate) fn with_db_clock(self, param: &str) -> Sql {
        let body = self.postgres.strip_prefix("WITH ").expect("a statement that starts with WITH");
        let mut text = format!(
            "WITH clock AS (SELECT COALESCE({param}::bigint, \
             (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now), "
        );
        let mut rest = body;
        while let Some(at) = rest.find(param) {
            let after = &rest[at + param.len()..];
            text.push_str(&rest[..at]);
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                text.push_str(param);
            } else {
                text.push_str("(SELECT now FROM clock)");
            }
            rest = after;
        }
        text.push_str(rest);
        Sql { sqlite: self.sqlite, postgres: Box::leak(text.into_boxed_str()) }
    }

    #[cfg(test)]
    pub(crate) fn sqlite_text(&self) -> &'static str {
        self.sqlite
    }
}

/// A bind argument. NULLs carry their type because PostgreSQL checks it.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(Some(value.clone()))
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Arg::Text(value.map(str::to_owned))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

/// Builds a `Vec<Arg>` from values of mixed types.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// A connection pool for one backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxKind {
    /// Changes state: SQLite takes the write lock up front (`BEGIN
    /// IMMEDIATE`), because a deferred transaction that reads and then
    /// writes fails with SQLITE_BUSY instead of waiting.
    Write,
    /// Reads a consistent snapshot.
    Read,
}

impl Pool {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Pool::Postgres(_))
    }

    pub(crate) async fn begin(&self, kind: TxKind) -> Result<Tx, sqlx::Error> {
        Ok(match (self, kind) {
            (Pool::Sqlite(pool), TxKind::Write) => {
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            (Pool::Sqlite(pool), TxKind::Read) => Tx::Sqlite(pool.begin().await?),
            (Pool::Postgres(pool), TxKind::Write) => Tx::Postgres(pool.begin().await?),
            (Pool::Postgres(pool), TxKind::Read) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
            ),
        })
    }

    /// Puts a SQLite store in WAL mode (persistent; a no-op when it is).
    pub(crate) async fn ensure_wal(&self) -> Result<(), sqlx::Error> {
        if let Pool::Sqlite(pool) = self {
            let mode: String =
                sqlx::query_scalar("PRAGMA journal_mode = WAL").fetch_one(pool).await?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(%mode, "the SQLite store did not switch to WAL mode");
            }
        }
        Ok(())
    }

    /// Runs one query outside an explicit transaction and returns every
    /// row. A single statement reads one consistent snapshot anyway, and on
    /// SQLite this is one round trip to the connection's thread instead of
    /// three (BEGIN, the query, COMMIT).
    pub(crate) async fn fetch_all(
        &self,
        sql: Sql,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(pool) => bind_sqlite(sqlx::query(sql.sqlite), args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Pool::Postgres(pool) => bind_pg(sqlx::query(sql.postgres), args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// [`Pool::fetch_all`] for at most one row.
    pub(crate) async fn fetch_optional(
        &self,
        sql: Sql,
        args: Vec<Arg>,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(pool) => bind_sqlite(sqlx::query(sql.sqlite), args)
                .fetch_optional(pool)
                .await?
                .map(Row::Sqlite),
            Pool::Postgres(pool) => bind_pg(sqlx::query(sql.postgres), args)
                .fetch_optional(pool)
                .await?
                .map(Row::Postgres),
        })
    }

    /// Runs one statement on its own: atomic by itself, one round trip
    /// instead of three. Returns the number of rows it changed.
    pub(crate) async fn execute(&self, sql: Sql, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(pool) => {
                bind_sqlite(sqlx::query(sql.sqlite), args).execute(pool).await?.rows_affected()
            }
            Pool::Postgres(pool) => {
                bind_pg(sqlx::query(sql.postgres), args).execute(pool).await?.rows_affected()
            }
        })
    }

    /// Waits until every open connection is idle in the pool again (see
    /// [`crate::Store::settle`]); gives up after a bounded number of yields.
    pub(crate) async fn settle(&self) {
        for _ in 0..256 {
            let settled = match self {
                Pool::Sqlite(pool) => pool.num_idle() >= pool.size() as usize,
                Pool::Postgres(pool) => pool.num_idle() >= pool.size() as usize,
            };
            if settled {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// The store's clock in milliseconds (see [`Tx::now`]).
    pub(crate) async fn now(&self) -> Result<i64, sqlx::Error> {
        match self {
            Pool::Sqlite(_) => Ok(system_now_ms()),
            Pool::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                )
                .fetch_one(pool)
                .await
            }
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls it back.
#[derive(Debug)]
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

type SqliteQuery<'a> = sqlx::query::Query<'a, Sqlite, sqlx::sqlite::SqliteArguments>;
type PgQuery<'a> = sqlx::query::Query<'a, Postgres, sqlx::postgres::PgArguments>;

fn bind_sqlite(mut query: SqliteQuery<'_>, args: Vec<Arg>) -> SqliteQuery<'_> {
    for arg in args {
        query = match arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
        };
    }
    query
}

fn bind_pg(mut query: PgQuery<'_>, args: Vec<Arg>) -> PgQuery<'_> {
    for arg in args {
        query = match arg {
            Arg::Int(value) => query.bind(value),
            Arg::Text(value) => query.bind(value),
        };
    }
    query
}

impl Tx {
    /// The current time in milliseconds: the database clock on PostgreSQL
    /// (so many machines agree), this machine's clock on SQLite (one host).
    pub(crate) async fn now(&mut self) -> Result<i64, sqlx::Error> {
        match self {
            Tx::Sqlite(_) => Ok(system_now_ms()),
            Tx::Postgres(tx) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                )
                .fetch_one(&mut **tx)
                .await
            }
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: Sql, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                bind_sqlite(sqlx::query(sql.sqlite), args).execute(&mut **tx).await?.rows_affected()
            }
            Tx::Postgres(tx) => {
                bind_pg(sqlx::query(sql.postgres), args).execute(&mut **tx).await?.rows_affected()
            }
        })
    }

    /// Runs a statement whose text is built at run time (batched inserts).
    /// The text must contain only placeholders, never values.
    pub(crate) async fn execute_built(
        &mut self,
        sql: String,
        args: Vec<Arg>,
    ) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_sqlite(sqlx::query(AssertSqlSafe(sql)).persistent(false), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => bind_pg(sqlx::query(AssertSqlSafe(sql)).persistent(false), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and returns every row.
    pub(crate) async fn fetch_all(
        &mut self,
        sql: Sql,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_sqlite(sqlx::query(sql.sqlite), args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Tx::Postgres(tx) => bind_pg(sqlx::query(sql.postgres), args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// Runs a query and returns its first row, if any.
    pub(crate) async fn fetch_optional(
        &mut self,
        sql: Sql,
        args: Vec<Arg>,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_sqlite(sqlx::query(sql.sqlite), args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Sqlite),
            Tx::Postgres(tx) => bind_pg(sqlx::query(sql.postgres), args)
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Postgres),
        })
    }

    /// Runs several `;`-separated statements without arguments (migrations).
    pub(crate) async fn execute_script(&mut self, sql: Sql) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => {
                sqlx::raw_sql(sql.sqlite).execute(&mut **tx).await?;
            }
            Tx::Postgres(tx) => {
                sqlx::raw_sql(sql.postgres).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// A result row from either backend.
#[derive(Debug)]
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub(crate) fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
    }

    pub(crate) fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
    }

    pub(crate) fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
    }
}

/// Milliseconds since the Unix epoch on this machine's clock.
pub(crate) fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether a failed transaction was rolled back for a reason that retrying
/// it can fix: a deadlock or serialization failure on PostgreSQL, a lock
/// that stayed busy past the timeout on SQLite.
/// The connection to the database broke or could not be made (a server
/// that restarts, a network drop): the same statement may work once it is
/// back. PostgreSQL's `57P0x` (shut down) and `08xxx` (connection) codes.
pub(crate) fn is_disconnect(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("57P0") || code.starts_with("08"))
        }
        _ => false,
    }
}

pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    matches!(&*code, "40001" | "40P01")
}
