//! The pipeline driver: the only code that moves a run from stage to
//! stage. [`transition`] decides (a pure function of the stages' states);
//! the driver runs the stage it names, records every change in the store
//! as it happens, and so `orca resume` continues a run from the exact
//! stage it stopped in, in another process, after Ctrl-C, a crash or
//! `kill -9`, without redoing a finished stage.

mod interrupts;
mod record;
pub mod session;
pub mod transition;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orca_agents::{HostEnv, Usage};
use orca_config::{Config, Layout};
use orca_git::{Repo, integration_branch};
use orca_plan::{Plan, PlanGraph};
use orca_store::{
    NewRun, RepoRef, RunId, RunState, SessionLock, Stage, StageChange, StageState, StageStatus,
    Store,
};
use orca_workspace::Workspace;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

pub use interrupts::Interrupts;
pub use record::{PipelineRecord, PlanProgress, RunOptions};
pub use transition::Selection;

use self::transition::{Change, Ledger, Next, Policy};
use crate::error::EngineError;
use crate::events::{RunEvent, TimedEvent};
use crate::stages;
use crate::stages::implement::ImplementReport;

/// The `mode` of runs the pipeline drives (the store also holds runs
/// worked by agent sessions).
pub const RUN_MODE: &str = "orca-run";

/// The repository a run works on, with its store and configuration open.
#[derive(Debug)]
pub struct OpenWorkspace {
    pub workspace: Workspace,
    pub repo: Arc<Repo>,
    pub layout: Layout,
    pub config: Config,
    pub store: Store,
    pub host: Arc<HostEnv>,
    /// The repository's identity and checkout, as runs record them.
    pub repo_ref: Option<RepoRef>,
}

impl OpenWorkspace {
    /// Opens the repository of `workspace` (it must have one) with `store`.
    pub fn new(workspace: Workspace, store: Store) -> Result<OpenWorkspace, EngineError> {
        let layout = workspace.layout().cloned().ok_or(EngineError::NoRepository)?;
        let repo = Repo::discover(layout.root())?;
        let repo_ref = workspace.repo_ref()?;
        Ok(OpenWorkspace {
            config: workspace.config().clone(),
            workspace,
            repo: Arc::new(repo),
            layout,
            store,
            host: Arc::new(HostEnv::current()),
            repo_ref,
        })
    }
}

/// Where a run's events go and where interrupts come from.
#[derive(Debug)]
pub struct RunChannels {
    pub events: mpsc::UnboundedSender<TimedEvent>,
    /// One message per Ctrl-C: the first stops gracefully, the second kills.
    pub interrupts: mpsc::UnboundedReceiver<()>,
}

/// A validated plan to run.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// Where the plan came from, as the user named it.
    pub path: Option<String>,
    /// The plan file's text, kept with the run.
    pub text: String,
    pub plan: Plan,
    pub graph: PlanGraph,
}

/// What a new run starts from.
#[derive(Debug, Clone)]
pub enum RunInput {
    /// All nine stages: the planner writes the plan.
    Goal(String),
    /// From the parallel stage, with this plan.
    Plan(Box<PlanInput>),
}

/// `orca run`.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub input: RunInput,
    pub options: RunOptions,
    pub from: Option<Stage>,
    pub until: Option<Stage>,
    pub skip: Vec<Stage>,
    /// Accept the plan without asking.
    pub yes: bool,
    /// Who skips stages, for the record (the user's name).
    pub user: String,
}

/// `orca resume`.
#[derive(Debug, Clone, Default)]
pub struct ResumeRequest {
    /// The run to continue [default: this repository's newest unfinished run].
    pub run: Option<RunId>,
    pub options: RunOptions,
    /// Give failed tasks fresh attempts; their blocked dependents wait again.
    pub retry_failed: bool,
    /// Accept the plan that waits for approval.
    pub yes: bool,
    /// Stop after this stage.
    pub until: Option<Stage>,
}

/// How far a run got this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every stage passed or was skipped.
    Completed,
    /// A stage failed; `orca resume` runs it again after a fix.
    Failed { stage: Stage, reason: String },
    /// Stopped by the user; `orca resume` continues.
    Interrupted { stage: Stage },
    /// Stopped for a reason that is not a task's fault (a stale git lock,
    /// the integration branch checked out); `orca resume` continues once
    /// it is fixed.
    Halted { stage: Stage, reason: String },
    /// Stopped after `--until`; `orca resume` continues.
    Paused { after: Stage },
    /// The plan waits for the user's yes: `orca resume --yes`.
    AwaitingApproval,
}

impl RunOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Interrupted { .. } => "interrupted",
            RunOutcome::Halted { .. } => "halted",
            RunOutcome::Paused { .. } => "paused",
            RunOutcome::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// What a run did, for the summary.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: RunId,
    pub title: String,
    pub outcome: RunOutcome,
    /// All nine stages as they stand now.
    pub stages: Vec<StageStatus>,
    pub merged: usize,
    /// Tasks that failed for good, with the reason.
    pub failed: Vec<(String, String)>,
    /// Tasks that did not run, with the failed task that blocked them.
    pub blocked: Vec<(String, String)>,
    pub integration_branch: String,
    /// `.orca/runs/<run>/`: plan, analysis, report, logs.
    pub run_dir: PathBuf,
    pub duration: Duration,
    pub usage: Usage,
    pub cost_usd: f64,
    /// The plan as accepted (or waiting for approval), in numbers.
    pub plan: Option<PlanSummary>,
}

/// A plan in numbers, as the approval prompt and the summary show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanSummary {
    pub title: String,
    pub tasks: usize,
    pub waves: usize,
    /// Task IDs on the critical path, first to last.
    pub critical_path: Vec<String>,
    /// The most tasks that can run at once.
    pub parallelism: usize,
    /// Where the plan is kept.
    pub path: PathBuf,
}

impl PlanSummary {
    pub(crate) fn of(plan: &Plan, graph: &PlanGraph, path: PathBuf) -> PlanSummary {
        PlanSummary {
            title: plan.title.clone(),
            tasks: plan.tasks.len(),
            waves: graph.waves().len(),
            critical_path: graph
                .critical_path()
                .tasks
                .iter()
                .map(|t| graph.id(*t).to_string())
                .collect(),
            parallelism: graph.max_parallelism().agents,
            path,
        }
    }
}

/// One run as the stages see it: the workspace, the run, its record and
/// where events go. Only the driver writes stage states.
pub(crate) struct Pipeline {
    pub ws: OpenWorkspace,
    pub run: RunId,
    pub title: String,
    pub record: PipelineRecord,
    /// The options in force: the command line's over the run's own.
    pub options: RunOptions,
    /// Failed tasks get fresh attempts (`orca resume --retry-failed`).
    pub retry_failed: bool,
    pub events: mpsc::UnboundedSender<TimedEvent>,
    pub interrupts: Interrupts,
    pub resumed: bool,
    /// What the implement stage did last, for the summary.
    pub implemented: Option<ImplementReport>,
    /// The plan summary once the plan is known.
    pub plan_summary: Option<PlanSummary>,
}

impl Pipeline {
    pub(crate) fn emit(&self, event: RunEvent) {
        crate::events::log(&event);
        if let RunEvent::GateChecked { gate, findings, failing, suppressed } = &event {
            self.keep_gate_check(*gate, *findings, *failing, *suppressed);
        }
        let _ = self.events.send(TimedEvent { at_ms: crate::events::now_ms(), event });
    }

    /// Appends one gate check to `gates.jsonl` in the run's directory, so
    /// that status and the report can show each gate before and after
    /// its fix rounds (the store keeps only a gate's last note).
    fn keep_gate_check(&self, gate: Stage, findings: usize, failing: usize, suppressed: usize) {
        use std::io::Write as _;
        let line = serde_json::json!({
            "gate": gate,
            "findings": findings,
            "failing": failing,
            "suppressed": suppressed,
            "at_ms": crate::events::now_ms(),
        });
        let path = self.run_dir().join(orca_report::GATE_CHECKS);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(error) = written {
            tracing::warn!(%error, path = %path.display(), "cannot keep the gate's check");
        }
    }

    /// `.orca/runs/<run>/`
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.ws.layout.run_dir(self.run.as_str())
    }

    pub(crate) fn integration(&self) -> String {
        integration_branch(self.run.as_str())
    }

    /// Stores the record (after a stage changed it).
    pub(crate) async fn save_record(&self) -> Result<(), EngineError> {
        Ok(self.record.save(&self.ws.store, &self.run).await?)
    }

    /// The agent for work whose plan names none.
    pub(crate) fn default_agent(&self) -> String {
        self.options.agent.clone().unwrap_or_else(|| self.ws.config.run.agent.clone())
    }

    /// The fix round a gate's fix tasks now belong to, or None when the gate
    /// has used every round `[gates] max_fix_rounds` allows (or implement,
    /// which would do them, is skipped).
    pub(crate) async fn fix_round(&self, gate: Stage) -> Result<Option<u32>, EngineError> {
        let ledger = ledger(self).await?;
        let used = ledger.rounds(gate);
        let implement_runs = ledger.state(Stage::Implement) != StageState::Skipped;
        Ok((implement_runs && used < self.ws.config.gates.max_fix_rounds).then_some(used + 1))
    }

    /// The user interrupted at least once.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupts.count() > 0
    }
}

/// Starts a new run and drives it as far as it goes.
pub async fn start(
    ws: OpenWorkspace,
    request: RunRequest,
    channels: RunChannels,
) -> Result<RunReport, EngineError> {
    let lock = SessionLock::acquire(&ws.layout, ws.config.lease.ttl)?;
    let options = request.options.clone();
    let head = match ws.repo.head_commit() {
        Ok(head) => head.to_string(),
        Err(orca_git::RefError::UnbornHead) => return Err(EngineError::NoCommit),
        Err(error) => return Err(error.into()),
    };
    let selection = Selection {
        from: request.from.unwrap_or(match request.input {
            RunInput::Goal(_) => Stage::Analyze,
            RunInput::Plan(_) => Stage::Parallel,
        }),
        until: request.until.unwrap_or(Stage::Complete),
        skip: request.skip.clone(),
    };
    // A goal becomes a plan only in the plan stage: a selection without it
    // would leave the run with nothing to do and no way to finish.
    if matches!(request.input, RunInput::Goal(_)) {
        let plan_at = transition::position(Stage::Plan);
        let starts_after = transition::position(selection.from) > plan_at;
        let stops_before = transition::position(selection.until) < plan_at;
        if (starts_after || selection.skip.contains(&Stage::Plan)) && !stops_before {
            return Err(EngineError::GoalWithoutPlan {
                how: if starts_after {
                    format!("--from {}", selection.from)
                } else {
                    "--skip plan".to_owned()
                },
            });
        }
    }
    let record = PipelineRecord {
        goal: match &request.input {
            RunInput::Goal(goal) => Some(goal.clone()),
            RunInput::Plan(_) => None,
        },
        base: Some(head),
        selection: selection.clone(),
        planned: matches!(request.input, RunInput::Goal(_)),
        approved: request.yes,
        plan: PlanProgress::default(),
        options: options.clone(),
        protocol: Some(orca_store::PROTOCOL_VERSION),
    };
    // Every agent a given plan needs is checked before anything is created.
    let new_run = match &request.input {
        RunInput::Plan(input) => {
            stages::parallel::check_agents(&ws, &options, Some(&input.plan)).await?;
            let mut new_run = stages::parallel::new_run(
                &input.plan,
                &input.graph,
                input.path.clone(),
                RUN_MODE,
                ws.config.run.max_attempts,
            );
            new_run.repo = ws.repo_ref.clone();
            new_run.pipeline_json = Some(record.to_json());
            new_run
        }
        RunInput::Goal(goal) => {
            stages::parallel::check_agents(&ws, &options, None).await?;
            NewRun {
                title: title_of_goal(goal),
                plan_path: None,
                plan_json: "{}".to_owned(),
                mode: RUN_MODE.to_owned(),
                tasks: Vec::new(),
                repo: ws.repo_ref.clone(),
                pipeline_json: Some(record.to_json()),
            }
        }
    };
    let title = new_run.title.clone();
    let run = ws.store.create_run(&new_run).await?;
    let dir = ws.layout.run_dir(run.as_str());
    std::fs::create_dir_all(&dir).map_err(EngineError::io(&dir))?;
    let plan_summary = match &request.input {
        RunInput::Plan(input) => {
            let copy = dir.join("plan.md");
            std::fs::write(&copy, &input.text).map_err(EngineError::io(&copy))?;
            Some(PlanSummary::of(&input.plan, &input.graph, copy))
        }
        RunInput::Goal(goal) => {
            let path = dir.join("goal.md");
            std::fs::write(&path, goal).map_err(EngineError::io(&path))?;
            None
        }
    };
    let pipeline = Pipeline {
        ws,
        run,
        title,
        record,
        options,
        retry_failed: false,
        events: channels.events,
        interrupts: Interrupts::counting(channels.interrupts),
        resumed: false,
        implemented: None,
        plan_summary,
    };
    for change in transition::initial(&selection, &request.user) {
        record_change(&pipeline, &change).await?;
    }
    let span = tracing::info_span!("run", run = %pipeline.run);
    drive(pipeline, lock).instrument(span).await
}

/// Continues a run after an interrupt, a crash, a `kill -9`, a pause or a
/// failure that was fixed.
pub async fn resume(
    ws: OpenWorkspace,
    request: ResumeRequest,
    channels: RunChannels,
) -> Result<RunReport, EngineError> {
    let lock = SessionLock::acquire(&ws.layout, ws.config.lease.ttl)?;
    let run = pick_run(&ws, &request).await?;
    let mut record = PipelineRecord::load(&ws.store, &run.id).await?;
    record.options = request.options.over(&record.options);
    record.approved |= request.yes;
    record.protocol = Some(orca_store::PROTOCOL_VERSION);
    // `--until` holds for the command that gives it.
    record.selection.until = request.until.unwrap_or(Stage::Complete);
    record.save(&ws.store, &run.id).await?;
    if run.state != RunState::Active {
        ws.store.finish_run(&run.id, RunState::Active).await?;
    }
    let pipeline = Pipeline {
        options: record.options.clone(),
        ws,
        run: run.id,
        title: run.title,
        record,
        retry_failed: request.retry_failed,
        events: channels.events,
        interrupts: Interrupts::counting(channels.interrupts),
        resumed: true,
        implemented: None,
        plan_summary: None,
    };
    let span = tracing::info_span!("run", run = %pipeline.run);
    drive(pipeline, lock).instrument(span).await
}

/// How many of the newest runs `orca resume` looks through.
const RESUMABLE_WINDOW: usize = 1000;

/// The run `orca resume` continues: the one named, else this repository's
/// newest unfinished run (or, with `--retry-failed`, its newest run that
/// failed or is unfinished).
async fn pick_run(
    ws: &OpenWorkspace,
    request: &ResumeRequest,
) -> Result<orca_store::Run, EngineError> {
    let scope = ws.workspace.run_scope(ws.repo_ref.as_ref());
    let run = match &request.run {
        Some(id) => {
            let run = ws.store.run(id).await?;
            if let (Some(theirs), Some(ours)) = (&run.repo, &ws.repo_ref)
                && theirs != ours
            {
                return Err(EngineError::OtherRepository {
                    run: run.id,
                    checkout: theirs.checkout.clone(),
                });
            }
            run
        }
        None => {
            let states: &[RunState] = if request.retry_failed {
                &[RunState::Active, RunState::Failed]
            } else {
                &[RunState::Active]
            };
            // Runs an agent session loaded (`orca task load`) are worked
            // through the queue, not resumed.
            let ours: Vec<orca_store::Run> = ws
                .store
                .runs(scope, RESUMABLE_WINDOW)
                .await?
                .into_iter()
                .map(|summary| summary.run)
                .filter(|run| run.mode == RUN_MODE)
                .collect();
            match ours.iter().find(|run| states.contains(&run.state)).cloned() {
                Some(run) => run,
                None => {
                    return Err(match ours.first().cloned() {
                        Some(latest) => EngineError::AlreadyFinished {
                            failed_at: latest.stage.filter(|_| latest.state == RunState::Failed),
                            run: latest.id,
                            state: latest.state,
                        },
                        None => EngineError::NothingToResume,
                    });
                }
            }
        }
    };
    if run.mode != RUN_MODE {
        return Err(EngineError::NotOrcaRun { run: run.id, mode: run.mode });
    }
    match run.state {
        RunState::Active => {}
        RunState::Failed if request.retry_failed || request.run.is_some() => {}
        state => {
            return Err(EngineError::AlreadyFinished {
                failed_at: run.stage.filter(|_| state == RunState::Failed),
                run: run.id,
                state,
            });
        }
    }
    Ok(run)
}

/// Drives the run from stage to stage until it ends or stops.
async fn drive(mut p: Pipeline, lock: SessionLock) -> Result<RunReport, EngineError> {
    let started = Instant::now();
    let worker = crate::process::worker_name();
    if let Err(error) =
        p.ws.store.register_worker(&worker, &crate::process::host_name(), std::process::id()).await
    {
        tracing::warn!(%error, "cannot register this process as a worker");
    }
    let (stop_renewing, renewing) =
        keep_alive(lock, p.ws.store.clone(), worker, p.ws.config.lease.heartbeat);
    p.emit(RunEvent::RunStarted {
        run: p.run.to_string(),
        title: p.title.clone(),
        goal: p.record.goal.clone(),
        tasks: p.plan_summary.as_ref().map_or(0, |plan| plan.tasks),
        agents: p.options.agents.unwrap_or(p.ws.config.run.agents as usize).max(1),
        integration_branch: p.integration(),
        resumed: p.resumed,
    });
    if !p.resumed {
        // What the selection left out, recorded when the run was created.
        for stage in p.ws.store.run_status(&p.run).await?.stages {
            if stage.state == StageState::Skipped {
                p.emit(RunEvent::StageFinished {
                    stage: stage.stage,
                    state: stage.state,
                    note: stage.note,
                    duration_ms: 0,
                });
            }
        }
    }
    let end = loop {
        let mut ledger = ledger(&p).await?;
        let policy = policy(&p);
        let stage = match transition::next(&ledger, &p.record.selection, &policy) {
            Next::Run(stage) => stage,
            other => break other,
        };
        if p.interrupted() {
            break Next::Interrupted { stage };
        }
        let running = Change { stage, state: StageState::Running, note: None, rounds: None };
        record_change(&p, &running).await?;
        ledger.apply(std::slice::from_ref(&running));
        p.emit(RunEvent::StageStarted { stage });
        let stage_started = Instant::now();
        let outcome = stages::run(stage, &mut p).await?;
        kill_point(stage, "done");
        let step = transition::after(&ledger, stage, outcome, &policy);
        for change in &step.changes {
            record_change(&p, change).await?;
        }
        kill_point(stage, "recorded");
        if let Some(change) = step.changes.iter().find(|c| c.stage == stage) {
            p.emit(RunEvent::StageFinished {
                stage,
                state: change.state,
                note: change.note.clone(),
                duration_ms: millis(stage_started.elapsed()),
            });
        }
        if let Some(stop) = step.stop {
            break stop;
        }
    };
    // The lock is released before the summary: the caller may go on with
    // another command (`orca run` asking for approval resumes at once).
    let _ = stop_renewing.send(());
    let _ = renewing.await;
    finish(p, end, started).await
}

/// The crash tests' kill -9 at a known point: with `ORCA_TEST_KILL_AT`
/// set to `<stage>:done` (the stage's work is done, its end not yet
/// recorded) or `<stage>:recorded` (between this stage and the next),
/// orca sends itself SIGKILL there. Unset, it costs one lookup per stage.
fn kill_point(stage: Stage, point: &str) {
    let Some(wanted) = std::env::var_os("ORCA_TEST_KILL_AT") else { return };
    if wanted.to_str() == Some(&format!("{stage}:{point}")) {
        tracing::warn!(%stage, point, "ORCA_TEST_KILL_AT: killing this process");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Records the run's end and builds the report.
async fn finish(p: Pipeline, end: Next, started: Instant) -> Result<RunReport, EngineError> {
    let outcome = match end {
        Next::Succeeded => RunOutcome::Completed,
        Next::Failed { stage, reason } => RunOutcome::Failed { stage, reason },
        Next::Interrupted { stage } => RunOutcome::Interrupted { stage },
        Next::Halted { stage, reason } => RunOutcome::Halted { stage, reason },
        Next::Paused { after } => RunOutcome::Paused { after },
        Next::AwaitingApproval => RunOutcome::AwaitingApproval,
        Next::Run(stage) => RunOutcome::Interrupted { stage },
    };
    match outcome {
        RunOutcome::Completed => p.ws.store.finish_run(&p.run, RunState::Succeeded).await?,
        RunOutcome::Failed { .. } => p.ws.store.finish_run(&p.run, RunState::Failed).await?,
        _ => {}
    }
    write_report(&p).await;
    let status = p.ws.store.run_status(&p.run).await?;
    let implemented = p.implemented.clone().unwrap_or_default();
    let report = RunReport {
        run: p.run.clone(),
        title: status.run.title.clone(),
        outcome,
        merged: status.count(orca_store::TaskState::Succeeded),
        stages: status.stages,
        failed: implemented.failed.clone(),
        blocked: implemented.blocked.clone(),
        integration_branch: p.integration(),
        run_dir: p.run_dir(),
        duration: started.elapsed(),
        usage: implemented.usage,
        cost_usd: implemented.cost_usd,
        plan: p.plan_summary.clone(),
    };
    p.emit(RunEvent::RunFinished {
        run: p.run.to_string(),
        outcome: report.outcome.as_str().into(),
        stage: match &report.outcome {
            RunOutcome::Failed { stage, .. }
            | RunOutcome::Interrupted { stage }
            | RunOutcome::Halted { stage, .. } => Some(*stage),
            RunOutcome::Paused { after } => Some(*after),
            RunOutcome::AwaitingApproval => Some(Stage::Plan),
            RunOutcome::Completed => None,
        },
        reason: match &report.outcome {
            RunOutcome::Failed { reason, .. } | RunOutcome::Halted { reason, .. } => {
                Some(reason.clone())
            }
            _ => None,
        },
        merged: report.merged,
        failed: report.failed.len(),
        blocked: report.blocked.len(),
        integration_branch: report.integration_branch.clone(),
        duration_ms: millis(report.duration),
        input_tokens: report.usage.input_tokens,
        output_tokens: report.usage.output_tokens,
        cost_usd: report.cost_usd,
    });
    Ok(report)
}

/// The report files in the run's directory, written at every end of a run
/// (a failed or interrupted run's report says how far it got). A report
/// that cannot be written is logged, never the end of the run: the store
/// holds it all, and `orca report` writes it again.
async fn write_report(p: &Pipeline) {
    let dir = p.run_dir();
    match orca_report::write(&p.ws.store, &p.run, &dir).await {
        Ok(()) => {
            let shown = dir.strip_prefix(p.ws.layout.root()).unwrap_or(&dir);
            p.emit(RunEvent::ReportWritten { dir: shown.display().to_string() });
        }
        Err(error) => {
            tracing::warn!(error = %crate::excerpt::error_chain(&error), "cannot write the run's report")
        }
    }
}

/// The stages' states as the store holds them.
async fn ledger(p: &Pipeline) -> Result<Ledger, EngineError> {
    let status = p.ws.store.run_status(&p.run).await?;
    let mut ledger = Ledger::default();
    for stage in &status.stages {
        let at = transition::position(stage.stage);
        ledger.states[at] = stage.state;
        ledger.rounds[at] = u32::try_from(stage.rounds).unwrap_or(0);
    }
    Ok(ledger)
}

fn policy(p: &Pipeline) -> Policy {
    Policy {
        max_fix_rounds: p.ws.config.gates.max_fix_rounds,
        advisory: p.ws.config.gates.advisory.iter().filter_map(|gate| gate.parse().ok()).collect(),
        needs_approval: p.record.planned,
        approved: p.record.approved,
    }
}

/// Writes one stage change to the store.
async fn record_change(p: &Pipeline, change: &Change) -> Result<(), EngineError> {
    let stored = StageChange {
        state: Some(change.state),
        note: change.note.clone(),
        rounds: change.rounds.map(i64::from),
    };
    p.ws.store.set_stage_with(&p.run, change.stage, &stored).await?;
    Ok(())
}

/// Renews the session lock and this process's worker record in the
/// background until told to stop (or the sender is dropped); then
/// releases the lock.
fn keep_alive(
    mut lock: SessionLock,
    store: Store,
    worker: String,
    every: Duration,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, mut stopped) = oneshot::channel();
    let renewing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(error) = lock.heartbeat() {
                        tracing::warn!(%error, "cannot renew the session lock");
                    }
                    if let Err(error) = store.worker_seen(&worker).await {
                        tracing::warn!(%error, "cannot record this worker as alive");
                    }
                }
                _ = &mut stopped => break,
            }
        }
        drop(lock);
    });
    (stop, renewing)
}

/// A run's title from its goal: the first line, shortened.
fn title_of_goal(goal: &str) -> String {
    let first = goal.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("a goal");
    crate::excerpt::shorten(first, 80)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
