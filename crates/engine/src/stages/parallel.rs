//! Stage 3, parallel: the plan becomes the run's tasks in the durable
//! queue (with priorities in dispatch order, critical path first), every
//! agent the plan names is checked, and the run's integration branch is
//! made at the commit the run started from.
//!
//! [`new_tasks`] is the one place a plan turns into store tasks, for
//! `orca run` and for `orca task load` alike.

use std::collections::BTreeSet;

use orca_agents::{Adapter, locate};
use orca_plan::{Plan, PlanGraph};
use orca_store::{NewRun, NewTask, RunId, Store};

use crate::error::{EngineError, UnusableAgent};
use crate::git_thread::on_git;
use crate::pipeline::transition::Outcome;
use crate::pipeline::{OpenWorkspace, Pipeline, PlanSummary, RunOptions};
use crate::profiles::{AgentProfiles, routed_agent};

/// The store tasks of a plan: one per plan task, with its dependencies,
/// the plan task itself as the spec, and a priority from dispatch order
/// (the first task to dispatch gets the highest number, so the store's
/// "highest priority first, then key" claims in the plan's order).
pub fn new_tasks(plan: &Plan, graph: &PlanGraph, max_attempts: u32) -> Vec<NewTask> {
    let mut order: Vec<_> = graph.indices().collect();
    graph.sort_for_dispatch(&mut order);
    let n = i64::try_from(order.len()).unwrap_or(i64::MAX);
    let mut priorities = vec![0; order.len()];
    for (rank, task) in order.iter().enumerate() {
        priorities[task.index()] = n - i64::try_from(rank).unwrap_or(n);
    }
    plan.tasks
        .iter()
        .zip(priorities)
        .map(|(task, priority)| NewTask {
            key: task.id.to_string(),
            deps: task.deps.iter().map(ToString::to_string).collect(),
            priority,
            max_attempts: i64::from(max_attempts.max(1)),
            spec_json: serde_json::to_string(task).unwrap_or_else(|_| "{}".to_owned()),
            done: task.status.is_done(),
        })
        .collect()
}

/// A new run holding `plan`'s tasks, driven as `mode` says.
pub fn new_run(
    plan: &Plan,
    graph: &PlanGraph,
    plan_path: Option<String>,
    mode: &str,
    max_attempts: u32,
) -> NewRun {
    NewRun {
        title: plan.title.clone(),
        plan_path,
        plan_json: orca_plan::to_json(plan).to_string(),
        mode: mode.to_owned(),
        tasks: new_tasks(plan, graph, max_attempts),
        repo: None,
        pipeline_json: None,
    }
}

/// The run's integration branch, created at the run's base when missing
/// (a run that starts after `parallel` needs it too).
pub(crate) async fn ensure_integration_branch(p: &Pipeline) -> Result<(), EngineError> {
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let integration = p.integration();
    on_git(&p.ws.repo, move |repo| {
        if repo.branch_exists(&integration)? {
            return Ok::<_, EngineError>(());
        }
        repo.create_branch(&integration, &base)?;
        Ok(())
    })
    .await
}

/// Why the run's agents cannot work, as a stage's failure; None when
/// every agent the plan needs can start.
pub(crate) async fn unusable_agents(p: &Pipeline, plan: &Plan) -> Option<Outcome> {
    match check_agents(&p.ws, &p.options, Some(plan)).await {
        Err(EngineError::AgentsUnusable(agents)) => {
            Some(Outcome::Failed { reason: EngineError::AgentsUnusable(agents).to_string() })
        }
        _ => None,
    }
}

/// The plan stored with a run.
pub(crate) async fn stored_plan(store: &Store, run: &RunId) -> Result<Plan, EngineError> {
    let stored = store.plan_json(run).await?;
    orca_plan::import::from_json(&stored)
        .map(|imported| imported.plan)
        .map_err(|error| EngineError::StoredPlan { run: run.clone(), source: Box::new(error) })
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let store = p.ws.store.clone();
    let plan = stored_plan(&store, &p.run).await?;
    let graph = match PlanGraph::new(&plan) {
        Ok(graph) => graph,
        Err(error) => {
            return Ok(Outcome::Failed {
                reason: format!("the run's plan is not a valid graph: {error}"),
            });
        }
    };
    if plan.tasks.is_empty() {
        return Ok(Outcome::Failed { reason: "the plan has no tasks".into() });
    }
    if let Some(failed) = unusable_agents(p, &plan).await {
        return Ok(failed);
    }
    // A plan the planner wrote joins the run now; a given plan came with it.
    let status = store.run_status(&p.run).await?;
    if status.tasks.is_empty() {
        let tasks = new_tasks(&plan, &graph, p.ws.config.run.max_attempts);
        store.add_tasks(&p.run, &tasks, None).await?;
    }
    ensure_integration_branch(p).await?;
    let summary = PlanSummary::of(&plan, &graph, p.run_dir().join("plan.md"));
    let conflicts = graph.conflict_pairs().len();
    let note = format!(
        "{} task(s) in {} wave(s); critical path {}; up to {} at once; {conflicts} file-conflict pair(s)",
        summary.tasks,
        summary.waves,
        summary.critical_path.join(" → "),
        summary.parallelism,
    );
    p.plan_summary = Some(summary);
    Ok(Outcome::Passed { note: Some(note) })
}

/// Checks that every agent the run needs can start: the default agent, the
/// planner for a goal (`plan` None), and each agent `plan` names. All
/// problems at once, before anything is created.
pub(crate) async fn check_agents(
    ws: &OpenWorkspace,
    options: &RunOptions,
    plan: Option<&Plan>,
) -> Result<(), EngineError> {
    let profiles = AgentProfiles::from_config(&ws.config, &ws.host)?;
    let default_agent = options.agent.clone().unwrap_or_else(|| ws.config.run.agent.clone());
    let roles = &ws.config.roles;
    let mut needed = BTreeSet::from([default_agent.clone()]);
    match plan {
        // Done tasks never run: their agents are not needed.
        Some(plan) => {
            needed.extend(plan.tasks.iter().filter(|task| !task.status.is_done()).map(|task| {
                routed_agent(roles, &task.role, task.agent.as_deref(), &default_agent).to_owned()
            }))
        }
        None => {
            let planner = ws.config.plan.agent.as_deref();
            needed.insert(routed_agent(roles, "planner", planner, &default_agent).to_owned());
        }
    }
    let mut unusable = Vec::new();
    for name in needed {
        let profile = profiles.get(&name)?;
        let adapter: &dyn Adapter = &*profile.adapter;
        let program = adapter.program().display().to_string();
        if locate(adapter.program(), ws.host.get("PATH")).is_none() {
            unusable.push(UnusableAgent {
                agent: name,
                program,
                problem: "not found on PATH".into(),
            });
            continue;
        }
        // A command agent is any program: asking it for `--version` could
        // do anything. The built-in CLIs answer it.
        if profile.config.adapter != orca_config::Adapter::Command {
            let probe = orca_agents::probe(adapter, &ws.host).await;
            if let Some(error) = probe.error {
                unusable.push(UnusableAgent { agent: name, program, problem: error });
            }
        }
    }
    if unusable.is_empty() { Ok(()) } else { Err(EngineError::AgentsUnusable(unusable)) }
}
