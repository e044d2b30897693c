//! `orca status`: a run's stage and every task's state, attempts, lease
//! holder and lease age.

use orca_engine::budget::{Limit, Spend, grouped};
use orca_report::{Usage, UsageTotals, compact};
use orca_store::{
    OpenError, RunId, RunStatus, StageState, StageStatus, StoreOptions, TaskState, TaskStatus,
    Worker,
};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Show this run instead of this repository's latest one.
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: `[store] url` of .orca/config.toml, else .orca/orca.db in
    /// the repository's main worktree]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

/// What `orca status` found.
enum Found {
    Run(Box<RunStatus>, Vec<Worker>, UsageTotals, Limit),
    /// No run in this repository yet (or no store at all).
    NoRuns,
}

pub(crate) fn run(args: &StatusArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let found = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => {
                crate::output::store_notices(&store);
                store
            }
            // The repository's own store appears with its first run.
            Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
                return Ok(Found::NoRuns);
            }
            Err(error) => return Err(open_failure(&error)),
        };
        let run = match &args.run {
            Some(id) => RunId::from(id.as_str()),
            None => {
                let scope = workspace.run_scope(repo.as_ref());
                match store.latest_run_in(scope, &[]).await.map_err(|e| store_failure(&e))? {
                    Some(run) => run.id,
                    None => {
                        store.close().await;
                        return Ok(Found::NoRuns);
                    }
                }
            }
        };
        let status = store.run_status(&run).await.map_err(|e| store_failure(&e));
        let workers = store.workers().await.map_err(|e| store_failure(&e));
        let attempts = store.run_attempts(&run).await.map_err(|e| store_failure(&e));
        let latest = store.latest_agent_events(&run).await.map_err(|e| store_failure(&e));
        let budget =
            Limit::for_run(&store, &run, workspace.config()).await.map_err(|e| store_failure(&e));
        store.close().await;
        let status = status?;
        let usage = UsageTotals::of_attempts(
            attempts?.iter().map(|(task, a)| (task.as_str(), a)),
            &latest?,
        );
        // Workers and agent sessions that were active while this run was.
        let workers: Vec<Worker> = workers?
            .into_iter()
            .filter(|worker| worker.last_seen_ms >= status.run.created_ms)
            .collect();
        Ok(Found::Run(Box::new(status), workers, usage, budget?))
    })?;
    match found {
        Found::NoRuns => {
            if out.is_json() {
                out.json(
                    &serde_json::json!({ "run": null, "stages": [], "tasks": [], "workers": [] }),
                );
            } else {
                let place =
                    if workspace.root().is_some() { "this repository" } else { "this store" };
                out.text(format!(
                    "no runs yet in {place}\nstart one with `orca run \"GOAL\"` (or `orca run --plan \
                     PLAN`), or load a plan for agent sessions with `orca task load PLAN`"
                ));
            }
        }
        Found::Run(status, workers, usage, budget) => {
            // Each gate's failing findings at each check, when the run's
            // directory is here.
            let run_dir = workspace.layout().map(|layout| layout.run_dir(status.run.id.as_str()));
            let gates: std::collections::BTreeMap<String, Vec<orca_report::GateCheck>> = status
                .stages
                .iter()
                .filter_map(|stage| {
                    let checks = orca_report::gate_checks(run_dir.as_deref()?, stage.stage);
                    (!checks.is_empty()).then(|| (stage.stage.to_string(), checks))
                })
                .collect();
            if out.is_json() {
                out.json(&StatusJson {
                    status: &status,
                    workers: &workers,
                    gates: &gates,
                    usage: &usage,
                    budget: BudgetJson::of(&budget, &usage),
                });
            } else {
                out.text(render(&status, &workers, &gates, &usage, &budget));
            }
        }
    }
    Ok(ExitCode::Success)
}

/// `orca status --json`: the run's status plus its workers.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    status: &'a RunStatus,
    workers: &'a [Worker],
    /// Per gate, its findings at each check (before and after fix rounds).
    gates: &'a std::collections::BTreeMap<String, Vec<orca_report::GateCheck>>,
    /// Tokens and cost of the attempts that ended, for the run, per agent
    /// and per task.
    usage: &'a UsageTotals,
    /// The run's budget and what counts against it; null without one.
    budget: Option<BudgetJson>,
}

#[derive(serde::Serialize)]
struct BudgetJson {
    tokens: Option<u64>,
    usd: Option<f64>,
    spent_tokens: u64,
    spent_usd: f64,
    /// Nothing new starts until a higher budget is given.
    exceeded: bool,
}

impl BudgetJson {
    fn of(limit: &Limit, usage: &UsageTotals) -> Option<BudgetJson> {
        (!limit.is_unlimited()).then(|| BudgetJson {
            tokens: limit.tokens,
            usd: limit.usd,
            spent_tokens: usage.run.budget_tokens(),
            spent_usd: usage.run.cost_usd,
            exceeded: limit.exceeded(spent(usage)).is_some(),
        })
    }
}

fn spent(usage: &UsageTotals) -> Spend {
    Spend { tokens: usage.run.budget_tokens(), usd: usage.run.cost_usd }
}

/// `budget: 2,100 of 3,000 tokens; $0.42 of $5` and, once it is spent, what
/// to do.
fn budget_line(limit: &Limit, usage: &UsageTotals) -> Option<String> {
    if limit.is_unlimited() {
        return None;
    }
    let spend = spent(usage);
    let mut parts = Vec::new();
    if let Some(tokens) = limit.tokens {
        parts.push(format!("{} of {} tokens", grouped(spend.tokens), grouped(tokens)));
    }
    if let Some(usd) = limit.usd {
        parts.push(format!("${:.2} of ${usd}", spend.usd));
    }
    let mut line = format!("budget: {}", parts.join("; "));
    if limit.exceeded(spend).is_some() {
        line.push_str(
            " — spent: nothing new starts; `orca resume --budget-usd N` or `--budget-tokens N` \
             with a higher limit continues",
        );
    }
    Some(line)
}

/// The human view of a run's status.
fn render(
    status: &RunStatus,
    workers: &[Worker],
    gates: &std::collections::BTreeMap<String, Vec<orca_report::GateCheck>>,
    usage: &UsageTotals,
    budget: &Limit,
) -> String {
    let mut lines = Vec::new();
    let run = &status.run;
    lines.push(format!("run {}: {} ({})", run.id, run.title, run.state));
    let current = status
        .stages
        .iter()
        .find(|s| Some(s.stage) == run.stage)
        .map_or_else(|| "not started".to_owned(), |s| format!("{} ({})", s.stage, s.state));
    lines.push(format!("stage: {current}"));
    lines.push("stages:".to_owned());
    for stage in &status.stages {
        let mut line = stage_line(stage, status.now_ms);
        if let Some(checks) = gates.get(stage.stage.as_str()).filter(|checks| checks.len() > 1) {
            line.push_str(&format!(" [failing: {}]", orca_report::before_after(checks)));
        }
        lines.push(line);
    }
    let counts: Vec<String> = TaskState::ALL
        .iter()
        .filter_map(|&state| {
            let n = status.count(state);
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    lines.push(format!("tasks: {} total: {}", status.tasks.len(), counts.join(", ")));
    if !usage.run.is_empty() {
        let agents: Vec<String> = usage
            .agents
            .iter()
            .filter(|(_, usage)| !usage.is_empty())
            .map(|(agent, usage)| format!("{agent} {}", usage.describe()))
            .collect();
        lines.push(format!("usage: {} ({})", usage.run.describe(), agents.join("; ")));
    }
    lines.extend(budget_line(budget, usage));
    for worker in workers {
        lines.push(worker_line(worker, status));
    }
    if status.tasks.is_empty() {
        return lines.join("\n");
    }
    lines.push(String::new());

    let header = ["TASK", "STATE", "ATTEMPT", "TRIES", "TOKENS", "LEASE", "DEPS"];
    let rows: Vec<[String; 7]> = status
        .tasks
        .iter()
        .map(|task| task_row(task, usage.tasks.get(&task.key), status.now_ms))
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    lines.push(table_line(&header.map(str::to_owned), &widths));
    for (row, task) in rows.iter().zip(&status.tasks) {
        lines.push(table_line(row, &widths));
        if let Some(note) = task_note(task) {
            lines.push(format!("  {note}"));
        }
    }
    lines.join("\n")
}

/// `worker s1 on host-a, last seen 3s ago, holds T03` (an agent session
/// has no process of its own: pid 0).
fn worker_line(worker: &Worker, status: &RunStatus) -> String {
    let kind = if worker.pid == 0 { "session" } else { "worker" };
    let held: Vec<&str> = status
        .tasks
        .iter()
        .filter(|t| t.lease.as_ref().is_some_and(|l| l.worker == worker.id))
        .map(|t| t.key.as_str())
        .collect();
    let holds =
        if held.is_empty() { String::new() } else { format!(", holds {}", held.join(", ")) };
    let host = if worker.host.is_empty() { String::new() } else { format!(" on {}", worker.host) };
    format!(
        "{kind} {}{host}, last seen {} ago{holds}",
        worker.id,
        duration(status.now_ms - worker.last_seen_ms)
    )
}

/// `  implement   running   1m05s` and, below, why it ended so.
fn stage_line(stage: &StageStatus, now_ms: i64) -> String {
    let took = match (stage.state, stage.started_ms, stage.finished_ms) {
        (StageState::Skipped, ..) => String::new(),
        (_, Some(start), Some(end)) => duration(end - start),
        (StageState::Running, Some(start), None) => format!("{} so far", duration(now_ms - start)),
        _ => String::new(),
    };
    let mut line = format!("  {:<10} {:<8} {took}", stage.stage.as_str(), stage.state.as_str());
    if stage.rounds > 0 {
        line.push_str(&format!(
            " ({} fix round{})",
            stage.rounds,
            if stage.rounds == 1 { "" } else { "s" }
        ));
    }
    let mut line = line.trim_end().to_owned();
    if let Some(note) = stage.note.as_deref().filter(|note| !note.is_empty()) {
        let first = note.lines().next().unwrap_or("");
        line.push_str(&format!(" — {}", shorten(first, 100)));
    }
    line
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn task_row(task: &TaskStatus, usage: Option<&Usage>, now_ms: i64) -> [String; 7] {
    let lease = task.lease.as_ref().map_or_else(
        || "-".to_owned(),
        |lease| {
            let expiry = if lease.expires_in_ms >= 0 {
                format!("expires in {}", duration(lease.expires_in_ms))
            } else {
                format!("expired {} ago", duration(-lease.expires_in_ms))
            };
            format!("{}, held {}, {expiry}", lease.worker, duration(lease.age_ms))
        },
    );
    let deps = if task.deps.is_empty() { "-".to_owned() } else { task.deps.join(",") };
    [
        task.key.clone(),
        match task.state {
            // Ready, but not claimable before its retry backoff ends.
            TaskState::Ready if task.run_after_ms > now_ms => {
                format!("ready (retry in {})", duration(task.run_after_ms - now_ms))
            }
            state => state.to_string(),
        },
        if task.attempt == 0 { "-".to_owned() } else { format!("#{}", task.attempt) },
        format!("{}/{}", task.tries, task.max_attempts),
        match usage.filter(|usage| !usage.is_empty()) {
            Some(usage) if usage.cost_usd > 0.0 => {
                format!("{} ${:.2}", compact(usage.tokens()), usage.cost_usd)
            }
            Some(usage) => compact(usage.tokens()),
            None => "-".to_owned(),
        },
        lease,
        deps,
    ]
}

fn task_note(task: &TaskStatus) -> Option<String> {
    let first_line = |text: &str| {
        let line = text.lines().next().unwrap_or("");
        if line.chars().count() > 120 {
            format!("{}…", line.chars().take(120).collect::<String>())
        } else {
            line.to_owned()
        }
    };
    match task.state {
        TaskState::Blocked => {
            task.blocked_reason.as_deref().map(|r| format!("blocked: {}", first_line(r)))
        }
        TaskState::Succeeded | TaskState::Cancelled => None,
        _ => task.last_error.as_deref().map(|e| format!("last error: {}", first_line(e))),
    }
}

fn table_line(cells: &[String; 7], widths: &[usize; 7]) -> String {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$}  "));
        }
    }
    line.trim_end().to_owned()
}

/// `850ms`, `12s`, `3m05s`, `2h07m`.
pub(super) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    if secs == 0 {
        format!("{ms}ms")
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_400), "12s");
        assert_eq!(duration(185_000), "3m05s");
        assert_eq!(duration(7_620_000), "2h07m");
        assert_eq!(duration(-5), "0ms");
    }
}
