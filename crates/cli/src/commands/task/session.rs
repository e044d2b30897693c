//! What every `orca task` subcommand shares: `--as`, `--run`, `--store`,
//! opening the queue, and turning queue errors into what the user reads.

use orca_config::Layout;
use orca_queue::{Queue, QueueSettings, SessionName};
use orca_store::{Location, OpenError, RunId, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, workspace_failure};
use crate::failure::Failure;

/// Options of every `orca task` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SessionArgs {
    /// This session's name: the holder of the tasks it claims. Each agent
    /// session needs its own.
    #[arg(long = "as", value_name = "NAME", env = "ORCA_AS")]
    pub(crate) session: Option<String>,

    /// Work on this run [default: the newest run that is still active]
    #[arg(long, value_name = "ID")]
    pub(crate) run: Option<String>,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: `[store] url` of .orca/config.toml, else .orca/orca.db in
    /// the repository's main worktree]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    pub(crate) store: Option<String>,
}

impl SessionArgs {
    /// The session name; a usage error when neither `--as` nor `ORCA_AS` gives one.
    pub(crate) fn name(&self) -> Result<SessionName, Failure> {
        let Some(text) = self.session.as_deref() else {
            return Err(Failure::usage("no session name: pass --as NAME or set ORCA_AS")
                .with_hint(
                    "every agent session needs its own name, e.g. `export ORCA_AS=alice-1`",
                ));
        };
        SessionName::new(text).map_err(|e| {
            Failure::usage(e.to_string())
                .with_hint("e.g. `--as alice-1` or `export ORCA_AS=alice-1`")
        })
    }

    pub(crate) fn run_id(&self) -> Option<RunId> {
        self.run.as_deref().map(RunId::from)
    }
}

/// Opens the queue on the store these options name. `create` makes the
/// store when it does not exist yet (`orca task load`); the other commands
/// open only an existing one.
pub(crate) async fn open(store: Option<&str>, create: bool) -> Result<Queue, Failure> {
    let workspace = Workspace::discover(store).map_err(|e| workspace_failure(&e))?;
    if matches!(Location::parse(workspace.store_url()), Ok(Location::Sqlite(_))) {
        keep_on_one_cpu();
    }
    open_in(&workspace, create).await
}

/// Keeps this process on the CPU it runs on now; threads it starts later
/// (SQLite's connection thread) inherit that. A one-shot queue command is a
/// ping-pong between this thread and the connection's thread (sqlx runs
/// every SQLite connection on a thread of its own): each statement wakes
/// the other thread and waits for it. Woken on another CPU, every hand-off
/// costs an inter-processor interrupt, which in a virtual machine is a trip
/// through the hypervisor; on one CPU it is a plain switch. Measured on a
/// 2-vCPU VM: median `orca task next --claim` 4.1-4.5 ms -> 3.5 ms. The command
/// lives a few milliseconds, so giving up migration costs little. Best
/// effort: when pinning fails nothing else changes.
fn keep_on_one_cpu() {
    #[cfg(target_os = "linux")]
    if let Ok(cpu) = nix::sched::sched_getcpu() {
        let mut here = nix::sched::CpuSet::new();
        if here.set(cpu).is_ok() {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &here);
        }
    }
}

/// [`open`] in a workspace already found: the queue sees that
/// repository's runs.
pub(crate) async fn open_in(workspace: &Workspace, create: bool) -> Result<Queue, Failure> {
    let mut settings = QueueSettings::from_config(workspace.config());
    settings.repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    settings.legacy_runs = workspace.store_is_sqlite();
    // One connection: a queue command runs its statements one after
    // another. With more, sqlx hands a released connection back to the pool
    // on a spawned task, so the next statement often opened a second one,
    // and every SQLite connection costs a thread, an open and a schema read.
    let options = StoreOptions { create, max_connections: Some(1), ..StoreOptions::default() };
    match workspace.open_store(&options).await {
        Ok(store) => {
            crate::output::store_notices(&store);
            Ok(Queue::new(store, settings))
        }
        Err(OpenError::Missing { path }) => Err(Failure::failed(format!(
            "no orca store at {}: no plan has been loaded here",
            shown(&path, workspace.layout())
        ))
        .with_hint("load one first: `orca task load PLAN`")),
        Err(error) => Err(open_failure(&error)),
    }
}

fn shown(path: &std::path::Path, layout: Option<&Layout>) -> String {
    layout
        .and_then(|layout| path.strip_prefix(layout.root()).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Ends a command's use of the queue. SQLite connections are left open for
/// the process exit to drop: closing the last one checkpoints the WAL into
/// the database with an fsync, milliseconds on every command an agent
/// session runs. SQLite is built for that: the WAL stays valid for the next
/// process, and a commit checkpoints it once it passes 200 pages.
/// PostgreSQL connections are closed properly.
pub(crate) async fn finish(queue: Queue) {
    if matches!(queue.store().location(), Location::Postgres { .. }) {
        queue.store().close().await;
    } else {
        // Without this the runtime's end would close the connection after all.
        queue.store().settle().await;
        std::mem::forget(queue);
    }
}

/// The run the options name, or the newest active one.
pub(crate) async fn run_of(queue: &Queue, args: &SessionArgs) -> Result<RunId, Failure> {
    let run_id = args.run_id();
    match queue.resolve_run(run_id.as_ref()).await {
        Ok(run) => Ok(run.id),
        Err(error) => {
            Err(crate::command_error::queue_failure(&error, crate::command_error::Via::Shell))
        }
    }
}
