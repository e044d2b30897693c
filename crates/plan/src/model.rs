//! The plan model: what a parsed plan says, independent of its syntax.
//!
//! Serializes to the JSON documented in docs/plan-format.md; the store keeps
//! each task's spec in this form. Spans are never serialized.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::id::TaskId;
use crate::span::Span;

/// A plan: a title, optional phases and the tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The text after `# Plan:`.
    pub title: String,
    /// Prose between the title and the first phase or task.
    #[serde(default)]
    pub description: String,
    /// `## Phase ...` groups, in document order.
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Tasks in document order. A task's position here is its
    /// [`crate::TaskIndex`].
    pub tasks: Vec<Task>,
    /// Where the title is in the source.
    #[serde(skip)]
    pub title_span: Span,
}

/// A `## Phase ...` heading: grouping only, no implicit barrier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// The heading text, e.g. `Phase 1: Foundation`.
    pub title: String,
    /// Prose between the heading and the phase's first task.
    #[serde(default)]
    pub description: String,
    /// Where the heading is in the source.
    #[serde(skip)]
    pub span: Span,
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Unique ID, e.g. `T07`.
    pub id: TaskId,
    /// The heading text after `ID:`.
    pub title: String,
    /// Index into [`Plan::phases`], if the task is under a phase heading.
    #[serde(default)]
    pub phase: Option<usize>,
    /// Tasks that must be done first (duplicates removed).
    #[serde(default)]
    pub deps: Vec<TaskId>,
    /// Who should do it, from the configured role set. Empty only for a
    /// done task that does not say.
    #[serde(default)]
    pub role: String,
    /// Repository-relative paths or globs the task will touch. `None`: the
    /// plan does not say; `Some([])`: the plan says `none`.
    #[serde(default)]
    pub files: Option<Vec<FilePattern>>,
    /// The command that proves the task done.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// Acceptance criteria, one per checkbox item.
    #[serde(default)]
    pub accept: Vec<String>,
    /// The agent to run the task with, when the plan picks one.
    #[serde(default)]
    pub agent: Option<String>,
    /// Dispatch priority (default medium, 50).
    #[serde(default)]
    pub priority: Priority,
    /// Expected effort; weights the critical path.
    #[serde(default)]
    pub estimate: Option<Estimate>,
    /// Hard time limit for one attempt, in seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// What the task's attempts may spend together, in tokens and/or money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Whether the work is still to do. A done task satisfies its
    /// dependents and is never dispatched; it needs no agent fields.
    #[serde(default, skip_serializing_if = "Status::is_pending")]
    pub status: Status,
    /// Prose after the field list, verbatim Markdown.
    #[serde(default)]
    pub description: String,
    /// Where each part is in the source.
    #[serde(skip)]
    pub spans: TaskSpans,
}

impl Task {
    /// A task with the given ID, title and role and nothing else.
    pub fn new(id: TaskId, title: impl Into<String>, role: impl Into<String>) -> Self {
        Task {
            id,
            title: title.into(),
            phase: None,
            deps: Vec::new(),
            role: role.into(),
            files: None,
            verify: None,
            accept: Vec::new(),
            agent: None,
            priority: Priority::default(),
            estimate: None,
            timeout_secs: None,
            budget: None,
            status: Status::Pending,
            description: String::new(),
            spans: TaskSpans::default(),
        }
    }
}

/// A task's `status` field: the only run-time fact a plan may state, so
/// that a half-done plan (an import, a plan carried over from elsewhere)
/// does not redo finished work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Still to do (the default).
    #[default]
    Pending,
    /// Already done before the run: never dispatched.
    Done,
}

impl Status {
    /// Parses `pending` or `done`.
    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "pending" => Some(Status::Pending),
            "done" => Some(Status::Done),
            _ => None,
        }
    }

    /// Whether this is [`Status::Pending`].
    pub fn is_pending(&self) -> bool {
        *self == Status::Pending
    }

    /// Whether this is [`Status::Done`].
    pub fn is_done(&self) -> bool {
        *self == Status::Done
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Done => "done",
        })
    }
}

/// Source locations of a task's parts, for diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSpans {
    /// The whole heading line.
    pub heading: Span,
    /// The ID in the heading.
    pub id: Span,
    /// Each entry of `deps`, parallel to [`Task::deps`].
    pub deps: Vec<Span>,
    /// The `role` value.
    pub role: Option<Span>,
    /// Each entry of `files`, parallel to [`Task::files`].
    pub files: Vec<Span>,
    /// The `verify` value.
    pub verify: Option<Span>,
    /// The `estimate` value.
    pub estimate: Option<Span>,
}

/// A repository-relative path or glob from a task's `files` field, already
/// checked: no absolute path, no `..`, a valid glob. A path covers itself
/// and, if it is a directory, everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePattern(std::sync::Arc<str>);

impl Serialize for FilePattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl FilePattern {
    /// Checks `text` (see [`crate::paths::check_pattern`]) and normalizes a
    /// leading `./` and a trailing `/` away.
    pub fn parse(text: &str) -> Result<FilePattern, crate::paths::PatternError> {
        crate::paths::check_pattern(text).map(|normal| FilePattern(std::sync::Arc::from(&*normal)))
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the file at `path` (repository-relative, `/`-separated) is
    /// one this pattern declares.
    pub fn covers(&self, path: &str) -> bool {
        let pattern = crate::paths::CompiledPattern::new(self.0.clone());
        pattern.overlaps(&crate::paths::CompiledPattern::new(std::sync::Arc::from(path)))
    }

    pub(crate) fn shared(&self) -> std::sync::Arc<str> {
        self.0.clone()
    }
}

impl fmt::Display for FilePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FilePattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FilePattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A task's `verify` command, checked: it splits into argv under the rules
/// of [`crate::argv`]. orca runs [`Verify::argv`] directly, never through a
/// shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    command: String,
}

impl Verify {
    /// Checks `command` (see [`crate::argv::split`]).
    pub fn parse(command: &str) -> Result<Verify, crate::argv::ArgvError> {
        crate::argv::check(command)?;
        Ok(Verify { command: command.to_owned() })
    }

    /// A command for an argv: each argument quoted as needed.
    pub fn from_argv<S: AsRef<str>>(argv: &[S]) -> Result<Verify, crate::argv::ArgvError> {
        let command =
            argv.iter().map(|a| crate::argv::quote(a.as_ref())).collect::<Vec<_>>().join(" ");
        Verify::parse(&command)
    }

    /// The command as written in the plan.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The program and its arguments. Computed from the command (which was
    /// checked when this value was made), so it cannot disagree with it.
    pub fn argv(&self) -> Vec<String> {
        crate::argv::split(&self.command).unwrap_or_default()
    }
}

impl Serialize for Verify {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("Verify", 2)?;
        state.serialize_field("command", &self.command)?;
        state.serialize_field("argv", &self.argv())?;
        state.end()
    }
}

impl<'de> Deserialize<'de> for Verify {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            command: String,
        }
        // `argv`, if present, is ignored: it is always derived from the command.
        let raw = Raw::deserialize(deserializer)?;
        Verify::parse(&raw.command).map_err(serde::de::Error::custom)
    }
}

/// Dispatch priority, 0 (lowest) to 100 (highest). The names map to
/// `low` 25, `medium` 50 (the default), `high` 75, `critical` 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// `low`.
    pub const LOW: Priority = Priority(25);
    /// `medium`, the default.
    pub const MEDIUM: Priority = Priority(50);
    /// `high`.
    pub const HIGH: Priority = Priority(75);
    /// `critical`.
    pub const CRITICAL: Priority = Priority(100);
    /// The highest value.
    pub const MAX: u8 = 100;

    /// A priority from a number, if it is at most 100.
    pub fn new(value: u8) -> Option<Priority> {
        (value <= Self::MAX).then_some(Priority(value))
    }

    /// The number, 0..=100.
    pub fn value(self) -> u8 {
        self.0
    }

    /// Parses `critical`, `high`, `medium`, `low` or an integer 0..=100.
    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "critical" => Some(Self::CRITICAL),
            "high" => Some(Self::HIGH),
            "medium" => Some(Self::MEDIUM),
            "low" => Some(Self::LOW),
            _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<u8>().ok().and_then(Priority::new)
            }
            _ => None,
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::MEDIUM
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Priority::CRITICAL => f.write_str("critical"),
            Priority::HIGH => f.write_str("high"),
            Priority::MEDIUM => f.write_str("medium"),
            Priority::LOW => f.write_str("low"),
            Priority(n) => write!(f, "{n}"),
        }
    }
}

/// Expected effort: a duration or story points. Durations and points do
/// not mix; see [`crate::graph::Weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimate {
    /// A duration in seconds (`90m`, `2h`, `1h30m`).
    Seconds(u64),
    /// Story points (`3pt`, `5 points`).
    Points(u64),
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Estimate::Seconds(secs) => f.write_str(&format_duration(secs)),
            Estimate::Points(1) => f.write_str("1pt"),
            Estimate::Points(n) => write!(f, "{n}pt"),
        }
    }
}

/// Formats seconds as `1h30m`, `45m`, `20s` (the syntax the parser reads).
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}
