//! `orca worker`: works the task queue of this repository's scaled-out runs
//! from this machine (docs/scale-out.md). It claims ready tasks of any run
//! whose coordinator works with the same git remote, runs each attempt in
//! its own worktree with the agents configured here, pushes the attempt
//! branch and submits it; the coordinator merges. SIGTERM or Ctrl-C: no
//! new claims, running attempts get `--grace` to finish, then they are
//! stopped and their tasks handed back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orca_engine::OpenWorkspace;
use orca_engine::stages::implement::worker::{WorkerEvent, WorkerRequest, work};
use orca_store::StoreOptions;
use orca_workspace::Workspace;
use tokio::sync::mpsc;

use crate::command_error::{engine_failure, open_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// The shared store, e.g. `postgres://orca@db.internal/orca` (the
    /// password from PGPASSWORD or ~/.pgpass rather than the URL).
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: String,

    /// The git remote attempt branches go to: a URL, or the name of a
    /// remote of this clone (credentials from git's credential helpers or
    /// SSH keys, never from orca).
    #[arg(long, value_name = "URL", env = "ORCA_REMOTE")]
    remote: String,

    /// The most agents at once on this machine [default: `[run] agents`, 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    agents: Option<u32>,

    /// The agent for tasks whose plan names none [default: the run's, else `[run] agent`].
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,

    /// This worker's name in the store and `orca workers` [default: worker-HOST-PID].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The clone this worker works in; cloned from --remote when it is not
    /// a git repository yet [default: the current directory].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// After SIGTERM, how long running attempts may take to finish before
    /// they are stopped and their tasks handed back.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_grace)]
    grace: Duration,
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    orca_config::parse_duration(text).map_err(|error| error.to_string())
}

pub(crate) fn run(args: &WorkerArgs, out: &Output) -> Result<ExitCode, Failure> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|e| Failure::failed(format!("cannot read the current directory: {e}")))?,
    };
    ensure_clone(&dir, &args.remote)?;
    let workspace = Workspace::discover_from(&dir, Some(&args.store))
        .map_err(|error| workspace_failure(&error))?;
    let host =
        nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    let request = WorkerRequest {
        name: args.name.clone().unwrap_or_else(|| format!("worker-{host}-{}", std::process::id())),
        remote: args.remote.clone(),
        agents: args.agents.map_or(workspace.config().run.agents as usize, |n| n as usize).max(1),
        agent: args.agent.clone(),
        grace: args.grace,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let store = workspace
            .open_store(&StoreOptions::default())
            .await
            .map_err(|error| open_failure(&error))?;
        let ws = OpenWorkspace::new(workspace, store).map_err(|error| engine_failure(&error))?;
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<WorkerEvent>();
        let (interrupt_tx, interrupt_rx) = mpsc::unbounded_channel();
        let forwarder = tokio::spawn(crate::run_session::forward_interrupts(interrupt_tx));
        let json = out.is_json();
        let shown = tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                show(json, &event);
            }
        });
        let result = work(ws, request, events_tx, interrupt_rx).await;
        let _ = shown.await;
        forwarder.abort();
        result.map_err(|error| engine_failure(&error))
    })?;
    if out.is_json() {
        out.json(&serde_json::json!({ "event": "worker_stopped", "report": report }));
    } else {
        out.text(format!(
            "worker {} stopped: {} submitted, {} failed, {} handed back, {} lost their lease",
            report.name, report.submitted, report.failed, report.released, report.lost
        ));
    }
    Ok(ExitCode::Success)
}

/// Clones `remote` into `dir` unless `dir` is a git repository already.
fn ensure_clone(dir: &Path, remote: &str) -> Result<(), Failure> {
    if Workspace::repository_root(dir).is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-checkout", "--end-of-options", remote])
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .status()
        .map_err(|e| Failure::failed(format!("cannot run git: {e}")))?;
    if !status.success() {
        return Err(Failure::failed(format!(
            "cannot clone {} into {}",
            orca_store::redact_url(remote),
            dir.display()
        ))
        .with_hint("check the URL and the credentials git uses for it (`git ls-remote URL`)"));
    }
    Ok(())
}

/// One line per event: JSON on stdout, or text on stderr.
fn show(json: bool, event: &WorkerEvent) {
    if json {
        let line = serde_json::json!({ "at_ms": orca_engine::events::now_ms(), "event": event });
        // Flattened: the event's own `event` tag names it.
        let mut value = line["event"].clone();
        value["at_ms"] = line["at_ms"].clone();
        println!("{value}");
        return;
    }
    let text = match event {
        WorkerEvent::WorkerStarted { name, host, agents, remote } => {
            format!("worker {name} on {host}: up to {agents} agent(s), remote {remote}")
        }
        WorkerEvent::Claimed { run, task, attempt, agent } => {
            format!("▶ {task} (attempt {attempt}, {agent}) of run {run}")
        }
        WorkerEvent::Pushed { task, branch, commit, .. } => {
            format!("  pushed {task}: {branch} at {}", &commit[..commit.len().min(12)])
        }
        WorkerEvent::Submitted { task, attempt, .. } => {
            format!("✓ {task} (attempt {attempt}) verified, waiting for the coordinator's merge")
        }
        WorkerEvent::AttemptFailed { task, attempt, reason, .. } => {
            format!("✗ {task} (attempt {attempt}): {reason}")
        }
        WorkerEvent::Released { task, attempt, reason, .. } => {
            format!("↩ {task} (attempt {attempt}) handed back: {reason}")
        }
        WorkerEvent::LeaseLost { task, attempt, detail, .. } => {
            format!("! {task} (attempt {attempt}): lease lost: {detail}")
        }
        WorkerEvent::PushRejected { task, attempt, reason, .. } => {
            format!("! {task} (attempt {attempt}): push failed: {reason}")
        }
        WorkerEvent::RunRefused { run, reason } => format!("! not working on run {run}: {reason}"),
        WorkerEvent::StoreUnavailable { error, retry_in_ms } => {
            format!("! the store is unavailable ({error}); trying again in {retry_in_ms} ms")
        }
        WorkerEvent::StoreBack => "the store is back".to_owned(),
        WorkerEvent::Paused { reason, seconds } => {
            format!("⏸ no new claims for {seconds} s: {reason}")
        }
        WorkerEvent::Stopping { reason } => reason.clone(),
        WorkerEvent::RunStopped { run, reason, attempts } => {
            format!("run {run}: stopping its {attempts} attempt(s) here: {reason}")
        }
    };
    eprintln!("{text}");
}
