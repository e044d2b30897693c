//! In-session queue round trips: the real `orca` binary, process start
//! included, on a 10,000-task plan in a SQLite store, beside Task Master's
//! `next` on the same plan. Run with `scripts/bench-queue`; prints a
//! Markdown table for docs/performance.md. Numbers are reported, never
//! asserted.
//!
//! One session works the queue the way an agent does: `orca task next
//! --claim` (timed), then `orca task done ID` (timed separately), so it
//! holds one task at a time while the plan's ready set evolves. Then the
//! same claims again while four other sessions hold a task each.
//!
//! Environment: `ORCA_BENCH_TASKS` (10000), `ORCA_BENCH_ROUNDS` (200),
//! `ORCA_BENCH_TASKMASTER` (path of the `task-master` CLI; skipped when
//! unset), `ORCA_BENCH_TASKMASTER_ROUNDS` (10).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn orca() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
    command.env_remove("ORCA_STORE").env_remove("ORCA_AS");
    command
}

/// Runs a command to completion; returns its wall time and stdout.
fn timed(command: &mut Command) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let out = command.stderr(Stdio::null()).output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{command:?} failed: {:?}", out.status);
    (elapsed, out.stdout)
}

/// Median, 90th percentile, min and max in milliseconds.
fn summary(mut times: Vec<Duration>) -> [f64; 4] {
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        let index = ((times.len() - 1) as f64 * q).round() as usize;
        ms(times[index])
    };
    [at(0.5), at(0.9), ms(times[0]), ms(times[times.len() - 1])]
}

fn row(what: &str, n: usize, times: Vec<Duration>) -> String {
    let [median, p90, min, max] = summary(times);
    format!("| {what} | {n} | {median:.2} ms | {p90:.2} ms | {min:.2} ms | {max:.2} ms |")
}

fn git_repo(dir: &Path) {
    let status = Command::new("git").args(["init", "-q"]).current_dir(dir).status().unwrap();
    assert!(status.success());
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let tasks = env_number("ORCA_BENCH_TASKS", 10_000);
    let rounds = env_number("ORCA_BENCH_ROUNDS", 200);
    let tm_rounds = env_number("ORCA_BENCH_TASKMASTER_ROUNDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git_repo(&repo);

    let plan = orca().args(["plan", "synth", "--tasks", &tasks.to_string()]).output().unwrap();
    std::fs::write(repo.join("plan.md"), &plan.stdout).unwrap();
    let (load, _) = timed(orca().args(["task", "load", "plan.md"]).current_dir(&repo));

    let mut claim = Vec::with_capacity(rounds);
    let mut done = Vec::with_capacity(rounds);
    let mut peek = Vec::with_capacity(rounds);
    let mut start = Vec::with_capacity(rounds);
    for round in 0..rounds + 5 {
        let (t_start, _) = timed(orca().arg("version").current_dir(&repo));
        let (t_peek, _) = timed(orca().args(["task", "next"]).current_dir(&repo));
        let (t_claim, out) = timed(
            orca().args(["task", "next", "--claim", "--as", "bench", "--json"]).current_dir(&repo),
        );
        let next: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(next["outcome"], "claimed", "{next}");
        let key = next["task"]["key"].as_str().unwrap().to_owned();
        let (t_done, _) =
            timed(orca().args(["task", "done", &key, "--as", "bench"]).current_dir(&repo));
        if round >= 5 {
            // The first rounds warm the page cache.
            start.push(t_start);
            peek.push(t_peek);
            claim.push(t_claim);
            done.push(t_done);
        }
    }

    println!(
        "plan: {tasks} tasks (orca plan synth), loaded in {:.0} ms",
        load.as_secs_f64() * 1000.0
    );
    println!();
    println!("| command | runs | median | p90 | min | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("{}", row("`orca task next --claim --as NAME`", rounds, claim));
    println!("{}", row("`orca task next` (no claim)", rounds, peek));
    println!("{}", row("`orca task done ID --as NAME`", rounds, done));
    println!("{}", row("`orca version` (process start, no store)", rounds, start));

    let crowded = claims_beside_other_sessions(&repo, rounds);
    println!(
        "{}",
        row("`orca task next --claim` beside 4 sessions holding tasks", rounds, crowded)
    );

    let (claim_tool, complete_tool) = over_mcp(&repo, rounds);
    println!("{}", row("MCP `claim_task` (one `orca mcp` process)", rounds, claim_tool));
    println!("{}", row("MCP `complete_task`", rounds, complete_tool));

    if let Some(task_master) = std::env::var_os("ORCA_BENCH_TASKMASTER").map(PathBuf::from) {
        let tm = dir.path().join("taskmaster");
        std::fs::create_dir_all(tm.join(".taskmaster/tasks")).unwrap();
        git_repo(&tm);
        let json = orca()
            .args(["plan", "synth", "--tasks", &tasks.to_string(), "--format", "taskmaster"])
            .output()
            .unwrap();
        std::fs::write(tm.join(".taskmaster/tasks/tasks.json"), &json.stdout).unwrap();
        let mut times = Vec::with_capacity(tm_rounds);
        for round in 0..tm_rounds + 1 {
            let (t, out) = timed(Command::new(&task_master).arg("next").current_dir(&tm));
            assert!(
                String::from_utf8_lossy(&out).contains("Next Task"),
                "task-master next found nothing"
            );
            if round >= 1 {
                times.push(t);
            }
        }
        println!("{}", row("`task-master next` (Task Master, same plan)", tm_rounds, times));
    }
}

/// Claims while four other sessions hold a task each, as when several
/// agents work the queue: every claim then reads the running tasks' files
/// and skips ready tasks that share them.
fn claims_beside_other_sessions(repo: &Path, rounds: usize) -> Vec<Duration> {
    for other in ["other-1", "other-2", "other-3", "other-4"] {
        timed(orca().args(["task", "next", "--claim", "--as", other]).current_dir(repo));
    }
    let mut claims = Vec::with_capacity(rounds);
    for round in 0..rounds + 5 {
        let (t_claim, out) = timed(
            orca().args(["task", "next", "--claim", "--as", "bench", "--json"]).current_dir(repo),
        );
        let next: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(next["outcome"], "claimed", "{next}");
        let key = next["task"]["key"].as_str().unwrap();
        timed(orca().args(["task", "done", key, "--as", "bench"]).current_dir(repo));
        if round >= 5 {
            claims.push(t_claim);
        }
    }
    claims
}

/// The same loop through one long-lived `orca mcp` (a second session on the
/// same queue): JSON-RPC lines on its stdin and stdout, timed per tool call.
fn over_mcp(repo: &Path, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    use std::io::{BufRead, BufReader, Write};
    let mut child = orca()
        .args(["mcp", "--as", "bench-mcp"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut id = 0;
    let mut call = |method: &str, params: serde_json::Value| -> serde_json::Value {
        id += 1;
        let request =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(stdin, "{request}").unwrap();
        if method == "initialize" {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            writeln!(
                stdin,
                "{}",
                serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
            )
            .unwrap();
            return serde_json::from_str(&line).unwrap();
        }
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    };
    call(
        "initialize",
        serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );
    let (mut claims, mut completes) = (Vec::new(), Vec::new());
    for round in 0..rounds + 5 {
        let started = Instant::now();
        let claimed =
            call("tools/call", serde_json::json!({"name": "claim_task", "arguments": {}}));
        let t_claim = started.elapsed();
        let text = claimed["result"]["content"][0]["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with("claimed "), "{text}");
        let key = text.lines().nth(1).unwrap().split(':').next().unwrap().to_owned();
        let started = Instant::now();
        let done = call(
            "tools/call",
            serde_json::json!({"name": "complete_task", "arguments": {"id": key}}),
        );
        let t_done = started.elapsed();
        assert_eq!(done["result"]["isError"], false, "{done}");
        if round >= 5 {
            claims.push(t_claim);
            completes.push(t_done);
        }
    }
    drop(stdin);
    child.wait().unwrap();
    (claims, completes)
}
