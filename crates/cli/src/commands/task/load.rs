//! `orca task load PLAN`

use std::path::PathBuf;

use orca_queue::LoadError;

use orca_workspace::Workspace;

use super::session::open_in;
use crate::command_error::{store_failure, workspace_failure};
use crate::commands::plan::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The plan (orca's Markdown format; `-` reads standard input).
    #[arg(value_name = "PLAN")]
    plan: PathBuf,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: `[store] url` of .orca/config.toml, else .orca/orca.db in
    /// the repository's main worktree]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,

    #[command(flatten)]
    input: PlanInputArgs,
}

pub(crate) fn run(args: &LoadArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    // Roles come from `[roles] known` unless --roles overrides them.
    let mut input = args.input.clone();
    if input.roles.is_empty() {
        input.roles = workspace.config().roles.known.clone();
    }
    let plan = load(&args.plan, &input)?;
    let graph = match plan.require_valid(&input, out) {
        Ok(graph) => graph,
        Err(code) => return Ok(code),
    };
    let loaded = crate::runtime::runtime()?.block_on(async {
        let queue = open_in(&workspace, true).await?;
        queue.load(&plan.checked.plan, Some(graph), Some(plan.source.name.clone())).await.map_err(
            |error| match error {
                LoadError::Invalid => Failure::failed("the plan is not valid"),
                LoadError::Store(error) => store_failure(&error),
            },
        )
    })?;
    if out.is_json() {
        out.json(&loaded);
        return Ok(ExitCode::Success);
    }
    out.text(loaded.to_string());
    if let Some(previous) = &loaded.previous_active {
        out.text(format!(
            "note: run {previous} is still active; `orca task` commands without --run now use run {}",
            loaded.run
        ));
    }
    out.text("next: each session runs `orca task next --claim --as NAME`");
    Ok(ExitCode::Success)
}
