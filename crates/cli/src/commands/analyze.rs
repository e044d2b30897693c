//! `orca analyze`: the analyze stage on the current repository: the map of
//! its languages, symbols, most central files and commands.

use orca_analyze::AnalyzeOptions;
use orca_workspace::Workspace;

use crate::command_error::{describe, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// Print the text agents get (`analysis.md`) instead of the summary.
    #[arg(long)]
    markdown: bool,

    /// The token budget of `--markdown` [default: `[analyze] budget_tokens`].
    #[arg(long, value_name = "TOKENS")]
    budget: Option<usize>,
}

pub(crate) fn run(args: &AnalyzeArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = Workspace::discover(None).map_err(|e| workspace_failure(&e))?;
    let root = workspace.require_layout().map_err(|e| workspace_failure(&e))?.root().to_owned();
    let analysis = orca_analyze::analyze(&root, &AnalyzeOptions::default())
        .map_err(|e| Failure::failed(describe(&e)))?;
    if out.is_json() {
        out.json(&analysis);
    } else if args.markdown {
        let budget = args.budget.unwrap_or(workspace.config().analyze.budget_tokens as usize);
        out.text(analysis.to_markdown(budget).trim_end());
    } else {
        out.text(analysis.summary());
    }
    Ok(ExitCode::Success)
}
