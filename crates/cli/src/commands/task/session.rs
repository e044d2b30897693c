//! What every `orca task` subcommand shares: `--as`, `--run`, `--store`,
//! opening the queue, and turning queue errors into what the user reads.

use orca_config::Layout;
use orca_queue::{Queue, QueueError, QueueSettings, Refusal, RefusalKind, SessionName};
use orca_store::{Location, OpenError, RunId, Store, StoreError, StoreOptions, TaskState};

use crate::failure::{Failure, describe};
use crate::store_failure::{open_failure, store_failure};
use crate::store_url;

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
    let resolved = store_url::resolve_with_config(store)?;
    if matches!(Location::parse(&resolved.url), Ok(Location::Sqlite(_))) {
        keep_on_one_cpu();
    }
    open_resolved(&resolved, create).await
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

/// [`open`] for a store already resolved (and its configuration read).
pub(crate) async fn open_resolved(
    resolved: &store_url::Resolved,
    create: bool,
) -> Result<Queue, Failure> {
    let settings = QueueSettings::from_config(&resolved.config);
    // One connection: a queue command runs its statements one after
    // another. With more, sqlx hands a released connection back to the pool
    // on a spawned task, so the next statement often opened a second one,
    // and every SQLite connection costs a thread, an open and a schema read.
    let options = StoreOptions { create, max_connections: Some(1), ..StoreOptions::default() };
    let opened = match (&resolved.layout, resolved.is_default) {
        (Some(layout), true) => Store::open_default_with(layout, &options).await,
        _ => Store::open_with(&resolved.url, &options).await,
    };
    match opened {
        Ok(store) => Ok(Queue::new(store, settings)),
        Err(OpenError::Missing { path }) => Err(Failure::failed(format!(
            "no orca store at {}: no plan has been loaded here",
            shown(&path, resolved.layout.as_ref())
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
        Err(error) => Err(queue_failure(&error)),
    }
}

/// A queue error as the user reads it.
pub(crate) fn queue_failure(error: &QueueError) -> Failure {
    match error {
        QueueError::NoRun => Failure::failed("the store has no runs yet")
            .with_hint("load a plan first: `orca task load PLAN`"),
        QueueError::Refused(refusal) => refusal_failure(refusal),
        QueueError::NotReady { .. } => Failure::failed(describe(error))
            .with_hint("`orca task next --claim` takes the next task that is ready"),
        QueueError::Store(error @ StoreError::TaskNotFound { .. }) => {
            Failure::usage(describe(error)).with_hint("`orca status` lists the run's tasks")
        }
        QueueError::Store(error) => store_failure(error),
    }
}

fn refusal_failure(refusal: &Refusal) -> Failure {
    let task = &refusal.task;
    let stop = format!(
        "stop working on {task}: do not commit, push or report its work; set your changes aside with `git stash`"
    );
    match &refusal.kind {
        RefusalKind::Expired { now: TaskState::Ready | TaskState::Waiting, .. } => {
            Failure::refused(format!("{refusal}; run `orca task next --claim`")).with_hint(stop)
        }
        RefusalKind::Expired { .. } | RefusalKind::LeasedToOther { yours_expired: Some(_), .. } => {
            Failure::refused(refusal.to_string())
                .with_hint(stop)
                .with_hint("then `orca task next --claim` for a task of your own")
        }
        RefusalKind::LeasedToOther { .. } => Failure::refused(refusal.to_string())
            .with_hint("work only on tasks you claimed: `orca task next --claim` gives you one"),
        RefusalKind::NotClaimed { .. } => Failure::refused(refusal.to_string())
            .with_hint("claim a task before working on it: `orca task next --claim`"),
        RefusalKind::Finished { .. } => Failure::refused(refusal.to_string()).with_hint(format!(
            "`orca task show {task}` has the details; `orca task next --claim` for other work"
        )),
    }
}
