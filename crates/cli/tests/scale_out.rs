//! Scale-out end to end (docs/scale-out.md): a throwaway PostgreSQL, a
//! bare git remote in a temp dir, several `orca worker` processes, each in
//! its own clone (as if on its own machine), and a coordinator
//! `orca run --remote URL --agents 0` that runs no agent itself. The
//! agents are `command` agents (a shell script). The integration branch's
//! history must show every task merged exactly once, each from the commit
//! its worker recorded in the store.

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orca_store::{RunId, Store};
use support::*;

/// Worker processes, stopped (SIGKILL) when the test ends, pass or fail.
struct Workers {
    children: Vec<(String, Child)>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The shared pieces: the fixture's repository (the coordinator's
/// checkout), the bare remote, the store.
struct Cluster {
    fixture: Fixture,
    remote: PathBuf,
    url: String,
    logs: PathBuf,
}

impl Cluster {
    fn new(agent: &str, url: String, extra_config: &str) -> Cluster {
        let fixture = Fixture::new(agent);
        fixture.config(extra_config);
        let remote = fixture.tools.join("remote.git");
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&remote)
            .output()
            .unwrap();
        assert!(out.status.success());
        fixture.git(&["push", "-q", remote.to_str().unwrap(), "main"]);
        let logs = fixture.tools.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Cluster { fixture, remote, url, logs }
    }

    /// A clone of the remote with the fixture's agent configuration: a
    /// machine of its own.
    fn machine(&self, name: &str) -> PathBuf {
        let dir = self.fixture.tools.join(name);
        let out =
            Command::new("git").args(["clone", "-q"]).arg(&self.remote).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::create_dir_all(dir.join(".orca")).unwrap();
        for file in ["config.toml", ".gitignore"] {
            std::fs::copy(self.fixture.repo.join(".orca").join(file), dir.join(".orca").join(file))
                .unwrap();
        }
        dir
    }

    fn spawn_worker(&self, dir: &Path, name: &str, agents: u32) -> Child {
        let log = File::create(self.logs.join(format!("{name}.log"))).unwrap();
        let json = File::create(self.logs.join(format!("{name}.jsonl"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(["worker", "--store", &self.url, "--remote", self.remote.to_str().unwrap()])
            .args(["--name", name, "--agents", &agents.to_string(), "--grace", "30s", "--json"])
            .current_dir(dir)
            .env_remove("ORCA_STORE")
            .stdin(Stdio::null())
            .stdout(json)
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// The coordinator: runs the plan with no agent of its own.
    fn spawn_coordinator(&self, plan: &Path) -> Child {
        let log = File::create(self.logs.join("coordinator.log")).unwrap();
        let json = File::create(self.logs.join("coordinator.jsonl")).unwrap();
        self.fixture
            .orca()
            .args(["run", "--plan", plan.to_str().unwrap(), "--store", &self.url])
            .args(["--remote", self.remote.to_str().unwrap(), "--agents", "0", "--json"])
            .stdout(json)
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn coordinator_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.logs.join("coordinator.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn worker_events(&self, name: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.logs.join(format!("{name}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn logs_text(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(&self.logs).unwrap().flatten() {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(40).collect();
            text += &format!(
                "--- {} ---\n{}\n",
                entry.file_name().to_string_lossy(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        text
    }
}

/// Waits for `child` to exit, killing it past `deadline`.
fn wait_until(child: &mut Child, deadline: Duration, what: &str, cluster: &Cluster) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {deadline:?}\n{}", cluster.logs_text());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &Child) {
    kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), Signal::SIGTERM).unwrap();
}

/// A plan of `n` tasks: each writes its own file and depends on one or two
/// earlier tasks, so merges must follow the graph.
fn chain_plan(n: usize) -> String {
    let mut plan = String::from("# Plan: Many machines\n\n");
    for i in 1..=n {
        let id = format!("T{i:02}");
        let deps = match i {
            1..=3 => "none".to_owned(),
            _ if i % 4 == 0 => format!("T{:02}, T{:02}", i - 3, i - 2),
            _ => format!("T{:02}", i - 3),
        };
        let file = format!("out-{id}.txt");
        plan += &task(&id, &deps, &file, Some(&format!("test -f {file}")));
    }
    plan
}

/// Checks the integration branch: every task merged exactly once, each
/// merge's second parent the commit the store recorded for the task's
/// succeeded attempt (the one its worker submitted), every file there.
fn check_merged_exactly_once(cluster: &Cluster, run: &str, tasks: usize) {
    let fixture = &cluster.fixture;
    let integration = format!("orca/{run}/integration");
    let order = merge_order(fixture, &integration);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in &order {
        *counts.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), tasks, "every task merged: {order:?}");
    assert!(counts.values().all(|&n| n == 1), "a task merged twice: {counts:?}");
    for i in 1..=tasks {
        let id = format!("T{i:02}");
        assert_eq!(fixture.show(&integration, &format!("out-{id}.txt")), format!("work of {id}\n"));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = RunId::from(run);
    let merges = fixture.git(&["log", "--first-parent", "--format=%H %P %s", &integration]);
    for line in merges.lines().filter(|l| l.contains(" orca: merge ")) {
        let mut parts = line.split_whitespace();
        let (_merge, _first, second) =
            (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let task = line.split("orca: merge ").nth(1).unwrap().split_whitespace().next().unwrap();
        let attempts = rt.block_on(store.attempts(&run, task)).unwrap();
        let succeeded: Vec<_> = attempts.iter().filter(|a| a.outcome == "succeeded").collect();
        assert_eq!(succeeded.len(), 1, "{task}: {attempts:?}");
        assert_eq!(
            succeeded[0].commit_sha.as_deref(),
            Some(second),
            "{task} merged the commit its worker recorded"
        );
        assert!(succeeded[0].worker.starts_with('w'), "{task} ran on a worker: {attempts:?}");
    }
}

fn run_id(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "run_started")
        .and_then(|e| e["run"].as_str())
        .expect("run_started event")
        .to_owned()
}

#[test]
fn thirty_tasks_on_three_worker_machines_are_merged_exactly_once() {
    let pg = orca_test_postgres::shared();
    let cluster = Cluster::new(WRITE_OWN_FILE, pg.create_database(), "");
    let mut workers = Workers { children: Vec::new() };
    for name in ["w1", "w2", "w3"] {
        let dir = cluster.machine(name);
        workers.children.push((name.to_owned(), cluster.spawn_worker(&dir, name, 2)));
    }
    let plan = cluster.fixture.plan(&chain_plan(30));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let code = wait_until(&mut coordinator, Duration::from_secs(300), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let events = cluster.coordinator_events();
    let run = run_id(&events);
    check_merged_exactly_once(&cluster, &run, 30);
    // The work was spread: more than one machine submitted something.
    let busy = ["w1", "w2", "w3"]
        .iter()
        .filter(|name| cluster.worker_events(name).iter().any(|e| e["event"] == "submitted"))
        .count();
    assert!(busy >= 2, "only {busy} worker(s) did anything\n{}", cluster.logs_text());

    // `orca workers` lists them while they live.
    let listed = cluster
        .fixture
        .orca()
        .args(["workers", "--json", "--store", &cluster.url])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    for name in ["w1", "w2", "w3"] {
        let row = listed.as_array().unwrap().iter().find(|w| w["id"] == name).unwrap();
        assert_eq!(row["role"], "worker");
        assert_eq!(row["agents"], 2);
        assert_eq!(row["protocol"], orca_store::PROTOCOL_VERSION);
        assert!(row["heartbeat_age_ms"].as_i64().unwrap() < 60_000, "{row}");
    }

    // SIGTERM: idle workers stop at once and leave the list.
    for (_, child) in &workers.children {
        sigterm(child);
    }
    for (name, child) in &mut workers.children {
        let code = wait_until(child, Duration::from_secs(60), name, &cluster);
        assert_eq!(code, 0, "{name}\n{}", cluster.logs_text());
    }
    let listed = cluster
        .fixture
        .orca()
        .args(["workers", "--json", "--store", &cluster.url])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        listed.as_array().unwrap().iter().all(|w| w["role"] != "worker"),
        "stopped workers leave the list: {listed}"
    );
}

/// Waits until `check` finds what it looks for in a worker's events.
fn wait_for_event(
    cluster: &Cluster,
    worker: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(event) = cluster.worker_events(worker).into_iter().find(|e| check(e)) {
            return event;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn workers_and_coordinators_of_another_protocol_refuse_each_other() {
    let pg = orca_test_postgres::shared();
    let cluster = Cluster::new(WRITE_OWN_FILE, pg.create_database(), "");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let other = |id: &str, role: &str| {
        let mut info = orca_store::WorkerInfo::this_process(id, "elsewhere", role, "9.9.9", 4);
        info.protocol = orca_store::PROTOCOL_VERSION + 1;
        rt.block_on(store.register_process(&info)).unwrap();
    };

    // A live coordinator of another protocol: the worker will not start.
    other("old-coordinator", "coordinator");
    let dir = cluster.machine("w1");
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["worker", "--store", &cluster.url, "--remote", cluster.remote.to_str().unwrap()])
        .args(["--name", "w1"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refusing to work with an incompatible orca"), "{stderr}");
    assert!(stderr.contains("coordinator `old-coordinator` on elsewhere"), "{stderr}");
    assert!(stderr.contains("orca 9.9.9"), "{stderr}");
    assert!(stderr.contains("run the same orca version on every machine"), "{stderr}");
    rt.block_on(store.forget_worker("old-coordinator")).unwrap();

    // A live worker of another protocol: the coordinator halts before
    // anything is merged, saying which worker.
    other("old-worker", "worker");
    let plan = cluster.fixture.plan(&chain_plan(2));
    let (code, events, stderr) = cluster.fixture.run_json(&[
        "run",
        "--plan",
        plan.to_str().unwrap(),
        "--store",
        &cluster.url,
        "--remote",
        cluster.remote.to_str().unwrap(),
        "--agents",
        "0",
    ]);
    assert_eq!(code, Some(1), "{stderr}\n{events:?}");
    let finished = of_kind(&events, "run_finished");
    let reason = finished[0].to_string();
    assert!(reason.contains("incompatible worker"), "{reason}");
    assert!(reason.contains("worker `old-worker` on elsewhere"), "{reason}");
    assert!(of_kind(&events, "merged").is_empty());
    rt.block_on(store.forget_worker("old-worker")).unwrap();

    // A run whose coordinator speaks another protocol: the worker leaves it alone.
    let run = RunId::from(run_id(&events).as_str());
    let record = rt.block_on(store.pipeline_json(&run)).unwrap().unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&record).unwrap();
    record["protocol"] = (orca_store::PROTOCOL_VERSION + 1).into();
    rt.block_on(store.set_pipeline_json(&run, &record.to_string())).unwrap();
    let mut worker = cluster.spawn_worker(&dir, "w1", 1);
    let refused = wait_for_event(&cluster, "w1", "the worker to refuse the run", |e| {
        e["event"] == "run_refused"
    });
    assert_eq!(refused["run"], run.as_str());
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("protocol {}", orca_store::PROTOCOL_VERSION + 1)), "{reason}");
    sigterm(&worker);
    assert_eq!(wait_until(&mut worker, Duration::from_secs(30), "w1", &cluster), 0);
    assert!(cluster.worker_events("w1").iter().all(|e| e["event"] != "claimed"));
}
