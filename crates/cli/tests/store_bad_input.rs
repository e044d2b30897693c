//! A store that cannot be written: a read-only `.orca` directory, and a
//! disk that fills up mid-write. orca must say so clearly (exit code 2,
//! naming the store) and leave the store exactly as consistent as before.
//!
//! Root ignores permission bits, so as root the read-only case runs orca as
//! the unprivileged `nobody` user. The full disk is a file size limit
//! (`prlimit --fsize`): writes past it fail with EFBIG like on a full disk,
//! and orca blocks SIGXFSZ so it reports the error instead of dying.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use orca_store::{NewRun, NewTask, RunId, Store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn small_run(url: &str) -> RunId {
    let store = Store::open(url).await.unwrap();
    let tasks = (0..5)
        .map(|i| NewTask {
            key: format!("t{i}"),
            deps: if i == 0 { vec![] } else { vec![format!("t{}", i - 1)] },
            priority: 0,
            max_attempts: 3,
            spec_json: "{}".to_owned(),
            done: false,
        })
        .collect();
    let run = store
        .create_run(&NewRun {
            title: "before".into(),
            plan_json: "{}".into(),
            mode: "orca".into(),
            tasks,
            ..NewRun::default()
        })
        .await
        .unwrap();
    store.close().await;
    run
}

/// The store still opens, passes SQLite's integrity check, holds exactly
/// the run it held before, and takes new writes.
async fn assert_consistent(url: &str, run: &RunId) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{url}")).await.unwrap();
    let check: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(check, "ok");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs").fetch_one(&pool).await.unwrap();
    assert_eq!(runs, 1, "the failed write left no partial run");
    let tasks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks").fetch_one(&pool).await.unwrap();
    assert_eq!(tasks, 5);
    pool.close().await;
    let store = Store::open(url).await.unwrap();
    assert_eq!(&store.latest_run().await.unwrap().unwrap().id, run);
    assert_eq!(store.run_status(run).await.unwrap().tasks.len(), 5);
    let again = store
        .create_run(&NewRun {
            title: "after".into(),
            plan_json: "{}".into(),
            mode: "orca".into(),
            ..NewRun::default()
        })
        .await;
    assert!(again.is_ok(), "the store takes writes again: {again:?}");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory `nobody` can reach whatever the checkout's or TMPDIR's
/// parents allow: right under `/tmp`, open for traversal.
fn reachable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("orca-read-only-").tempdir_in("/tmp").unwrap();
    set_mode(dir.path(), 0o755);
    dir
}

#[test]
fn a_read_only_orca_directory_is_reported_and_left_intact() {
    let repo = reachable_dir();
    // `nobody` runs a copy of orca from a place it can reach: the build's
    // own may lie below a directory only root may enter.
    let bin = reachable_dir();
    let orca_copy = bin.path().join("orca");
    fs::copy(env!("CARGO_BIN_EXE_orca"), &orca_copy).unwrap();
    set_mode(&orca_copy, 0o755);
    let layout = orca_config::Layout::new(repo.path());
    layout.ensure().unwrap();
    let url = layout.database().display().to_string();
    let rt = runtime();
    let run = rt.block_on(small_run(&url));
    let before = fs::read(&url).unwrap();
    set_mode(&layout.database(), 0o444);
    set_mode(&layout.state_dir(), 0o555);

    let as_reader = |args: &[&str]| {
        let mut command = Command::new(&orca_copy);
        command.env_remove("ORCA_STORE").args(args).current_dir(repo.path());
        if nix::unistd::Uid::effective().is_root() {
            // nobody: permission bits bind it, unlike root.
            command.uid(65534).gid(65534);
        }
        command.output().unwrap()
    };
    let write = as_reader(&["debug-create-run", "--store", &url, "--tasks", "50"]);
    let read = as_reader(&["status", "--store", &url]);

    set_mode(&layout.state_dir(), 0o755);
    set_mode(&layout.database(), 0o644);
    for out in [&write, &read] {
        let message = stderr(out);
        assert_eq!(out.status.code(), Some(2), "{message}");
        assert!(message.starts_with("error: "), "{message}");
        assert!(message.contains(&url), "names the store: {message}");
        assert!(message.contains("read-only") || message.contains("writable"), "{message}");
        assert!(
            message.contains("hint: make the .orca directory and the store writable"),
            "{message}"
        );
    }
    assert_eq!(fs::read(&url).unwrap(), before, "the store file was not touched");
    rt.block_on(assert_consistent(&url, &run));
}

#[test]
fn a_full_disk_fails_the_write_cleanly_and_the_store_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("orca.db").display().to_string();
    let rt = runtime();
    let run = rt.block_on(small_run(&url));
    let size = fs::metadata(&url).unwrap().len();
    // Room for the store as it is plus a little: loading 5,000 tasks
    // needs far more.
    let limit = size + 64 * 1024;
    let out = Command::new("prlimit")
        .arg(format!("--fsize={limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_orca"))
        .args(["debug-create-run", "--store", &url, "--tasks", "5000"])
        .env_remove("ORCA_STORE")
        .output()
        .expect("prlimit (util-linux) runs orca under a file size limit");
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(
        message.starts_with(&format!("error: cannot create the run in the SQLite store {url}: ")),
        "{message}"
    );
    assert!(message.contains("disk"), "{message}");
    assert!(message.contains(&url), "names the store: {message}");
    assert!(message.contains("hint: free some disk space"), "{message}");
    rt.block_on(assert_consistent(&url, &run));
}
