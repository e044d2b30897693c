//! `orca task heartbeat ID`

use super::session::{SessionArgs, finish, open, run_of};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct HeartbeatArgs {
    /// The task ID, e.g. T03.
    #[arg(value_name = "ID")]
    id: String,

    #[command(flatten)]
    session: SessionArgs,
}

pub(crate) fn run(args: &HeartbeatArgs, out: &Output) -> Result<ExitCode, Failure> {
    let me = args.session.name()?;
    let renewed = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.session.store.as_deref(), false).await?;
        let run = run_of(&queue, &args.session).await?;
        let result =
            queue.heartbeat(&run, &args.id, &me).await.map_err(|e| queue_failure(&e, Via::Shell));
        finish(queue).await;
        result
    })?;
    if out.is_json() {
        out.json(&renewed);
    } else {
        out.text(renewed.to_string());
    }
    Ok(ExitCode::Success)
}
