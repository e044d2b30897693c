//! The dashboard under load (a bench, not a check: run by
//! `scripts/bench-dashboard`, ignored otherwise). 16 simulated agents
//! (`orca debug-worker` processes) work a run for ORCA_BENCH_MINUTES
//! (default 10), each recording a tool call every second while it works;
//! the run's page is open in headless Chromium the whole time. Prints the
//! dashboard process's peak RSS and CPU time, and how long each tool call
//! took from the store to the page (its `at_ms` to the page's event handler,
//! one clock: SQLite stamps events with this machine's time). Asserts
//! nothing about the figures (docs/performance.md keeps them).

#[path = "../../report/tests/browser/mod.rs"]
mod browser;
#[path = "../../report/tests/browser/cdp.rs"]
mod cdp;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Fixture;

const AGENTS: usize = 16;
/// How long each simulated attempt works, in milliseconds.
const WORK_MS: (u64, u64) = (20_000, 40_000);

/// Kills what it holds when the bench ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn proc_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime), counted after the name.
    (ticks(11) + ticks(12)) / 100.0
}

#[test]
#[ignore = "a bench: scripts/bench-dashboard runs it"]
fn bench_dashboard_with_16_agents_streaming_events() {
    let minutes: f64 =
        std::env::var("ORCA_BENCH_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(10.0);
    let fixture = Fixture::new("");
    // Enough tasks to keep 16 agents busy for the whole time.
    let mean_work_s = (WORK_MS.0 + WORK_MS.1) as f64 / 2000.0;
    let tasks = ((minutes * 60.0 * AGENTS as f64) / mean_work_s).ceil() as usize;
    let created = fixture
        .orca()
        .args(["debug-create-run", "--tasks", &tasks.to_string(), "--max-deps", "0", "--json"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let run = created["run"].as_str().unwrap().to_owned();

    let mut dashboard = fixture
        .orca()
        .args(["dashboard", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(dashboard.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = serde_json::from_str::<Value>(&line).unwrap()["url"].as_str().unwrap().to_owned();
    let dashboard_pid = dashboard.id();
    let mut processes = Processes(vec![dashboard]);

    let mut page = cdp::Page::open((1400, 1000));
    // Every event the page's stream delivers, timed as the page's handler
    // would see it.
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": "(() => { const Original = window.EventSource; window.latencies = []; \
            window.EventSource = function (url, options) { const source = new Original(url, options); \
            source.addEventListener('message', (m) => { const e = JSON.parse(m.data); \
            if (e.kind === 'agent.tool_use') { window.latencies.push(Date.now() - e.at_ms); } }); return source; }; })();" }),
    );
    page.navigate(&format!("{url}runs/{run}"));
    page.wait_for("the page live", "document.getElementById('live').textContent === 'live'");

    let started = Instant::now();
    for n in 0..AGENTS {
        let worker = fixture
            .orca()
            .args(["debug-worker", "--run", &run, "--worker", &format!("agent-{n}")])
            .args(["--sleep-ms", &format!("{}..{}", WORK_MS.0, WORK_MS.1)])
            .args(["--tool-every-ms", "1000", "--ttl-ms", "10000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        processes.0.push(worker);
    }
    let until = started + Duration::from_secs_f64(minutes * 60.0);
    let mut rss_samples = Vec::new();
    while Instant::now() < until {
        if let Some(rss) = proc_field(dashboard_pid, "VmRSS:") {
            rss_samples.push(rss);
        }
        // One sample a second over the whole run.
        std::thread::sleep(Duration::from_secs(1));
        let shown = page.eval("window.latencies.length").as_u64().unwrap_or(0);
        if rss_samples.len() % 60 == 0 {
            eprintln!(
                "{:.0} s: {shown} tool calls shown, RSS {} kB",
                started.elapsed().as_secs_f64(),
                rss_samples.last().unwrap_or(&0)
            );
        }
    }
    let peak_kb = proc_field(dashboard_pid, "VmHWM:").unwrap_or(0);
    let cpu = cpu_seconds(dashboard_pid);
    let mut latencies: Vec<i64> = page
        .eval("window.latencies")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let errors = page.errors();
    drop(processes);
    rss_samples.sort_unstable();
    println!("dashboard load: {AGENTS} agents, {minutes} min, {tasks} tasks in the run");
    println!("  tool calls shown: {}", latencies.len());
    println!(
        "  store -> page latency ms: median {} p95 {} max {}",
        at(0.5),
        at(0.95),
        latencies.last().unwrap()
    );
    println!(
        "  dashboard RSS: peak {:.1} MB, median sample {:.1} MB; CPU {cpu:.1} s over {:.0} s",
        peak_kb as f64 / 1024.0,
        rss_samples[rss_samples.len() / 2] as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    println!("  page errors: {}", errors.len());
    assert!(errors.is_empty(), "{errors:#?}");
}
