//! Scale-out claims (docs/performance.md, "Scale-out claims"): 16 workers
//! and one coordinator, each with its own connection as separate machines
//! would have, work a run through the scale-out protocol of the store:
//! worker `claim` → worker `submit` (verified, the commit recorded) →
//! coordinator `take_verified` → coordinator `complete` (dependents become
//! ready). Reports tasks per second through the whole cycle and the
//! ready-to-start latency (a dependency completed → its dependent claimed),
//! median and p99, on PostgreSQL with durable settings (fsync and full page
//! writes on). What a real attempt adds is not here: the agent, git push,
//! fetch and merge, and the coordinator's 250 ms poll. Run with
//! `scripts/bench-scale-out`. Numbers are reported, never asserted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orca_store::{
    AttemptInfo, NewRun, NewTask, RunId, Stage, StageState, Store, StoreOptions, Wake,
};
use sqlx::Connection;

const TTL: Duration = Duration::from_secs(60);
const WORKERS: usize = 16;
/// Independent chains: task i depends on task i - CHAINS.
const CHAINS: usize = 64;
const TASKS: usize = 4_000;
/// How long an idle worker or coordinator waits before looking again when
/// nothing tells it earlier (what `orca worker` and `orca run --remote` do).
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How workers and the coordinator use the store.
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    /// Idle workers and the coordinator wait for the store's notification
    /// ([`Store::wakeup`]), looking again after [`IDLE_POLL`] at the latest;
    /// otherwise they ask again after 1 ms (the best latency polling can
    /// give, at a high price in statements).
    notified: bool,
    /// The coordinator completes what each `take_verified` returned in one
    /// statement (`complete_all`) instead of one statement per task.
    batched: bool,
    /// A worker's submit claims its next task in the same statement
    /// (`submit_and_claim`) instead of a claim of its own.
    submit_claims: bool,
}

const MODES: [Mode; 3] = [
    Mode {
        name: "poll 1 ms; complete one per statement; claim after submit",
        notified: false,
        batched: false,
        submit_claims: false,
    },
    Mode {
        name: "poll 1 ms; complete a batch per statement; claim after submit",
        notified: false,
        batched: true,
        submit_claims: false,
    },
    Mode {
        name: "notified; complete a batch per statement; the submit claims the next",
        notified: true,
        batched: true,
        submit_claims: true,
    },
];

/// When each task's dependency completed and when the task was claimed.
#[derive(Default)]
struct Times {
    completed: HashMap<String, Instant>,
    claimed: HashMap<String, Instant>,
}

fn key(i: usize) -> String {
    format!("t{i:05}")
}

fn plan() -> NewRun {
    let tasks = (0..TASKS)
        .map(|i| NewTask {
            key: key(i),
            deps: if i < CHAINS { Vec::new() } else { vec![key(i - CHAINS)] },
            priority: 0,
            max_attempts: 3,
            spec_json: r#"{"prompt":"do the thing"}"#.to_owned(),
            done: false,
        })
        .collect();
    NewRun {
        title: "scale-out claims".to_owned(),
        plan_path: None,
        plan_json: "{}".to_owned(),
        mode: "bench".to_owned(),
        tasks,
        ..NewRun::default()
    }
}

async fn open(url: &str) -> Store {
    let options = StoreOptions { max_connections: Some(1), ..StoreOptions::default() };
    Store::open_with(url, &options).await.unwrap()
}

/// Turns the throwaway cluster's fsync and full page writes on (durable)
/// or off (as the test harness runs it).
async fn durable(url: &str, on: bool) -> String {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let statements: [&'static str; 3] = if on {
        [
            "ALTER SYSTEM SET fsync = on",
            "ALTER SYSTEM SET full_page_writes = on",
            "SELECT pg_reload_conf()",
        ]
    } else {
        [
            "ALTER SYSTEM SET fsync = off",
            "ALTER SYSTEM SET full_page_writes = off",
            "SELECT pg_reload_conf()",
        ]
    };
    for statement in statements {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut shown = Vec::new();
    for (setting, show) in [
        ("fsync", "SHOW fsync"),
        ("full_page_writes", "SHOW full_page_writes"),
        ("synchronous_commit", "SHOW synchronous_commit"),
    ] {
        let (value,): (String,) = sqlx::query_as(show).fetch_one(&mut conn).await.unwrap();
        shown.push(format!("{setting}={value}"));
    }
    shown.join(", ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One run through the cycle the way `mode` says.
async fn cycle(url: &str, mode: Mode) -> (f64, f64, f64, usize) {
    let setup = open(url).await;
    let run: RunId = setup.create_run(&plan()).await.unwrap();
    // Workers work on runs whose implement stage runs.
    setup.set_stage(&run, Stage::Implement, StageState::Running).await.unwrap();
    let times = Arc::new(Mutex::new(Times::default()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(open(url).await);
    }
    let coordinator = open(url).await;
    let finished = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            let (run, times, finished) = (run.clone(), times.clone(), finished.clone());
            tokio::spawn(async move {
                let name = format!("w{w}");
                let wakeup = store.wakeup(Wake::Ready);
                let mut done = 0usize;
                let mut next = None;
                loop {
                    let lease = match next.take() {
                        Some(lease) => lease,
                        None => match store.claim(&run, &name, 1, TTL).await.unwrap().pop() {
                            Some(lease) => lease,
                            None => {
                                // The harness knows when the run is done; a
                                // real worker asks the store only for work.
                                if finished.load(Ordering::Acquire) {
                                    return done;
                                }
                                if mode.notified {
                                    wakeup.wait(IDLE_POLL).await;
                                } else {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                                continue;
                            }
                        },
                    };
                    times.lock().unwrap().claimed.insert(lease.task.clone(), Instant::now());
                    done += 1;
                    let info = AttemptInfo {
                        branch: Some(format!("orca/{run}/{}/a{}", lease.task, lease.attempt)),
                        commit_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
                        details_json: Some(r#"{"end":"verified"}"#.into()),
                        ..AttemptInfo::default()
                    };
                    if mode.submit_claims {
                        next = store.submit_and_claim(&lease, &info, 1, TTL).await.unwrap().pop();
                    } else {
                        store.submit(&lease, &info).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let merger = {
        let (run, times) = (run.clone(), times.clone());
        tokio::spawn(async move {
            let wakeup = coordinator.wakeup(Wake::Verified);
            let mut completed = HashSet::new();
            while completed.len() < TASKS {
                let taken = coordinator.take_verified(&run, "coordinator", TTL).await.unwrap();
                if taken.is_empty() {
                    if mode.notified {
                        wakeup.wait(IDLE_POLL).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                if mode.batched {
                    let done: Vec<_> =
                        taken.iter().map(|v| (v.lease.clone(), "{}".to_owned())).collect();
                    let results = coordinator.complete_all(&done).await.unwrap();
                    assert!(results.iter().all(Result::is_ok));
                    let at = Instant::now();
                    let mut times = times.lock().unwrap();
                    for verified in taken {
                        times.completed.insert(verified.lease.task.clone(), at);
                        completed.insert(verified.lease.task);
                    }
                    continue;
                }
                for verified in taken {
                    coordinator.complete(&verified.lease, "{}").await.unwrap();
                    times
                        .lock()
                        .unwrap()
                        .completed
                        .insert(verified.lease.task.clone(), Instant::now());
                    completed.insert(verified.lease.task);
                }
            }
        })
    };
    merger.await.unwrap();
    // The work is done when the last task is complete: the time idle
    // workers take to notice (up to their poll interval) is not part of it.
    let elapsed = started.elapsed().as_secs_f64();
    finished.store(true, Ordering::Release);
    let mut claimed = 0;
    for handle in handles {
        claimed += handle.await.unwrap();
    }
    let times = times.lock().unwrap();
    let mut latencies: Vec<f64> = (CHAINS..TASKS)
        .map(|i| {
            let ready = times.completed[&key(i - CHAINS)];
            let claimed = times.claimed[&key(i)];
            claimed.saturating_duration_since(ready).as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    (TASKS as f64 / elapsed, percentile(&latencies, 0.5), percentile(&latencies, 0.99), claimed)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cluster = orca_test_postgres::Cluster::private();
    println!("{WORKERS} workers, 1 coordinator, {TASKS} tasks in {CHAINS} chains");
    println!();
    println!(
        "| PostgreSQL | how | round | tasks/s (claim+submit+take+complete) | ready→claimed median (ms) | p99 (ms) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for durable_on in [true, false] {
        let settings = rt.block_on(durable(&cluster.create_database(), durable_on));
        for mode in MODES {
            for round in 1..=3 {
                let url = cluster.create_database();
                let (rate, median, p99, claimed) = rt.block_on(cycle(&url, mode));
                assert_eq!(claimed, TASKS, "every task claimed once");
                let how = mode.name;
                println!("| {settings} | {how} | {round} | {rate:.0} | {median:.1} | {p99:.1} |");
            }
        }
    }
}
