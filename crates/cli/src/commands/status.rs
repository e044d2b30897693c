//! `orca status`: a run's stage and every task's state, attempts, lease
//! holder and lease age.

use orca_store::{RunId, RunStatus, Store, TaskState, TaskStatus, Worker};

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;
use crate::store_failure::{open_failure, store_failure};
use crate::store_url;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Show this run instead of the latest one.
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: .orca/orca.db at the top of the current git repository]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &StatusArgs, out: &Output) -> Result<ExitCode, Failure> {
    let (url, _) = store_url::resolve(args.store.as_deref())?;
    let status = store_url::runtime()?.block_on(async {
        let store = Store::open_existing(&url).await.map_err(|e| open_failure(&e))?;
        let run = match &args.run {
            Some(id) => RunId::from(id.as_str()),
            None => match store.latest_run().await.map_err(|e| store_failure(&e))? {
                Some(run) => run.id,
                None => {
                    return Err(Failure::failed("the store has no runs yet")
                        .with_hint("a run appears here once `orca run` has loaded a plan"));
                }
            },
        };
        let status = store.run_status(&run).await.map_err(|e| store_failure(&e));
        let workers = store.workers().await.map_err(|e| store_failure(&e));
        store.close().await;
        let status = status?;
        // Workers and agent sessions that were active while this run was.
        let workers: Vec<Worker> = workers?
            .into_iter()
            .filter(|worker| worker.last_seen_ms >= status.run.created_ms)
            .collect();
        Ok((status, workers))
    })?;
    let (status, workers) = status;
    if out.is_json() {
        out.json(&StatusJson { status: &status, workers: &workers });
    } else {
        out.text(render(&status, &workers));
    }
    Ok(ExitCode::Success)
}

/// `orca status --json`: the run's status plus its workers.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    status: &'a RunStatus,
    workers: &'a [Worker],
}

/// The human view of a run's status.
pub(crate) fn render(status: &RunStatus, workers: &[Worker]) -> String {
    let mut lines = Vec::new();
    let run = &status.run;
    lines.push(format!("run {}: {} ({})", run.id, run.title, run.state));
    let current = status
        .stages
        .iter()
        .find(|s| Some(s.stage) == run.stage)
        .map_or_else(|| "not started".to_owned(), |s| format!("{} ({})", s.stage, s.state));
    lines.push(format!("stage: {current}"));
    let stages: Vec<String> =
        status.stages.iter().map(|s| format!("{}:{}", s.stage, s.state)).collect();
    lines.push(format!("stages: {}", stages.join(" ")));
    let counts: Vec<String> = TaskState::ALL
        .iter()
        .filter_map(|&state| {
            let n = status.count(state);
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    lines.push(format!("tasks: {} total: {}", status.tasks.len(), counts.join(", ")));
    for worker in workers {
        lines.push(worker_line(worker, status));
    }
    if status.tasks.is_empty() {
        return lines.join("\n");
    }
    lines.push(String::new());

    let header = ["TASK", "STATE", "ATTEMPT", "TRIES", "LEASE", "DEPS"];
    let rows: Vec<[String; 6]> = status.tasks.iter().map(task_row).collect();
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

fn task_row(task: &TaskStatus) -> [String; 6] {
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
        task.state.to_string(),
        if task.attempt == 0 { "-".to_owned() } else { format!("#{}", task.attempt) },
        format!("{}/{}", task.tries, task.max_attempts),
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

fn table_line(cells: &[String; 6], widths: &[usize; 6]) -> String {
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
fn duration(ms: i64) -> String {
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
