//! `orca task retry ID` and `orca task unblock ID`: an operator gives a
//! failed or blocked task another chance. Its dependents that it alone held
//! back wait again; the run is active again (`orca resume` continues a run
//! `orca run` drives; sessions pick the task up with `orca task next`).

use orca_store::{Reopen, RunId};

use super::session::{finish, open};
use crate::command_error::{Via, queue_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ReopenArgs {
    /// The task ID, e.g. T03.
    #[arg(value_name = "ID")]
    id: String,

    /// The run [default: this repository's newest active run, else its newest run].
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: `[store] url` of .orca/config.toml, else .orca/orca.db]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &ReopenArgs, how: Reopen, out: &Output) -> Result<ExitCode, Failure> {
    let action = how.action();
    let (run, reopened) = crate::runtime::runtime()?.block_on(async {
        let queue = open(args.store.as_deref(), false).await?;
        let picked = args.run.as_deref().map(RunId::from);
        let result = async {
            let run = queue.resolve_run(picked.as_ref()).await?.id;
            let reopened = queue.reopen(&run, &args.id, how).await?;
            Ok((run, reopened))
        }
        .await
        .map_err(|e| queue_failure(&e, Via::Shell));
        finish(queue).await;
        result
    })?;
    if out.is_json() {
        out.json(&serde_json::json!({ "run": run, "action": action, "reopened": reopened }));
    } else {
        let also: Vec<&String> = reopened.iter().filter(|key| **key != args.id).collect();
        let mut text = format!("{} {action} in run {run}", args.id);
        if !also.is_empty() {
            let names: Vec<&str> = also.iter().map(|key| key.as_str()).collect();
            text.push_str(&format!("; waiting again: {}", names.join(", ")));
        }
        out.text(text);
        out.text("next: `orca resume` continues a run `orca run` started; sessions take it with `orca task next --claim`");
    }
    Ok(ExitCode::Success)
}
