//! `orca run`: stages 3 (parallel) and 4 (implement) on the user's
//! repository, and `orca resume` for a run that was interrupted or killed.
//!
//! The [`dispatcher`] owns the run's state; each attempt runs in its own
//! worktree ([`attempt`]); verified attempts go through the merge queue
//! ([`merge`]) into the run's integration branch; [`recovery`] makes a
//! killed run whole again before it continues.

mod attempt;
mod context;
mod dispatcher;
mod events;
mod merge;
mod profiles;
mod recovery;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{HostEnv, Usage};
use orca_config::{Config, Layout, LayoutError};
use orca_git::{Repo, integration_branch};
use orca_plan::{Plan, PlanGraph};
use orca_store::{
    LockError, NewRun, NewTask, RunId, RunState, SessionLock, Stage, StageState, Store, StoreError,
};
use tokio::sync::mpsc;

pub use events::{RunEvent, TimedEvent, Totals};
pub use profiles::{AgentProfile, AgentProfiles, ProfileError};

use context::{RunContext, TaskMemory};
use dispatcher::Dispatcher;

use crate::schedule::{Caps, Schedule, ScheduledTask, dispatch_ranks};

/// The `mode` of runs that `orca run` drives (the store also holds runs
/// worked by agent sessions).
pub const RUN_MODE: &str = "orca-run";

/// The repository a run works on and what it works with.
#[derive(Debug)]
pub struct Workspace {
    pub repo: Arc<Repo>,
    pub layout: Layout,
    pub config: Config,
    pub store: Store,
    pub host: HostEnv,
}

/// Command-line overrides of `[run]` in the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub agents: Option<usize>,
    pub agent: Option<String>,
    pub keep_branches: Option<bool>,
    pub resolver: Option<bool>,
}

/// A validated plan to run.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// Where the plan came from, as the user named it.
    pub path: Option<String>,
    /// The plan file's text, kept with the run.
    pub text: String,
    pub plan: Plan,
    pub graph: PlanGraph,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every task merged.
    Completed,
    /// Some task failed for good; its dependents are blocked.
    Failed,
    /// Stopped by the user; `orca resume` continues.
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: RunId,
    pub outcome: RunOutcome,
    pub merged: usize,
    /// Tasks that failed for good, with the reason.
    pub failed: Vec<(String, String)>,
    /// Tasks that did not run, with the failed task that blocked them.
    pub blocked: Vec<(String, String)>,
    pub integration_branch: String,
    pub duration: Duration,
    pub usage: Usage,
    pub cost_usd: f64,
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("git: {0}")]
    Git(String),
    #[error("the repository has no commit yet; commit something first, the run starts from HEAD")]
    NoCommit,
    #[error(
        "no run to resume: the store has no run that `orca run` started and that is still going"
    )]
    NothingToResume,
    #[error("run {run} is {state}; there is nothing to resume")]
    AlreadyFinished { run: RunId, state: RunState },
    #[error(
        "run {run} was not started by `orca run` (mode `{mode}`); agent sessions work it with `orca task`"
    )]
    NotOrcaRun { run: RunId, mode: String },
    #[error("the plan stored with run {run} cannot be read back: {reason}")]
    StoredPlan { run: RunId, reason: String },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the run cannot make progress ({0}); this is a bug in orca")]
    Stuck(String),
}

/// Where the run's events go and where interrupts come from.
#[derive(Debug)]
pub struct RunChannels {
    pub events: mpsc::UnboundedSender<TimedEvent>,
    /// One message per Ctrl-C: the first stops gracefully, the second kills.
    pub interrupts: mpsc::UnboundedReceiver<()>,
}

/// Loads `plan` into the store as a new run and drives it.
pub async fn start(
    ws: Workspace,
    plan: PlanInput,
    options: &RunOptions,
    channels: RunChannels,
) -> Result<RunReport, RunError> {
    let lock = SessionLock::acquire(&ws.layout, ws.config.lease.ttl)?;
    let profiles = AgentProfiles::from_config(&ws.config, &ws.host)?;
    let default_agent = options.agent.clone().unwrap_or_else(|| ws.config.run.agent.clone());
    profiles.get(&default_agent)?;
    for task in &plan.plan.tasks {
        if let Some(agent) = &task.agent {
            profiles.get(agent)?;
        }
    }
    let head = attempt::blocking(&ws.repo, |repo| repo.head_commit().map_err(|e| e.to_string()))
        .await
        .map_err(|reason| {
            if reason.contains("unborn") || reason.contains("no commit") {
                RunError::NoCommit
            } else {
                RunError::Git(reason)
            }
        })?;

    let order = dispatch_ranks(&plan.graph);
    let count = plan.plan.tasks.len() as u64;
    let tasks = plan
        .plan
        .tasks
        .iter()
        .enumerate()
        .map(|(index, task)| NewTask {
            key: task.id.to_string(),
            deps: task.deps.iter().map(ToString::to_string).collect(),
            priority: i64::try_from(count - order[index]).unwrap_or(i64::MAX),
            max_attempts: i64::from(ws.config.run.max_attempts.max(1)),
            spec_json: serde_json::to_string(task).unwrap_or_default(),
        })
        .collect();
    let run = ws
        .store
        .create_run(&NewRun {
            title: plan.plan.title.clone(),
            plan_path: plan.path.clone(),
            plan_json: orca_plan::to_json(&plan.plan).to_string(),
            mode: RUN_MODE.to_owned(),
            tasks,
        })
        .await?;
    ws.store.set_stage(&run, Stage::Parallel, StageState::Passed).await?;
    ws.store.set_stage(&run, Stage::Implement, StageState::Running).await?;
    let integration = integration_branch(run.as_str());
    attempt::blocking(&ws.repo, {
        let (integration, head) = (integration.clone(), head.to_string());
        move |repo| repo.create_branch(&integration, &head).map(|_| ()).map_err(|e| e.to_string())
    })
    .await
    .map_err(RunError::Git)?;
    let run_dir = ws.layout.run_dir(run.as_str());
    std::fs::create_dir_all(&run_dir)
        .map_err(|source| RunError::Io { path: run_dir.clone(), source })?;
    let copy = run_dir.join("plan.md");
    std::fs::write(&copy, &plan.text).map_err(|source| RunError::Io { path: copy, source })?;

    let ctx =
        context(ws, run, integration, plan.plan, plan.graph, profiles, default_agent, options);
    let schedule = build_schedule(&ctx);
    let memory = vec![TaskMemory::default(); ctx.plan.tasks.len()];
    Dispatcher::new(
        Arc::new(ctx),
        schedule,
        memory,
        Vec::new(),
        channels.events,
        channels.interrupts,
        lock,
        false,
    )
    .run()
    .await
}

/// Continues `run` (default: the latest run `orca run` started that is
/// still going) after an interrupt, a crash or a `kill -9`.
pub async fn resume(
    ws: Workspace,
    run: Option<RunId>,
    options: &RunOptions,
    channels: RunChannels,
) -> Result<RunReport, RunError> {
    let lock = SessionLock::acquire(&ws.layout, ws.config.lease.ttl)?;
    let run = match run {
        Some(id) => ws.store.run(&id).await?,
        None => ws.store.latest_run().await?.ok_or(RunError::NothingToResume)?,
    };
    if run.mode != RUN_MODE {
        return Err(RunError::NotOrcaRun { run: run.id, mode: run.mode });
    }
    if run.state != RunState::Active {
        return Err(RunError::AlreadyFinished { run: run.id, state: run.state });
    }
    let stored = ws.store.plan_json(&run.id).await?;
    let plan = orca_plan::import::from_json(&stored)
        .map_err(|error| RunError::StoredPlan { run: run.id.clone(), reason: error.to_string() })?
        .plan;
    let graph = PlanGraph::new(&plan)
        .map_err(|error| RunError::StoredPlan { run: run.id.clone(), reason: error.to_string() })?;
    let profiles = AgentProfiles::from_config(&ws.config, &ws.host)?;
    let default_agent = options.agent.clone().unwrap_or_else(|| ws.config.run.agent.clone());
    profiles.get(&default_agent)?;
    let integration = integration_branch(run.id.as_str());
    let ctx = context(ws, run.id, integration, plan, graph, profiles, default_agent, options);
    let recovered = recovery::recover(&ctx).await?;
    let mut schedule = build_schedule(&ctx);
    recovery::replay(&ctx, &mut schedule, &recovered.states);
    Dispatcher::new(
        Arc::new(ctx),
        schedule,
        recovered.memory,
        recovered.pending_merges,
        channels.events,
        channels.interrupts,
        lock,
        true,
    )
    .run()
    .await
}

#[expect(clippy::too_many_arguments, reason = "one constructor for start and resume")]
fn context(
    ws: Workspace,
    run: RunId,
    integration: String,
    plan: Plan,
    graph: PlanGraph,
    profiles: AgentProfiles,
    default_agent: String,
    options: &RunOptions,
) -> RunContext {
    let host_name =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let pid = std::process::id();
    let worker = format!(
        "orca-run:{host_name}:{pid}:{}",
        attempt::process_start_time(pid).unwrap_or_default()
    );
    let nodes = graph.indices().collect();
    RunContext {
        agents: options.agents.unwrap_or(ws.config.run.agents as usize).max(1),
        resolver: options.resolver.unwrap_or(ws.config.run.resolver),
        keep_branches: options.keep_branches.unwrap_or(ws.config.run.keep_branches),
        repo: ws.repo,
        host: Arc::new(ws.host),
        layout: ws.layout,
        store: ws.store,
        config: ws.config,
        run,
        integration,
        plan,
        graph,
        nodes,
        profiles,
        default_agent,
        worker,
    }
}

fn build_schedule(ctx: &RunContext) -> Schedule {
    let names = ctx.profiles.names();
    let agent_of = |name: &str| names.iter().position(|known| known == name).unwrap_or(0);
    let order = dispatch_ranks(&ctx.graph);
    let tasks = ctx
        .plan
        .tasks
        .iter()
        .enumerate()
        .map(|(index, task)| {
            let node = ctx.node(index);
            ScheduledTask {
                deps: ctx.graph.deps(node).iter().map(|dep| dep.index()).collect(),
                conflicts: ctx.graph.conflicting(node).iter().map(|other| other.index()).collect(),
                agent: agent_of(task.agent.as_deref().unwrap_or(&ctx.default_agent)),
                rank: order[index],
            }
        })
        .collect();
    let per_agent = names
        .iter()
        .map(|name| {
            ctx.profiles
                .get(name)
                .ok()
                .and_then(|profile| profile.config.max_concurrent)
                .map(|cap| cap as usize)
        })
        .collect();
    Schedule::new(tasks, Caps { global: ctx.agents, per_agent })
}
