//! `orca plan graph FILE --format mermaid|dot|json`

use std::path::PathBuf;

use super::input::{PlanInputArgs, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct GraphArgs {
    /// The plan file (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    format: GraphFormat,

    #[command(flatten)]
    input: PlanInputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
    /// orca's plan JSON with a `graph` object (docs/plan-format.md).
    Json,
}

pub(crate) fn run(args: &GraphArgs, out: &Output) -> Result<ExitCode, Failure> {
    let loaded = load(&args.file, &args.input)?;
    let graph = match loaded.require_valid(&args.input, out) {
        Ok(graph) => graph,
        Err(code) => return Ok(code),
    };
    let plan = &loaded.checked.plan;
    match args.format {
        GraphFormat::Json => out.json(&orca_plan::graph_json(plan, graph)),
        GraphFormat::Mermaid | GraphFormat::Dot => {
            let (name, text) = if args.format == GraphFormat::Mermaid {
                ("mermaid", orca_plan::to_mermaid(plan, graph))
            } else {
                ("dot", orca_plan::to_dot(plan, graph))
            };
            if out.is_json() {
                out.json(&serde_json::json!({ "format": name, "text": text }));
            } else {
                out.text(text.trim_end());
            }
        }
    }
    Ok(ExitCode::Success)
}
