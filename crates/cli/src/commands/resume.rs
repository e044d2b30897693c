//! `orca resume`: continue a run that was interrupted, crashed or killed.

use orca_store::RunId;

use super::run::RunCommonArgs;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;
use crate::run_session::{RepoConfig, drive, run_failure};

#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// The run to continue [default: the latest unfinished run].
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    #[command(flatten)]
    common: RunCommonArgs,
}

pub(crate) fn run(args: &ResumeArgs, out: &Output) -> Result<ExitCode, Failure> {
    let opened = RepoConfig::open()?;
    drive(out, args.common.progress, |channels| async move {
        let workspace = opened.into_workspace(args.common.store.as_deref()).await?;
        let run = args.run.as_deref().map(RunId::from);
        orca_engine::run::resume(workspace, run, &args.common.options(), channels)
            .await
            .map_err(|error| run_failure(&error))
    })
}
