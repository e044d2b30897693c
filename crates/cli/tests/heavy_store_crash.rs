//! Crash safety with real processes: several `orca debug-worker` processes
//! share one store (a SQLite file, or PostgreSQL) while the test kills them
//! with SIGKILL and restarts them, freezes one with SIGSTOP past its lease
//! and resumes it, and (PostgreSQL) crashes the server with
//! `pg_ctl stop -m immediate` and restarts it. Afterwards the store's event
//! log and attempt rows must show: every task succeeded exactly once, only
//! from its final attempt; no task was leased before all its dependencies
//! had succeeded; the frozen worker's late writes were refused; nothing lost.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orca_store::{NewRun, NewTask, RunId, RunStatus, Store, TaskState};

const TASKS: usize = 150;
const WORKERS: usize = 6;
const TTL_MS: u64 = 1500;
const DEADLINE: Duration = Duration::from_secs(150);

/// The worker processes; all are killed when the test ends, pass or fail.
struct Workers<'a> {
    url: &'a str,
    run: &'a RunId,
    logs: &'a Path,
    running: Vec<(String, Child)>,
    spawned: usize,
}

impl Workers<'_> {
    fn spawn(&mut self, slot: usize) -> String {
        let name = format!("w{slot}.g{}", self.spawned);
        self.spawned += 1;
        let log = File::create(self.logs.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(["debug-worker", "--store", self.url, "--run", self.run.as_str()])
            .args(["--worker", &name, "--sleep-ms", "40..160", "--ttl-ms", &TTL_MS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        if slot < self.running.len() {
            self.running[slot] = (name.clone(), child);
        } else {
            self.running.push((name.clone(), child));
        }
        name
    }

    fn pid(&self, slot: usize) -> Pid {
        Pid::from_raw(i32::try_from(self.running[slot].1.id()).unwrap())
    }

    fn kill_and_restart(&mut self, slot: usize) {
        let (_, child) = &mut self.running[slot];
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn(slot);
    }

    fn all_exited(&mut self) -> bool {
        self.running.iter_mut().all(|(_, child)| child.try_wait().unwrap().is_some())
    }
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn random_run(seed: u64) -> NewRun {
    let mut rng = fastrand::Rng::with_seed(seed);
    let tasks = (0..TASKS)
        .map(|i| NewTask {
            key: format!("t{i:03}"),
            deps: if i == 0 {
                Vec::new()
            } else {
                (0..rng.usize(0..=3)).map(|_| format!("t{:03}", rng.usize(0..i))).collect()
            },
            priority: rng.i64(0..10),
            // Kills cost tries; a task must never run out of them here.
            max_attempts: 100,
            spec_json: "{}".to_owned(),
            done: false,
        })
        .collect();
    NewRun {
        title: format!("crash test (seed {seed})"),
        plan_path: None,
        plan_json: "{}".to_owned(),
        mode: "debug".to_owned(),
        tasks,
        ..NewRun::default()
    }
}

fn status(rt: &tokio::runtime::Runtime, store: &Store, run: &RunId) -> RunStatus {
    rt.block_on(store.run_status(run)).unwrap()
}

/// Freezes a worker while it holds a lease until another worker has taken
/// that task over, then resumes it; the frozen worker is moved to the last
/// slot, which the kills spare. Returns the frozen worker's name. Any
/// holder will do: waiting for one given worker could outlast the tasks
/// left on a busy machine. A worker frozen inside a SQLite write
/// transaction blocks everyone, so a freeze that makes no progress is
/// undone and tried again.
fn freeze_past_lease(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    workers: &mut Workers<'_>,
) -> (String, String) {
    let run = workers.run.clone();
    let slot = workers.running.len() - 1;
    for _ in 0..10 {
        let names: Vec<String> = workers.running.iter().map(|(name, _)| name.clone()).collect();
        let held = wait_for("a worker to hold a lease", Duration::from_secs(30), || {
            status(rt, store, &run)
                .tasks
                .into_iter()
                .find(|t| t.lease.as_ref().is_some_and(|l| names.contains(&l.worker)))
        });
        let name = held.lease.as_ref().unwrap().worker.clone();
        let holder = names.iter().position(|n| *n == name).unwrap();
        workers.running.swap(holder, slot);
        kill(workers.pid(slot), Signal::SIGSTOP).unwrap();
        let attempt = held.lease.as_ref().unwrap().attempt;
        let frozen_at = Instant::now();
        let mut taken_over = false;
        while frozen_at.elapsed() < Duration::from_millis(TTL_MS * 6) {
            let now = status(rt, store, &run);
            let task = now.tasks.iter().find(|t| t.key == held.key).unwrap();
            // Resume while the new holder is still at work, so the frozen
            // worker's late writes race a live lease, the case fencing is for.
            if task.attempt > attempt {
                taken_over = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(workers.pid(slot), Signal::SIGCONT).unwrap();
        if taken_over {
            return (name, held.key);
        }
    }
    panic!("could not freeze a worker past its lease in 10 tries");
}

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn crash_test(url: &str, pg: Option<&orca_test_postgres::Cluster>) {
    let seed = fastrand::u64(..);
    eprintln!("crash test seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(url)).unwrap();
    let plan = random_run(seed);
    let run = rt.block_on(store.create_run(&plan)).unwrap();
    // Kept on failure for a look at the workers' stderr; removed on success.
    let logs = tempfile::Builder::new().prefix("orca-crash-").tempdir().unwrap().keep();
    let started = Instant::now();
    let mut workers = Workers { url, run: &run, logs: &logs, running: Vec::new(), spawned: 0 };
    for slot in 0..WORKERS {
        workers.spawn(slot);
    }

    // The frozen worker ends in the last slot, which the kills below spare.
    let (frozen, frozen_task) = freeze_past_lease(&rt, &store, &mut workers);
    eprintln!("froze {frozen} on {frozen_task} past its lease");

    let mut kills = 0;
    let mut pg_restarted = false;
    loop {
        let now = status(&rt, &store, &run);
        if now.tasks.iter().all(|t| t.state.is_terminal()) {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the run did not finish within {DEADLINE:?} (seed {seed}): {} of {TASKS} succeeded; \
             worker logs in {}",
            now.count(TaskState::Succeeded),
            logs.display()
        );
        if kills < 8 {
            std::thread::sleep(Duration::from_millis(rng.u64(200..700)));
            let slot = rng.usize(0..WORKERS - 1);
            workers.kill_and_restart(slot);
            kills += 1;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(cluster) = pg
            && kills == 4
            && !pg_restarted
        {
            cluster.restart_immediate();
            pg_restarted = true;
        }
    }
    assert!(kills >= 4, "the run finished before the chaos (only {kills} kills); make it longer");
    if pg.is_some() {
        assert!(pg_restarted, "the server was never restarted");
    }
    wait_for("every worker to notice the run is done", Duration::from_secs(30), || {
        workers.all_exited().then_some(())
    });
    eprintln!("{TASKS} tasks with {kills} kills in {:?}", started.elapsed());
    let final_status = status(&rt, &store, &run);
    let events = rt.block_on(store.events(&run, 0, 1_000_000)).unwrap();
    drop(workers);
    check_invariants(&rt, &store, &plan, &final_status, &events, &frozen, &frozen_task);
    let _ = std::fs::remove_dir_all(&logs);
}

fn check_invariants(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    plan: &NewRun,
    status: &RunStatus,
    events: &[orca_store::Event],
    frozen: &str,
    frozen_task: &str,
) {
    // Nothing lost: every task succeeded.
    let not_done: Vec<_> =
        status.tasks.iter().filter(|t| t.state != TaskState::Succeeded).map(|t| &t.key).collect();
    assert!(not_done.is_empty(), "tasks not succeeded: {not_done:?}");

    // Exactly one accepted completion per task, from its final attempt.
    let mut succeeded: HashMap<&str, Vec<&orca_store::Event>> = HashMap::new();
    for event in events.iter().filter(|e| e.kind == "task.succeeded") {
        succeeded.entry(event.task.as_deref().unwrap()).or_default().push(event);
    }
    assert_eq!(succeeded.len(), TASKS);
    for task in &status.tasks {
        let completions = &succeeded[task.key.as_str()];
        assert_eq!(completions.len(), 1, "{} completed {} times", task.key, completions.len());
        assert_eq!(
            completions[0].attempt,
            Some(task.attempt),
            "{}: completion from a stale attempt",
            task.key
        );
        let attempts = rt.block_on(store.attempts(&status.run.id, &task.key)).unwrap();
        let winners: Vec<_> = attempts.iter().filter(|a| a.outcome == "succeeded").collect();
        assert_eq!(winners.len(), 1, "{}: {attempts:?}", task.key);
        assert_eq!(winners[0].attempt, task.attempt);
        // The result was written by the worker that held the final attempt.
        let result: serde_json::Value =
            serde_json::from_str(task.result_json.as_deref().unwrap()).unwrap();
        assert_eq!(result["worker"], winners[0].worker.as_str(), "{}", task.key);
        assert!(attempts.iter().all(|a| a.outcome != "running"), "{}: {attempts:?}", task.key);
    }

    // No task was leased before every dependency had succeeded.
    let done_seq: BTreeMap<&str, i64> =
        succeeded.iter().map(|(task, events)| (*task, events[0].seq)).collect();
    let deps: HashMap<&str, &Vec<String>> =
        plan.tasks.iter().map(|t| (t.key.as_str(), &t.deps)).collect();
    let mut leases = 0;
    for event in events.iter().filter(|e| e.kind == "task.leased") {
        leases += 1;
        let task = event.task.as_deref().unwrap();
        for dep in deps[task].iter() {
            assert!(
                done_seq[dep.as_str()] < event.seq,
                "{task} was leased (event {}) before its dependency {dep} succeeded (event {})",
                event.seq,
                done_seq[dep.as_str()]
            );
        }
    }
    assert!(leases > TASKS, "the chaos should have forced re-leases ({leases} leases)");

    // The frozen worker came back and every write it tried was refused.
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "worker.lease_lost")
        .filter(|e| e.payload_json.contains(&format!("\"worker\":\"{frozen}\"")))
        .collect();
    assert!(
        refused.iter().any(|e| e.task.as_deref() == Some(frozen_task)),
        "the frozen worker {frozen} never reported its lease on {frozen_task} lost: {refused:?}"
    );
    let accepted_late = events.iter().any(|e| {
        e.kind == "worker.completed"
            && e.task.as_deref() == Some(frozen_task)
            && e.payload_json.contains(&format!("\"worker\":\"{frozen}\""))
    });
    assert!(!accepted_late, "the frozen worker's completion of {frozen_task} was accepted");
}

#[test]
fn heavy_crash_sqlite_workers_killed_and_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("orca.db").display().to_string();
    crash_test(&url, None);
}

#[test]
fn heavy_crash_postgres_workers_killed_frozen_and_server_restarted() {
    let cluster = orca_test_postgres::Cluster::private();
    let url = cluster.create_database();
    crash_test(&url, Some(&cluster));
}
