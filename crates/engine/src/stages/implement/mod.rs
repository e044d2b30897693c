//! Stage 4, implement: every task of the run's plan, each attempt in its
//! own worktree and branch, up to N agents at once, merged into the run's
//! integration branch in dependency order.
//!
//! The [`dispatcher`] owns the run's task state; each attempt runs in its
//! own worktree ([`attempt`]); verified attempts go through the merge queue
//! ([`merge`]) into the integration branch; [`recovery`] makes the run
//! whole again first, so the stage is the same whether it starts fresh,
//! after a crash, or for the fix tasks a gate added.

mod attempt;
mod context;
mod dispatcher;
mod merge;
mod messages;
mod recovery;
mod remote_push;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use orca_agents::Usage;
use orca_plan::PlanGraph;

use self::context::RunContext;
use self::dispatcher::Dispatcher;
use crate::error::EngineError;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;
use crate::profiles::{AgentProfiles, routed_agent};
use crate::schedule::{Caps, Schedule, ScheduledTask, dispatch_ranks};

/// How the stage ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ImplementEnd {
    /// Every task merged.
    #[default]
    Completed,
    /// Some task failed for good; its dependents are blocked.
    Failed,
    /// Stopped by the user.
    Interrupted,
    /// The merge queue hit something that is not a task's fault.
    Halted { reason: String },
}

/// What the stage did.
#[derive(Debug, Clone, Default)]
pub struct ImplementReport {
    pub end: ImplementEnd,
    pub merged: usize,
    /// Tasks that failed for good, with the reason.
    pub failed: Vec<(String, String)>,
    /// Tasks that did not run, with the failed task that blocked them.
    pub blocked: Vec<(String, String)>,
    pub duration: Duration,
    pub usage: Usage,
    pub cost_usd: f64,
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let run = p.run.clone();
    let store = p.ws.store.clone();
    if p.retry_failed {
        let reopened = store.retry_failed(&run).await?;
        if !reopened.is_empty() {
            tracing::info!(tasks = ?reopened, "failed tasks get fresh attempts");
        }
        p.retry_failed = false;
    }
    let plan = crate::stages::parallel::stored_plan(&store, &run).await?;
    // A resumed run (or one started after `parallel`) checks what
    // `parallel` checks: agents that cannot start would spend every try.
    if let Some(failed) = crate::stages::parallel::unusable_agents(p, &plan).await {
        return Ok(failed);
    }
    crate::stages::parallel::ensure_integration_branch(p).await?;
    let graph = PlanGraph::new(&plan)
        .map_err(|error| EngineError::StoredPlan { run: run.clone(), source: Box::new(error) })?;
    let profiles = AgentProfiles::from_config(&p.ws.config, &p.ws.host)?;
    let default_agent = p.default_agent();
    profiles.get(&default_agent)?;
    let ctx = Arc::new(RunContext {
        // A coordinator with a remote may leave every attempt to workers.
        agents: p
            .options
            .agents
            .unwrap_or(p.ws.config.run.agents as usize)
            .max(usize::from(p.options.remote.is_none())),
        resolver: p.options.resolver.unwrap_or(p.ws.config.run.resolver),
        keep_branches: p.options.keep_branches.unwrap_or(p.ws.config.run.keep_branches),
        repo: p.ws.repo.clone(),
        host: p.ws.host.clone(),
        layout: p.ws.layout.clone(),
        store,
        config: p.ws.config.clone(),
        run,
        integration: p.integration(),
        nodes: graph.indices().collect(),
        plan,
        graph,
        profiles,
        default_agent,
        worker: crate::process::worker_name(),
        remote: p.options.remote.clone(),
        run_budget: crate::budget::Limit::of_run(&p.ws.config, p.options.budget),
    });
    if ctx.remote.is_some() {
        // Workers elsewhere depend on this coordinator: a database restart
        // or a network drop is ridden out, not fatal.
        orca_store::set_reconnect_patience(ctx.config.lease.ttl * 2);
        // Before recovery completes a task whose merge was done: workers
        // start its dependents from the remote's integration branch.
        if let Err(error) = dispatcher::coordinator::push_integration(&ctx).await {
            return Ok(Outcome::Halted {
                reason: format!(
                    "cannot push {} to the remote: {}",
                    ctx.integration,
                    crate::excerpt::error_chain(&error)
                ),
            });
        }
    }
    let recovered = recovery::recover(&ctx).await?;
    if let Some((lock, why)) = recovered.blocking_locks.first() {
        return Ok(Outcome::Halted {
            reason: format!(
                "git's lock file {} blocks the run's branches ({why}); when no git command runs \
                 in this repository, remove it",
                lock.display()
            ),
        });
    }
    let mut schedule = build_schedule(&ctx);
    recovery::replay(&ctx, &mut schedule, &recovered.states);
    let report = Dispatcher::new(
        ctx.clone(),
        schedule,
        recovered.memory,
        recovered.pending_merges,
        p.events.clone(),
        p.interrupts.clone(),
        p.resumed,
    )
    .run()
    .await?;
    let outcome = match &report.end {
        ImplementEnd::Completed => Outcome::Passed {
            note: Some(format!("{} task(s) merged into {}", report.merged, ctx.integration)),
        },
        ImplementEnd::Failed => Outcome::Failed { reason: failure_reason(&report) },
        ImplementEnd::Interrupted => Outcome::Interrupted,
        ImplementEnd::Halted { reason } => Outcome::Halted { reason: reason.clone() },
    };
    p.implemented = Some(report);
    Ok(outcome)
}

/// `3 task(s) failed (T2: …), 2 blocked; …`
fn failure_reason(report: &ImplementReport) -> String {
    let mut reason = format!("{} task(s) failed", report.failed.len());
    if let Some((task, why)) = report.failed.first() {
        reason.push_str(&format!(" ({task}: {})", crate::excerpt::shorten(why, 200)));
    }
    if !report.blocked.is_empty() {
        reason.push_str(&format!(", {} blocked behind them", report.blocked.len()));
    }
    reason.push_str("; fix the cause, then `orca resume --retry-failed` gives them fresh attempts");
    reason
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
                agent: agent_of(routed_agent(
                    &ctx.config.roles,
                    &task.role,
                    task.agent.as_deref(),
                    &ctx.default_agent,
                )),
                rank: order[index],
                remaining: ctx.graph.remaining_path(node),
                weight: ctx.graph.weight(node),
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
