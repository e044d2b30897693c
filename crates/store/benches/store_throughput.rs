//! Store throughput: claim + complete per second with 1, 4 and 16
//! concurrent workers on each backend, and the time to load a 10,000-task
//! plan. Run with `scripts/bench-store`; prints a Markdown table for
//! docs/performance.md. Numbers are reported, never asserted.
//!
//! Each worker opens its own `Store` (its own connection), as separate
//! worker processes would. PostgreSQL is a throwaway local cluster on a
//! unix socket with fsync off (see orca-test-postgres), SQLite a file in a
//! temp dir with WAL and synchronous=NORMAL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use orca_store::{NewRun, NewTask, RunId, Store, StoreOptions};

const TTL: Duration = Duration::from_secs(60);
const LOAD_TASKS: usize = 10_000;

fn tasks(n: usize, max_deps: usize, seed: u64) -> Vec<NewTask> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| NewTask {
            key: format!("t{i:05}"),
            deps: if i == 0 || max_deps == 0 {
                Vec::new()
            } else {
                (0..rng.usize(0..=max_deps)).map(|_| format!("t{:05}", rng.usize(0..i))).collect()
            },
            priority: rng.i64(0..100),
            max_attempts: 3,
            spec_json: r#"{"prompt":"do the thing"}"#.to_owned(),
            done: false,
        })
        .collect()
}

fn run(title: &str, tasks: Vec<NewTask>) -> NewRun {
    NewRun {
        title: title.to_owned(),
        plan_path: None,
        plan_json: "{}".to_owned(),
        mode: "bench".to_owned(),
        tasks,
        ..NewRun::default()
    }
}

async fn open(url: &str, connections: u32) -> Store {
    let options = StoreOptions { max_connections: Some(connections), ..StoreOptions::default() };
    Store::open_with(url, &options).await.unwrap()
}

/// Milliseconds to load a 10k-task DAG (median of 3).
async fn load_time(url: &str) -> f64 {
    let store = open(url, 2).await;
    let mut times = Vec::new();
    for seed in 0..3 {
        let plan = run("load", tasks(LOAD_TASKS, 3, seed));
        let started = Instant::now();
        store.create_run(&plan).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[1]
}

/// (claim+complete per second, duplicates) for `workers` concurrent workers.
async fn throughput(url: &str, workers: usize, n: usize) -> (f64, usize) {
    let setup = open(url, 2).await;
    let run_id: RunId = setup.create_run(&run("throughput", tasks(n, 0, 1))).await.unwrap();
    let mut stores = Vec::new();
    for _ in 0..workers {
        stores.push(open(url, 1).await);
    }
    let started = Instant::now();
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            let run_id = run_id.clone();
            tokio::spawn(async move {
                let name = format!("bench-{w}");
                let mut done = Vec::new();
                loop {
                    let mut leases = store.claim(&run_id, &name, 1, TTL).await.unwrap();
                    let Some(lease) = leases.pop() else { return done };
                    store.complete(&lease, "{}").await.unwrap();
                    done.push(lease.task);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), n, "every task completed");
    (all.len() as f64 / elapsed, all.len() - unique.len())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cluster = orca_test_postgres::Cluster::private();
    let backends = [
        ("SQLite", dir.path().join("bench.db").display().to_string()),
        ("PostgreSQL", cluster.create_database()),
    ];
    println!("| backend | workers | claim+complete/s | duplicates |");
    println!("|---|---:|---:|---:|");
    let mut loads = Vec::new();
    for (name, url) in &backends {
        for workers in [1, 4, 16] {
            let n = 3000;
            let (rate, duplicates) = rt.block_on(throughput(url, workers, n));
            println!("| {name} | {workers} | {rate:.0} | {duplicates} |");
        }
        loads.push((name, rt.block_on(load_time(url))));
    }
    println!();
    println!("| backend | load a {LOAD_TASKS}-task plan (ms, median of 3) |");
    println!("|---|---:|");
    for (name, ms) in loads {
        println!("| {name} | {ms:.0} |");
    }
}
