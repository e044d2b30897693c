//! Problems found in a plan: what, where, and how to fix it.

use serde::Serialize;

use crate::span::Span;

/// How bad a problem is. Errors make a plan invalid; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The plan is invalid.
    Error,
    /// The plan is valid but probably not what was meant.
    Warning,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident; )*) => {
        /// Every kind of problem orca reports about a plan. docs/plan-format.md
        /// lists each with an example; tests hold a fixture for each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable name, e.g. `plan::unknown-dep`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// Whether this kind of problem is an error or a warning.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }
        }
    };
}

codes! {
    /// The file does not start with `# Plan: <title>`.
    MissingTitle = "plan::missing-title", Error;
    /// The plan has no tasks.
    EmptyPlan = "plan::empty-plan", Error;
    /// A heading that is not `# Plan:`, `## Phase ...` or `### ID: title`.
    MalformedHeading = "plan::malformed-heading", Error;
    /// Two tasks share an ID.
    DuplicateId = "plan::duplicate-id", Error;
    /// A required field (`deps`, `role`) is missing.
    MissingField = "plan::missing-field", Error;
    /// A field line or value does not follow the format.
    MalformedField = "plan::malformed-field", Error;
    /// The same field appears twice in one task.
    DuplicateField = "plan::duplicate-field", Error;
    /// `role` is not in the configured role set.
    UnknownRole = "plan::unknown-role", Error;
    /// A dependency names a task that does not exist.
    UnknownDep = "plan::unknown-dep", Error;
    /// A task depends on itself.
    SelfDep = "plan::self-dep", Error;
    /// Dependencies form a cycle.
    Cycle = "plan::cycle", Error;
    /// A `files` entry is absolute or climbs out with `..`.
    PathOutsideRepo = "plan::path-outside-repo", Error;
    /// A `files` glob does not parse.
    InvalidGlob = "plan::invalid-glob", Error;
    /// `verify` uses shell syntax, but it is never run by a shell.
    ShellSyntax = "plan::shell-syntax", Error;
    /// A code fence is never closed, so it would swallow the rest of the file.
    UnclosedFence = "plan::unclosed-fence", Error;
    /// A dependency is listed twice (the repeat is ignored).
    DuplicateDep = "plan::duplicate-dep", Warning;
    /// A field orca does not know (ignored).
    UnknownField = "plan::unknown-field", Warning;
    /// No `accept` items.
    NoAcceptance = "plan::no-acceptance", Warning;
    /// No `files` field: orca cannot keep the task apart from others.
    NoFiles = "plan::no-files", Warning;
    /// No `verify` command.
    NoVerify = "plan::no-verify", Warning;
    /// A dependency on a task in a later phase.
    LaterPhaseDep = "plan::later-phase-dep", Warning;
    /// A done task depends on a task that is not done.
    DoneBeforeDep = "plan::done-before-dep", Warning;
    /// Tasks touch the same files with no ordering between them.
    FileConflict = "plan::file-conflict", Warning;
    /// Too many overlapping pairs to list them all.
    ConflictLimit = "plan::conflict-limit", Warning;
    /// A field line separated from the field list by a blank line.
    DetachedField = "plan::detached-field", Warning;
    /// A checked acceptance box; state does not live in the plan.
    CheckedAcceptance = "plan::checked-acceptance", Warning;
    /// Estimates are missing on some tasks or mix durations and points, so
    /// the critical path counts tasks instead.
    EstimatesIgnored = "plan::estimates-ignored", Warning;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A labelled span: where the problem is and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The bytes the label points at.
    pub span: Span,
    /// What the label says.
    pub text: String,
}

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem; fixes the severity.
    pub code: Code,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The primary label first, then related places.
    pub labels: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with a primary label.
    pub fn new(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            labels: vec![Label { span, text: label.into() }],
            help: None,
        }
    }

    /// Adds the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    /// The code's severity.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    /// The primary span (start of file if there is no label).
    pub fn span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }
}

/// Sorts diagnostics by position, then code, so output is stable.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| a.span().cmp(&b.span()).then(a.code.cmp(&b.code)));
}

/// Suggests the candidate closest to `wanted`: equal ignoring case, or a
/// Damerau–Levenshtein distance of 1 (2 for words longer than four
/// characters). Scans at most `limit` candidates so a huge plan with many
/// typos stays fast.
pub fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Option<&'a str> {
    let threshold = if wanted.chars().count() > 4 { 2 } else { 1 };
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates.into_iter().take(limit) {
        if candidate.len().abs_diff(wanted.len()) > threshold {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(wanted) {
            0
        } else {
            strsim::damerau_levenshtein(wanted, candidate)
        };
        let better = match best {
            None => true,
            Some((d, c)) => distance < d || (distance == d && candidate < c),
        };
        if distance <= threshold && better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Warnings of one kind beyond the first few, summarized: see [`group`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarningGroup {
    /// The kind.
    pub code: Code,
    /// How many warnings of this kind there are in all.
    pub count: usize,
    /// How many of them are shown in full.
    pub shown: usize,
    /// The tasks the others are about, in order (a task once).
    pub tasks: Vec<crate::TaskId>,
}

impl WarningGroup {
    /// One line: `plan::no-verify ×10000: T4, T5, … (the first 3 shown above; --verbose for each)`.
    pub fn line(&self, max_ids: usize) -> String {
        let ids: Vec<&str> = self.tasks.iter().take(max_ids).map(|t| t.as_str()).collect();
        let more = if self.tasks.len() > max_ids { ", …" } else { "" };
        format!(
            "{} ×{}: {}{more} (the first {} shown above; --verbose for each)",
            self.code,
            self.count,
            ids.join(", "),
            self.shown
        )
    }
}

/// Splits diagnostics (sorted) for display: every error, and up to
/// `per_code` warnings of each kind, are shown in full; the remaining
/// warnings of a kind become one [`WarningGroup`] naming their tasks. A
/// 10 000-task plan without `verify` commands then prints a handful of
/// lines instead of tens of thousands.
pub fn group<'d>(
    diagnostics: &'d [Diagnostic],
    plan: &crate::Plan,
    per_code: usize,
) -> (Vec<&'d Diagnostic>, Vec<WarningGroup>) {
    let mut shown = Vec::new();
    let mut groups: Vec<WarningGroup> = Vec::new();
    let mut seen: std::collections::HashMap<Code, usize> = std::collections::HashMap::new();
    // Task headings in document order, to name the task a warning is in.
    let starts: Vec<usize> = plan.tasks.iter().map(|t| t.spans.heading.start()).collect();
    for diagnostic in diagnostics {
        if diagnostic.is_error() {
            shown.push(diagnostic);
            continue;
        }
        let count = seen.entry(diagnostic.code).or_default();
        *count += 1;
        if *count <= per_code {
            shown.push(diagnostic);
            continue;
        }
        let at = diagnostic.labels.first().map_or(0, |l| l.span.start());
        let task =
            starts.partition_point(|&s| s <= at).checked_sub(1).map(|i| plan.tasks[i].id.clone());
        let group = match groups.iter_mut().position(|g| g.code == diagnostic.code) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(WarningGroup {
                    code: diagnostic.code,
                    count: 0,
                    shown: per_code,
                    tasks: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if let Some(task) = task
            && group.tasks.last() != Some(&task)
        {
            group.tasks.push(task);
        }
    }
    for group in &mut groups {
        group.count = seen[&group.code];
    }
    (shown, groups)
}
