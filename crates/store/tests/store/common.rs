//! What the store tests share: a fresh store per test on either backend,
//! run builders, and polling with a deadline.

use std::future::Future;
use std::ops::Deref;
use std::time::{Duration, Instant};

use orca_store::{NewRun, NewTask, Store};

/// A fresh, empty store; the temp dir (SQLite) lives as long as it does.
pub(crate) struct TestStore {
    pub(crate) store: Store,
    pub(crate) url: String,
    pub(crate) dir: Option<tempfile::TempDir>,
}

impl Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) async fn fresh(self) -> TestStore {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("orca.db").display().to_string();
                let store = Store::open(&url).await.unwrap();
                TestStore { store, url, dir: Some(dir) }
            }
            Backend::Postgres => {
                let url = orca_test_postgres::shared().create_database();
                let store = Store::open(&url).await.unwrap();
                TestStore { store, url, dir: None }
            }
        }
    }
}

pub(crate) fn task(key: &str, deps: &[&str]) -> NewTask {
    NewTask {
        key: key.to_owned(),
        deps: deps.iter().map(|d| (*d).to_owned()).collect(),
        priority: 0,
        max_attempts: 3,
        spec_json: format!(r#"{{"task":"{key}"}}"#),
        done: false,
    }
}

pub(crate) fn run_of(tasks: Vec<NewTask>) -> NewRun {
    NewRun {
        title: "test run".to_owned(),
        plan_path: Some("plan.md".to_owned()),
        plan_json: r#"{"plan":true}"#.to_owned(),
        mode: "orca".to_owned(),
        tasks,
        ..NewRun::default()
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what`
/// after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A random DAG: each task depends on up to `max_deps` earlier tasks.
pub(crate) fn random_dag(n: usize, max_deps: usize, seed: u64) -> Vec<NewTask> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| {
            let deps: Vec<String> = if i == 0 {
                Vec::new()
            } else {
                (0..rng.usize(0..=max_deps)).map(|_| format!("t{:04}", rng.usize(0..i))).collect()
            };
            NewTask {
                key: format!("t{i:04}"),
                deps,
                priority: i64::try_from(rng.usize(0..10)).unwrap(),
                max_attempts: 3,
                spec_json: "{}".to_owned(),
                done: false,
            }
        })
        .collect()
}
