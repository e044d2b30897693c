//! Plan engine benchmark: parse + validate + schedule time and peak memory
//! for synthetic plans of 1k, 10k and 100k tasks. Reports, never asserts.
//!
//! `cargo bench -p orca-plan --bench plan` (sizes: `ORCA_BENCH_SIZES=1000,10000`).
//! Each size runs in a child process of this binary so its peak memory
//! (VmHWM from /proc) is its own.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use orca_plan::{PlanOptions, TaskState};

/// Peak and current resident memory of this process, in KiB (Linux).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time this thread has used (Linux schedstat, nanoseconds). On a
/// busy machine wall time includes waiting for a core; CPU time does not.
fn cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Parses, validates and schedules one plan; returns the phase times.
fn run_once(text: &str, options: &PlanOptions) -> [Duration; 3] {
    let start = Instant::now();
    let parsed = orca_plan::parse(text);
    let parsed_at = Instant::now();
    let validated = orca_plan::validate(&parsed.plan, options);
    let validated_at = Instant::now();
    let graph = validated.graph.expect("the synthetic plan is valid");
    // What a scheduler asks up front and at the start of a run.
    let waves = graph.waves();
    let critical = graph.critical_path();
    let parallelism = graph.max_parallelism();
    let ready = graph.ready(|_| TaskState::Pending);
    let mut order: Vec<_> = graph.indices().collect();
    graph.sort_for_dispatch(&mut order);
    let scheduled_at = Instant::now();
    black_box((
        &parsed.diagnostics,
        &validated.diagnostics,
        waves,
        critical,
        parallelism,
        ready,
        order,
    ));
    [parsed_at - start, validated_at - parsed_at, scheduled_at - validated_at]
}

/// Runs one size in this process and prints one result line.
fn child(tasks: usize) {
    let text = orca_plan::synthetic::markdown(tasks, 7);
    let options = PlanOptions::default();
    let (_, baseline_kib) = memory_kib();
    let rounds = std::env::var("ORCA_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(
        match tasks {
            0..=2_000 => 30,
            2_001..=20_000 => 15,
            _ => 5,
        },
    );
    let mut phases: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut totals = Vec::new();
    let mut cpu_totals = Vec::new();
    // The first run in a fresh process is what `orca plan check` sees.
    let first = run_once(&text, &options).iter().sum::<Duration>();
    for _ in 0..rounds {
        let cpu_before = cpu_time();
        let times = run_once(&text, &options);
        cpu_totals.push(cpu_time().saturating_sub(cpu_before));
        for (samples, time) in phases.iter_mut().zip(times) {
            samples.push(time);
        }
        totals.push(times.iter().sum());
    }
    let (peak_kib, _) = memory_kib();
    let checked = orca_plan::check(&text, &options);
    let edges: usize = checked.plan.tasks.iter().map(|t| t.deps.len()).sum();
    println!(
        "RESULT tasks={tasks} bytes={} edges={edges} warnings={} rounds={rounds} parse_ms={:.2} validate_ms={:.2} schedule_ms={:.2} total_ms={:.2} min_ms={:.2} cpu_ms={:.2} first_ms={:.2} peak_mib={:.1}",
        text.len(),
        checked.warnings(),
        ms(median(phases[0].clone())),
        ms(median(phases[1].clone())),
        ms(median(phases[2].clone())),
        ms(median(totals.clone())),
        ms(totals.iter().copied().min().unwrap_or_default()),
        ms(median(cpu_totals)),
        ms(first),
        peak_kib.saturating_sub(baseline_kib) as f64 / 1024.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let tasks = args.get(i + 1).and_then(|n| n.parse().ok()).expect("--child <tasks>");
        child(tasks);
        return;
    }
    let sizes: Vec<usize> = std::env::var("ORCA_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let exe = std::env::current_exe().expect("the bench binary knows its path");
    println!("plan engine: parse + validate + schedule, median of several rounds (release build)");
    println!(
        "(medians of wall-clock time; \"min ms\" is the fastest round, the best estimate on a busy"
    );
    println!(
        " machine; \"cpu ms\" is the thread's CPU time per round, dropping the results included)"
    );
    println!(
        "{:>8} {:>10} {:>8} {:>10} {:>11} {:>11} {:>10} {:>8} {:>8} {:>14}",
        "tasks",
        "edges",
        "MiB in",
        "parse ms",
        "validate ms",
        "schedule ms",
        "total ms",
        "min ms",
        "cpu ms",
        "peak mem MiB"
    );
    for tasks in sizes {
        let output = Command::new(&exe)
            .args(["--child", &tasks.to_string()])
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            eprintln!("size {tasks} failed: {}", String::from_utf8_lossy(&output.stderr));
            continue;
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or("?")
                .to_owned()
        };
        let mib = field("bytes")
            .parse::<f64>()
            .map_or("?".to_owned(), |b| format!("{:.1}", b / 1048576.0));
        println!(
            "{:>8} {:>10} {:>8} {:>10} {:>11} {:>11} {:>10} {:>8} {:>8} {:>14}",
            tasks,
            field("edges"),
            mib,
            field("parse_ms"),
            field("validate_ms"),
            field("schedule_ms"),
            field("total_ms"),
            field("min_ms"),
            field("cpu_ms"),
            field("peak_mib")
        );
        println!("{line}");
    }
}
