//! `report.json`: the shape of a run's report. Times are milliseconds
//! since the Unix epoch; durations are milliseconds.

use serde::{Deserialize, Serialize};

/// Everything about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub run: RunInfo,
    /// The nine stages, in order.
    pub stages: Vec<StageReport>,
    /// Every task of the run, in plan order (fix tasks last).
    pub tasks: Vec<TaskReport>,
    /// What each gate found and how many fix rounds it took.
    pub gates: Vec<GateReport>,
    /// The complete stage's final validation: each command and how it ended.
    #[serde(default)]
    pub validation: Vec<ValidationCheck>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    pub title: String,
    /// What the user asked for, when the planner wrote the plan.
    pub goal: Option<String>,
    /// active, succeeded, failed, cancelled.
    pub state: String,
    pub mode: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The commit the run started from.
    pub base: Option<String>,
    pub integration_branch: String,
    /// The repository's main worktree (`host:path`), when recorded.
    pub checkout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReport {
    pub stage: String,
    /// pending, running, passed, failed, skipped.
    pub state: String,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Why it ended as it did (for a skipped stage: why, and who skipped it).
    pub note: Option<String>,
    /// Fix rounds a gate sent back to implement.
    pub rounds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub id: String,
    pub title: String,
    pub role: String,
    /// The agent the plan names, if any.
    pub agent: Option<String>,
    pub deps: Vec<String>,
    pub files: Vec<String>,
    pub verify: Option<String>,
    /// waiting, ready, leased, succeeded, failed, blocked, cancelled.
    pub state: String,
    /// The gate whose finding it fixes, for a fix task.
    pub fix_of: Option<String>,
    pub attempts: Vec<AttemptReport>,
    pub merge: Option<MergeReport>,
    pub last_error: Option<String>,
    pub blocked_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptReport {
    pub attempt: i64,
    pub agent: Option<String>,
    pub worker: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// running, succeeded, failed, retry, released, blocked, expired, cancelled.
    pub outcome: String,
    /// How the attempt itself ended: verified, failed, limited, interrupted.
    pub end: Option<String>,
    pub error: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub session: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: Option<f64>,
    /// Whether the task's `verify` passed (None: not run, or no verify).
    pub verify_passed: Option<bool>,
    /// The tail of a failed `verify`'s output.
    pub verify_output: Option<String>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeReport {
    pub commit: String,
    pub resolved_conflict: bool,
}

/// A gate's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub gate: String,
    pub state: String,
    pub rounds: i64,
    pub note: Option<String>,
    /// The fix tasks it made.
    pub fix_tasks: Vec<String>,
    /// What it wrote into the run's directory (e.g. `security.sarif`).
    pub files: Vec<String>,
    /// Each time it checked, in order: before and after its fix rounds.
    #[serde(default)]
    pub checks: Vec<GateCheck>,
}

/// One check of a gate (a line of `gates.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCheck {
    pub findings: usize,
    /// Findings at or above the gate's threshold.
    pub failing: usize,
}

/// One command of the final validation (from `complete.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationCheck {
    pub command: String,
    pub passed: bool,
    pub summary: String,
    pub duration_ms: u64,
    /// The end of what it printed.
    #[serde(default)]
    pub tail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub tasks: usize,
    /// Tasks per state.
    pub by_state: Vec<(String, usize)>,
    pub attempts: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// From the run's start to its last change.
    pub wall_ms: i64,
    /// The sum of every attempt's duration.
    pub agent_ms: i64,
    /// Tokens and cost by agent.
    #[serde(default)]
    pub by_agent: std::collections::BTreeMap<String, crate::Usage>,
}
