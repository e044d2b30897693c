//! Opening stores: schema versions, corrupt files, unreachable servers.

use std::time::Duration;

use orca_store::{OpenError, SCHEMA_VERSION, Store, StoreOptions};

use crate::common::{Backend, run_of, task};

async fn set_schema_version(url: &str, version: i64) {
    let sql = "UPDATE orca_meta SET value = $1 WHERE key = 'schema_version'";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).bind(version.to_string()).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{url}")).await.unwrap();
        sqlx::query(sql).bind(version.to_string()).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn a_store_from_a_newer_orca_is_refused(backend: Backend) {
    let s = backend.fresh().await;
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    s.close().await;
    set_schema_version(&s.url, SCHEMA_VERSION + 5).await;
    let err = Store::open(&s.url).await.unwrap_err();
    assert!(matches!(err, OpenError::NewerSchema { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&format!("schema version {}", SCHEMA_VERSION + 5)), "{message}");
    assert!(message.contains(&format!("up to {SCHEMA_VERSION}")), "{message}");
    assert!(message.contains("upgrade orca"), "{message}");
    // Refusing changed nothing: back at our version, the run is all there.
    set_schema_version(&s.url, SCHEMA_VERSION).await;
    let again = Store::open(&s.url).await.unwrap();
    assert_eq!(again.run_status(&run).await.unwrap().tasks.len(), 1);
}

async fn an_older_store_is_migrated_and_keeps_its_data(backend: Backend) {
    let s = backend.fresh().await;
    s.close().await;
    // A fresh database brought only to version 1, with a run written the
    // way an orca of that version wrote it.
    let url = match backend {
        Backend::Sqlite => s.dir.as_ref().unwrap().path().join("old.db").display().to_string(),
        Backend::Postgres => orca_test_postgres::shared().create_database(),
    };
    let old =
        Store::open_with(&url, &StoreOptions { schema_version: 1, ..StoreOptions::default() })
            .await
            .unwrap();
    old.close().await;
    let version_1_rows = [
        "INSERT INTO runs (id, title, plan_path, plan_json, mode, state, created_ms, updated_ms) \
         VALUES ('20250101-000000-0001', 'old run', 'plan.md', '{\"plan\":1}', 'orca', 'active', 1, 1)",
        "INSERT INTO tasks (run_id, key, spec_json, state, priority, deps_remaining, max_attempts, updated_ms) \
         VALUES ('20250101-000000-0001', 'a', '{}', 'ready', 0, 0, 3, 1), \
                ('20250101-000000-0001', 'b', '{}', 'waiting', 0, 1, 3, 1)",
        "INSERT INTO task_deps (run_id, task_key, dep_key) VALUES ('20250101-000000-0001', 'b', 'a')",
    ];
    execute(&url, &version_1_rows).await;
    let run = orca_store::RunId::from("20250101-000000-0001");
    let new = Store::open(&url).await.unwrap();
    let status = new.run_status(&run).await.unwrap();
    assert_eq!(status.tasks.len(), 2);
    assert_eq!(status.run.stage, None);
    assert_eq!(status.run.title, "old run");
    // Version 3 keeps plans in their own table.
    assert_eq!(new.plan_json(&run).await.unwrap(), r#"{"plan":1}"#);
    new.set_stage(&run, orca_store::Stage::Plan, orca_store::StageState::Passed).await.unwrap();
    let lease = new.claim(&run, "w", 1, Duration::from_secs(30)).await.unwrap().remove(0);
    new.complete(&lease, "{}").await.unwrap();
    assert_eq!(new.task(&run, "b").await.unwrap().state, orca_store::TaskState::Ready);
    let fresh = new.create_run(&run_of(vec![task("x", &[])])).await.unwrap();
    assert_eq!(new.plan_json(&fresh).await.unwrap(), r#"{"plan":true}"#);
}

async fn execute(url: &str, statements: &[&str]) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{url}")).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

#[tokio::test]
async fn sqlite_store_from_a_newer_orca_is_refused() {
    a_store_from_a_newer_orca_is_refused(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_store_from_a_newer_orca_is_refused() {
    a_store_from_a_newer_orca_is_refused(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_older_store_is_migrated() {
    an_older_store_is_migrated_and_keeps_its_data(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_older_store_is_migrated() {
    an_older_store_is_migrated_and_keeps_its_data(Backend::Postgres).await;
}

#[tokio::test]
async fn many_processes_opening_a_new_postgres_store_at_once_migrate_it_once() {
    let url = orca_test_postgres::shared().create_database();
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_corrupt_sqlite_file_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orca.db");
    let garbage: Vec<u8> = (0..8192_u32).map(|i| u8::try_from(i * 7 % 251).unwrap()).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path.display().to_string()).await.unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("corrupt"), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "the file was not modified");
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("orca.db")], "no WAL or journal was created");
}

#[tokio::test]
async fn opening_an_existing_store_does_not_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orca.db");
    let err = Store::open_existing(&path.display().to_string()).await.unwrap_err();
    assert!(matches!(err, OpenError::Missing { .. }), "{err}");
    assert!(!path.exists());
    Store::open(&format!("sqlite:{}", path.display())).await.unwrap();
    Store::open_existing(&path.display().to_string()).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_named_and_the_password_is_not() {
    // Nothing listens on port 1 of the loopback interface.
    let url = "postgres://orca:hunter2-secret@127.0.0.1:1/orca";
    let options =
        StoreOptions { acquire_timeout: Duration::from_secs(5), ..StoreOptions::default() };
    let err = Store::open_with(url, &options).await.unwrap_err();
    let message = error_chain(&err);
    assert!(matches!(err, OpenError::Connect { .. }), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_wrong_postgres_password_is_reported_without_echoing_it() {
    let cluster = orca_test_postgres::shared();
    let template = cluster.password_role();
    let wrong = template.replace("{password}", "wrong-pass-123");
    let err = Store::open(&wrong).await.unwrap_err();
    let message = error_chain(&err);
    assert!(matches!(err, OpenError::Connect { .. }), "{message}");
    assert!(message.contains("authentication failed"), "{message}");
    assert!(message.contains(&cluster.socket_dir().display().to_string()), "{message}");
    assert!(!message.contains("wrong-pass-123"), "{message}");
    assert!(!format!("{err:?}").contains("wrong-pass-123"));
    let right = template.replace("{password}", orca_test_postgres::PASSWORD);
    let store = Store::open(&right).await.unwrap();
    let shown = format!("{store:?} {}", store.location());
    assert!(!shown.contains(orca_test_postgres::PASSWORD), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[tokio::test]
async fn the_default_store_lives_in_dot_orca_with_its_gitignore() {
    let repo = tempfile::tempdir().unwrap();
    let layout = orca_config::Layout::new(repo.path());
    let store = Store::open_default(&layout).await.unwrap();
    store.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    assert!(layout.database().is_file());
    assert!(layout.state_dir().join(".gitignore").is_file());
    assert_eq!(store.location(), &orca_store::Location::Sqlite(layout.database()));
}

#[tokio::test]
async fn a_database_of_another_program_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=rwc", path.display())).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)").execute(&pool).await.unwrap();
    pool.close().await;
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path.display().to_string()).await.unwrap_err();
    assert!(matches!(err, OpenError::NotAnOrcaStore { .. }), "{err}");
    assert!(err.to_string().contains("not orca's"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "not even switched to WAL");

    let url = orca_test_postgres::shared().create_database();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id int)").execute(&pool).await.unwrap();
    let err = Store::open(&url).await.unwrap_err();
    assert!(matches!(err, OpenError::NotAnOrcaStore { .. }), "{err}");
    let meta: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('orca_meta')::text").fetch_one(&pool).await.unwrap();
    assert_eq!(meta, None, "nothing was created");
    pool.close().await;
}

#[tokio::test]
async fn a_new_sqlite_store_runs_in_wal_mode() {
    let s = Backend::Sqlite.fresh().await;
    s.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", s.url)).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
    assert_eq!(mode, "wal");
}
