//! What a run reports as it goes: one event per state change, for the
//! terminal display and for `--json` (one JSON object per line).

use std::time::{SystemTime, UNIX_EPOCH};

use orca_store::{Stage, StageState};
use serde::Serialize;

/// An event and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: RunEvent,
}

/// Where tasks stand, sent after every change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub done: usize,
    pub running: usize,
    pub queued: usize,
    pub failed: usize,
    pub blocked: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Estimated seconds left, from the remaining critical path and the
    /// pace so far (None until a task has finished).
    pub eta_secs: Option<u64>,
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run: String,
        title: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        goal: Option<String>,
        /// The plan's tasks (0 while the planner has not written it).
        tasks: usize,
        agents: usize,
        integration_branch: String,
        resumed: bool,
    },
    StageStarted {
        stage: Stage,
    },
    /// A stage passed, failed, was skipped or sent fix tasks back
    /// (`state` pending again).
    StageFinished {
        stage: Stage,
        state: StageState,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        duration_ms: u64,
    },
    /// What the analyze stage found.
    Analyzed {
        files: usize,
        lines: u64,
        languages: Vec<String>,
    },
    /// The planner wrote a plan; orca checked it.
    PlanChecked {
        round: u32,
        valid: bool,
        errors: usize,
        tasks: usize,
    },
    /// The implement stage starts dispatching.
    ImplementStarted {
        tasks: usize,
        agents: usize,
        integration_branch: String,
        resumed: bool,
    },
    /// A gate looked at the run's changes.
    GateChecked {
        gate: Stage,
        findings: usize,
        /// Findings at or above the gate's threshold.
        failing: usize,
        suppressed: usize,
    },
    /// A command of the final validation ran.
    CheckFinished {
        command: String,
        passed: bool,
        summary: String,
    },
    /// The report was written.
    ReportWritten {
        dir: String,
    },
    TaskStarted {
        task: String,
        title: String,
        attempt: i64,
        agent: String,
        branch: String,
        resumed_session: bool,
    },
    /// `task_started` said the attempt resumes a session, but the agent
    /// could not find it: the attempt runs in a new session instead.
    SessionRestarted {
        task: String,
        attempt: i64,
        reason: String,
    },
    /// The agent is using a tool, or reported usage.
    AgentActivity {
        task: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool: Option<String>,
        input_tokens: u64,
        output_tokens: u64,
    },
    AgentFinished {
        task: String,
        attempt: i64,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    VerifyStarted {
        task: String,
        attempt: i64,
        command: String,
    },
    VerifyFinished {
        task: String,
        attempt: i64,
        passed: bool,
        summary: String,
    },
    Conflict {
        task: String,
        files: Vec<String>,
        resolver: bool,
    },
    Merged {
        task: String,
        attempt: i64,
        commit: String,
        resolved_conflict: bool,
    },
    Retrying {
        task: String,
        attempt: i64,
        reason: String,
        after_ms: u64,
    },
    TaskFailed {
        task: String,
        reason: String,
        blocked: Vec<String>,
    },
    /// A budget was exceeded: a task's (its attempt is stopped and the task
    /// fails) or, without a task, the run's (nothing new starts).
    OverBudget {
        #[serde(skip_serializing_if = "Option::is_none")]
        task: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        attempt: Option<i64>,
        /// What went over what, e.g. `1,240 tokens of 1,000`.
        spent: String,
    },
    Paused {
        reason: String,
        /// 0: until someone resumes dispatch (a request, crate::control).
        until_ms: u64,
    },
    Unpaused,
    Stopping {
        reason: String,
    },
    Progress(Totals),
    RunFinished {
        run: String,
        outcome: String,
        /// The stage the run stopped in, unless it completed.
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<Stage>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        merged: usize,
        failed: usize,
        blocked: usize,
        integration_branch: String,
        duration_ms: u64,
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: f64,
    },
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl RunEvent {
    /// The task the event is about, if it is about one.
    pub fn task(&self) -> Option<&str> {
        match self {
            RunEvent::TaskStarted { task, .. }
            | RunEvent::SessionRestarted { task, .. }
            | RunEvent::AgentActivity { task, .. }
            | RunEvent::AgentFinished { task, .. }
            | RunEvent::VerifyStarted { task, .. }
            | RunEvent::VerifyFinished { task, .. }
            | RunEvent::Conflict { task, .. }
            | RunEvent::Merged { task, .. }
            | RunEvent::Retrying { task, .. }
            | RunEvent::TaskFailed { task, .. } => Some(task),
            _ => None,
        }
    }
}

/// Records an event in the logs (with the task it is about): state
/// changes at info, the live stream of agent activity and progress at trace.
pub(crate) fn log(event: &RunEvent) {
    let json = serde_json::to_string(event).unwrap_or_default();
    let task = event.task().unwrap_or("-");
    match event {
        RunEvent::AgentActivity { .. } | RunEvent::Progress(_) => {
            tracing::trace!(task = %task, event = %json);
        }
        _ => tracing::info!(task = %task, event = %json),
    }
}
