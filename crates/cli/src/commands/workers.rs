//! `orca workers`: every process registered in the store — `orca worker`s
//! on any machine, coordinators, agent sessions — with its host, orca
//! version, agents, heartbeat age and what it runs now.

use orca_store::{StoreOptions, Worker};
use orca_workspace::Workspace;
use serde::Serialize;

use super::status::duration;
use crate::command_error::{open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkersArgs {
    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

/// A worker as `--json` shows it: the stored row plus its heartbeat age.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    worker: &'a Worker,
    heartbeat_age_ms: i64,
    /// Refused by this orca (another protocol or schema version).
    incompatible: Option<String>,
}

pub(crate) fn run(args: &WorkersArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let (workers, now) = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = workspace.open_store(&options).await.map_err(|e| open_failure(&e))?;
        let workers = store.workers().await.map_err(|e| store_failure(&e))?;
        let now = store.now_ms().await.map_err(|e| store_failure(&e))?;
        store.close().await;
        Ok::<_, Failure>((workers, now))
    })?;
    let me = orca_store::WorkerInfo::this_process("", "", "", env!("CARGO_PKG_VERSION"), 0);
    let listed: Vec<Listed<'_>> = workers
        .iter()
        .map(|worker| Listed {
            worker,
            heartbeat_age_ms: now - worker.last_seen_ms,
            incompatible: worker.protocol.and_then(|_| worker.incompatibility(&me)),
        })
        .collect();
    if out.is_json() {
        out.json(&listed);
    } else if listed.is_empty() {
        out.text("no workers have registered in this store");
    } else {
        out.text(table(&listed));
    }
    Ok(ExitCode::Success)
}

fn table(workers: &[Listed<'_>]) -> String {
    let header = ["NAME", "ROLE", "HOST", "PID", "VERSION", "AGENTS", "HEARTBEAT", "RUNS"]
        .map(str::to_owned);
    let rows: Vec<[String; 8]> = workers
        .iter()
        .map(|listed| {
            let w = listed.worker;
            let mut version = w.version.clone().unwrap_or_else(|| "-".to_owned());
            if listed.incompatible.is_some() {
                version.push_str(" (incompatible)");
            }
            let mut runs = if w.tasks.is_empty() { "-".to_owned() } else { w.tasks.join(", ") };
            if w.stopping {
                runs = format!("stopping; {runs}");
            }
            [
                w.id.clone(),
                w.role.clone().unwrap_or_else(|| "-".to_owned()),
                w.host.clone(),
                w.pid.to_string(),
                version,
                w.agents.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                format!("{} ago", duration(listed.heartbeat_age_ms.max(0))),
                runs,
            ]
        })
        .collect();
    crate::columns::table(header, &rows)
}
