//! Schema versioning. The migrations are embedded in the binary, one folder
//! per database; `orca_meta.schema_version` records how far a store got.
//! A store from a newer orca is refused, an older one is migrated forward in
//! one transaction.

use crate::db::{Pool, Sql, TxKind, args};

/// The schema version this build of orca reads and writes.
pub const SCHEMA_VERSION: i64 = 6;

struct Migration {
    version: i64,
    sql: Sql,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0001_runs_tasks_events.sql"),
            include_str!("../migrations/postgres/0001_runs_tasks_events.sql"),
        ),
    },
    Migration {
        version: 2,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0002_stages_workers.sql"),
            include_str!("../migrations/postgres/0002_stages_workers.sql"),
        ),
    },
    Migration {
        version: 3,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0003_run_plans.sql"),
            include_str!("../migrations/postgres/0003_run_plans.sql"),
        ),
    },
    Migration {
        version: 4,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0004_ready_index_covers_backoff.sql"),
            include_str!("../migrations/postgres/0004_ready_index_covers_backoff.sql"),
        ),
    },
    Migration {
        version: 5,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0005_pipeline.sql"),
            include_str!("../migrations/postgres/0005_pipeline.sql"),
        ),
    },
    Migration {
        version: 6,
        sql: Sql::each(
            include_str!("../migrations/sqlite/0006_scale_out.sql"),
            include_str!("../migrations/postgres/0006_scale_out.sql"),
        ),
    },
];

/// Outlives every schema change: how a future orca finds the version.
const CREATE_META: Sql =
    Sql::both("CREATE TABLE IF NOT EXISTS orca_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
const READ_VERSION: Sql = Sql::both("SELECT value FROM orca_meta WHERE key = 'schema_version'");
/// The version and, on SQLite, the journal mode, in one round trip: every
/// process that opens the store asks both.
const READ_VERSION_AND_MODE: Sql = Sql::each(
    "SELECT value, (SELECT journal_mode FROM pragma_journal_mode) AS mode \
     FROM orca_meta WHERE key = 'schema_version'",
    "SELECT value, 'wal' AS mode FROM orca_meta WHERE key = 'schema_version'",
);
const WRITE_VERSION: Sql = Sql::both(
    "INSERT INTO orca_meta (key, value) VALUES ('schema_version', $1) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
);
/// Tables other than orca's version record: a database some other program uses.
const OTHER_TABLES: Sql = Sql::each(
    "SELECT count(*) AS n FROM sqlite_master \
     WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'orca_meta'",
    "SELECT count(*) AS n FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_name <> 'orca_meta'",
);
/// Serializes concurrent migrators on PostgreSQL (many workers may start at once).
const PG_MIGRATION_LOCK: Sql = Sql::both("SELECT pg_advisory_xact_lock(7270013) AS locked");

/// Why the schema could not be brought to the target version.
#[derive(Debug)]
pub(crate) enum SchemaError {
    Newer {
        found: i64,
    },
    /// Not an orca store: it has no version record but other tables.
    Foreign,
    Database(sqlx::Error),
    BadVersion(String),
}

impl From<sqlx::Error> for SchemaError {
    fn from(error: sqlx::Error) -> Self {
        SchemaError::Database(error)
    }
}

/// Brings the store to `target` (normally [`SCHEMA_VERSION`]).
pub(crate) async fn prepare(pool: &Pool, target: i64) -> Result<(), SchemaError> {
    // The common case needs no write lock: the store is already current.
    match read_version(pool).await {
        Ok((found, wal)) if found == target => {
            if !wal {
                pool.ensure_wal().await?;
            }
            return Ok(());
        }
        Ok((found, _)) if found > SCHEMA_VERSION => return Err(SchemaError::Newer { found }),
        _ => {}
    }
    let mut tx = pool.begin(TxKind::Write).await?;
    if tx.is_postgres() {
        tx.fetch_all(PG_MIGRATION_LOCK, vec![]).await?;
    }
    tx.execute(CREATE_META, vec![]).await?;
    let found = current_version(&mut tx).await?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer { found });
    }
    if found == 0 {
        let row = tx.fetch_optional(OTHER_TABLES, vec![]).await?;
        if row.map(|row| row.int("n")).transpose()?.unwrap_or(0) > 0 {
            // Dropping the transaction rolls back orca_meta too: the
            // database is left exactly as it was.
            return Err(SchemaError::Foreign);
        }
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found && m.version <= target) {
        tracing::info!(version = migration.version, "migrating the store");
        tx.execute_script(migration.sql).await?;
    }
    if target > found {
        tx.execute(WRITE_VERSION, args![target.to_string()]).await?;
    }
    tx.commit().await?;
    // Only now that the file is known to be orca's does it switch to WAL
    // (a persistent change to the file).
    pool.ensure_wal().await?;
    Ok(())
}

/// The common case on every open: the version, and whether the file is in
/// WAL mode already, in one statement.
async fn read_version(pool: &Pool) -> Result<(i64, bool), SchemaError> {
    match pool.fetch_optional(READ_VERSION_AND_MODE, vec![]).await? {
        None => Ok((0, false)),
        Some(row) => {
            let text = row.text("value")?;
            let wal = row.text("mode")?.eq_ignore_ascii_case("wal");
            Ok((text.parse().map_err(|_| SchemaError::BadVersion(text))?, wal))
        }
    }
}

async fn current_version(tx: &mut crate::db::Tx) -> Result<i64, SchemaError> {
    match tx.fetch_optional(READ_VERSION, vec![]).await? {
        None => Ok(0),
        Some(row) => {
            let text = row.text("value")?;
            text.parse().map_err(|_| SchemaError::BadVersion(text))
        }
    }
}
