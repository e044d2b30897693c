//! The `orca` binary: argument parsing and dispatch. Logic lives in the
//! libraries; each subcommand is one file under `commands/`.

mod commands;
mod exit_code;
mod failure;
mod output;

use clap::{Parser, Subcommand};

use crate::output::Output;

/// orca orchestrates AI coding agents: analyze, plan, run tasks in parallel
/// worktrees, scan, test, clean up, review and report.
#[derive(Debug, Parser)]
#[command(name = "orca", version, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of human output.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, inspect, graph and import plans.
    Plan(commands::plan::PlanArgs),
    /// Print orca's version and build information.
    Version(commands::version::VersionArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = match cli.command {
        Command::Plan(args) => commands::plan::run(&args, &out),
        Command::Version(args) => commands::version::run(&args, &out),
    };
    match result {
        Ok(code) => code.into(),
        Err(failure) => {
            out.failure(&failure);
            failure.exit_code().into()
        }
    }
}
