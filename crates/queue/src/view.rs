//! What the queue answers: a task as a session sees it, and the outcome of
//! each operation. Each renders as the plain text both the CLI and the MCP
//! server show (`Display`) and serializes as the JSON they return.

use std::fmt;
use std::time::Duration;

use orca_store::{
    DepState, FailOutcome, Lease, RunId, RunState, TaskCounts, TaskState, TaskStatus,
};
use serde::Serialize;

/// A task with everything a session needs to work on it: the plan's spec,
/// its state, its lease and its dependencies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub run: RunId,
    /// The task ID.
    pub key: String,
    pub state: TaskState,
    /// The latest attempt number (0: never started).
    pub attempt: i64,
    /// Tries used so far, of `max_attempts`.
    pub tries: i64,
    pub max_attempts: i64,
    pub lease: Option<LeaseInfo>,
    pub deps: Vec<DepState>,
    pub last_error: Option<String>,
    pub blocked_reason: Option<String>,
    /// The task as the plan states it (`orca_plan::Task` as JSON).
    pub spec: serde_json::Value,
    /// The same, typed, when the spec is an orca plan task.
    #[serde(skip)]
    pub plan_task: Option<orca_plan::Task>,
}

/// Who holds a task and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    pub holder: String,
    pub attempt: i64,
    /// Time left before the lease expires (negative: expired, not yet taken back).
    pub expires_in_ms: i64,
}

impl TaskView {
    pub(crate) fn from_status(
        run: &RunId,
        status: TaskStatus,
        spec_json: &str,
        deps: Vec<DepState>,
    ) -> TaskView {
        let (spec, plan_task) = parse_spec(spec_json);
        TaskView {
            run: run.clone(),
            lease: status.lease.map(|lease| LeaseInfo {
                holder: lease.worker,
                attempt: lease.attempt,
                expires_in_ms: lease.expires_in_ms,
            }),
            key: status.key,
            state: status.state,
            attempt: status.attempt,
            tries: status.tries,
            max_attempts: status.max_attempts,
            deps,
            last_error: status.last_error,
            blocked_reason: status.blocked_reason,
            spec,
            plan_task,
        }
    }

    /// A task just claimed: everything follows from the lease (a claimed
    /// task's dependencies have all succeeded), so no further reads.
    pub(crate) fn from_lease(lease: &Lease, now_ms: i64, last_error: Option<String>) -> TaskView {
        let (spec, plan_task) = parse_spec(&lease.spec_json);
        let deps = plan_task.as_ref().map_or_else(Vec::new, |task| {
            task.deps
                .iter()
                .map(|dep| DepState { key: dep.to_string(), state: TaskState::Succeeded })
                .collect()
        });
        TaskView {
            run: lease.run.clone(),
            key: lease.task.clone(),
            state: TaskState::Leased,
            attempt: lease.attempt,
            tries: lease.tries,
            max_attempts: lease.max_attempts,
            lease: Some(LeaseInfo {
                holder: lease.worker.clone(),
                attempt: lease.attempt,
                expires_in_ms: lease.expires_ms - now_ms,
            }),
            deps,
            last_error,
            blocked_reason: None,
            spec,
            plan_task,
        }
    }

    /// The task's title from its spec.
    pub fn title(&self) -> Option<&str> {
        self.plan_task.as_ref().map(|task| task.title.as_str())
    }
}

fn parse_spec(spec_json: &str) -> (serde_json::Value, Option<orca_plan::Task>) {
    let spec = serde_json::from_str(spec_json).unwrap_or(serde_json::Value::Null);
    let plan_task = serde_json::from_value(spec.clone()).ok();
    (spec, plan_task)
}

impl fmt::Display for TaskView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.title() {
            Some(title) => writeln!(f, "{}: {title}", self.key)?,
            None => writeln!(f, "{}", self.key)?,
        }
        let tries = format!("try {} of {}", self.tries.max(1), self.max_attempts);
        let state = match (&self.lease, self.state) {
            (Some(lease), _) => {
                let expiry = if lease.expires_in_ms >= 0 {
                    format!("expires in {}", span(lease.expires_in_ms))
                } else {
                    format!("expired {} ago", span(-lease.expires_in_ms))
                };
                format!("leased to {} (attempt {}, {tries}), {expiry}", lease.holder, lease.attempt)
            }
            (None, TaskState::Blocked) => format!(
                "blocked: {}",
                self.blocked_reason.as_deref().unwrap_or("no reason recorded")
            ),
            (None, state) => state.to_string(),
        };
        writeln!(f, "state:    {state}")?;
        if let Some(task) = &self.plan_task {
            writeln!(f, "role:     {}", task.role)?;
            writeln!(f, "priority: {}", task.priority)?;
        }
        let deps = if self.deps.is_empty() {
            "none".to_owned()
        } else {
            self.deps
                .iter()
                .map(|d| format!("{} ({})", d.key, d.state))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "deps:     {deps}")?;
        if let Some(task) = &self.plan_task {
            let files = match &task.files {
                None => "(not stated)".to_owned(),
                Some(files) if files.is_empty() => "none".to_owned(),
                Some(files) => files.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
            };
            writeln!(f, "files:    {files}")?;
            if let Some(verify) = &task.verify {
                writeln!(f, "verify:   {}", verify.command())?;
            }
            if let Some(timeout) = task.timeout_secs {
                writeln!(f, "timeout:  {}", orca_plan::format_duration(timeout))?;
            }
            if let Some(budget) = task.budget {
                writeln!(f, "budget:   {budget}")?;
            }
            if !task.accept.is_empty() {
                writeln!(f, "accept:")?;
                for item in &task.accept {
                    writeln!(f, "  - [ ] {item}")?;
                }
            }
        }
        if let (Some(error), false) = (&self.last_error, self.state == TaskState::Succeeded) {
            writeln!(f, "last error: {}", error.lines().next().unwrap_or(""))?;
        }
        if let Some(task) = &self.plan_task
            && !task.description.trim().is_empty()
        {
            write!(f, "\n{}\n", task.description.trim_end())?;
        }
        Ok(())
    }
}

/// What `next` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum NextTask {
    /// The task a claim would take now (nothing was claimed).
    Ready { task: TaskView },
    /// The task is now leased to the session.
    Claimed { task: TaskView },
    /// The session already held this task; its lease was renewed.
    Held { task: TaskView },
    /// Nothing can be claimed now.
    Idle { idle: Idle },
}

impl fmt::Display for NextTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextTask::Ready { task } => {
                writeln!(f, "next ready task (not claimed):")?;
                write!(f, "{task}")
            }
            NextTask::Claimed { task } => {
                writeln!(f, "claimed {} (attempt {})", task.key, task.attempt)?;
                write!(f, "{task}")
            }
            NextTask::Held { task } => {
                writeln!(
                    f,
                    "you already hold {} (attempt {}); its lease was renewed, finish it first",
                    task.key, task.attempt
                )?;
                write!(f, "{task}")
            }
            NextTask::Idle { idle } => writeln!(f, "{idle}"),
        }
    }
}

/// A task someone holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub task: String,
    pub holder: String,
    pub attempt: i64,
}

/// A ready task kept back because it shares files with a running one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldBack {
    pub task: String,
    /// The running task it shares files with.
    pub conflicts_with: String,
}

/// Why nothing can be claimed: the run's counts, who holds what, and the
/// ready tasks held back for shared files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Idle {
    pub run: RunId,
    pub run_state: RunState,
    pub counts: TaskCounts,
    pub running: Vec<Holder>,
    pub held_back: Vec<HeldBack>,
}

impl Idle {
    /// Every task is finished: there will be no more work in this run.
    pub fn finished(&self) -> bool {
        self.counts.unfinished() == 0
    }
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = &self.counts;
        if counts.total == 0 {
            return write!(f, "run {} has no tasks", self.run);
        }
        if self.finished() {
            return write!(
                f,
                "nothing left to do in run {}: all {} tasks are finished ({})",
                self.run,
                counts.total,
                finished_counts(counts)
            );
        }
        if self.run_state != RunState::Active {
            return write!(f, "run {} is {}; nothing can be claimed", self.run, self.run_state);
        }
        let mut parts = Vec::new();
        if !self.running.is_empty() {
            let names: Vec<String> = self
                .running
                .iter()
                .take(3)
                .map(|h| format!("{} by {}", h.task, h.holder))
                .collect();
            let more = if self.running.len() > 3 { ", ..." } else { "" };
            parts.push(format!("{} running ({}{more})", self.running.len(), names.join(", ")));
        }
        let waiting = counts.count(TaskState::Waiting);
        if waiting > 0 {
            parts.push(format!("{waiting} waiting on dependencies"));
        }
        if counts.backing_off > 0 {
            let when = counts
                .next_retry_ms
                .map(|at| format!(", the first in {}", span(at - counts.now_ms)))
                .unwrap_or_default();
            parts.push(format!("{} waiting to be retried{when}", counts.backing_off));
        }
        if !self.held_back.is_empty() {
            let first = &self.held_back[0];
            parts.push(format!(
                "{} held back because they share files with running tasks ({} with {})",
                self.held_back.len(),
                first.task,
                first.conflicts_with
            ));
        }
        write!(f, "no task is ready in run {}: {}", self.run, parts.join("; "))
    }
}

fn finished_counts(counts: &TaskCounts) -> String {
    counts
        .by_state
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A session-driven run whose last task just finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunEnd {
    pub state: RunState,
    pub counts: TaskCounts,
}

impl fmt::Display for RunEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "that was the run's last task: {} ({})",
            self.state,
            finished_counts(&self.counts)
        )
    }
}

/// A renewed lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renewed {
    pub run: RunId,
    pub task: String,
    pub attempt: i64,
    pub expires_in_ms: i64,
}

impl fmt::Display for Renewed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "renewed your lease on {} (attempt {}); it expires in {}",
            self.task,
            self.attempt,
            span(self.expires_in_ms)
        )
    }
}

/// A task marked done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Done {
    pub run: RunId,
    pub task: String,
    pub attempt: i64,
    /// It had already been marked done by this session; nothing changed.
    pub already: bool,
    pub summary: Option<String>,
    /// Tasks that can be claimed now.
    pub ready_now: u64,
    pub run_end: Option<RunEnd>,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already {
            write!(
                f,
                "{} was already done (attempt {}); nothing changed",
                self.task, self.attempt
            )?;
        } else {
            write!(f, "{} done (attempt {})", self.task, self.attempt)?;
        }
        after(f, self.ready_now, self.run_end.as_ref())
    }
}

/// Closing words after a task finished: what is ready, or that the run ended.
fn after(f: &mut fmt::Formatter<'_>, ready_now: u64, run_end: Option<&RunEnd>) -> fmt::Result {
    match run_end {
        Some(end) => write!(f, "; {end}"),
        None if ready_now == 1 => write!(f, "; 1 task is ready"),
        None => write!(f, "; {ready_now} tasks are ready"),
    }
}

/// A task given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub run: RunId,
    pub task: String,
    pub attempt: i64,
    /// The try that failed, of `max_attempts`.
    pub tries: i64,
    pub max_attempts: i64,
    pub outcome: FailOutcome,
    pub ready_now: u64,
    pub run_end: Option<RunEnd>,
    /// When the outcome was decided (store clock), for `run_after_ms`.
    pub now_ms: i64,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let try_of = format!("try {} of {}", self.tries, self.max_attempts);
        match &self.outcome {
            FailOutcome::Retry { run_after_ms } => write!(
                f,
                "{} failed ({try_of}); it goes back to the queue in {}",
                self.task,
                span(run_after_ms - self.now_ms)
            )?,
            FailOutcome::Failed { blocked } => {
                write!(f, "{} failed for good ({try_of})", self.task)?;
                if !blocked.is_empty() {
                    write!(f, "; blocked: {}", list(blocked))?;
                }
            }
        }
        after(f, self.ready_now, self.run_end.as_ref())
    }
}

/// A task that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub run: RunId,
    pub task: String,
    pub attempt: i64,
    pub reason: String,
    /// Dependents blocked with it.
    pub blocked: Vec<String>,
    pub ready_now: u64,
    pub run_end: Option<RunEnd>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} blocked: {}", self.task, self.reason.lines().next().unwrap_or(""))?;
        if !self.blocked.is_empty() {
            write!(f, "; also blocked: {}", list(&self.blocked))?;
        }
        after(f, self.ready_now, self.run_end.as_ref())
    }
}

/// The queue at a glance (the MCP `plan_status` tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub run: RunId,
    pub title: String,
    pub run_state: RunState,
    pub counts: TaskCounts,
    pub running: Vec<Holder>,
    /// The next few tasks a claim would take, in order.
    pub next: Vec<String>,
}

impl fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "run {}: {} ({})", self.run, self.title, self.run_state)?;
        writeln!(f, "tasks: {} total: {}", self.counts.total, finished_counts(&self.counts))?;
        if self.counts.backing_off > 0 {
            writeln!(f, "waiting to be retried: {}", self.counts.backing_off)?;
        }
        for holder in &self.running {
            writeln!(
                f,
                "running: {} by {} (attempt {})",
                holder.task, holder.holder, holder.attempt
            )?;
        }
        if !self.next.is_empty() {
            writeln!(f, "next: {}", self.next.join(", "))?;
        }
        Ok(())
    }
}

/// `T1, T2, T3` or `T1, T2, T3 and 4 more`.
fn list(keys: &[String]) -> String {
    const SHOWN: usize = 5;
    if keys.len() <= SHOWN {
        keys.join(", ")
    } else {
        format!("{} and {} more", keys[..SHOWN].join(", "), keys.len() - SHOWN)
    }
}

/// `850ms`, `12s`, `9m59s`, `1h2m` (seconds dropped past an hour).
pub(crate) fn span(ms: i64) -> String {
    let ms = u64::try_from(ms.max(0)).unwrap_or(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = if ms >= 3_600_000 { ms / 60_000 * 60 } else { ms / 1000 };
    orca_config::format_duration(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(850), "850ms");
        assert_eq!(span(12_400), "12s");
        assert_eq!(span(599_999), "9m59s");
        assert_eq!(span(600_000), "10m");
        assert_eq!(span(3_725_000), "1h2m");
        assert_eq!(span(-5), "0ms");
    }

    #[test]
    fn long_lists_are_cut() {
        let keys: Vec<String> = (1..=7).map(|i| format!("T{i}")).collect();
        assert_eq!(list(&keys[..2]), "T1, T2");
        assert_eq!(list(&keys), "T1, T2, T3, T4, T5 and 2 more");
    }
}
