//! `orca resume`: continue a run that was interrupted, crashed, killed,
//! paused, waits for approval, or failed and was fixed.

use orca_engine::ResumeRequest;
use orca_store::{RunId, Stage};

use super::run::StageParser;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::logging::RunLog;
use crate::output::Output;
use crate::run_session::RunCommonArgs;
use crate::run_session::{EngineCall, drive, find_workspace};

#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// The run to continue [default: this repository's newest unfinished run].
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    /// Give failed tasks fresh attempts; the tasks they blocked wait again.
    /// Without --run, also picks this repository's newest failed run.
    #[arg(long)]
    retry_failed: bool,

    /// Accept the plan that waits for approval.
    #[arg(long, short = 'y')]
    yes: bool,

    /// Stop after this stage.
    #[arg(long, value_name = "STAGE", value_parser = StageParser)]
    until: Option<Stage>,

    #[command(flatten)]
    common: RunCommonArgs,
}

pub(crate) fn run(
    args: &ResumeArgs,
    out: &Output,
    run_log: Option<RunLog>,
) -> Result<ExitCode, Failure> {
    let workspace = find_workspace(args.common.store.as_deref())?;
    let request = ResumeRequest {
        run: args.run.as_deref().map(RunId::from),
        options: args.common.options(),
        retry_failed: args.retry_failed,
        yes: args.yes,
        until: args.until,
    };
    drive(out, &args.common, workspace, EngineCall::Resume(request), run_log)
}
