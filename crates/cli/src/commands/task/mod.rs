//! `orca task ...`: an agent session works the durable queue, one short
//! command per step. The work is done by orca-queue; these files parse
//! arguments, call it and print.

mod block;
mod done;
mod fail;
mod heartbeat;
mod load;
mod next;
mod reopen;
pub(crate) mod session;
mod show;

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TaskCommand {
    /// Validate a plan and queue its tasks for agent sessions (a new run).
    Load(load::LoadArgs),
    /// Show the next ready task; with --claim, lease it to this session.
    ///
    /// Exit status: 0 with a task, 1 when nothing can be claimed now (the
    /// output says why).
    Next(next::NextArgs),
    /// Show a task: description, files, verify, accept, state, lease.
    Show(show::ShowArgs),
    /// Renew this session's lease on a task.
    Heartbeat(heartbeat::HeartbeatArgs),
    /// Finish a task: committed, verify passes, accept holds.
    Done(done::DoneArgs),
    /// Give a task up: retried after a backoff, or failed for good with its
    /// dependents blocked.
    Fail(fail::FailArgs),
    /// A task cannot go on until someone acts on the reason; it and its
    /// dependents are blocked.
    Block(block::BlockArgs),
    /// Give a failed task fresh attempts; the tasks it blocked wait again.
    Retry(reopen::ReopenArgs),
    /// Let a blocked task (and what it blocked) wait to run again.
    Unblock(reopen::ReopenArgs),
}

pub(crate) fn run(args: &TaskArgs, out: &Output) -> Result<ExitCode, Failure> {
    match &args.command {
        TaskCommand::Load(args) => load::run(args, out),
        TaskCommand::Next(args) => next::run(args, out),
        TaskCommand::Show(args) => show::run(args, out),
        TaskCommand::Heartbeat(args) => heartbeat::run(args, out),
        TaskCommand::Done(args) => done::run(args, out),
        TaskCommand::Fail(args) => fail::run(args, out),
        TaskCommand::Block(args) => block::run(args, out),
        TaskCommand::Retry(args) => reopen::run(args, orca_store::Reopen::Retry, out),
        TaskCommand::Unblock(args) => reopen::run(args, orca_store::Reopen::Unblock, out),
    }
}
