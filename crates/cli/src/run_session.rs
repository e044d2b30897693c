//! What `orca run` and `orca resume` share: opening the repository, its
//! config and store; driving the engine on a runtime with Ctrl-C wired to
//! it; asking for the plan's approval; showing events; turning the outcome
//! into a summary and an exit code.

use std::io::{BufRead, IsTerminal, Write};

use orca_engine::{
    OpenWorkspace, PlanSummary, ResumeRequest, RunChannels, RunEvent, RunOptions, RunOutcome,
    RunReport, RunRequest,
};
use orca_store::{StageState, StoreOptions};
use orca_workspace::Workspace;
use tokio::sync::mpsc;

use crate::command_error::{engine_failure, open_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::logging::RunLog;
use crate::output::Output;
use crate::run_display::Display;

/// What to ask the engine for.
pub(crate) enum EngineCall {
    Start(Box<RunRequest>),
    Resume(ResumeRequest),
}

/// Finds the repository, its config and store (`--store`, else the config).
pub(crate) fn find_workspace(store: Option<&str>) -> Result<Workspace, Failure> {
    let workspace = Workspace::discover(store).map_err(|e| workspace_failure(&e))?;
    workspace.require_layout().map_err(|e| workspace_failure(&e))?;
    Ok(workspace)
}

async fn open(workspace: Workspace) -> Result<OpenWorkspace, Failure> {
    let store = workspace
        .open_store(&StoreOptions::default())
        .await
        .map_err(|error| open_failure(&error))?;
    crate::output::store_notices(&store);
    OpenWorkspace::new(workspace, store).map_err(|error| engine_failure(&error))
}

/// Runs `call` with events shown and Ctrl-C (and SIGTERM) delivered to it.
/// A plan that waits for approval is shown and asked about when both ends
/// are a terminal; a yes continues the run at once.
pub(crate) fn drive(
    out: &Output,
    common: &RunCommonArgs,
    workspace: Workspace,
    call: EngineCall,
    run_log: Option<RunLog>,
) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut call = call;
        let mut workspace = workspace;
        loop {
            let ws = open(workspace.clone()).await?;
            let root = ws.layout.root().to_owned();
            let report = once(out, common.progress, ws, call, run_log.clone()).await?;
            if report.outcome == RunOutcome::AwaitingApproval && may_ask(out) {
                if let Some(plan) = &report.plan {
                    eprintln!("{}", plan_text(plan));
                }
                if ask("Run this plan?") {
                    call = EngineCall::Resume(ResumeRequest {
                        run: Some(report.run.clone()),
                        yes: true,
                        ..ResumeRequest::default()
                    });
                    workspace = find_workspace(Some(workspace.store_url()))?;
                    continue;
                }
            }
            if !out.is_json() {
                let mut text = summary(&report);
                if common.merge && report.outcome == RunOutcome::Completed {
                    text.push('\n');
                    text.push_str(&crate::commands::merge::after_run(&root, report.run.as_str()));
                }
                out.text(text);
            } else if common.merge && report.outcome == RunOutcome::Completed {
                // JSON readers get the merge's outcome as an event-like line on stderr.
                eprintln!(
                    "{}",
                    crate::commands::merge::after_run(&root, report.run.as_str()).trim()
                );
            }
            return Ok(exit_code(&report.outcome));
        }
    })
}

/// One engine call, with its own channels and display.
async fn once(
    out: &Output,
    progress: bool,
    ws: OpenWorkspace,
    call: EngineCall,
    run_log: Option<RunLog>,
) -> Result<RunReport, Failure> {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<orca_engine::TimedEvent>();
    let (interrupt_tx, interrupt_rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward_interrupts(interrupt_tx));
    let mut display = Display::new(out, progress);
    let layout = ws.layout.clone();
    let shown = tokio::spawn(async move {
        while let Some(event) = events_rx.recv().await {
            // The run's log file, once the run is known.
            if let (RunEvent::RunStarted { run, .. }, Some(run_log)) = (&event.event, &run_log) {
                run_log.open(&layout.run_dir(run.as_str()).join("orca.log"));
            }
            display.show(&event);
        }
        display.finish();
    });
    let channels = RunChannels { events: events_tx, interrupts: interrupt_rx };
    let result = match call {
        EngineCall::Start(request) => orca_engine::start(ws, *request, channels).await,
        EngineCall::Resume(request) => orca_engine::resume(ws, request, channels).await,
    };
    let _ = shown.await;
    forwarder.abort();
    result.map_err(|error| engine_failure(&error))
}

fn may_ask(out: &Output) -> bool {
    !out.is_json() && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a yes/no question on the terminal; anything but yes is no.
fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Each Ctrl-C or SIGTERM becomes one interrupt message.
pub(crate) async fn forward_interrupts(tx: mpsc::UnboundedSender<()>) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => if result.is_err() { return },
            _ = terminate.recv() => {}
        }
        if tx.send(()).is_err() {
            return;
        }
    }
}

fn exit_code(outcome: &RunOutcome) -> ExitCode {
    match outcome {
        RunOutcome::Completed | RunOutcome::Paused { .. } | RunOutcome::AwaitingApproval => {
            ExitCode::Success
        }
        RunOutcome::Failed { .. } | RunOutcome::Halted { .. } => ExitCode::Failure,
        RunOutcome::Interrupted { .. } => ExitCode::Interrupted,
    }
}

/// The plan in numbers, as the approval question shows it.
fn plan_text(plan: &PlanSummary) -> String {
    format!(
        "plan \"{}\": {} task(s) in {} wave(s), up to {} at once\n  critical path: {}\n  the plan: {}",
        plan.title,
        plan.tasks,
        plan.waves,
        plan.parallelism,
        plan.critical_path.join(" → "),
        plan.path.display()
    )
}

fn summary(report: &RunReport) -> String {
    let mut lines = vec![format!(
        "run {}: {} — {} merged, {} failed, {} blocked in {}",
        report.run,
        report.outcome.as_str(),
        report.merged,
        report.failed.len(),
        report.blocked.len(),
        orca_agents::format_duration(report.duration),
    )];
    for stage in &report.stages {
        let mark = match stage.state {
            StageState::Passed => "✓",
            StageState::Failed => "✗",
            StageState::Skipped => "-",
            StageState::Running => "…",
            StageState::Pending => " ",
        };
        let mut line = format!("  {mark} {:<10} {}", stage.stage.as_str(), stage.state.as_str());
        if let Some(note) = stage.note.as_deref().and_then(|note| note.lines().next()) {
            line.push_str(&format!(": {note}"));
        }
        lines.push(line);
    }
    for (task, reason) in &report.failed {
        lines.push(format!("  failed  {task}: {reason}"));
    }
    for (task, by) in &report.blocked {
        lines.push(format!("  blocked {task}: depends on {by}, which failed"));
    }
    let tokens = report.usage.input_tokens + report.usage.output_tokens;
    if tokens > 0 || report.cost_usd > 0.0 {
        lines.push(format!(
            "  {tokens} tokens{}",
            if report.cost_usd > 0.0 {
                format!(", ${:.2}", report.cost_usd)
            } else {
                String::new()
            }
        ));
    }
    match &report.outcome {
        RunOutcome::Interrupted { .. } => lines.push("  continue with: orca resume".into()),
        RunOutcome::Halted { reason, .. } => {
            lines.push(format!("  stopped: {reason}"));
            lines.push("  once that is fixed, continue with: orca resume".into());
        }
        RunOutcome::Paused { after } => {
            lines.push(format!("  stopped after {after} as asked; continue with: orca resume"));
        }
        RunOutcome::AwaitingApproval => {
            if let Some(plan) = &report.plan {
                lines.push(format!("  {}", plan_text(plan).replace('\n', "\n  ")));
            }
            lines.push(
                "  the plan waits for your approval: read it, then run it with `orca resume --yes`"
                    .into(),
            );
        }
        RunOutcome::Failed { stage, reason } => {
            lines.push(format!("  {stage} failed: {}", reason.lines().next().unwrap_or("")));
            lines.push(format!(
                "  after a fix: orca resume --run {}{}",
                report.run,
                if *stage == orca_store::Stage::Implement { " --retry-failed" } else { "" }
            ));
        }
        RunOutcome::Completed => lines.push(format!(
            "  the result is on branch {} (your checkout is untouched); take it with `orca merge` \
             (or `git merge {0}`)",
            report.integration_branch
        )),
    }
    let plan = report.run_dir.join("plan.md");
    let waits_on_plan = matches!(
        report.outcome,
        RunOutcome::AwaitingApproval | RunOutcome::Paused { after: orca_store::Stage::Plan }
    );
    if waits_on_plan && plan.exists() {
        lines.push(format!("  plan: {}", plan.display()));
    }
    if report.run_dir.join("report.html").exists() {
        lines.push(format!("  report: {}", report.run_dir.join("report.html").display()));
    }
    lines.join("\n")
}

/// Options `orca run` and `orca resume` share.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunCommonArgs {
    /// The most agents working at once [default: `[run] agents`, 4]; 0
    /// with --remote: `orca worker`s on other machines run every attempt.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=256))]
    pub(crate) agents: Option<u32>,

    /// Scale out (docs/scale-out.md): `orca worker`s on other machines,
    /// sharing the PostgreSQL store, run this run's tasks and push their
    /// attempt branches to this git remote (a URL or a remote's name);
    /// this orca pushes the integration branch there and merges.
    #[arg(long, value_name = "URL")]
    pub(crate) remote: Option<String>,

    /// The agent for tasks whose plan names none [default: `[run] agent`].
    #[arg(long, value_name = "NAME")]
    pub(crate) agent: Option<String>,

    /// Keep the attempt branches when the run completes.
    #[arg(long)]
    pub(crate) keep_branches: bool,

    /// Fail a task on a merge conflict instead of sending it to a resolver agent.
    #[arg(long)]
    pub(crate) no_resolver: bool,

    /// Print a line per event on stderr even when it is not a terminal.
    #[arg(long)]
    pub(crate) progress: bool,

    /// When the run completes, fast-forward the checked-out branch to its
    /// result (as `orca merge`; refused when the checkout has changes).
    #[arg(long)]
    pub(crate) merge: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    pub(crate) store: Option<String>,

    /// The most money (US dollars, e.g. 5 or 2.50) the run's task attempts
    /// may spend together; kept with the run, so `orca resume` with a
    /// higher one continues a run that spent it [default: `[run] budget_usd`].
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub(crate) budget_usd: Option<u64>,

    /// The most tokens (fresh input plus output) the run's task attempts may
    /// use together [default: `[run] budget_tokens`].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) budget_tokens: Option<u64>,
}

impl RunCommonArgs {
    pub(crate) fn options(&self) -> RunOptions {
        let budget = (self.budget_usd.is_some() || self.budget_tokens.is_some()).then_some(
            orca_plan::Budget { tokens: self.budget_tokens, usd_micros: self.budget_usd },
        );
        RunOptions {
            agents: self.agents.map(|n| n as usize),
            agent: self.agent.clone(),
            keep_branches: self.keep_branches.then_some(true),
            resolver: self.no_resolver.then_some(false),
            remote: self.remote.clone(),
            budget,
        }
    }
}

/// `5`, `2.50` or `$2.50` as millionths of a dollar, more than zero.
fn parse_usd(text: &str) -> Result<u64, String> {
    let amount = text.trim().trim_start_matches('$');
    orca_plan::Budget::parse(&format!("${amount}"))
        .and_then(|budget| budget.usd_micros)
        .ok_or_else(|| format!("`{text}` is not an amount of US dollars above 0, e.g. 5 or 2.50"))
}
