//! `orca plan next FILE [--done ID,...] [--running ID,...] [--failed ID,...]`

use std::collections::HashMap;
use std::path::PathBuf;

use orca_plan::{HoldReason, PlanGraph, TaskIndex, TaskState};

use super::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct NextArgs {
    /// The plan file (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Tasks already done (comma-separated IDs; may repeat).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    done: Vec<String>,

    /// Tasks running now.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    running: Vec<String>,

    /// Tasks that failed (their dependents are blocked).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    failed: Vec<String>,

    /// Free agent slots: start at most this many tasks.
    #[arg(long, value_name = "N")]
    slots: Option<usize>,

    #[command(flatten)]
    input: PlanInputArgs,
}

/// Resolves the IDs given on the command line into task states.
fn states(
    args: &NextArgs,
    graph: &PlanGraph,
    file: &str,
) -> Result<HashMap<TaskIndex, TaskState>, Failure> {
    let mut states = HashMap::new();
    for (flag, ids, state) in [
        ("--done", &args.done, TaskState::Done),
        ("--running", &args.running, TaskState::Running),
        ("--failed", &args.failed, TaskState::Failed),
    ] {
        for id in ids.iter().map(|id| id.trim()).filter(|id| !id.is_empty()) {
            let Some(task) = graph.index_of(id) else {
                let all = graph.indices().map(|t| graph.id(t).as_str());
                let failure =
                    Failure::usage(format!("`{id}` (given to {flag}) is not a task in {file}"));
                return Err(match orca_plan::diagnostic::closest(id, all, usize::MAX) {
                    Some(similar) => failure.with_hint(format!("did you mean `{similar}`?")),
                    None => failure.with_hint(format!("`orca plan show {file}` lists the tasks")),
                });
            };
            if let Some(previous) = states.insert(task, state)
                && previous != state
            {
                return Err(Failure::usage(format!("`{id}` is given two different states"))
                    .with_hint("list each task in at most one of --done, --running, --failed"));
            }
        }
    }
    Ok(states)
}

pub(crate) fn run(args: &NextArgs, out: &Output) -> Result<ExitCode, Failure> {
    let loaded = load(&args.file, &args.input)?;
    let graph = match loaded.require_valid(&args.input, out) {
        Ok(graph) => graph,
        Err(code) => return Ok(code),
    };
    let plan = &loaded.checked.plan;
    let states = states(args, graph, &loaded.source.name)?;
    // A task the plan marks `status: done` is done unless told otherwise.
    let state = |t: TaskIndex| {
        states.get(&t).copied().unwrap_or(if plan.tasks[t.index()].status.is_done() {
            TaskState::Done
        } else {
            TaskState::Pending
        })
    };
    let dispatch = graph.dispatch(state, args.slots.unwrap_or(usize::MAX));
    let blocked = graph.blocked_by_failure(state);
    let count = |s: TaskState| graph.indices().filter(|&t| state(t) == s).count();
    let (done, running, failed) =
        (count(TaskState::Done), count(TaskState::Running), count(TaskState::Failed));
    let id = |t: TaskIndex| graph.id(t).as_str().to_owned();

    // Ready tasks, in dispatch order, each with whether to start it.
    let mut ready: Vec<(TaskIndex, Option<HoldReason>)> =
        dispatch.start.iter().map(|&t| (t, None)).collect();
    ready.extend(dispatch.held.iter().map(|&(t, reason)| (t, Some(reason))));
    ready.sort_by_key(|&(t, _)| graph.dispatch_key(t));

    if out.is_json() {
        let entries: Vec<serde_json::Value> = ready
            .iter()
            .map(|&(t, hold)| {
                let key = graph.dispatch_key(t);
                serde_json::json!({
                    "id": id(t),
                    "title": plan.tasks[t.index()].title,
                    "start": hold.is_none(),
                    "held": hold.map(|h| match h {
                        HoldReason::FileConflict(other) => serde_json::json!({ "reason": "file_conflict", "task": id(other) }),
                        HoldReason::NoSlot => serde_json::json!({ "reason": "no_slot" }),
                    }),
                    "remaining_path": key.remaining_path(),
                    "priority": key.priority(),
                    "dependents": key.dependents(),
                })
            })
            .collect();
        out.json(&serde_json::json!({
            "ready": entries,
            "blocked": blocked.iter().map(|&t| id(t)).collect::<Vec<_>>(),
            "counts": {
                "total": graph.len(),
                "done": done,
                "running": running,
                "failed": failed,
                "pending": graph.len() - done - running - failed,
            },
        }));
        return Ok(ExitCode::Success);
    }

    let mut text = String::new();
    if done == graph.len() {
        text.push_str(&format!("all {} tasks are done", graph.len()));
    } else if ready.is_empty() {
        text.push_str("nothing can start now");
        if running > 0 {
            text.push_str(": waiting for the running tasks to finish");
        } else if !blocked.is_empty() {
            text.push_str(": every remaining task waits on a failed task");
        }
        text.push('\n');
    } else {
        text.push_str("ready, in dispatch order:\n");
        let width = ready.iter().map(|&(t, _)| graph.id(t).as_str().len()).max().unwrap_or(0);
        for &(t, hold) in &ready {
            let key = graph.dispatch_key(t);
            let action = match hold {
                None => "start".to_owned(),
                Some(HoldReason::FileConflict(other)) => {
                    format!("wait (shares files with {})", graph.id(other))
                }
                Some(HoldReason::NoSlot) => "wait (no free slot)".to_owned(),
            };
            text.push_str(&format!(
                "  {:<width$}  {}  [remaining path {}, priority {}, unblocks {}]  {action}\n",
                graph.id(t).as_str(),
                plan.tasks[t.index()].title,
                super::show::length(graph.weights(), key.remaining_path()),
                plan.tasks[t.index()].priority,
                key.dependents(),
            ));
        }
    }
    if !blocked.is_empty() {
        let shown: Vec<String> = blocked.iter().take(20).map(|&t| id(t)).collect();
        let more = if blocked.len() > 20 {
            format!(" and {} more", blocked.len() - 20)
        } else {
            String::new()
        };
        text.push_str(&format!("blocked by failed tasks: {}{more}\n", shown.join(", ")));
    }
    if done < graph.len() {
        text.push_str(&format!(
            "{done} done, {running} running, {failed} failed, {} pending of {}",
            graph.len() - done - running - failed,
            graph.len()
        ));
    }
    out.text(text.trim_end());
    Ok(ExitCode::Success)
}
