//! `orca plan ...`: check, show, graph, next, import and generate plans. The work is
//! done by orca-plan; these files read input, call it, and print.

mod check;
mod generate;
mod graph;
mod import;
pub(crate) mod input;
mod next;
mod show;
mod synth;

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PlanCommand {
    /// Check plans: every problem at once, with file:line:column.
    ///
    /// Exit status: 0 when every plan is valid (warnings are printed),
    /// 1 when one is invalid, 2 when a file cannot be read.
    Check(check::CheckArgs),
    /// Summarize a plan: tasks, waves, critical path, parallelism.
    Show(show::ShowArgs),
    /// Print a plan's dependency graph as Mermaid, DOT or JSON.
    Graph(graph::GraphArgs),
    /// List the tasks that can start now, in dispatch order.
    Next(next::NextArgs),
    /// Convert a spec-kit tasks.md, Task Master tasks.json or orca JSON
    /// plan into orca's Markdown plan format.
    Import(import::ImportArgs),
    /// Have the planner agent write a plan for GOAL: a run up to its plan
    /// stage (analysis, then the plan, checked and saved in the run).
    Generate(generate::GenerateArgs),
    /// Write a synthetic plan (for benchmarks and stress tests).
    #[command(hide = true)]
    Synth(synth::SynthArgs),
}

pub(crate) fn run(args: &PlanArgs, out: &Output) -> Result<ExitCode, Failure> {
    match &args.command {
        PlanCommand::Check(args) => check::run(args, out),
        PlanCommand::Show(args) => show::run(args, out),
        PlanCommand::Graph(args) => graph::run(args, out),
        PlanCommand::Next(args) => next::run(args, out),
        PlanCommand::Import(args) => import::run(args, out),
        PlanCommand::Generate(args) => generate::run(args, out),
        PlanCommand::Synth(args) => synth::run(args, out),
    }
}
