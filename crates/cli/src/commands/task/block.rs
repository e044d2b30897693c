//! `orca task block ID --reason TEXT`

use super::session::{SessionArgs, finish, open, run_of};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct BlockArgs {
    /// The task ID, e.g. T03.
    #[arg(value_name = "ID")]
    id: String,

    /// What must happen before the task can go on.
    #[arg(long, value_name = "TEXT")]
    reason: String,

    #[command(flatten)]
    session: SessionArgs,
}

pub(crate) fn run(args: &BlockArgs, out: &Output) -> Result<ExitCode, Failure> {
    let me = args.session.name()?;
    if args.reason.trim().is_empty() {
        return Err(Failure::usage("--reason is empty").with_hint("say what must happen first"));
    }
    let blocked = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.session.store.as_deref(), false).await?;
        let run = run_of(&queue, &args.session).await?;
        let result = queue
            .block(&run, &args.id, &me, &args.reason)
            .await
            .map_err(|e| queue_failure(&e, Via::Shell));
        finish(queue).await;
        result
    })?;
    if out.is_json() {
        out.json(&blocked);
    } else {
        out.text(blocked.to_string());
    }
    Ok(ExitCode::Success)
}
