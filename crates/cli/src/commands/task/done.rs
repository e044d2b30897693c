//! `orca task done ID [--summary TEXT]`

use super::session::{SessionArgs, finish, open, run_of};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct DoneArgs {
    /// The task ID, e.g. T03.
    #[arg(value_name = "ID")]
    id: String,

    /// What changed and what `verify` showed; kept with the attempt.
    #[arg(long, value_name = "TEXT")]
    summary: Option<String>,

    #[command(flatten)]
    session: SessionArgs,
}

pub(crate) fn run(args: &DoneArgs, out: &Output) -> Result<ExitCode, Failure> {
    let me = args.session.name()?;
    let done = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.session.store.as_deref(), false).await?;
        let run = run_of(&queue, &args.session).await?;
        let result = queue.done(&run, &args.id, &me, args.summary.as_deref()).await;
        finish(queue).await;
        result.map_err(|e| queue_failure(&e, Via::Shell))
    })?;
    if out.is_json() {
        out.json(&done);
        return Ok(ExitCode::Success);
    }
    out.text(done.to_string());
    if done.run_end.is_none() && done.ready_now > 0 {
        out.text("next: `orca task next --claim`");
    }
    Ok(ExitCode::Success)
}
