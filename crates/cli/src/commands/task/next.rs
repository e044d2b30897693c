//! `orca task next [--claim] [--as NAME]`

use orca_queue::NextTask;

use super::session::{SessionArgs, finish, open, run_of};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct NextArgs {
    /// Lease the task to this session (needs --as NAME or ORCA_AS). A
    /// session that already holds a task gets that one back, renewed.
    #[arg(long)]
    claim: bool,

    #[command(flatten)]
    session: SessionArgs,
}

pub(crate) fn run(args: &NextArgs, out: &Output) -> Result<ExitCode, Failure> {
    let me = if args.claim { Some(args.session.name()?) } else { None };
    let next = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.session.store.as_deref(), false).await?;
        let run = run_of(&queue, &args.session).await?;
        let next = match &me {
            Some(me) => queue.claim_next(&run, me).await,
            None => queue.next(&run).await,
        };
        finish(queue).await;
        next.map_err(|e| queue_failure(&e, Via::Shell))
    })?;
    let code =
        if matches!(next, NextTask::Idle { .. }) { ExitCode::Failure } else { ExitCode::Success };
    if out.is_json() {
        out.json(&next);
        return Ok(code);
    }
    out.text(next.to_string().trim_end());
    match &next {
        NextTask::Idle { idle } if idle.finished() => out.text(
            "hint: the run's tasks are all finished; `orca status` shows them, and the later stages (security, test, review) come next",
        ),
        NextTask::Idle { .. } => out.text(
            "hint: try again when a running task finishes (`orca status` shows every task); do not start work the queue did not give you",
        ),
        NextTask::Ready { task } if !args.claim => {
            out.text(format!("hint: `orca task next --claim --as NAME` leases it ({})", task.key));
        }
        NextTask::Claimed { task } | NextTask::Held { task } => out.text(format!(
            "hint: renew the lease with `orca task heartbeat {0}` while you work; finish with `orca task done {0} --summary \"...\"`",
            task.key
        )),
        NextTask::Ready { .. } => {}
    }
    Ok(code)
}
