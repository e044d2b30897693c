//! The values the store takes and returns.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Identifies a run: `YYYYMMDD-HHMMSS-xxxx` (UTC start time plus four random
/// hex digits), so ids sort by time and stay unique across stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    pub(crate) fn generate(now_ms: i64) -> RunId {
        let [year, month, day, hour, minute, second] = utc_parts(now_ms);
        RunId(format!(
            "{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}-{:04x}",
            fastrand::u16(..)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RunId {
    fn from(id: &str) -> Self {
        RunId(id.to_owned())
    }
}

/// `2026-11-25 20:30:05 UTC` for a time in ms since the epoch.
pub fn utc_timestamp(ms: i64) -> String {
    let [year, month, day, hour, minute, second] = utc_parts(ms);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// Year, month, day, hour, minute, second (UTC) of a time in ms since the epoch.
fn utc_parts(ms: i64) -> [i64; 6] {
    let secs = ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    [year, month, day, day_secs / 3600, day_secs / 60 % 60, day_secs % 60]
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Declares a string-backed enum stored as text, with parsing and display.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }
    };
}

text_enum! {
    /// Where a task is in its life.
    TaskState {
        /// Some dependency has not succeeded yet.
        Waiting = "waiting",
        /// Every dependency succeeded; a worker may claim it.
        Ready = "ready",
        /// A worker holds it under a lease.
        Leased = "leased",
        /// A worker's attempt passed `verify` and its branch is on the git
        /// remote at the commit recorded with the attempt: it waits for the
        /// coordinator to merge it (docs/scale-out.md). Its dependents still wait.
        Verified = "verified",
        /// Done; its dependents may run.
        Succeeded = "succeeded",
        /// Out of attempts.
        Failed = "failed",
        /// Cannot run: it, or a task it depends on, failed or gave up.
        Blocked = "blocked",
        /// The run was cancelled before the task finished.
        Cancelled = "cancelled",
    }
}

impl TaskState {
    /// No further change happens to a task in this state (short of a new run).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Blocked | TaskState::Cancelled
        )
    }
}

text_enum! {
    /// The state of a whole run.
    RunState {
        Active = "active",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// The nine pipeline stages, in order.
    Stage {
        Analyze = "analyze",
        Plan = "plan",
        Parallel = "parallel",
        Implement = "implement",
        Security = "security",
        Test = "test",
        Cleanup = "cleanup",
        Review = "review",
        Complete = "complete",
    }
}

text_enum! {
    /// How far a stage got.
    StageState {
        Pending = "pending",
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        Skipped = "skipped",
    }
}

/// The repository a run belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    /// The repository's identity: its root commit, the same in every clone.
    pub id: String,
    /// Where its main worktree is, as `host:path`: two clones of one
    /// repository share `id` but not `checkout`.
    pub checkout: String,
}

/// Which runs a command looks at when it picks one by default.
#[derive(Debug, Clone, Copy)]
pub enum RunScope<'a> {
    /// Every run in the store.
    All,
    /// The runs of one checkout of a repository. `legacy` also admits runs
    /// recorded before runs carried their repository (schema 4 and older),
    /// which is right only for the repository's own `.orca/orca.db`.
    Repo { repo: &'a RepoRef, legacy: bool },
}

/// A run to create: its plan and its tasks.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub title: String,
    /// Where the plan came from, if from a file.
    pub plan_path: Option<String>,
    /// The validated plan, as JSON (`{}` while the plan is still to be written).
    pub plan_json: String,
    /// How the run is driven (e.g. "orca" or "session").
    pub mode: String,
    pub tasks: Vec<NewTask>,
    /// The repository the run works on.
    pub repo: Option<RepoRef>,
    /// What the pipeline driver keeps about the run (goal, base commit,
    /// stage selection), as JSON; the store does not read it.
    pub pipeline_json: Option<String>,
}

/// One task of a [`NewRun`].
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    /// Unique within the run.
    pub key: String,
    /// Keys of the tasks that must succeed before this one may start.
    pub deps: Vec<String>,
    /// Higher dispatches first; the caller computes it from the plan's
    /// dispatch order (e.g. critical path first).
    pub priority: i64,
    /// How many tries the task gets before it fails (at least 1).
    pub max_attempts: i64,
    /// Whatever the executor needs to run the task, as JSON.
    pub spec_json: String,
    /// Already done before the run (a plan's `status: done`): created
    /// `succeeded`, it satisfies its dependents and is never claimed.
    pub done: bool,
}

/// A worker's time-limited claim on one attempt of a task.
///
/// `attempt` is the fencing token: every write through a lease is accepted
/// only while the task is still leased under that same attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub run: RunId,
    pub task: String,
    /// The attempt number, counting from 1; grows with every claim.
    pub attempt: i64,
    pub worker: String,
    /// When the lease runs out unless renewed (ms since the epoch, store clock).
    pub expires_ms: i64,
    /// How long each renewal extends it.
    pub ttl_ms: i64,
    /// Which try this is (claims minus releases); compared with `max_attempts`.
    pub tries: i64,
    pub max_attempts: i64,
    pub priority: i64,
    /// The task's spec from [`NewTask::spec_json`].
    pub spec_json: String,
}

/// Facts about one attempt the engine records as it goes. `None` fields
/// leave what was recorded before unchanged.
#[derive(Debug, Clone, Default)]
pub struct AttemptInfo {
    /// The git branch the attempt works on.
    pub branch: Option<String>,
    /// Which agent runs it (e.g. "claude").
    pub agent: Option<String>,
    /// The agent's own session id, to resume or inspect it.
    pub agent_session_id: Option<String>,
    /// The commit that holds the attempt's work.
    pub commit_sha: Option<String>,
    /// A short human summary.
    pub summary: Option<String>,
    /// Anything else, as JSON.
    pub details_json: Option<String>,
}

/// A task a worker submitted as verified, now leased to the coordinator
/// to merge ([`crate::Store::take_verified`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedAttempt {
    /// The coordinator's lease, under the attempt number of the worker's.
    pub lease: Lease,
    /// The worker that ran and submitted the attempt.
    pub worker: String,
    /// The attempt branch the worker pushed.
    pub branch: Option<String>,
    /// The commit the worker recorded when it submitted: the one to merge.
    pub commit_sha: Option<String>,
    pub details_json: Option<String>,
}

/// One attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub worker: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// running, succeeded, failed, retry, released, blocked, expired, cancelled.
    pub outcome: String,
    pub error: Option<String>,
    pub branch: Option<String>,
    pub agent: Option<String>,
    pub agent_session_id: Option<String>,
    pub commit_sha: Option<String>,
    pub summary: Option<String>,
    pub details_json: Option<String>,
}

/// How a failed attempt is retried: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delay after the first failed try.
    pub base: Duration,
    /// The delay never exceeds this.
    pub max: Duration,
    /// Up to this fraction of the delay is taken off at random (0.0–1.0),
    /// so workers that failed together do not retry together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_secs(5), max: Duration::from_secs(300), jitter: 0.5 }
    }
}

impl RetryPolicy {
    /// Retry immediately; for tests and benchmarks.
    pub fn immediate() -> Self {
        RetryPolicy { base: Duration::ZERO, max: Duration::ZERO, jitter: 0.0 }
    }

    /// The delay in ms before try number `tries + 1`, after `tries` failed tries.
    pub fn delay_ms(&self, tries: i64) -> i64 {
        let base = i64::try_from(self.base.as_millis()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.max.as_millis()).unwrap_or(i64::MAX);
        let doublings = u32::try_from(tries.saturating_sub(1).clamp(0, 62)).unwrap_or(62);
        let delay = base.saturating_mul(1_i64 << doublings.min(40)).min(max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_precision_loss,
            reason = "delays are far below 2^52 ms; rounding a jittered delay is fine"
        )]
        let cut = (delay as f64 * jitter * fastrand::f64()) as i64;
        delay - cut
    }
}

/// What [`crate::Store::fail`] did with the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FailOutcome {
    /// The task goes back to ready once `run_after_ms` has passed.
    Retry { run_after_ms: i64 },
    /// Out of attempts: the task failed and these dependents are now blocked.
    Failed { blocked: Vec<String> },
}

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the log; increases with every event.
    pub seq: i64,
    pub run: RunId,
    pub task: Option<String>,
    pub attempt: Option<i64>,
    pub kind: String,
    pub payload_json: String,
    pub at_ms: i64,
}

/// A lease that [`crate::Store::rescue_expired`] took back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rescued {
    pub run: RunId,
    pub task: String,
    pub attempt: i64,
    pub worker: String,
    /// Ready again, or failed when out of attempts.
    pub now: TaskState,
}

/// A run as stored (without its plan; see [`crate::Store::plan_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: RunId,
    pub title: String,
    pub plan_path: Option<String>,
    pub mode: String,
    pub state: RunState,
    /// The stage most recently set with [`crate::Store::set_stage`].
    pub stage: Option<Stage>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The repository the run belongs to (None: recorded by an orca older
    /// than schema 5).
    pub repo: Option<RepoRef>,
}

/// One stage of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageStatus {
    pub stage: Stage,
    pub state: StageState,
    /// When it last changed; `None` if never set.
    pub updated_ms: Option<i64>,
    /// When it last started running (or was skipped).
    pub started_ms: Option<i64>,
    /// When it last reached passed, failed or skipped.
    pub finished_ms: Option<i64>,
    /// Why it ended as it did: the reason a stage was skipped (and who
    /// skipped it), what failed, what a gate found.
    pub note: Option<String>,
    /// Fix rounds a gate has sent back to implement.
    pub rounds: i64,
}

/// A change of one stage's state, as [`crate::Store::set_stage_with`] records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageChange {
    pub state: Option<StageState>,
    /// Replaces the stage's note when given.
    pub note: Option<String>,
    /// Replaces the stage's fix-round count when given.
    pub rounds: Option<i64>,
}

/// A run in a listing ([`crate::Store::runs`]): the run and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub run: Run,
    pub tasks_total: i64,
    pub tasks_succeeded: i64,
}

/// The lease on a task as seen in a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    pub worker: String,
    pub attempt: i64,
    /// How long the current holder has held it.
    pub age_ms: i64,
    /// Time left before it expires (negative: expired, not yet rescued).
    pub expires_in_ms: i64,
    /// Time since the last heartbeat.
    pub heartbeat_age_ms: i64,
}

/// One task in a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStatus {
    pub key: String,
    pub state: TaskState,
    pub priority: i64,
    pub deps: Vec<String>,
    /// The latest attempt number (0: never started).
    pub attempt: i64,
    /// Tries used (attempts that ended by releasing do not count).
    pub tries: i64,
    pub max_attempts: i64,
    pub lease: Option<LeaseView>,
    /// Not claimable before this time (retry backoff).
    pub run_after_ms: i64,
    pub last_error: Option<String>,
    pub blocked_reason: Option<String>,
    pub result_json: Option<String>,
    pub updated_ms: i64,
}

/// A run with its stages and every task: what `orca status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStatus {
    pub run: Run,
    /// All nine stages in order.
    pub stages: Vec<StageStatus>,
    /// Every task, ordered by key.
    pub tasks: Vec<TaskStatus>,
    /// The store's clock when the status was read.
    pub now_ms: i64,
}

impl RunStatus {
    /// How many tasks are in `state`.
    pub fn count(&self, state: TaskState) -> usize {
        self.tasks.iter().filter(|task| task.state == state).count()
    }
}

/// A process that works on tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worker {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_ms: i64,
    pub last_seen_ms: i64,
    /// `worker` (`orca worker`), `coordinator` (`orca run`/`resume`),
    /// `session`; None for a process that did not say (an older orca).
    pub role: Option<String>,
    /// The orca version it runs.
    pub version: Option<String>,
    /// The store schema version it was built for.
    pub schema_version: Option<i64>,
    /// The scale-out protocol it speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol: Option<i64>,
    /// How many agents it runs at once.
    pub agents: Option<i64>,
    /// What it runs now: `run/task/a<n>` (a coordinator: its run).
    pub tasks: Vec<String>,
    /// It stopped claiming (SIGTERM) and finishes what it holds.
    pub stopping: bool,
}

impl Worker {
    /// Why this process and `other` (this orca, described by `me`) must
    /// not work together, or None when they may. Processes that did not
    /// say their protocol (an orca older than scale-out) are refused too.
    pub fn incompatibility(&self, me: &WorkerInfo) -> Option<String> {
        let theirs = self.protocol;
        if theirs == Some(me.protocol) && self.schema_version == Some(me.schema_version) {
            return None;
        }
        let role = self.role.as_deref().unwrap_or("process");
        let version = self.version.as_deref().unwrap_or("an older orca");
        let said = match theirs {
            Some(protocol) => format!(
                "protocol {protocol}, store schema {}",
                self.schema_version.map_or_else(|| "?".to_owned(), |v| v.to_string())
            ),
            None => "no scale-out protocol".to_owned(),
        };
        Some(format!(
            "{role} `{}` on {} (pid {}) runs orca {version} ({said}); this orca {} speaks protocol {}, \
             store schema {}: run the same orca version on every machine",
            self.id, self.host, self.pid, me.version, me.protocol, me.schema_version
        ))
    }
}

/// What a process says about itself when it registers
/// ([`crate::Store::register_process`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub role: String,
    pub version: String,
    pub schema_version: i64,
    pub protocol: i64,
    pub agents: i64,
}

impl WorkerInfo {
    /// This process, in `role`, with this build's versions.
    pub fn this_process(id: &str, host: &str, role: &str, version: &str, agents: i64) -> Self {
        WorkerInfo {
            id: id.to_owned(),
            host: host.to_owned(),
            pid: std::process::id(),
            role: role.to_owned(),
            version: version.to_owned(),
            schema_version: crate::SCHEMA_VERSION,
            protocol: crate::PROTOCOL_VERSION,
            agents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_encode_the_utc_start_time() {
        // 2026-11-25 20:30:05 UTC
        let id = RunId::generate(1_795_638_605_000);
        assert!(id.0.starts_with("20261125-203005-"), "{id}");
        assert_eq!(id.0.len(), "20261125-203005-abcd".len());
        assert_eq!(utc_timestamp(1_795_638_605_000), "2026-11-25 20:30:05 UTC");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_only_shortens() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            jitter: 0.0,
        };
        let delays: Vec<i64> = (1..=6).map(|tries| policy.delay_ms(tries)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        let jittered = RetryPolicy { jitter: 0.5, ..policy };
        for tries in 1..=6 {
            let delay = jittered.delay_ms(tries);
            let full = delays[usize::try_from(tries - 1).unwrap()];
            assert!(delay <= full && delay >= full / 2, "try {tries}: {delay} vs {full}");
        }
        assert_eq!(RetryPolicy::immediate().delay_ms(3), 0);
    }

    #[test]
    fn states_round_trip_through_text() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().unwrap(), *state);
        }
        assert_eq!(Stage::ALL.len(), 9);
        assert!("bogus".parse::<Stage>().is_err());
    }
}
