//! Opening a store and the plumbing every operation shares: error mapping
//! and retrying transactions the database rolled back for a transient reason.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};

use orca_config::Layout;

use crate::db::{self, Pool};
use crate::error::{LeaseError, OpenError, StorageProblem, StoreError};
use crate::location::Location;
use crate::schema::{self, SCHEMA_VERSION, SchemaError};

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Create the SQLite file when it does not exist (its directory must).
    pub create: bool,
    /// Connections in the pool; `None` picks a default per backend.
    pub max_connections: Option<u32>,
    /// How long an operation waits for a free connection (or for an
    /// unreachable server) before it fails.
    pub acquire_timeout: Duration,
    /// Bring the schema only this far; tests use it to make old stores.
    #[doc(hidden)]
    pub schema_version: i64,
    /// PostgreSQL ends a session of this store that sits inside a
    /// transaction, doing nothing, for longer (`idle_in_transaction_
    /// session_timeout`): a process frozen or cut off mid-transaction
    /// (SIGSTOP, a paused VM, a network partition) would otherwise hold its
    /// row locks until TCP gives up, and nobody could take over the tasks
    /// it held, not even once their leases expired. orca's transactions
    /// never wait between statements on anything but the database.
    pub idle_in_transaction: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            create: true,
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            schema_version: SCHEMA_VERSION,
            idle_in_transaction: Duration::from_secs(10),
        }
    }
}

/// orca's durable state: runs, stages, tasks, leases, attempts, events and
/// workers, in SQLite or PostgreSQL. Cheap to clone; clones share one pool.
///
/// Every state change is one transaction, and every write a worker makes
/// through a [`crate::Lease`] is fenced by (task, attempt, still leased).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) location: Location,
    /// The SQLite file existed but was empty (0 bytes) when opened.
    found_empty: bool,
}

/// SQLite waits this long for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens (creating if needed) the store at `url`: a file path or
    /// `sqlite:PATH` for SQLite, `postgres://...` for PostgreSQL. Brings an
    /// older schema up to date; refuses a store written by a newer orca.
    pub async fn open(url: &str) -> Result<Store, OpenError> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// Opens (creating if needed) the repository's own store,
    /// `.orca/orca.db`, creating `.orca/` and its `.gitignore` first.
    pub async fn open_default(layout: &Layout) -> Result<Store, OpenError> {
        Store::open_default_with(layout, &StoreOptions::default()).await
    }

    /// [`Store::open_default`] with explicit options.
    pub async fn open_default_with(
        layout: &Layout,
        options: &StoreOptions,
    ) -> Result<Store, OpenError> {
        if options.create {
            layout.ensure()?;
        }
        Store::open_with(&layout.database().display().to_string(), options).await
    }

    /// Opens an existing store; a SQLite file that does not exist is
    /// [`OpenError::Missing`] instead of being created.
    pub async fn open_existing(url: &str) -> Result<Store, OpenError> {
        Store::open_with(url, &StoreOptions { create: false, ..StoreOptions::default() }).await
    }

    /// Opens the store at `url` with explicit options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, OpenError> {
        let location = Location::parse(url)?;
        let found_empty = match &location {
            Location::Sqlite(path) => std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0),
            Location::Postgres { .. } => false,
        };
        let pool = match &location {
            Location::Sqlite(path) => open_sqlite(path, options).await?,
            Location::Postgres { url, server } => open_postgres(url, server, options).await?,
        };
        let store = Store { pool, location, found_empty };
        if let Err(error) = schema::prepare(&store.pool, options.schema_version).await {
            store.pool.close().await;
            return Err(store.schema_error(error));
        }
        Ok(store)
    }

    /// The SQLite file was there but empty (0 bytes, e.g. truncated by a
    /// full disk or created by hand): it was made a new, empty store, so
    /// whatever runs it held are gone. Worth telling the user.
    pub fn found_empty_file(&self) -> bool {
        self.found_empty
    }

    /// Where this store lives (passwords redacted when displayed).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Closes every connection; pending operations finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Lets the connections the last operations released go back to the
    /// pool. sqlx returns a released connection on a spawned task, so a
    /// command that ends its async runtime right after its last statement
    /// drops that task, and with it the connection, which closes it. On
    /// SQLite, closing the last connection checkpoints the WAL into the
    /// database (with fsyncs) and deletes it: milliseconds on every short
    /// command. Call this before leaving the store for the process exit.
    pub async fn settle(&self) {
        self.pool.settle().await;
    }

    fn schema_error(&self, error: SchemaError) -> OpenError {
        let store = self.location.describe();
        match error {
            SchemaError::Newer { found } => {
                OpenError::NewerSchema { store, found, supported: SCHEMA_VERSION }
            }
            SchemaError::Foreign => OpenError::NotAnOrcaStore { store },
            SchemaError::BadVersion(text) => OpenError::Migrate {
                store,
                source: Box::new(StoreError::BadData(format!("schema version `{text}`"))),
            },
            SchemaError::Database(source) => match &self.location {
                Location::Sqlite(path) if is_corrupt(&source) => {
                    OpenError::Corrupt { path: path.clone(), source }
                }
                Location::Sqlite(path) => OpenError::Sqlite {
                    path: path.clone(),
                    problem: StorageProblem::of(&source),
                    source,
                },
                Location::Postgres { server, .. } => {
                    if matches!(source, sqlx::Error::Database(_)) {
                        OpenError::Migrate {
                            store,
                            source: Box::new(self.db_error("prepare the schema", source)),
                        }
                    } else {
                        OpenError::Connect {
                            server: server.clone(),
                            reason: connect_reason(&source),
                            source,
                        }
                    }
                }
            },
        }
    }

    /// Wraps a database error with the operation and the store it concerns.
    pub(crate) fn db_error(&self, op: &'static str, source: sqlx::Error) -> StoreError {
        let problem = match &self.location {
            Location::Postgres { .. } if db::is_disconnect(&source) => StorageProblem::Unreachable,
            _ => StorageProblem::of(&source),
        };
        StoreError::Database { op, store: self.location.describe(), problem, source }
    }
}

async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<Pool, OpenError> {
    if !options.create && !path.exists() {
        return Err(OpenError::Missing { path: path.to_owned() });
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(options.create)
        // WAL (switched on by the schema check, once the file is known to
        // be orca's) with NORMAL survives a crash of the process (kill -9);
        // only a power loss may drop the last commits, never corrupt the file.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
        // Checkpoint the WAL into the database once it holds 200 pages
        // (about 800 KiB) instead of SQLite's 1000. Short-lived processes
        // (`orca task` runs one per step of an agent session) exit without
        // the checkpoint a last close would do, so the next one to open
        // rebuilds the WAL index by reading the whole WAL: a small WAL keeps
        // that cheap (measured: median `orca task next --claim` 14 ms with
        // 1000 pages, 8 ms with 200, on a loaded 2-core machine).
        .pragma("wal_autocheckpoint", "200")
        // Read the database through a memory map instead of a pread per
        // page: a short-lived process starts with an empty page cache and
        // reads some 70 pages per queue command, and mapped pages already in
        // the OS cache come in many per fault. Writes still go through the
        // WAL. Measured: `orca task done` 8.2 ms -> 6.9 ms median on the
        // 10k-task queue benchmark.
        .pragma("mmap_size", "268435456");
    SqlitePoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(4))
        // A local file needs no ping before every transaction: that was a
        // round trip to the connection's thread per operation.
        .test_before_acquire(false)
        .acquire_timeout(options.acquire_timeout.max(SQLITE_BUSY_TIMEOUT))
        .connect_with(connect)
        .await
        .map(Pool::Sqlite)
        .map_err(|source| {
            if is_corrupt(&source) {
                OpenError::Corrupt { path: path.to_owned(), source }
            } else {
                OpenError::Sqlite {
                    path: path.to_owned(),
                    problem: StorageProblem::of(&source),
                    source,
                }
            }
        })
}

async fn open_postgres(url: &str, server: &str, options: &StoreOptions) -> Result<Pool, OpenError> {
    let connect_error = |source: sqlx::Error| OpenError::Connect {
        server: server.to_owned(),
        reason: connect_reason(&source),
        source,
    };
    let idle_ms = options.idle_in_transaction.as_millis().max(1).to_string();
    let connect: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .map_err(connect_error)?
        .options([("idle_in_transaction_session_timeout", idle_ms.as_str())]);
    // One direct connection first: the pool would retry until its timeout
    // and then report only "timed out", hiding "connection refused".
    let probe = tokio::time::timeout(options.acquire_timeout, PgConnection::connect_with(&connect))
        .await
        .map_err(|_| connect_error(sqlx::Error::PoolTimedOut))?
        .map_err(connect_error)?;
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(10))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map(Pool::Postgres)
        .map_err(connect_error)
}

/// SQLITE_CORRUPT (11) or SQLITE_NOTADB (26): the file is not a usable database.
fn is_corrupt(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 11 | 26))
}

/// Says why a connection failed, without ever echoing the URL (it may hold
/// a password).
fn connect_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is the server running and listening there?)".to_owned()
            }
            std::io::ErrorKind::NotFound => {
                "no server socket there (is the server running?)".to_owned()
            }
            _ => format!("network error: {io}"),
        },
        sqlx::Error::PoolTimedOut => "timed out waiting for the server".to_owned(),
        sqlx::Error::Tls(_) => "TLS handshake failed".to_owned(),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01" | "28000") => {
                format!(
                    "authentication failed ({}); check the user name and password",
                    db.message()
                )
            }
            Some("3D000") => format!("{} (create it first)", db.message()),
            _ => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// Whether an error means "roll back happened, try the whole transaction again".
pub(crate) trait Transient {
    fn is_transient(&self) -> bool;
    /// The database could not be reached: worth trying again while
    /// [`set_reconnect_patience`] allows.
    fn is_disconnect(&self) -> bool;
}

/// How long a write waits for a database that cannot be reached (in ms).
static RECONNECT_PATIENCE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes every write of this process try again, with backoff, while the
/// database cannot be reached (a server restart, a network drop), for up
/// to `patience`; then the error is returned. Long-lived processes that
/// must ride out an outage (`orca worker`, a coordinator) set it; by
/// default (zero) a command fails at once.
pub fn set_reconnect_patience(patience: Duration) {
    let ms = u64::try_from(patience.as_millis()).unwrap_or(u64::MAX);
    RECONNECT_PATIENCE_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

impl Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database { source, .. } if db::is_transient(source))
    }

    fn is_disconnect(&self) -> bool {
        matches!(self, StoreError::Database { source, .. } if db::is_disconnect(source))
    }
}

impl Transient for LeaseError {
    fn is_transient(&self) -> bool {
        matches!(self, LeaseError::Store(error) if error.is_transient())
    }

    fn is_disconnect(&self) -> bool {
        matches!(self, LeaseError::Store(error) if error.is_disconnect())
    }
}

/// Runs a transaction body again when the database rolled it back for a
/// transient reason (deadlock, serialization failure, busy past timeout).
pub(crate) async fn retry_transient<T, E, F, Fut>(mut body: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0_u32;
    let started = std::time::Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        match body().await {
            Err(error)
                if error.is_disconnect()
                    && started.elapsed().as_millis()
                        < u128::from(
                            RECONNECT_PATIENCE_MS.load(std::sync::atomic::Ordering::Relaxed),
                        ) =>
            {
                tracing::debug!(?backoff, "the database cannot be reached; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(error) if error.is_transient() && tries < 20 => {
                tries += 1;
                tracing::debug!(tries, "transaction rolled back for a transient reason; retrying");
                tokio::time::sleep(Duration::from_millis(u64::from(tries) * fastrand::u64(1..=10)))
                    .await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::db::{TxKind, args};
    use crate::lease_sql::GUARD;
    use crate::model::{NewRun, NewTask};

    /// A worker frozen inside a transaction that locked its task's row: the
    /// server ends its session after `idle_in_transaction`, so the task can
    /// be rescued once its lease expires instead of staying locked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_frozen_in_a_transaction_does_not_hold_its_task() {
        let url = orca_test_postgres::shared().create_database();
        let options = StoreOptions {
            idle_in_transaction: Duration::from_millis(500),
            ..StoreOptions::default()
        };
        let frozen = Store::open_with(&url, &options).await.unwrap();
        let run = frozen
            .create_run(&NewRun {
                title: "t".into(),
                mode: "test".into(),
                plan_json: "{}".into(),
                tasks: vec![NewTask {
                    key: "a".into(),
                    max_attempts: 3,
                    spec_json: "{}".into(),
                    ..NewTask::default()
                }],
                ..NewRun::default()
            })
            .await
            .unwrap();
        let lease =
            frozen.claim(&run, "frozen", 1, Duration::from_millis(100)).await.unwrap().remove(0);
        // Inside a write, between two statements, the process stops.
        let mut tx = frozen.pool.begin(TxKind::Write).await.unwrap();
        let held = tx
            .fetch_optional(GUARD, args![run.as_str(), "a", lease.attempt, "frozen"])
            .await
            .unwrap();
        assert!(held.is_some(), "the frozen worker locked its task");

        let other = Store::open(&url).await.unwrap();
        let started = Instant::now();
        loop {
            if !other.rescue_expired().await.unwrap().is_empty() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the frozen transaction still locks the task"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let next = other.claim(&run, "other", 1, Duration::from_secs(30)).await.unwrap();
        assert_eq!(next[0].attempt, lease.attempt + 1);
        // The frozen session was ended: its transaction cannot commit.
        assert!(tx.commit().await.is_err());
    }
}
