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
use orca_model_server::{ModelServer, Rule, Script, ToolCall, claude_bin};
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
        self.spawn_worker_via(dir, name, agents, &self.url)
    }

    /// A worker that reaches the store at `url` (e.g. through a link the
    /// test can cut).
    fn spawn_worker_via(&self, dir: &Path, name: &str, agents: u32, url: &str) -> Child {
        let log = File::create(self.logs.join(format!("{name}.log"))).unwrap();
        let json = File::create(self.logs.join(format!("{name}.jsonl"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(["worker", "--store", url, "--remote", self.remote.to_str().unwrap()])
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
        self.spawn_coordinator_with(plan, 0)
    }

    /// The coordinator, running `agents` agents of its own too.
    fn spawn_coordinator_with(&self, plan: &Path, agents: u32) -> Child {
        let log = File::create(self.logs.join("coordinator.log")).unwrap();
        let json = File::create(self.logs.join("coordinator.jsonl")).unwrap();
        self.fixture
            .orca()
            .args(["run", "--plan", plan.to_str().unwrap(), "--store", &self.url])
            .args(["--remote", self.remote.to_str().unwrap(), "--agents", &agents.to_string()])
            .arg("--json")
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
    chain_plan_with(n, &[])
}

/// [`chain_plan`] with the tasks `claude_tasks` done by the `claude` agent.
fn chain_plan_with(n: usize, claude_tasks: &[&str]) -> String {
    let mut plan = String::from("# Plan: Many machines\n\n");
    for i in 1..=n {
        let id = format!("T{i:02}");
        let deps = match i {
            1..=3 => "none".to_owned(),
            _ if i % 4 == 0 => format!("T{:02}, T{:02}", i - 3, i - 2),
            _ => format!("T{:02}", i - 3),
        };
        let file = format!("out-{id}.txt");
        let mut text = task(&id, &deps, &file, Some(&format!("test -f {file}")));
        if claude_tasks.contains(&id.as_str()) {
            text = text.replace("- role: backend\n", "- role: backend\n- agent: claude\n");
        }
        plan += &text;
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
        assert!(
            succeeded[0].worker.starts_with('w') || succeeded[0].worker.starts_with("orca-run:"),
            "{task} ran on a worker or the coordinator: {attempts:?}"
        );
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

/// The tasks the real Claude Code CLI does, against the scripted model
/// server; `command` agents do the rest.
const CLAUDE_TASKS: &[&str] = &["T01", "T05", "T09"];

/// The model server's script: each Claude task writes its file, then says so.
fn claude_script() -> Script {
    let mut script = Script::new();
    for id in CLAUDE_TASKS {
        let marker = format!("Task {id}: Task {id}");
        let write = ToolCall::write_file(format!("out-{id}.txt"), format!("work of {id}\n"));
        script = script
            .rule(Rule::tool(write).marker(marker.clone()).turn(1))
            .rule(Rule::text(format!("{id} is done.")).marker(marker).turn(2));
    }
    script
}

#[test]
fn thirty_tasks_on_three_worker_machines_are_merged_exactly_once() {
    let pg = orca_test_postgres::shared();
    let server = ModelServer::start(claude_script()).unwrap();
    let claude = format!(
        "\n[agents.claude]\ncommand = \"{}\"\nbase_url = \"{}\"\nisolate = true\n\
         permission_mode = \"acceptEdits\"\nstall_timeout = \"90s\"\n",
        claude_bin().unwrap().display(),
        server.base_url()
    );
    let cluster = Cluster::new(WRITE_OWN_FILE, pg.create_database(), &claude);
    let mut workers = Workers { children: Vec::new() };
    for name in ["w1", "w2", "w3"] {
        let dir = cluster.machine(name);
        workers.children.push((name.to_owned(), cluster.spawn_worker(&dir, name, 2)));
    }
    let plan = cluster.fixture.plan(&chain_plan_with(30, CLAUDE_TASKS));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let code = wait_until(&mut coordinator, Duration::from_secs(300), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let events = cluster.coordinator_events();
    let run = run_id(&events);
    check_merged_exactly_once(&cluster, &run, 30);
    // The Claude tasks were Claude's: the CLI asked the model server, and
    // the store says which agent ran the attempt that was merged.
    let requests = server.requests();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    for id in CLAUDE_TASKS {
        let marker = format!("Task {id}: Task {id}");
        assert!(
            requests.iter().any(|r| r.body_contains(&marker) && r.rule.is_some()),
            "no model request answered for {id}"
        );
        let attempts = rt.block_on(store.attempts(&RunId::from(run.as_str()), id)).unwrap();
        let merged = attempts.iter().find(|a| a.outcome == "succeeded").unwrap();
        assert_eq!(merged.agent.as_deref(), Some("claude"), "{attempts:?}");
    }
    // The run's attempt branches left the remote; its result stayed.
    let left = cluster.fixture.git(&["ls-remote", "--heads", cluster.remote.to_str().unwrap()]);
    let run_branches: Vec<&str> = left
        .lines()
        .filter_map(|line| line.split('\t').nth(1))
        .filter(|name| name.contains(&format!("orca/{run}/")))
        .collect();
    assert_eq!(run_branches, [format!("refs/heads/orca/{run}/integration")], "{left}");
    // The work was spread: more than one machine submitted something.
    let busy = ["w1", "w2", "w3"]
        .iter()
        .filter(|name| cluster.worker_events(name).iter().any(|e| e["event"] == "submitted"))
        .count();
    assert!(busy >= 2, "only {busy} worker(s) did anything\n{}", cluster.logs_text());

    // Pushed attempt branches do not pile up in the workers' clones.
    for name in ["w1", "w2", "w3"] {
        let out = Command::new("git")
            .args(["branch", "--list", "orca/*"])
            .current_dir(cluster.fixture.tools.join(name))
            .output()
            .unwrap();
        let branches = String::from_utf8_lossy(&out.stdout);
        assert!(branches.lines().all(|b| b.trim().ends_with("/integration")), "{name}: {branches}");
    }
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
    // As its coordinator would have it: implementing (workers claim only then).
    rt.block_on(store.set_stage(
        &run,
        orca_store::Stage::Implement,
        orca_store::StageState::Running,
    ))
    .unwrap();
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

/// The lease TTL of the fault run: short, so frozen and killed workers
/// lose their leases quickly.
const FAULT_TTL: Duration = Duration::from_secs(2);

/// The first push of any attempt branch of task T05 is refused by the
/// remote (a pre-receive hook), as a protected branch or a full disk
/// would; the hook leaves `refused-T05` in the remote when it refused.
/// (The first push, not attempt 1's: a worker killed before pushing
/// attempt 1 must not spare the run its refused push.)
fn refuse_first_push_of_t05(remote: &Path) {
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in\n    refs/heads/orca/*/T05/a*) \
         if [ ! -e refused-T05 ]; then echo \"$ref\" > refused-T05; \
         echo \"pushes of $ref are not allowed\" >&2; exit 1; fi;;\n  esac\ndone\nexit 0\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
}

#[test]
fn faults_lose_no_task_merge_none_twice_and_refuse_every_stale_write() {
    let seed = fastrand::u64(..);
    eprintln!("fault run seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let pg = orca_test_postgres::Cluster::private();
    // Each agent works a little while, so kills and freezes catch leases.
    let agent = "sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 9 + 1 ))\n\
                 echo \"work of $task\" > \"out-$task.txt\"";
    let cluster = Cluster::new(
        agent,
        pg.create_database(),
        "max_attempts = 20\n\n[lease]\nttl = \"2s\"\nheartbeat = \"400ms\"",
    );
    refuse_first_push_of_t05(&cluster.remote);
    let names = ["w1", "w2", "w3", "w4"];
    let dirs: Vec<PathBuf> = names.iter().map(|name| cluster.machine(name)).collect();
    let mut generation = 0;
    let mut workers = Workers { children: Vec::new() };
    for (name, dir) in names.iter().zip(&dirs) {
        let worker = format!("{name}.g0");
        workers.children.push((worker.clone(), cluster.spawn_worker(dir, &worker, 2)));
    }
    let plan = cluster.fixture.plan(&chain_plan(30));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = loop {
        if let Some(run) = cluster.coordinator_events().iter().find(|e| e["event"] == "run_started")
        {
            break RunId::from(run["run"].as_str().unwrap());
        }
        assert!(coordinator.try_wait().unwrap().is_none(), "{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = |store: &Store| rt.block_on(store.run_status(&run)).ok();

    // SIGSTOP whichever worker holds a lease, past its TTL, until another
    // worker took the task over; then SIGCONT it: its late writes must fail.
    // The lease is read again once the worker is frozen: what it held a
    // moment before may have ended meanwhile.
    let leases_of = |worker: &str| -> Vec<(String, i64)> {
        status(&store)
            .map(|s| {
                s.tasks
                    .into_iter()
                    .filter_map(|t| {
                        let lease = t.lease?;
                        (lease.worker == worker).then_some((t.key, lease.attempt))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (frozen, frozen_task, frozen_attempt) = loop {
        assert!(
            Instant::now() < deadline,
            "no worker held a lease
{}",
            cluster.logs_text()
        );
        let holder = workers.children.iter().position(|(name, _)| !leases_of(name).is_empty());
        let Some(slot) = holder else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let pid = Pid::from_raw(i32::try_from(workers.children[slot].1.id()).unwrap());
        kill(pid, Signal::SIGSTOP).unwrap();
        match leases_of(&workers.children[slot].0).into_iter().next() {
            Some((task, attempt)) => break (slot, task, attempt),
            None => kill(pid, Signal::SIGCONT).unwrap(),
        }
    };
    let frozen_name = workers.children[frozen].0.clone();
    let frozen_pid = Pid::from_raw(i32::try_from(workers.children[frozen].1.id()).unwrap());
    let frozen_at = Instant::now();
    loop {
        let moved_on = status(&store).is_some_and(|s| {
            s.tasks.iter().any(|t| t.key == frozen_task && t.attempt > frozen_attempt)
        });
        if moved_on {
            break;
        }
        assert!(
            frozen_at.elapsed() < FAULT_TTL * 15,
            "nobody took {frozen_task} over from the frozen worker\n{}",
            cluster.logs_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(frozen_pid, Signal::SIGCONT).unwrap();
    eprintln!("froze {frozen_name} on {frozen_task} (attempt {frozen_attempt}) past its lease");

    // kill -9 random other workers (restarted in their directories, as a
    // machine's service manager would) and crash PostgreSQL once.
    let mut kills = 0;
    let mut pg_restarted = false;
    while coordinator.try_wait().unwrap().is_none() && (kills < 3 || !pg_restarted) {
        std::thread::sleep(Duration::from_millis(rng.u64(400..1200)));
        if kills == 1 && !pg_restarted {
            eprintln!("restarting PostgreSQL");
            pg.restart_immediate();
            pg_restarted = true;
            continue;
        }
        let slot = loop {
            let slot = rng.usize(..workers.children.len());
            if slot != frozen {
                break slot;
            }
        };
        let (name, child) = &mut workers.children[slot];
        eprintln!("kill -9 {name}");
        child.kill().unwrap();
        child.wait().unwrap();
        generation += 1;
        let base = names[slot];
        let worker = format!("{base}.g{generation}");
        let fresh = cluster.spawn_worker(&dirs[slot], &worker, 2);
        workers.children[slot] = (worker, fresh);
        kills += 1;
    }
    let code = wait_until(&mut coordinator, Duration::from_secs(300), "the coordinator", &cluster);
    assert_eq!(code, 0, "seed {seed}\n{}", cluster.logs_text());
    assert!(pg_restarted, "the run ended before PostgreSQL could be restarted");

    // 0 tasks lost, 0 merged twice, each merge the recorded commit.
    check_merged_exactly_once(&cluster, run.as_str(), 30);
    let after = status(&store).unwrap();
    assert!(after.tasks.iter().all(|t| t.state == orca_store::TaskState::Succeeded));

    // The frozen worker's attempt counts for nothing: it never succeeded,
    // and the frozen worker was told its lease was lost when it woke.
    let attempts = rt.block_on(store.attempts(&run, &frozen_task)).unwrap();
    let stale = attempts.iter().find(|a| a.attempt == frozen_attempt).unwrap();
    assert_ne!(stale.outcome, "succeeded", "{attempts:?}");
    assert_ne!(stale.outcome, "verified", "{attempts:?}");
    let told = wait_for_event(&cluster, &frozen_name, "the frozen worker to learn", |e| {
        e["event"] == "lease_lost" && e["task"] == frozen_task.as_str()
    });
    assert_eq!(told["attempt"], frozen_attempt, "{told}");
    // No attempt other than each task's last was ever accepted.
    for task in &after.tasks {
        let attempts = rt.block_on(store.attempts(&run, &task.key)).unwrap();
        for attempt in &attempts[..attempts.len() - 1] {
            assert!(
                !matches!(attempt.outcome.as_str(), "succeeded" | "verified" | "merging"),
                "{}: {attempts:?}",
                task.key
            );
        }
    }

    // The remote refused one push of T05 (the hook says so even when the
    // worker that heard it was killed before it could log it), and that
    // cost T05 an attempt, nothing more.
    let refused = std::fs::read_to_string(cluster.remote.join("refused-T05"));
    assert!(refused.is_ok(), "no push of T05 was refused\n{}", cluster.logs_text());
    let t05 = rt.block_on(store.attempts(&run, "T05")).unwrap();
    assert!(t05.len() >= 2 && t05[0].outcome != "succeeded", "{t05:?}");

    for (_, child) in &workers.children {
        sigterm(child);
    }
    for (name, child) in &mut workers.children {
        assert_eq!(wait_until(child, Duration::from_secs(60), name, &cluster), 0, "{name}");
    }
}

#[test]
fn a_coordinator_killed_mid_run_is_resumed_and_merges_each_task_once() {
    let pg = orca_test_postgres::shared();
    let agent = "sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 1 ))\n\
                 echo \"work of $task\" > \"out-$task.txt\"";
    let cluster = Cluster::new(
        agent,
        pg.create_database(),
        "max_attempts = 20\n\n[lease]\nttl = \"2s\"\nheartbeat = \"400ms\"",
    );
    let mut workers = Workers { children: Vec::new() };
    for name in ["w1", "w2", "w3"] {
        let dir = cluster.machine(name);
        workers.children.push((name.to_owned(), cluster.spawn_worker(&dir, name, 2)));
    }
    let plan = cluster.fixture.plan(&chain_plan(24));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    // Once a few tasks are merged, the coordinator dies.
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.coordinator_events().iter().filter(|e| e["event"] == "merged").count() < 6 {
        assert!(Instant::now() < deadline, "no merges\n{}", cluster.logs_text());
        assert!(coordinator.try_wait().unwrap().is_none(), "{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(10));
    }
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let run = RunId::from(run_id(&cluster.coordinator_events()).as_str());
    // The workers go on; their verified work waits for a coordinator.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = rt.block_on(store.run_status(&run)).unwrap();
        if status.count(orca_store::TaskState::Verified) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing got verified\n{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(20));
    }

    // `orca resume` takes the remote from the run's record.
    let log = File::create(cluster.logs.join("resume.log")).unwrap();
    let json = File::create(cluster.logs.join("resume.jsonl")).unwrap();
    let mut resumed = cluster
        .fixture
        .orca()
        .args(["resume", "--run", run.as_str(), "--store", &cluster.url, "--json"])
        .stdout(json)
        .stderr(log)
        .spawn()
        .unwrap();
    let code = wait_until(&mut resumed, Duration::from_secs(300), "orca resume", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    check_merged_exactly_once(&cluster, run.as_str(), 24);
}

#[test]
fn sigterm_lets_a_worker_finish_within_its_grace_or_hand_the_task_back() {
    let pg = orca_test_postgres::shared();
    let release = tempfile::tempdir().unwrap();
    let flag = release.path().join("go");
    let agent = format!(
        "while [ ! -e {} ]; do sleep 0.05; done\necho \"work of $task\" > \"out-$task.txt\"",
        flag.display()
    );
    let cluster = Cluster::new(&agent, pg.create_database(), "");
    let mut workers = Workers { children: Vec::new() };
    let plan = cluster.fixture.plan(&chain_plan(1));
    workers.children.push(("coordinator".into(), cluster.spawn_coordinator(&plan)));
    // A worker that starts before the coordinator has pushed the run's
    // integration branch hands its first claims back (no try spent), so the
    // attempt number of the claim that runs is not known in advance.
    let claimed = |name: &str| {
        wait_for_event(&cluster, name, "a claim", |e| {
            e["event"] == "claimed" && e["task"] == "T01"
        });
    };

    // A short grace runs out: the agent is stopped, the task handed back
    // without spending a try.
    let dir = cluster.machine("w1");
    let mut quick = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["worker", "--store", &cluster.url, "--remote", cluster.remote.to_str().unwrap()])
        .args(["--name", "w1", "--grace", "1s", "--json"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(File::create(cluster.logs.join("w1.jsonl")).unwrap())
        .stderr(File::create(cluster.logs.join("w1.log")).unwrap())
        .spawn()
        .unwrap();
    claimed("w1");
    sigterm(&quick);
    assert_eq!(wait_until(&mut quick, Duration::from_secs(60), "w1", &cluster), 0);
    let events = cluster.worker_events("w1");
    assert!(events.iter().any(|e| e["event"] == "stopping"), "{events:?}");
    assert!(
        events.iter().any(|e| e["event"] == "released" && e["task"] == "T01"),
        "{}",
        cluster.logs_text()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = RunId::from(run_id(&cluster.coordinator_events()).as_str());
    let task = rt.block_on(store.run_status(&run)).unwrap().tasks.remove(0);
    assert_eq!((task.state, task.tries), (orca_store::TaskState::Ready, 0), "{task:?}");

    // A long grace: the running attempt finishes and is submitted, then
    // the worker exits; the coordinator merges it.
    let dir = cluster.machine("w2");
    let mut patient = cluster.spawn_worker(&dir, "w2", 1);
    claimed("w2");
    sigterm(&patient);
    wait_for_event(&cluster, "w2", "w2 to stop claiming", |e| e["event"] == "stopping");
    assert!(patient.try_wait().unwrap().is_none(), "w2 waits for its attempt");
    std::fs::write(&flag, "").unwrap();
    assert_eq!(wait_until(&mut patient, Duration::from_secs(60), "w2", &cluster), 0);
    assert!(cluster.worker_events("w2").iter().any(|e| e["event"] == "submitted"));
    let (_, coordinator) = &mut workers.children[0];
    let code = wait_until(coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    check_merged_exactly_once(&cluster, run.as_str(), 1);
}

#[test]
fn a_worker_that_cannot_run_the_agents_leaves_the_run_to_others() {
    let pg = orca_test_postgres::shared();
    let cluster = Cluster::new(WRITE_OWN_FILE, pg.create_database(), "");
    let dir = cluster.machine("w1");
    let config = dir.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let agent = cluster.fixture.tools.join("agent.sh");
    std::fs::write(&config, text.replace(agent.to_str().unwrap(), "/nonexistent/agent.sh"))
        .unwrap();
    let mut workers = Workers { children: Vec::new() };
    workers.children.push(("w1".into(), cluster.spawn_worker(&dir, "w1", 2)));
    let plan = cluster.fixture.plan(&chain_plan(3));
    workers.children.push(("coordinator".into(), cluster.spawn_coordinator(&plan)));
    let refused =
        wait_for_event(&cluster, "w1", "w1 to refuse the run", |e| e["event"] == "run_refused");
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.contains("cannot run its agents"), "{reason}");
    assert!(reason.contains("/nonexistent/agent.sh"), "{reason}");
    assert!(cluster.worker_events("w1").iter().all(|e| e["event"] != "claimed"));
    // A machine that can run them does the work.
    let dir = cluster.machine("w2");
    workers.children.push(("w2".into(), cluster.spawn_worker(&dir, "w2", 2)));
    let (_, coordinator) = &mut workers.children[1];
    let code = wait_until(coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let run = run_id(&cluster.coordinator_events());
    check_merged_exactly_once(&cluster, &run, 3);
}

#[test]
fn a_gate_fix_task_goes_to_the_workers_too() {
    let pg = orca_test_postgres::shared();
    let cluster = Cluster::new("true", pg.create_database(), "");
    // T1 misspells the greeting; the reviewer (on the coordinator) asks for
    // a fix until it says hello; the fix task, on a worker, spells it right.
    let changes = cluster.fixture.tools.join("changes.json");
    std::fs::write(
        &changes,
        r#"{"verdict": "changes", "changes": [{"file": "greeting.txt", "line": 1, "severity": "error", "reason": "it must say hello"}], "acceptance": []}"#,
    )
    .unwrap();
    cluster.fixture.agent(&format!(
        "case \"$task\" in\n  review) grep -q hello greeting.txt || cp {} review.json ;;\n  \
         fix-review-*) printf 'hello\\n' > greeting.txt ;;\n  *) printf 'helo\\n' > greeting.txt ;;\nesac",
        changes.display()
    ));
    let mut workers = Workers { children: Vec::new() };
    for name in ["w1", "w2"] {
        let dir = cluster.machine(name);
        workers.children.push((name.to_owned(), cluster.spawn_worker(&dir, name, 1)));
    }
    let plan = cluster
        .fixture
        .plan(&format!("# Plan: Greeting\n\n{}", task("T1", "none", "greeting.txt", None)));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let code = wait_until(&mut coordinator, Duration::from_secs(180), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let events = cluster.coordinator_events();
    let run = run_id(&events);
    assert!(
        events.iter().any(|e| e["event"] == "merged" && e["task"] == "fix-review-1-1"),
        "{}",
        cluster.logs_text()
    );
    let integration = format!("orca/{run}/integration");
    assert_eq!(cluster.fixture.show(&integration, "greeting.txt"), "hello\n");
    let submitted_fix = ["w1", "w2"].iter().any(|name| {
        cluster
            .worker_events(name)
            .iter()
            .any(|e| e["event"] == "submitted" && e["task"] == "fix-review-1-1")
    });
    assert!(submitted_fix, "a worker did the fix task\n{}", cluster.logs_text());
}

#[test]
fn a_coordinator_with_agents_of_its_own_shares_the_work_with_workers() {
    let pg = orca_test_postgres::shared();
    let agent = "sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 4 + 2 ))\n\
                 echo \"work of $task\" > \"out-$task.txt\"";
    let cluster = Cluster::new(agent, pg.create_database(), "");
    let mut workers = Workers { children: Vec::new() };
    let dir = cluster.machine("w1");
    workers.children.push(("w1".into(), cluster.spawn_worker(&dir, "w1", 2)));
    let plan = cluster.fixture.plan(&chain_plan(12));
    let mut coordinator = cluster.spawn_coordinator_with(&plan, 2);
    let code = wait_until(&mut coordinator, Duration::from_secs(180), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let events = cluster.coordinator_events();
    let run = run_id(&events);
    check_merged_exactly_once(&cluster, &run, 12);
    let local =
        events.iter().filter(|e| e["event"] == "task_started" && e["agent"] == "fake").count();
    let remote = cluster.worker_events("w1").iter().filter(|e| e["event"] == "submitted").count();
    assert!(local > 0 && remote > 0, "local {local}, remote {remote}\n{}", cluster.logs_text());
}

/// Waits until the coordinator's events hold one that `check` accepts.
fn wait_for_coordinator(
    cluster: &Cluster,
    coordinator: &mut Child,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(event) = cluster.coordinator_events().into_iter().find(|e| check(e)) {
            return event;
        }
        assert!(
            coordinator.try_wait().unwrap().is_none(),
            "the coordinator exited waiting for {what}\n{}",
            cluster.logs_text()
        );
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A run budget of 1,000 tokens; four independent tasks, each 400 tokens,
/// all on one worker with one agent. Each agent reports its usage, then
/// waits for the test's go. The third task's usage, reported on the worker
/// while its agent still runs, crosses the budget: the coordinator counts
/// it, halts the run, and the worker claims nothing more; the third task's
/// work is submitted and waits verified. A resume with a higher budget
/// merges it and runs the fourth.
#[test]
fn a_run_budget_counts_what_workers_spend_and_stops_their_claims() {
    let pg = orca_test_postgres::shared();
    let OverBudget { cluster, flags: _flags, go, workers: _workers, mut coordinator, third, over } =
        two_tasks_then_over_budget(pg, "");
    assert!(over.get("task").is_none(), "the run's budget, not a task's: {over}");
    go(&third);
    let code = wait_until(&mut coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 1, "{}", cluster.logs_text());
    let finished = cluster.coordinator_events();
    let finished = of_kind(&finished, "run_finished");
    assert_eq!(finished[0]["outcome"], "halted", "{finished:?}");
    wait_for_event(&cluster, "w1", "the third task's submit", |e| {
        e["event"] == "submitted" && e["task"] == third.as_str()
    });

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = RunId::from(run_id(&cluster.coordinator_events()).as_str());
    let status = rt.block_on(store.run_status(&run)).unwrap();
    let fourth = status
        .tasks
        .iter()
        .find(|t| t.state == orca_store::TaskState::Ready)
        .unwrap_or_else(|| panic!("one task left ready: {:?}", status.tasks))
        .key
        .clone();
    assert_eq!(status.count(orca_store::TaskState::Verified), 1, "{:?}", status.tasks);
    let (_, json, _) = cluster.fixture.json(&["status", "--store", &cluster.url]);
    assert_eq!(json["budget"]["spent_tokens"], 1200, "{json}");
    for id in ["T01", "T02", "T03", "T04"] {
        go(id);
    }

    // Nothing of the fourth task ran while the run was halted: its one
    // attempt starts after the resume does.
    let resumed_at = rt.block_on(store.now_ms()).unwrap();
    resume_with_a_higher_budget(&cluster, run.as_str());
    let attempts = rt.block_on(store.attempts(&run, &fourth)).unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].started_ms >= resumed_at, "{fourth} started while halted: {attempts:?}");
    check_merged_exactly_once(&cluster, run.as_str(), 4);
}

/// A run of four independent tasks against a budget of 1,000 tokens, on
/// one worker with one agent, as [`two_tasks_then_over_budget`] leaves it.
struct OverBudget {
    cluster: Cluster,
    flags: tempfile::TempDir,
    /// Lets the agent of a task finish.
    go: Box<dyn Fn(&str)>,
    workers: Workers,
    coordinator: Child,
    /// The task whose usage crossed the budget; its agent still runs.
    third: String,
    /// The coordinator's `over_budget` event.
    over: serde_json::Value,
}

/// Starts a run of four independent tasks with `budget_tokens = 1000`
/// (and `config`) on one worker with one agent. Each agent reports 400
/// tokens of usage, then waits for the test's go: the first two claimed
/// are let through and merged (800 tokens), the third one's usage, on the
/// worker while its agent still runs, crosses the budget.
fn two_tasks_then_over_budget(pg: &orca_test_postgres::Cluster, config: &str) -> OverBudget {
    let flags = tempfile::tempdir().unwrap();
    let agent = format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n\
         echo '{{\"type\":\"usage\",\"input_tokens\":300,\"output_tokens\":100,\"cached_tokens\":0}}'\n\
         case \"$task\" in T0*) while [ ! -e {}/go-$task ]; do sleep 0.05; done ;; esac",
        flags.path().display()
    );
    let config = format!("budget_tokens = 1000\n{config}");
    let cluster = Cluster::new(&agent, pg.create_database(), &config);
    let flag_dir = flags.path().to_path_buf();
    let go = Box::new(move |task: &str| {
        std::fs::write(flag_dir.join(format!("go-{task}")), "").unwrap();
    });
    let mut workers = Workers { children: Vec::new() };
    let dir = cluster.machine("w1");
    workers.children.push(("w1".into(), cluster.spawn_worker(&dir, "w1", 1)));
    let mut plan = String::from("# Plan: Four\n\n");
    for id in ["T01", "T02", "T03", "T04"] {
        plan += &task(id, "none", &format!("out-{id}.txt"), None);
    }
    let plan = cluster.fixture.plan(&plan);
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let claimed = |n: usize| -> String {
        wait_for_event(&cluster, "w1", "a claim", |_| claims(&cluster).len() >= n);
        claims(&cluster)[n - 1]["task"].as_str().unwrap().to_owned()
    };
    for n in 1..=2 {
        let task = claimed(n);
        go(&task);
        wait_for_coordinator(&cluster, &mut coordinator, "a merge", |e| {
            e["event"] == "merged" && e["task"] == task.as_str()
        });
    }
    let third = claimed(3);
    let over = wait_for_coordinator(&cluster, &mut coordinator, "the run's budget", |e| {
        e["event"] == "over_budget"
    });
    assert_eq!(over["spent"], "1,200 tokens of 1,000", "{over}");
    OverBudget { cluster, flags, go, workers, coordinator, third, over }
}

/// The `claimed` events of worker `w1`, in order.
fn claims(cluster: &Cluster) -> Vec<serde_json::Value> {
    cluster.worker_events("w1").into_iter().filter(|e| e["event"] == "claimed").collect()
}

/// `orca resume` of `run` with a budget of 5,000 tokens, to its end.
fn resume_with_a_higher_budget(cluster: &Cluster, run: &str) {
    let log = File::create(cluster.logs.join("resume.log")).unwrap();
    let json = File::create(cluster.logs.join("resume.jsonl")).unwrap();
    let mut resumed = cluster
        .fixture
        .orca()
        .args(["resume", "--run", run, "--store", &cluster.url, "--json"])
        .args(["--budget-tokens", "5000"])
        .stdout(json)
        .stderr(log)
        .spawn()
        .unwrap();
    let code = wait_until(&mut resumed, Duration::from_secs(120), "orca resume", cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
}

/// A network link between one worker and PostgreSQL that the test can cut:
/// a TCP port on 127.0.0.1 that forwards to the server's unix socket. Down,
/// it drops every open connection and closes new ones at once, as a
/// network that went away (or a firewall that resets) would.
struct NetworkLink {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    /// Connections cut or refused while down.
    dropped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl NetworkLink {
    fn to(socket: PathBuf) -> NetworkLink {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = NetworkLink {
            port: listener.local_addr().unwrap().port(),
            up: std::sync::Arc::new(true.into()),
            open: std::sync::Arc::default(),
            dropped: std::sync::Arc::default(),
        };
        let (up, open, dropped) = (link.up.clone(), link.open.clone(), link.dropped.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up.load(Ordering::SeqCst) {
                    dropped.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::os::unix::net::UnixStream::connect(&socket) else { continue };
                open.lock().unwrap().push(client.try_clone().unwrap());
                let (mut client_in, mut server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut server_in, mut client_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_in, &mut server_out);
                    let _ = server_out.shutdown(std::net::Shutdown::Both);
                    let _ = client_in.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_in, &mut client_out);
                    let _ = client_out.shutdown(std::net::Shutdown::Both);
                    let _ = server_in.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        link
    }

    /// The store URL through this link for the database of `url`.
    fn url(&self, url: &str) -> String {
        let database = url.split('?').next().unwrap().rsplit('/').next().unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable", self.port)
    }

    fn down(&self) {
        use std::sync::atomic::Ordering;
        self.up.store(false, Ordering::SeqCst);
        for connection in self.open.lock().unwrap().drain(..) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn dropped(&self) -> usize {
        self.dropped.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The lease TTL of the network-drop run: long enough that a short drop
/// (1 s) never costs a worker its lease, however busy the machine.
const DROP_TTL: Duration = Duration::from_secs(8);

#[test]
fn a_network_drop_is_ridden_out_and_a_worker_cut_off_past_its_lease_stops_its_agent() {
    let pg = orca_test_postgres::shared();
    let flags = tempfile::tempdir().unwrap();
    // Each task's agent notes its pid and where it runs, then waits for its
    // flag (the reviewer, at the end, does not wait).
    let agent = format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n\
         case \"$task\" in T0*) echo \"$$ $PWD\" >> {flags}/pids-$task\n\
           while [ ! -e {flags}/go-$task ]; do sleep 0.05; done ;; esac",
        flags = flags.path().display()
    );
    let go = |task: &str| std::fs::write(flags.path().join(format!("go-{task}")), "").unwrap();
    let url = pg.create_database();
    let cluster = Cluster::new(
        &agent,
        url.clone(),
        &format!("\n[lease]\nttl = \"{}s\"\nheartbeat = \"400ms\"", DROP_TTL.as_secs()),
    );
    let socket = {
        let host = url.split("host=").nth(1).unwrap().split('&').next().unwrap();
        let port = url.split("localhost:").nth(1).unwrap().split('/').next().unwrap();
        Path::new(host).join(format!(".s.PGSQL.{port}"))
    };
    let link = NetworkLink::to(socket);
    let mut plan = String::from("# Plan: Two\n\n");
    for id in ["T01", "T02"] {
        plan += &task(id, "none", &format!("out-{id}.txt"), None);
    }
    let plan = cluster.fixture.plan(&plan);
    let mut workers = Workers { children: Vec::new() };
    let mut coordinator = cluster.spawn_coordinator(&plan);
    // w1 reaches the store only through the link.
    let dir = cluster.machine("w1");
    let w1 = cluster.spawn_worker_via(&dir, "w1", 1, &link.url(&cluster.url));
    workers.children.push(("w1".into(), w1));
    let claimed = |worker: &str, task: &str| {
        wait_for_event(&cluster, worker, "a claim", |e| {
            e["event"] == "claimed" && e["task"] == task
        })
    };

    // A short drop: every connection of w1 is cut, none can be made for a
    // second. w1 reconnects, keeps its lease and submits its attempt.
    let first = claimed("w1", "T01");
    link.down();
    std::thread::sleep(Duration::from_secs(1));
    link.up();
    assert!(link.dropped() > 0, "the drop cut w1's connections");
    go("T01");
    wait_for_coordinator(&cluster, &mut coordinator, "T01's merge", |e| {
        e["event"] == "merged" && e["task"] == "T01"
    });
    let events = cluster.worker_events("w1");
    assert!(
        events.iter().any(|e| e["event"] == "submitted"
            && e["task"] == "T01"
            && e["attempt"] == first["attempt"]),
        "{}",
        cluster.logs_text()
    );
    assert!(!events.iter().any(|e| e["event"] == "lease_lost"), "{}", cluster.logs_text());

    // A drop past the lease: w1 holds T02 and is cut off until its lease
    // expires and w2 (on the network) takes the task over. When the link
    // comes back w1 learns its lease is gone and stops its agent; only
    // w2's attempt is merged.
    claimed("w1", "T02");
    link.down();
    let dir = cluster.machine("w2");
    workers.children.push(("w2".into(), cluster.spawn_worker(&dir, "w2", 1)));
    claimed("w2", "T02");
    link.up();
    wait_for_event(&cluster, "w1", "w1 to learn its lease is lost", |e| {
        e["event"] == "lease_lost" && e["task"] == "T02"
    });
    // Its agent is stopped, before anything tells it to finish.
    let pids = std::fs::read_to_string(flags.path().join("pids-T02")).unwrap();
    let w1_agent: i32 = pids
        .lines()
        .find(|line| line.contains("/w1/"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("w1's agent for T02 noted its pid: {pids}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(format!("/proc/{w1_agent}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2) != Some("Z"))
    {
        assert!(Instant::now() < deadline, "w1's agent still runs\n{}", cluster.logs_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    go("T02");
    let code = wait_until(&mut coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    assert!(
        !cluster
            .worker_events("w1")
            .iter()
            .any(|e| e["event"] == "submitted" && e["task"] == "T02"),
        "{}",
        cluster.logs_text()
    );
    let run = run_id(&cluster.coordinator_events());
    check_merged_exactly_once(&cluster, &run, 2);
}

/// The same budget with `on_budget = "stop"`: once the third task's usage
/// trips it, the worker stops that task's agent (which would otherwise
/// wait for the test's go forever) at its next heartbeat, pushes its work
/// and hands the task back without spending a try; the run halts. A
/// resume with a higher budget continues the third task from its pushed
/// work and runs the fourth.
#[test]
fn on_budget_stop_stops_the_agents_workers_run_too() {
    let pg = orca_test_postgres::shared();
    let config = "on_budget = \"stop\"\n\n[lease]\nheartbeat = \"1s\"";
    let OverBudget {
        cluster, flags: _flags, go, workers: _workers, mut coordinator, third, ..
    } = two_tasks_then_over_budget(pg, config);
    // No go for the third task: only the stop ends its agent.
    let stopped = wait_for_event(&cluster, "w1", "the worker to stop the run's attempts", |e| {
        e["event"] == "run_stopped"
    });
    assert_eq!(stopped["attempts"], 1, "{stopped}");
    assert!(stopped["reason"].as_str().unwrap().contains("budget is spent"), "{stopped}");
    let released = wait_for_event(&cluster, "w1", "the third task handed back", |e| {
        e["event"] == "released" && e["task"] == third.as_str()
    });
    assert!(released["reason"].as_str().unwrap().contains("budget is spent"), "{released}");
    let events = cluster.worker_events("w1");
    assert!(
        events.iter().any(|e| e["event"] == "pushed" && e["task"] == third.as_str()),
        "the stopped attempt's work is on the remote: {events:?}"
    );
    assert!(!events.iter().any(|e| e["event"] == "submitted" && e["task"] == third.as_str()));
    let code = wait_until(&mut coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 1, "{}", cluster.logs_text());
    let finished = cluster.coordinator_events();
    assert_eq!(of_kind(&finished, "run_finished")[0]["outcome"], "halted", "{finished:?}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = RunId::from(run_id(&cluster.coordinator_events()).as_str());
    let status = rt.block_on(store.run_status(&run)).unwrap();
    let stopped_task = status.tasks.iter().find(|t| t.key == third).unwrap();
    assert_eq!(
        (stopped_task.state, stopped_task.tries),
        (orca_store::TaskState::Ready, 0),
        "handed back without spending a try: {stopped_task:?}"
    );
    assert_eq!(status.count(orca_store::TaskState::Succeeded), 2, "{:?}", status.tasks);
    assert_eq!(claims(&cluster).len(), 3, "nothing claimed while the run is halted");

    for id in ["T01", "T02", "T03", "T04"] {
        go(id);
    }
    resume_with_a_higher_budget(&cluster, run.as_str());
    let attempts = rt.block_on(store.attempts(&run, &third)).unwrap();
    assert_eq!(attempts.len(), 2, "the stopped attempt and the one after the resume: {attempts:?}");
    check_merged_exactly_once(&cluster, run.as_str(), 4);
}

/// A cancel request (what `orca dashboard`'s cancel writes) for an attempt
/// a worker runs stops that attempt at the worker's next heartbeat, as the
/// coordinator stops its own: work pushed, task handed back without
/// spending a try, `attempt.cancelled` on record; the next attempt merges.
#[test]
fn a_cancel_request_stops_the_attempt_a_worker_runs() {
    let pg = orca_test_postgres::shared();
    let flags = tempfile::tempdir().unwrap();
    let agent = format!(
        "echo \"work of $task\" > \"out-$task.txt\"\n\
         while [ ! -e {}/go ]; do sleep 0.05; done",
        flags.path().display()
    );
    let config = "[lease]\nheartbeat = \"1s\"";
    let cluster = Cluster::new(&agent, pg.create_database(), config);
    let mut workers = Workers { children: Vec::new() };
    let dir = cluster.machine("w1");
    workers.children.push(("w1".into(), cluster.spawn_worker(&dir, "w1", 1)));
    let plan = cluster
        .fixture
        .plan(&format!("# Plan: One\n\n{}", task("T01", "none", "out-T01.txt", None)));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    wait_for_event(&cluster, "w1", "a claim", |e| e["event"] == "claimed" && e["task"] == "T01");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(Store::open(&cluster.url)).unwrap();
    let run = RunId::from(run_id(&cluster.coordinator_events()).as_str());
    let cancel = orca_engine::control::Control::Cancel { task: "T01".into(), attempt: 1 };
    rt.block_on(orca_engine::control::request(&store, &run, &cancel, "a test")).unwrap();

    let released = wait_for_event(&cluster, "w1", "the cancelled attempt handed back", |e| {
        e["event"] == "released" && e["task"] == "T01"
    });
    assert_eq!(released["attempt"], 1, "{released}");
    assert!(released["reason"].as_str().unwrap().contains("cancelled by a test"), "{released}");
    let events = cluster.worker_events("w1");
    assert!(
        events.iter().any(|e| e["event"] == "pushed" && e["task"] == "T01" && e["attempt"] == 1),
        "the cancelled attempt's work is on the remote: {events:?}"
    );
    let log = rt.block_on(store.events_of_kind_after(&run, 0, "attempt.cancelled", 10)).unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0].task.as_deref(), log[0].attempt), (Some("T01"), Some(1)));
    assert!(log[0].payload_json.contains("\"worker\":\"w1\""), "{:?}", log[0]);

    std::fs::write(flags.path().join("go"), "").unwrap();
    let code = wait_until(&mut coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let status = rt.block_on(store.run_status(&run)).unwrap();
    assert_eq!(status.tasks[0].tries, 1, "the cancelled attempt spent no try: {:?}", status.tasks);
    let attempts = rt.block_on(store.attempts(&run, "T01")).unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    check_merged_exactly_once(&cluster, run.as_str(), 1);
}

/// A worker's clone keeps the logs of the runs it worked on and a copy of
/// their integration branches: `orca clean` there removes them once the
/// run is finished (a dry run only says so). In the coordinator's
/// checkout the result not taken yet is still kept.
#[test]
fn orca_clean_in_a_workers_clone_removes_what_it_kept_of_finished_runs() {
    let pg = orca_test_postgres::shared();
    let cluster =
        Cluster::new("echo \"work of $task\" > \"out-$task.txt\"", pg.create_database(), "");
    let mut workers = Workers { children: Vec::new() };
    let dir = cluster.machine("w1");
    workers.children.push(("w1".into(), cluster.spawn_worker(&dir, "w1", 1)));
    let plan = cluster.fixture.plan(&chain_plan(2));
    let mut coordinator = cluster.spawn_coordinator(&plan);
    let code = wait_until(&mut coordinator, Duration::from_secs(120), "the coordinator", &cluster);
    assert_eq!(code, 0, "{}", cluster.logs_text());
    let (_, worker) = &mut workers.children[0];
    sigterm(worker);
    assert_eq!(wait_until(worker, Duration::from_secs(60), "w1", &cluster), 0);
    let run = run_id(&cluster.coordinator_events());
    let logs = dir.join(".orca/runs").join(&run);
    let integration = format!("orca/{run}/integration");
    let refs = |dir: &Path, under: &str| {
        let out = Command::new("git")
            .args(["for-each-ref", "--format=%(refname)", under])
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let branches = || refs(&dir, "refs/heads/orca/").replace("refs/heads/", "");
    let fetched_here = format!("refs/orca-remote/orca/{run}/");
    let fetched = |dir: &Path| refs(dir, &fetched_here);
    assert!(logs.is_dir(), "the worker kept the run's logs");
    assert!(branches().lines().any(|b| b == integration), "{}", branches());
    assert!(!fetched(&dir).is_empty(), "the worker fetched the run's integration branch");
    assert!(!fetched(&cluster.fixture.repo).is_empty(), "the coordinator fetched attempts");

    let clean = |args: &[&str]| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(["clean", "--store", &cluster.url, "--json"])
            .args(args)
            .current_dir(&dir)
            .env_remove("ORCA_STORE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let removes_logs = |json: &serde_json::Value| {
        json["directories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().ends_with(&format!(".orca/runs/{run}")))
    };
    let lists_fetched = |json: &serde_json::Value, dir: &Path| {
        let listed: Vec<&str> =
            json["fetched"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert_eq!(listed, fetched(dir).lines().collect::<Vec<_>>(), "{json}");
    };
    let planned = clean(&["--dry-run"]);
    assert!(removes_logs(&planned), "{planned}");
    lists_fetched(&planned, &dir);
    assert!(logs.is_dir(), "a dry run removes nothing");
    let done = clean(&[]);
    assert!(removes_logs(&done), "{done}");
    assert!(done["branches"].as_array().unwrap().iter().any(|b| *b == *integration), "{done}");
    assert_eq!(done["fetched"], planned["fetched"], "{done}");
    assert!(!logs.exists(), "{done}");
    assert!(!branches().contains(&format!("orca/{run}/")), "{}", branches());
    assert_eq!(fetched(&dir), "", "what the worker fetched for the run is gone");

    // The coordinator's checkout: the run's result, not merged into a
    // branch of the user's, stays; the attempts it fetched go.
    let before = fetched(&cluster.fixture.repo);
    let (_, json, _) = cluster.fixture.json(&["clean", "--store", &cluster.url]);
    let kept = json["kept"].as_array().unwrap();
    assert!(kept.iter().any(|k| k[0] == *integration), "{json}");
    let removed: Vec<&str> =
        json["fetched"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(removed, before.lines().collect::<Vec<_>>(), "{json}");
    assert_eq!(fetched(&cluster.fixture.repo), "");
}
