//! `orca run --plan FILE`: load the plan into the store and run stages 3
//! (parallel) and 4 (implement) with up to N agents at once.

use std::path::PathBuf;

use orca_engine::run::{PlanInput, RunOptions};

use crate::commands::plan::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;
use crate::run_session::{RepoConfig, drive, run_failure};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The plan to run (orca's Markdown format; see docs/plan-format.md).
    #[arg(long, value_name = "FILE")]
    plan: PathBuf,

    #[command(flatten)]
    common: RunCommonArgs,
}

/// Options `orca run` and `orca resume` share.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunCommonArgs {
    /// The most agents working at once [default: `[run] agents`, 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) agents: Option<u32>,

    /// The agent for tasks whose plan names none [default: `[run] agent`].
    #[arg(long, value_name = "NAME")]
    pub(crate) agent: Option<String>,

    /// Keep the attempt branches when the run completes.
    #[arg(long)]
    pub(crate) keep_branches: bool,

    /// Fail a task on a merge conflict instead of sending it to a resolver agent.
    #[arg(long)]
    pub(crate) no_resolver: bool,

    /// Print a line per event on stderr even when it is not a terminal.
    #[arg(long)]
    pub(crate) progress: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    pub(crate) store: Option<String>,
}

impl RunCommonArgs {
    pub(crate) fn options(&self) -> RunOptions {
        RunOptions {
            agents: self.agents.map(|n| n as usize),
            agent: self.agent.clone(),
            keep_branches: self.keep_branches.then_some(true),
            resolver: self.no_resolver.then_some(false),
        }
    }
}

pub(crate) fn run(args: &RunArgs, out: &Output) -> Result<ExitCode, Failure> {
    let opened = RepoConfig::open()?;
    let input = PlanInputArgs::with_roles(opened.config.roles.known.clone());
    let loaded = load(&args.plan, &input)?;
    let graph = match loaded.require_valid(&input, out) {
        Ok(graph) => graph.clone(),
        // The diagnostics and the error are printed.
        Err(code) => return Ok(code),
    };
    let plan = PlanInput {
        path: Some(args.plan.display().to_string()),
        text: loaded.source.text,
        plan: loaded.checked.plan,
        graph,
    };
    drive(out, args.common.progress, |channels| async move {
        let workspace = opened.into_workspace(args.common.store.as_deref()).await?;
        orca_engine::run::start(workspace, plan, &args.common.options(), channels)
            .await
            .map_err(|error| run_failure(&error))
    })
}
