//! `orca run "GOAL"`: all nine stages, from analysis to a report. `orca run
//! --plan FILE`: from the parallel stage, with the given plan.

use std::path::PathBuf;

use orca_engine::{PlanInput, RunInput, RunRequest};
use orca_store::Stage;

use crate::commands::plan::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::logging::RunLog;
use crate::output::Output;
use crate::run_session::{EngineCall, RunCommonArgs, drive, find_workspace};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["goal", "goal_file", "plan"]))]
pub(crate) struct RunArgs {
    /// What to build, in words: the planner agent turns it into a plan.
    #[arg(value_name = "GOAL")]
    goal: Option<String>,

    /// Read the goal from a file.
    #[arg(long, value_name = "FILE")]
    goal_file: Option<PathBuf>,

    /// Run this plan (orca's Markdown format; see docs/plan-format.md),
    /// starting at the parallel stage.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,

    /// Start at this stage; the stages before it are skipped.
    #[arg(long, value_name = "STAGE", value_parser = StageParser)]
    from: Option<Stage>,

    /// Stop after this stage; `orca resume` continues.
    #[arg(long, value_name = "STAGE", value_parser = StageParser)]
    until: Option<Stage>,

    /// Skip this stage (repeat for more).
    #[arg(long, value_name = "STAGE", value_parser = StageParser)]
    skip: Vec<Stage>,

    /// Accept the planner's plan without asking.
    #[arg(long, short = 'y')]
    yes: bool,

    #[command(flatten)]
    common: RunCommonArgs,
}

/// The goal given in words or in a file; never empty.
pub(crate) fn read_goal(
    goal: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<String, Failure> {
    let goal = match (goal, file) {
        (Some(goal), _) => goal.to_owned(),
        (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| {
            Failure::usage(format!("cannot read the goal file {}: {e}", file.display()))
        })?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    if goal.trim().is_empty() {
        return Err(Failure::usage("the goal is empty").with_hint(
            "say what to build, e.g. `orca run \"add a --json flag to the report command\"`",
        ));
    }
    Ok(goal)
}

/// A stage by name.
/// A stage's name: its own error message, and the names offered by
/// shell completion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageParser;

impl clap::builder::TypedValueParser for StageParser {
    type Value = Stage;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Stage, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|_| {
            let names: Vec<&str> = Stage::ALL.iter().map(|stage| stage.as_str()).collect();
            let flag = arg.map(|arg| format!(" for '{arg}'")).unwrap_or_default();
            let message = format!(
                "invalid value '{text}'{flag}: not a stage; the stages are {}\n",
                names.join(", ")
            );
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, message).with_cmd(command)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            Stage::ALL.iter().map(|stage| clap::builder::PossibleValue::new(stage.as_str())),
        ))
    }
}

pub(crate) fn run(
    args: &RunArgs,
    out: &Output,
    run_log: Option<RunLog>,
) -> Result<ExitCode, Failure> {
    if args.common.agents == Some(0) && args.common.remote.is_none() {
        return Err(Failure::usage(
            "--agents 0 leaves the run to `orca worker`s, which needs --remote",
        )
        .with_hint("give the git remote workers push to: `orca run --remote URL --agents 0 ...`"));
    }
    let workspace = find_workspace(args.common.store.as_deref())?;
    let input = match (&args.plan, &args.goal, &args.goal_file) {
        (Some(path), _, _) => {
            let input = PlanInputArgs::with_roles(workspace.config().roles.known.clone());
            let loaded = load(path, &input)?;
            let graph = match loaded.require_valid(&input, out) {
                Ok(graph) => graph.clone(),
                // The diagnostics and the error are printed.
                Err(code) => return Ok(code),
            };
            RunInput::Plan(Box::new(PlanInput {
                path: Some(path.display().to_string()),
                text: loaded.source.text,
                plan: loaded.checked.plan,
                graph,
            }))
        }
        (None, goal, file) => RunInput::Goal(read_goal(goal.as_deref(), file.as_deref())?),
    };
    let request = RunRequest {
        input,
        options: args.common.options(),
        from: args.from,
        until: args.until,
        skip: args.skip.clone(),
        yes: args.yes,
        user: std::env::var("USER").unwrap_or_else(|_| "the user".to_owned()),
    };
    drive(out, &args.common, workspace, EngineCall::Start(Box::new(request)), run_log)
}
