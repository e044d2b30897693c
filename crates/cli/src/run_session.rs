//! What `orca run` and `orca resume` share: opening the repository, its
//! config and store; driving the engine on a runtime with Ctrl-C wired to
//! it; showing events; turning the outcome into an exit code.

use std::sync::Arc;

use orca_agents::HostEnv;
use orca_config::{Config, Layout};
use orca_engine::run::{RunChannels, RunError, RunOutcome, RunReport, Workspace};
use orca_git::Repo;
use orca_store::{LockError, Store};
use tokio::sync::mpsc;

use crate::exit_code::ExitCode;
use crate::failure::{Failure, describe};
use crate::output::Output;
use crate::run_display::Display;
use crate::store_failure::{open_failure, store_failure};

/// The repository around the current directory and its config.
pub(crate) struct RepoConfig {
    pub(crate) repo: Repo,
    pub(crate) layout: Layout,
    pub(crate) config: Config,
}

impl RepoConfig {
    pub(crate) fn open() -> Result<RepoConfig, Failure> {
        let cwd = std::env::current_dir()
            .map_err(|e| Failure::usage(format!("cannot read the current directory: {e}")))?;
        let repo = Repo::discover(&cwd).map_err(|error| {
            Failure::usage(describe(&error))
                .with_hint("run orca inside the git repository to work on")
        })?;
        let layout = Layout::new(repo.root());
        layout.ensure().map_err(|error| Failure::usage(describe(&error)))?;
        let config = Config::load(&layout).map_err(|error| {
            Failure::usage(describe(&error))
                .with_hint("`orca init --check` shows every problem in .orca/config.toml")
        })?;
        Ok(RepoConfig { repo, layout, config })
    }

    /// Opens the store (`--store`, else `[store] url`) and makes the
    /// workspace a run works in.
    pub(crate) async fn into_workspace(
        self,
        store_flag: Option<&str>,
    ) -> Result<Workspace, Failure> {
        let url = match store_flag {
            Some(url) => url.to_owned(),
            None => match self.config.store.location(self.layout.root()) {
                orca_config::StoreLocation::Sqlite(path) => path.display().to_string(),
                orca_config::StoreLocation::Postgres(url) => url,
            },
        };
        let store = Store::open(&url).await.map_err(|error| open_failure(&error))?;
        Ok(Workspace {
            repo: Arc::new(self.repo),
            layout: self.layout,
            config: self.config,
            store,
            host: HostEnv::current(),
        })
    }
}

/// Runs `drive` with events shown and Ctrl-C (and SIGTERM) delivered to it.
pub(crate) fn drive<F, Fut>(out: &Output, progress: bool, drive: F) -> Result<ExitCode, Failure>
where
    F: FnOnce(RunChannels) -> Fut,
    Fut: std::future::Future<Output = Result<RunReport, Failure>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let (interrupt_tx, interrupt_rx) = mpsc::unbounded_channel();
        tokio::spawn(forward_interrupts(interrupt_tx));
        let mut display = Display::new(out, progress);
        let shown = tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                display.show(&event);
            }
            display.finish();
        });
        let result = drive(RunChannels { events: events_tx, interrupts: interrupt_rx }).await;
        let _ = shown.await;
        let report = result?;
        if !out.is_json() {
            out.text(summary(&report));
        }
        Ok(match report.outcome {
            RunOutcome::Completed => ExitCode::Success,
            RunOutcome::Failed => ExitCode::Failure,
            RunOutcome::Interrupted => ExitCode::Interrupted,
        })
    })
}

/// Each Ctrl-C or SIGTERM becomes one interrupt message.
async fn forward_interrupts(tx: mpsc::UnboundedSender<()>) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => if result.is_err() { return },
            _ = terminate.recv() => {}
        }
        if tx.send(()).is_err() {
            return;
        }
    }
}

/// An engine error as the user reads it.
pub(crate) fn run_failure(error: &RunError) -> Failure {
    match error {
        RunError::Locked(LockError::Held { holder, .. }) => {
            Failure::refused(format!("another orca is running in this repository: {holder}"))
                .with_hint("wait for it to finish, or stop it; `orca status` shows its run")
        }
        RunError::Store(error) => store_failure(error),
        RunError::Profile(_) => Failure::usage(describe(error))
            .with_hint("agents are defined under [agents] in .orca/config.toml"),
        RunError::NothingToResume | RunError::AlreadyFinished { .. } => {
            Failure::failed(describe(error))
                .with_hint("`orca status` shows the runs in this repository")
        }
        RunError::NoCommit => Failure::usage(describe(error)),
        _ => Failure::failed(describe(error)),
    }
}

fn summary(report: &RunReport) -> String {
    let mut lines = vec![format!(
        "run {}: {} — {} merged, {} failed, {} blocked in {}",
        report.run,
        report.outcome.as_str(),
        report.merged,
        report.failed.len(),
        report.blocked.len(),
        orca_agents::format_duration(report.duration),
    )];
    for (task, reason) in &report.failed {
        lines.push(format!("  failed  {task}: {reason}"));
    }
    for (task, by) in &report.blocked {
        lines.push(format!("  blocked {task}: depends on {by}, which failed"));
    }
    let tokens = report.usage.input_tokens + report.usage.output_tokens;
    lines.push(format!(
        "  {tokens} tokens{}",
        if report.cost_usd > 0.0 { format!(", ${:.2}", report.cost_usd) } else { String::new() }
    ));
    match report.outcome {
        RunOutcome::Interrupted => lines.push("  continue with: orca resume".into()),
        _ => lines.push(format!(
            "  the result is on branch {} (your checkout is untouched): git log {0}",
            report.integration_branch
        )),
    }
    lines.join("\n")
}
