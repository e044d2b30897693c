//! `orca plan synth --tasks N` (hidden): synthetic plans for benchmarks
//! and stress tests.

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct SynthArgs {
    /// How many tasks.
    #[arg(long)]
    tasks: usize,

    /// Seed for the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = GeneratedFormat::Markdown)]
    format: GeneratedFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GeneratedFormat {
    /// orca's Markdown plan format.
    Markdown,
    /// A Task Master tasks.json with the same tasks and dependencies.
    Taskmaster,
}

pub(crate) fn run(args: &SynthArgs, out: &Output) -> Result<ExitCode, Failure> {
    if args.tasks == 0 || args.tasks > 1_000_000 {
        return Err(Failure::usage("--tasks must be between 1 and 1000000"));
    }
    let text = match args.format {
        GeneratedFormat::Markdown => orca_plan::synthetic::markdown(args.tasks, args.seed),
        GeneratedFormat::Taskmaster => orca_plan::synthetic::taskmaster_json(args.tasks, args.seed),
    };
    if out.is_json() {
        out.json(&serde_json::json!({ "format": format!("{:?}", args.format).to_lowercase(), "text": text }));
    } else {
        out.text(text.trim_end());
    }
    Ok(ExitCode::Success)
}
