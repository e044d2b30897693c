//! `orca task show ID`

use super::session::{SessionArgs, finish, open, run_of};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The task ID, e.g. T03.
    #[arg(value_name = "ID")]
    id: String,

    #[command(flatten)]
    session: SessionArgs,
}

pub(crate) fn run(args: &ShowArgs, out: &Output) -> Result<ExitCode, Failure> {
    let task = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.session.store.as_deref(), false).await?;
        let run = run_of(&queue, &args.session).await?;
        let result = queue.show(&run, &args.id).await.map_err(|e| queue_failure(&e, Via::Shell));
        finish(queue).await;
        result
    })?;
    if out.is_json() {
        out.json(&task);
    } else {
        out.text(task.to_string().trim_end());
    }
    Ok(ExitCode::Success)
}
