//! `orca runs`: this repository's runs, newest first.

use orca_store::{OpenError, RunScope, RunSummary, StoreOptions};
use orca_workspace::Workspace;

use super::status::duration;
use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct RunsArgs {
    /// Every run in the store, of any repository.
    #[arg(long)]
    all: bool,

    /// At most this many runs.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &RunsArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let runs = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => {
                crate::output::store_notices(&store);
                store
            }
            Err(OpenError::Missing { .. }) if workspace.store_is_default() => return Ok(Vec::new()),
            Err(error) => return Err(open_failure(&error)),
        };
        let scope = if args.all { RunScope::All } else { workspace.run_scope(repo.as_ref()) };
        let runs = store.runs(scope, args.limit).await.map_err(|e| store_failure(&e));
        store.close().await;
        runs
    })?;
    if out.is_json() {
        out.json(&runs);
    } else if runs.is_empty() {
        out.text("no runs yet; start one with `orca run \"GOAL\"` or `orca run --plan PLAN`");
    } else {
        out.text(table(&runs));
    }
    Ok(ExitCode::Success)
}

/// One line per run, columns aligned.
fn table(runs: &[RunSummary]) -> String {
    let header = ["RUN", "STATE", "STAGE", "TASKS", "STARTED", "TOOK", "TITLE"].map(str::to_owned);
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|summary| {
            let run = &summary.run;
            [
                run.id.to_string(),
                run.state.to_string(),
                run.stage.map_or_else(|| "-".to_owned(), |stage| stage.to_string()),
                format!("{}/{}", summary.tasks_succeeded, summary.tasks_total),
                orca_store::utc_timestamp(run.created_ms),
                duration(run.updated_ms - run.created_ms),
                run.title.clone(),
            ]
        })
        .collect();
    crate::columns::table(header, &rows)
}
