//! `orca plan generate "GOAL"`: the planner agent writes a plan for the
//! goal: a run of the analyze and plan stages, stopped after the plan.
//! The plan is checked as `orca plan check` checks it and saved in the
//! run; `orca resume --yes` then runs it.

use std::path::PathBuf;

use orca_engine::{RunInput, RunRequest};
use orca_store::Stage;

use crate::commands::run::read_goal;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;
use crate::run_session::RunCommonArgs;
use crate::run_session::{EngineCall, drive, find_workspace};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["goal", "goal_file"]))]
pub(crate) struct GenerateArgs {
    /// What to build, in words.
    #[arg(value_name = "GOAL")]
    goal: Option<String>,

    /// Read the goal from a file.
    #[arg(long, value_name = "FILE")]
    goal_file: Option<PathBuf>,

    #[command(flatten)]
    common: RunCommonArgs,
}

pub(crate) fn run(args: &GenerateArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = find_workspace(args.common.store.as_deref())?;
    let goal = read_goal(args.goal.as_deref(), args.goal_file.as_deref())?;
    let request = RunRequest {
        input: RunInput::Goal(goal),
        options: args.common.options(),
        from: None,
        until: Some(Stage::Plan),
        skip: Vec::new(),
        yes: false,
        user: std::env::var("USER").unwrap_or_else(|_| "the user".to_owned()),
    };
    drive(out, &args.common, workspace, EngineCall::Start(Box::new(request)), None)
}
