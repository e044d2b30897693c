//! The `orca` binary: argument parsing and dispatch. Logic lives in the
//! libraries; each subcommand is one file under `commands/`.

mod columns;
mod command_error;
mod commands;
mod exit_code;
mod failure;
mod logging;
mod mcp;
mod output;
mod pinned_clis;
mod run_display;
mod run_session;
mod runtime;

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
    /// Write orca's system into this repository for agent sessions: the
    /// managed block in CLAUDE.md and AGENTS.md, Claude Code subagents and
    /// slash commands, and .orca/config.toml.
    Init(commands::init::InitArgs),
    /// Run one agent once, with live progress and a summary.
    Exec(Box<commands::exec::ExecArgs>),
    /// List the agent adapters, whether their CLIs are installed, and versions.
    Agents(commands::agents::AgentsArgs),
    /// Serve scripted model replies on 127.0.0.1 for agent CLIs (tests, demos).
    ModelServer(commands::model_server::ModelServerArgs),
    /// Run the pipeline: `orca run "GOAL"` from analysis to a report, or
    /// `orca run --plan FILE` from the given plan; up to N agents at once,
    /// each task in its own worktree, merged in dependency order.
    Run(commands::run::RunArgs),
    /// Continue a run that was interrupted, crashed, killed, paused, waits
    /// for approval, or failed and was fixed.
    Resume(commands::resume::ResumeArgs),
    /// Work the task queue from an agent session: load a plan, claim the
    /// next task, heartbeat, done, fail, block.
    Task(commands::task::TaskArgs),
    /// Serve the task queue over MCP on stdin/stdout (tools next_task,
    /// claim_task, heartbeat, complete_task, fail_task, plan_status, validate_plan).
    Mcp(commands::mcp::McpArgs),
    /// Show a run: its stages, and every task's state, attempts, lease holder and age.
    Status(commands::status::StatusArgs),
    /// Run the whole pipeline offline on a bundled example project: the
    /// real Claude Code CLI (installed on first use) against orca's scripted
    /// model server; prints where the report is.
    Demo(commands::demo::DemoArgs),
    /// Map the repository: languages, symbols, the most central files, and
    /// its build/test/format/lint commands (the analyze stage).
    Analyze(commands::analyze::AnalyzeArgs),
    /// Scan the latest run's changes (or --base REV, or --path) for secrets
    /// and dangerous code; SARIF with --sarif; exit 1 on findings.
    Scan(commands::scan::ScanArgs),
    /// Run the test suites here ([test] commands, else those found), each
    /// failing test named with its file and output; exit 1 on a failure.
    Test(commands::test::TestArgs),
    /// Run the formatters and autofixers of the repository's languages here
    /// (those installed); lists the files they changed. Commits nothing.
    Cleanup(commands::cleanup::CleanupArgs),
    /// What the review gate of the latest run (or RUN) found: the
    /// reviewer's verdict and changes, and orca's own checks of the plan.
    Review(commands::review::ReviewArgs),
    /// List this repository's runs, newest first.
    Runs(commands::runs::RunsArgs),
    /// Write a run's report again (report.html, .md, .json in its
    /// directory), or print one format, or write it to -o FILE.
    Report(commands::report::ReportArgs),
    /// Serve a live web view of this repository's runs on 127.0.0.1: stages,
    /// task graph, agents, each task's events; read-only unless --allow-actions.
    Dashboard(commands::dashboard::DashboardArgs),
    /// Take a run's result: fast-forward the checked-out branch to the
    /// run's integration branch (refused when the checkout has changes or
    /// the branch has commits of its own).
    Merge(commands::merge::MergeArgs),
    /// Print a shell completion script: `orca completions bash > ~/.local/share/bash-completion/completions/orca`.
    Completions(commands::completions::CompletionsArgs),
    /// Remove what finished runs left: attempt branches, worktrees, run
    /// directories (the result branch only once you took it, or --force).
    Clean(commands::clean::CleanArgs),
    /// Check everything a run needs (git, store, config, agents, disk), all
    /// problems at once; exit 0 only when a run can start.
    Doctor(commands::doctor::DoctorArgs),
    /// Work the task queue of this repository's scaled-out runs from this
    /// machine: claim tasks from the shared store, run each attempt here,
    /// push its branch to the git remote; the coordinator merges.
    Worker(commands::worker::WorkerArgs),
    /// List the workers registered in the store: host, orca version,
    /// agents, heartbeat age, what each runs now.
    Workers(commands::workers::WorkersArgs),
    /// Test-only: a worker whose agent sleeps; used by the crash tests.
    #[command(hide = true)]
    DebugWorker(commands::debug_worker::DebugWorkerArgs),
    /// Test-only: load a random DAG of tasks into a store.
    #[command(hide = true)]
    DebugCreateRun(commands::debug_create_run::DebugCreateRunArgs),
}

/// A command line clap refused. With `--json` anywhere on it, the error is
/// a JSON object on stdout like every other failure (exit 2); help and
/// version requests, and everything without `--json`, print as clap does.
fn argument_error(error: clap::Error) -> std::process::ExitCode {
    use clap::error::{ContextKind, ErrorKind};
    let wants_json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !wants_json || informational {
        error.exit();
    }
    // clap's first line, without its `error: ` prefix; the rest is usage.
    let rendered = error.render().to_string();
    let mut lines = rendered.lines();
    let mut message = lines.next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    if message.ends_with(':') {
        // "the following required arguments were not provided:" + a list.
        let list: Vec<&str> = lines.take_while(|l| l.starts_with("  ")).map(str::trim).collect();
        message = format!("{message} {}", list.join(", "));
    }
    let mut failure = failure::Failure::usage(message);
    let suggested =
        [ContextKind::SuggestedArg, ContextKind::SuggestedValue, ContextKind::SuggestedSubcommand]
            .into_iter()
            .find_map(|kind| match error.get(kind) {
                Some(clap::error::ContextValue::String(s)) => Some(s.clone()),
                Some(clap::error::ContextValue::Strings(s)) => s.first().cloned(),
                _ => None,
            });
    if let Some(suggested) = suggested {
        failure = failure.with_hint(format!("did you mean `{suggested}`?"));
    }
    if let Some(clap::error::ContextValue::Strings(valid)) = error.get(ContextKind::ValidValue) {
        failure = failure.with_hint(format!("possible values: {}", valid.join(", ")));
    }
    failure = failure.with_hint("`orca help` lists the commands; add --help to any of them");
    Output::new(true).failure(&failure);
    std::process::ExitCode::from(2)
}

fn main() -> std::process::ExitCode {
    // A file size limit (RLIMIT_FSIZE) should surface as a write error orca
    // reports, not as SIGXFSZ killing it mid-write. Threads started later
    // inherit the mask.
    let mut xfsz = nix::sys::signal::SigSet::empty();
    xfsz.add(nix::sys::signal::Signal::SIGXFSZ);
    let _ = xfsz.thread_block();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return argument_error(error),
    };
    let out = Output::new(cli.json);
    let run_log = logging::install(matches!(
        cli.command,
        Command::Run(_) | Command::Resume(_) | Command::Worker(_)
    ));
    let result = match cli.command {
        Command::Plan(args) => commands::plan::run(&args, &out),
        Command::Version(args) => commands::version::run(&args, &out),
        Command::Init(args) => commands::init::run(&args, &out),
        Command::Exec(args) => commands::exec::run(&args, &out),
        Command::Agents(args) => commands::agents::run(&args, &out),
        Command::ModelServer(args) => commands::model_server::run(&args, &out),
        Command::Run(args) => commands::run::run(&args, &out, run_log),
        Command::Resume(args) => commands::resume::run(&args, &out, run_log),
        Command::Status(args) => commands::status::run(&args, &out),
        Command::Runs(args) => commands::runs::run(&args, &out),
        Command::Review(args) => commands::review::run(&args, &out),
        Command::Cleanup(args) => commands::cleanup::run(&args, &out),
        Command::Test(args) => commands::test::run(&args, &out),
        Command::Demo(args) => commands::demo::run(&args, &out),
        Command::Report(args) => commands::report::run(&args, &out),
        Command::Dashboard(args) => commands::dashboard::run(&args, &out),
        Command::Merge(args) => commands::merge::run(&args, &out),
        Command::Scan(args) => commands::scan::run(&args, &out),
        Command::Analyze(args) => commands::analyze::run(&args, &out),
        Command::Doctor(args) => commands::doctor::run(&args, &out),
        Command::Clean(args) => commands::clean::run(&args, &out),
        Command::Completions(args) => {
            Ok(commands::completions::run(&args, <Cli as clap::CommandFactory>::command()))
        }
        Command::Task(args) => commands::task::run(&args, &out),
        Command::Mcp(args) => commands::mcp::run(&args, &out),
        Command::Worker(args) => commands::worker::run(&args, &out),
        Command::Workers(args) => commands::workers::run(&args, &out),
        Command::DebugWorker(args) => commands::debug_worker::run(&args, &out),
        Command::DebugCreateRun(args) => commands::debug_create_run::run(&args, &out),
    };
    match result {
        Ok(code) => code.into(),
        Err(failure) => {
            out.failure(&failure);
            failure.exit_code().into()
        }
    }
}
