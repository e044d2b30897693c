//! `orca review`: what the review gate of a run (this repository's latest,
//! or RUN) found: the reviewer's verdict and requested changes, and orca's
//! own checks of the plan (unfinished tasks, undeclared files, acceptance
//! items unanswered or not met).

use orca_store::{OpenError, RunId, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ReviewArgs {
    /// The run [default: this repository's latest].
    #[arg(value_name = "RUN")]
    run: Option<String>,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &ReviewArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let layout = workspace.require_layout().map_err(|e| workspace_failure(&e))?.clone();
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let run = match &args.run {
        Some(id) => RunId::from(id.as_str()),
        None => crate::runtime::runtime()?.block_on(async {
            let options = StoreOptions { create: false, ..StoreOptions::default() };
            let store = match workspace.open_store(&options).await {
                Ok(store) => store,
                Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
                    return Err(Failure::usage("no runs yet in this repository"));
                }
                Err(error) => return Err(open_failure(&error)),
            };
            let scope = workspace.run_scope(repo.as_ref());
            let latest = store.latest_run_in(scope, &[]).await.map_err(|e| store_failure(&e));
            store.close().await;
            latest?
                .map(|run| run.id)
                .ok_or_else(|| Failure::usage("no runs yet in this repository"))
        })?,
    };
    let path = layout.run_dir(run.as_str()).join(orca_engine::stages::review::REVIEW_JSON);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Failure::usage(format!("run {run} has no review yet"))
            .with_hint("the review stage writes it; `orca status` shows how far the run is")
    })?;
    let kept: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::failed(format!("{} cannot be read: {e}", path.display())))?;
    if out.is_json() {
        out.json(&kept);
        return Ok(ExitCode::Success);
    }
    let answer = &kept["answer"];
    let mut lines =
        vec![format!("run {run}: the reviewer says {}", answer["verdict"].as_str().unwrap_or("?"))];
    for change in answer["changes"].as_array().into_iter().flatten() {
        let at = change["line"].as_u64().map(|line| format!(":{line}")).unwrap_or_default();
        lines.push(format!(
            "  {} {}{at}: {}",
            change["severity"].as_str().unwrap_or("?"),
            change["file"].as_str().unwrap_or("?"),
            change["reason"].as_str().unwrap_or("")
        ));
    }
    let adherence = &kept["adherence"];
    for (key, what) in [
        ("unfinished", "tasks not done"),
        ("undeclared_files", "files changed that no task declared"),
        ("not_met", "acceptance items not met"),
        ("unanswered", "acceptance items the reviewer did not answer"),
    ] {
        let items: Vec<&str> =
            adherence[key].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        if !items.is_empty() {
            lines.push(format!("  {what}:"));
            lines.extend(items.iter().map(|item| format!("    {item}")));
        }
    }
    out.text(lines.join("\n"));
    Ok(ExitCode::Success)
}
