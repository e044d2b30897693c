//! `orca plan show FILE`

use std::fmt::Write;
use std::path::PathBuf;

use orca_config::Config;
use orca_engine::profiles::routed_agent;
use orca_plan::{CriticalPath, Plan, PlanGraph, Task, TaskIndex, Weights, format_duration};

use super::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The plan file (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    #[command(flatten)]
    input: PlanInputArgs,
}

/// A path length in its unit: `7h30m`, `12 points`, `5 tasks`.
pub(super) fn length(weights: Weights, length: u64) -> String {
    match weights {
        Weights::Seconds => format_duration(length),
        Weights::Points => format!("{length} point{}", if length == 1 { "" } else { "s" }),
        Weights::Unit => format!("{length} task{}", if length == 1 { "" } else { "s" }),
    }
}

fn path_text(graph: &PlanGraph, path: &CriticalPath) -> String {
    path.tasks.iter().map(|&t| graph.id(t).as_str()).collect::<Vec<_>>().join(" → ")
}

pub(crate) fn run(args: &ShowArgs, out: &Output) -> Result<ExitCode, Failure> {
    let loaded = load(&args.file, &args.input)?;
    let graph = match loaded.require_valid(&args.input, out) {
        Ok(graph) => graph,
        Err(code) => return Ok(code),
    };
    let plan = &loaded.checked.plan;
    // Routing follows this repository's config; outside one, the defaults.
    let config = orca_workspace::Workspace::discover(None)
        .map(|workspace| workspace.config().clone())
        .unwrap_or_default();
    let critical = graph.critical_path();
    let parallelism = graph.max_parallelism();
    let waves = graph.waves();
    let id = |t: &TaskIndex| graph.id(*t).as_str().to_owned();
    // Pairs joined by a dependency path never run together anyway.
    let pairs = graph.conflict_pairs();
    let unordered: Vec<(TaskIndex, TaskIndex)> = pairs
        .iter()
        .zip(graph.ordered(pairs))
        .filter(|(_, ordered)| !ordered)
        .map(|(pair, _)| *pair)
        .collect();
    if out.is_json() {
        let tasks: Vec<serde_json::Value> = graph
            .indices()
            .map(|t| {
                let task = &plan.tasks[t.index()];
                serde_json::json!({
                    "id": task.id,
                    "title": task.title,
                    "phase": task.phase.map(|p| plan.phases[p].title.clone()),
                    "role": task.role,
                    "agent": routed(&config, task).0,
                    "model": routed(&config, task).1,
                    "status": task.status,
                    // Done work is in no wave: null.
                    "wave": graph.wave_of(t).map(|w| w + 1),
                    "priority": task.priority,
                    "estimate": task.estimate,
                    "deps": task.deps,
                    "remaining_path": graph.remaining_path(t),
                })
            })
            .collect();
        out.json(&serde_json::json!({
            "file": loaded.source.name,
            "title": plan.title,
            "phases": plan.phases.iter().map(|p| p.title.clone()).collect::<Vec<_>>(),
            "tasks": tasks,
            "waves": waves.iter().map(|w| w.iter().map(id).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "critical_path": {
                "tasks": critical.tasks.iter().map(id).collect::<Vec<_>>(),
                "length": critical.length,
                "weights": critical.weights,
            },
            "max_parallelism": {
                "agents": parallelism.agents,
                "tasks": parallelism.tasks.iter().map(id).collect::<Vec<_>>(),
            },
            "conflicts": unordered.iter().map(|(a, b)| [id(a), id(b)]).collect::<Vec<_>>(),
            "warnings": loaded.source().locate(&loaded.checked.diagnostics),
        }));
        return Ok(ExitCode::Success);
    }
    out.text(summary(
        &loaded.source.name,
        &config,
        plan,
        graph,
        &critical,
        &parallelism,
        &waves,
        &unordered,
    ));
    Ok(ExitCode::Success)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The agent and model that would do `task` in a run: its own `agent:`,
/// else `[roles.<role>]`, else `[run] agent`; the model from the role's
/// route, else the agent's own.
fn routed<'a>(config: &'a Config, task: &'a Task) -> (&'a str, Option<&'a str>) {
    let agent = routed_agent(&config.roles, &task.role, task.agent.as_deref(), &config.run.agent);
    let model = config
        .roles
        .model_for(&task.role)
        .or_else(|| config.agents.get(agent).and_then(|a| a.model.as_deref()));
    (agent, model)
}

#[expect(clippy::too_many_arguments, reason = "one summary of everything computed above")]
fn summary(
    name: &str,
    config: &Config,
    plan: &Plan,
    graph: &PlanGraph,
    critical: &CriticalPath,
    parallelism: &orca_plan::Parallelism,
    waves: &[Vec<TaskIndex>],
    pairs: &[(TaskIndex, TaskIndex)],
) -> String {
    let mut text = String::new();
    let ids =
        |ts: &[TaskIndex]| ts.iter().map(|&t| graph.id(t).as_str()).collect::<Vec<_>>().join(", ");
    let _ = writeln!(text, "Plan: {}", plan.title);
    let phases = if plan.phases.is_empty() {
        String::new()
    } else {
        format!(" in {}", plural(plan.phases.len(), "phase"))
    };
    let done = plan.tasks.iter().filter(|t| t.status.is_done()).count();
    let done = if done == 0 { String::new() } else { format!(" ({done} done)") };
    let _ = writeln!(
        text,
        "  {name}: {}{done}{phases}, {}",
        plural(plan.tasks.len(), "task"),
        plural(waves.len(), "wave")
    );
    let _ = writeln!(
        text,
        "  up to {} at once: {}",
        plural(parallelism.agents, "agent"),
        ids(&parallelism.tasks)
    );
    let by = match critical.weights {
        Weights::Unit => "counting tasks",
        _ => "by estimate",
    };
    let _ = writeln!(
        text,
        "  critical path ({by}): {}: {}",
        length(critical.weights, critical.length),
        path_text(graph, critical)
    );

    let header = ["ID", "WAVE", "ROLE", "AGENT", "PRIORITY", "ESTIMATE", "TITLE", "DEPS"];
    let rows: Vec<(Option<usize>, [String; 8])> = graph
        .indices()
        .map(|t| {
            let task = &plan.tasks[t.index()];
            let deps = if task.deps.is_empty() {
                "-".to_owned()
            } else {
                task.deps.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
            };
            let title: String = if task.title.chars().count() > 60 {
                format!("{}…", task.title.chars().take(59).collect::<String>())
            } else {
                task.title.clone()
            };
            (
                task.phase,
                [
                    task.id.to_string(),
                    // Done work has no wave to run in.
                    graph.wave_of(t).map_or_else(|| "done".to_owned(), |w| (w + 1).to_string()),
                    task.role.clone(),
                    match routed(config, task) {
                        (agent, Some(model)) => format!("{agent} ({model})"),
                        (agent, None) => agent.to_owned(),
                    },
                    task.priority.to_string(),
                    task.estimate.map_or_else(|| "-".to_owned(), |e| e.to_string()),
                    title,
                    deps,
                ],
            )
        })
        .collect();
    let cells: Vec<[String; 8]> = rows.iter().map(|(_, row)| row.clone()).collect();
    let widths = crate::columns::widths(&header.map(str::to_owned), &cells);
    let line = |cells: &[String]| format!("  {}", crate::columns::line(cells, &widths));
    let mut current_phase = None;
    text.push_str("\nTasks\n");
    let _ = writeln!(text, "{}", line(&header.map(str::to_owned)));
    for (phase, row) in &rows {
        if *phase != current_phase {
            current_phase = *phase;
            if let Some(p) = phase {
                let _ = writeln!(text, "  {}", plan.phases[*p].title);
            }
        }
        let _ = writeln!(text, "{}", line(row));
    }
    text.push_str("\nWaves\n");
    let digits = waves.len().to_string().len();
    for (i, wave) in waves.iter().enumerate() {
        let _ = writeln!(text, "  {:>digits$}  {}", i + 1, ids(wave));
    }
    if !pairs.is_empty() {
        let _ = writeln!(text, "\nShared files, no order between them (run one at a time)");
        for (a, b) in pairs.iter().take(50) {
            let _ = writeln!(text, "  {} · {}", graph.id(*a), graph.id(*b));
        }
        if pairs.len() > 50 {
            let _ = writeln!(text, "  … and {} more pairs", pairs.len() - 50);
        }
    }
    text.trim_end().to_owned()
}
