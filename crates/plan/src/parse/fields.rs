//! A task's heading, field list and description.

use std::collections::HashMap;

use super::Prose;
use super::values::{is_name, parse_duration, parse_estimate, split_list, strip_code_span};
use crate::argv::ArgvError;
use crate::budget::Budget;
use crate::diagnostic::{Code, Diagnostic, closest};
use crate::fast_hash::FastMap;
use crate::id::{IdError, TaskId};
use crate::model::{FilePattern, Priority, Status, Task, Verify};
use crate::paths::PatternError;
use crate::span::Span;

/// The fields orca reads, in the order the docs list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Deps,
    Role,
    Files,
    Verify,
    Accept,
    Agent,
    Priority,
    Estimate,
    Timeout,
    Budget,
    Status,
}

/// Field names, in documentation order.
pub(crate) const FIELD_NAMES: [&str; 11] = [
    "deps", "role", "files", "verify", "accept", "agent", "priority", "estimate", "timeout",
    "budget", "status",
];

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "deps" => Field::Deps,
            "role" => Field::Role,
            "files" => Field::Files,
            "verify" => Field::Verify,
            "accept" => Field::Accept,
            "agent" => Field::Agent,
            "priority" => Field::Priority,
            "estimate" => Field::Estimate,
            "timeout" => Field::Timeout,
            "budget" => Field::Budget,
            "status" => Field::Status,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Between the heading and the first field.
    BeforeFields,
    Fields,
    Description,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    /// The last field took a one-line value.
    OneLine,
    /// Under `- accept:`; the indent of the last item, if any.
    Accept(Option<usize>),
    /// An unknown or broken field whose nested lines are ignored.
    Skip,
}

/// A task being read.
pub(crate) struct TaskDraft {
    stage: Stage,
    seen: [Option<Span>; FIELD_NAMES.len()],
    current: Current,
    prose: Prose,
}

/// Task IDs seen so far, so each distinct ID text is allocated once and
/// shared by the task and every reference to it.
#[derive(Default)]
pub(crate) struct IdSet(FastMap<TaskId, ()>);

impl IdSet {
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    pub(crate) fn get_or_parse(&mut self, text: &str) -> Result<TaskId, IdError> {
        if let Some((id, ())) = self.0.get_key_value(text) {
            return Ok(id.clone());
        }
        let id = TaskId::parse(text)?;
        self.0.insert(id.clone(), ());
        Ok(id)
    }

    /// [`IdSet::get_or_parse`] for a heading's ID, which is usually new:
    /// parsed first, then looked up once.
    pub(crate) fn parse_or_get(&mut self, text: &str) -> Result<TaskId, IdError> {
        let id = TaskId::parse(text)?;
        Ok(match self.0.entry(id) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.key().clone(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let id = entry.key().clone();
                entry.insert(());
                id
            }
        })
    }
}

/// Reads `### ID: title`. `None` when the heading cannot be read (reported).
pub(crate) fn parse_task_heading(
    start: usize,
    line: &str,
    text: &str,
    span: Span,
    ids: &mut IdSet,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(TaskId, String, Span)> {
    let text_span = Span::of_subslice(start, line, text);
    let Some((id_part, title_part)) = text.split_once(':') else {
        let help = match text.split_once(char::is_whitespace) {
            Some((first, rest))
                if TaskId::parse(first).is_ok() && first.contains(|c: char| c.is_ascii_digit()) =>
            {
                format!("add a colon after the ID: `### {first}: {}`", rest.trim())
            }
            _ => format!("task headings read `### <ID>: <title>`, e.g. `### T01: {text}`"),
        };
        diagnostics.push(
            Diagnostic::new(
                Code::MalformedHeading,
                format!("`### {text}` is not a task heading"),
                if text.is_empty() { span } else { text_span },
                "expected `ID: title`",
            )
            .with_help(help),
        );
        return None;
    };
    let id_text = id_part.trim();
    let id_span = Span::of_subslice(start, line, id_text);
    let id = match ids.parse_or_get(id_text) {
        Ok(id) => id,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    Code::MalformedHeading,
                    format!("`{id_text}` is not a task ID: {error}"),
                    if id_text.is_empty() { text_span } else { id_span },
                    "not a task ID",
                )
                .with_help("task headings read `### T01: <title>`; IDs are a letter followed by letters, digits, `_`, `-` or `.`"),
            );
            return None;
        }
    };
    let title = title_part.trim();
    if title.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                Code::MalformedHeading,
                format!("task `{id}` has no title"),
                text_span,
                "no title after the colon",
            )
            .with_help(format!("write `### {id}: <what the task does>`")),
        );
    }
    Some((id, title.to_owned(), id_span))
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

enum FieldSuggestion {
    Field(&'static str),
    Description,
    None,
}

/// What an unknown field name was probably meant to be: common synonyms
/// first, then the closest spelling.
fn suggest_field(key: &str) -> FieldSuggestion {
    let lower = key.to_ascii_lowercase().replace('_', "-");
    let synonym = match lower.as_str() {
        "dependencies" | "depends" | "depends-on" | "dep" | "requires" | "after" | "blocked-by" => {
            "deps"
        }
        "acceptance" | "acceptance-criteria" | "criteria" | "done-when" | "checks" => "accept",
        "file" | "paths" | "path" | "touches" | "scope" => "files",
        "verification" | "test" | "tests" | "check" | "command" | "cmd" | "test-command" => {
            "verify"
        }
        "owner" | "assignee" | "kind" | "type" => "role",
        "effort" | "duration" | "size" | "points" | "time" => "estimate",
        "prio" | "importance" | "urgency" => "priority",
        "time-limit" | "timelimit" | "max-time" | "deadline" => "timeout",
        "cost" | "max-cost" | "max-tokens" | "spend" | "limit" => "budget",
        "model" | "tool" | "runner" => "agent",
        "description" | "details" | "notes" | "summary" | "context" => {
            return FieldSuggestion::Description;
        }
        _ => match closest(&lower, FIELD_NAMES, FIELD_NAMES.len()) {
            Some(name) => return FieldSuggestion::Field(name),
            None => return FieldSuggestion::None,
        },
    };
    FieldSuggestion::Field(synonym)
}

/// Whether a description line would read as one of orca's fields (and
/// be reported as a detached field).
pub(crate) fn is_field_line(line: &str) -> bool {
    field_key(line).is_some_and(|key| Field::from_name(key).is_some())
}

/// The key of a `- key: value` line, if the line has that shape.
fn field_key(line: &str) -> Option<&str> {
    split_field(line).map(|(key, _)| key)
}

/// Bytes that may continue a field key: ASCII letters, digits, `_`, `-`.
/// A table, because the test runs for every byte of every key.
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
        b += 1;
    }
    table
};

/// `- key: value` split into the key and the raw value after the colon.
/// A byte loop: this runs for every line of every field list.
fn split_field(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    if !bytes.starts_with(b"- ") {
        return None;
    }
    let mut at = 2;
    while bytes.get(at) == Some(&b' ') || bytes.get(at) == Some(&b'\t') {
        at += 1;
    }
    let key_start = at;
    if !bytes.get(at).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while bytes.get(at).is_some_and(|&b| KEY_BYTES[usize::from(b)]) {
        at += 1;
    }
    (bytes.get(at) == Some(&b':')).then(|| (&line[key_start..at], &line[at + 1..]))
}

impl TaskDraft {
    pub(crate) fn new() -> Self {
        TaskDraft {
            stage: Stage::BeforeFields,
            seen: [None; FIELD_NAMES.len()],
            current: Current::Skip,
            prose: Prose::default(),
        }
    }

    /// Offers a line to the field list. Returns false when the line is
    /// description instead.
    pub(crate) fn take_line(
        &mut self,
        task: &mut Task,
        start: usize,
        line: &str,
        ids: &mut IdSet,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> bool {
        match self.stage {
            Stage::BeforeFields => {
                if is_blank(line) {
                    return true;
                }
                if line.starts_with('-') {
                    self.stage = Stage::Fields;
                    self.field(task, start, line, ids, diagnostics);
                    return true;
                }
                self.stage = Stage::Description;
                false
            }
            Stage::Fields => {
                if is_blank(line) {
                    self.stage = Stage::Description;
                    return true;
                }
                if line.starts_with('-') {
                    self.field(task, start, line, ids, diagnostics);
                    return true;
                }
                if line.starts_with([' ', '\t']) {
                    self.nested(task, start, line, diagnostics);
                    return true;
                }
                diagnostics.push(
                    Diagnostic::new(
                        Code::MalformedField,
                        "description text directly after the field list",
                        Span::new(start, start + line.len()),
                        "expected a field or a blank line",
                    )
                    .with_help("leave a blank line between the field list and the description"),
                );
                self.stage = Stage::Description;
                false
            }
            Stage::Description => false,
        }
    }

    /// A description line (`in_fence`: inside a code block).
    pub(crate) fn description_line(
        &mut self,
        start: usize,
        line: &str,
        in_fence: bool,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        self.stage = Stage::Description;
        if !in_fence
            && let Some(key) = field_key(line)
            && Field::from_name(key).is_some()
        {
            let key_span = Span::of_subslice(start, line, key);
            diagnostics.push(
                Diagnostic::new(
                    Code::DetachedField,
                    format!("this `{key}` line is read as description, not as a field"),
                    key_span,
                    "after a blank line",
                )
                .with_help("a blank line ends the field list; remove the blank line above, or move this line up into the field list"),
            );
        }
        self.prose.push(line);
    }

    fn error(
        diagnostics: &mut Vec<Diagnostic>,
        span: Span,
        message: String,
        label: &str,
        help: &str,
    ) {
        diagnostics
            .push(Diagnostic::new(Code::MalformedField, message, span, label).with_help(help));
    }

    /// A `- key: value` line.
    fn field(
        &mut self,
        task: &mut Task,
        start: usize,
        line: &str,
        ids: &mut IdSet,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let line_span = Span::new(start, start + line.len());
        self.current = Current::Skip;
        let Some((key, raw_value)) = split_field(line) else {
            let trimmed = line.trim_start_matches('-').trim();
            let help = if trimmed.starts_with("[ ]")
                || trimmed.starts_with("[x]")
                || trimmed.starts_with("[X]")
            {
                "acceptance items go under `- accept:`, indented by two spaces: `  - [ ] ...`"
                    .to_owned()
            } else {
                format!("fields read `- name: value`; the fields are {}", FIELD_NAMES.join(", "))
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::MalformedField,
                    "this line in the field list is not a field",
                    line_span,
                    "expected `- name: value`",
                )
                .with_help(help),
            );
            return;
        };
        let key_span = Span::of_subslice(start, line, key);
        let value = raw_value.trim();
        let value_span = if value.is_empty() {
            Span::new(key_span.end() + 1, key_span.end() + 1)
        } else {
            Span::of_subslice(start, line, value)
        };
        let Some(field) = Field::from_name(key) else {
            let mut diagnostic = Diagnostic::new(
                Code::UnknownField,
                format!("unknown field `{key}` (ignored)"),
                key_span,
                "not a field orca reads",
            );
            diagnostic = match suggest_field(key) {
                FieldSuggestion::Field(name) => diagnostic.with_help(format!("did you mean `{name}`?")),
                FieldSuggestion::Description => diagnostic
                    .with_help("write the description as prose after the field list, separated by a blank line"),
                FieldSuggestion::None => diagnostic.with_help(format!(
                    "the fields are {}; put anything else in the description",
                    FIELD_NAMES.join(", ")
                )),
            };
            diagnostics.push(diagnostic);
            return;
        };
        if let Some(first) = self.seen[field.index()] {
            diagnostics.push(
                Diagnostic::new(
                    Code::DuplicateField,
                    format!("`{key}` is given twice"),
                    key_span,
                    format!("second `{key}`"),
                )
                .with_label(first, "first given here")
                .with_help(format!(
                    "keep one `{key}` line; list several values in it, separated by commas"
                )),
            );
            return;
        }
        self.seen[field.index()] = Some(key_span);
        self.current = Current::OneLine;
        match field {
            Field::Deps => Self::deps(task, start, line, value, value_span, ids, diagnostics),
            Field::Role => {
                if is_name(value) {
                    task.role = value.to_owned();
                    task.spans.role = Some(value_span);
                } else {
                    Self::error(
                        diagnostics,
                        value_span,
                        format!("`role` must be one word, got `{value}`"),
                        "not a role name",
                        "write one role, e.g. `- role: backend`",
                    );
                }
            }
            Field::Files => Self::files(task, start, line, value, value_span, diagnostics),
            Field::Verify => Self::verify(task, start, line, value, value_span, diagnostics),
            Field::Accept => {
                if !value.is_empty() {
                    Self::error(
                        diagnostics,
                        value_span,
                        "acceptance criteria go on their own lines".to_owned(),
                        "text after `accept:`",
                        "write `- accept:` and then one `  - [ ] <criterion>` line per criterion",
                    );
                }
                self.current = Current::Accept(None);
            }
            Field::Agent => {
                if is_name(value) {
                    task.agent = Some(value.to_owned());
                } else {
                    Self::error(
                        diagnostics,
                        value_span,
                        format!("`agent` must be one name, got `{value}`"),
                        "not an agent name",
                        "write the agent's name, e.g. `- agent: claude`",
                    );
                }
            }
            Field::Priority => match Priority::parse(value) {
                Some(priority) => task.priority = priority,
                None => Self::error(
                    diagnostics,
                    value_span,
                    format!("`{value}` is not a priority"),
                    "not a priority",
                    "use critical, high, medium, low, or a number from 0 (lowest) to 100 (highest)",
                ),
            },
            Field::Estimate => match parse_estimate(value) {
                Some(estimate) => {
                    task.estimate = Some(estimate);
                    task.spans.estimate = Some(value_span);
                }
                None => Self::error(
                    diagnostics,
                    value_span,
                    format!("`{value}` is not an estimate"),
                    "not an estimate",
                    "write a duration such as `45m`, `2h`, `1h30m`, or points such as `3pt`",
                ),
            },
            Field::Timeout => match parse_duration(value) {
                Some(secs) if secs > 0 => task.timeout_secs = Some(secs),
                _ => Self::error(
                    diagnostics,
                    value_span,
                    format!("`{value}` is not a timeout"),
                    "not a duration",
                    "write a duration greater than zero, such as `30m`, `2h` or `90s`",
                ),
            },
            Field::Budget => match Budget::parse(value) {
                Some(budget) => task.budget = Some(budget),
                None => Self::error(
                    diagnostics,
                    value_span,
                    format!("`{value}` is not a budget"),
                    "not a budget",
                    "write money, tokens or both, such as `$2`, `300k tokens` or `$1.50, 300k tokens`",
                ),
            },
            Field::Status => match Status::parse(value) {
                Some(status) => task.status = status,
                None => Self::error(
                    diagnostics,
                    value_span,
                    format!("`{value}` is not a task status"),
                    "not a status",
                    "write `done` for work finished before the run, or leave the field out \
                     (in-progress, review and the like belong in the description)",
                ),
            },
        }
    }

    fn deps(
        task: &mut Task,
        start: usize,
        line: &str,
        value: &str,
        value_span: Span,
        ids: &mut IdSet,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        if value.is_empty() {
            Self::error(
                diagnostics,
                value_span,
                "`deps` is empty".to_owned(),
                "no value",
                "write `- deps: none` if the task depends on nothing, or `- deps: T01, T02`",
            );
            return;
        }
        if value == "none" {
            return;
        }
        // Repeats are found by scanning the deps so far (no allocation for
        // the usual handful); past 32 a map keeps it from going quadratic.
        let mut seen_map: HashMap<TaskId, Span> = HashMap::new();
        let entries = value.bytes().filter(|&b| b == b',').count() + 1;
        task.deps.reserve_exact(entries);
        task.spans.deps.reserve_exact(entries);
        for raw in split_list(value) {
            let entry = raw.trim();
            if entry.is_empty() {
                let span = Span::of_subslice(start, line, raw);
                Self::error(
                    diagnostics,
                    if span.is_empty() { value_span } else { span },
                    "empty entry in `deps`".to_owned(),
                    "nothing between these commas",
                    "separate task IDs with single commas: `T01, T02`",
                );
                continue;
            }
            let id_text = strip_code_span(entry);
            let span = Span::of_subslice(start, line, id_text);
            if id_text == "none" {
                Self::error(
                    diagnostics,
                    span,
                    "`none` cannot be combined with task IDs".to_owned(),
                    "`none` in a list",
                    "write either `- deps: none` or a list of task IDs",
                );
                continue;
            }
            match ids.get_or_parse(id_text) {
                Ok(id) => {
                    let deps = &task.deps;
                    let first = if deps.len() <= 32 {
                        deps.iter().position(|d| d.as_str() == id_text).map(|k| task.spans.deps[k])
                    } else {
                        if seen_map.is_empty() {
                            let spans = &task.spans.deps;
                            seen_map.extend(deps.iter().cloned().zip(spans.iter().copied()));
                        }
                        seen_map.get(id_text).copied()
                    };
                    if let Some(first) = first {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::DuplicateDep,
                                format!("`{id}` is listed twice in `deps`"),
                                span,
                                "repeated",
                            )
                            .with_label(first, "first listed here")
                            .with_help("remove the repeat; it is ignored"),
                        );
                        continue;
                    }
                    if !seen_map.is_empty() {
                        seen_map.insert(id.clone(), span);
                    }
                    task.deps.push(id);
                    task.spans.deps.push(span);
                }
                Err(error) => {
                    let help = if id_text.contains(char::is_whitespace) {
                        "separate task IDs with commas: `T01, T02`"
                    } else {
                        "task IDs look like `T01` or `T12.3`"
                    };
                    Self::error(
                        diagnostics,
                        span,
                        format!("`{id_text}` is not a task ID: {error}"),
                        "not a task ID",
                        help,
                    );
                }
            }
        }
    }

    fn files(
        task: &mut Task,
        start: usize,
        line: &str,
        value: &str,
        value_span: Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        if value.is_empty() {
            Self::error(
                diagnostics,
                value_span,
                "`files` is empty".to_owned(),
                "no value",
                "list the paths or globs the task touches (`- files: src/a.rs, tests/**`), or write `- files: none`",
            );
            return;
        }
        let mut files = Vec::with_capacity(value.bytes().filter(|&b| b == b',').count() + 1);
        if value != "none" {
            task.spans.files.reserve_exact(files.capacity());
            for raw in split_list(value) {
                let entry = raw.trim();
                if entry.is_empty() {
                    let span = Span::of_subslice(start, line, raw);
                    Self::error(
                        diagnostics,
                        if span.is_empty() { value_span } else { span },
                        "empty entry in `files`".to_owned(),
                        "nothing between these commas",
                        "separate paths with single commas: `src/a.rs, src/b.rs`",
                    );
                    continue;
                }
                let path = strip_code_span(entry);
                let span = Span::of_subslice(start, line, path);
                match FilePattern::parse(path) {
                    Ok(pattern) => {
                        files.push(pattern);
                        task.spans.files.push(span);
                    }
                    Err(error) => diagnostics.push(pattern_diagnostic(&error, span)),
                }
            }
        }
        task.files = Some(files);
    }

    fn verify(
        task: &mut Task,
        start: usize,
        line: &str,
        value: &str,
        value_span: Span,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let command = strip_code_span(value);
        let command_start = if command.is_empty() {
            value_span.start()
        } else {
            Span::of_subslice(start, line, command).start()
        };
        match Verify::parse(command) {
            Ok(verify) => {
                task.verify = Some(verify);
                task.spans.verify = Some(Span::new(command_start, command_start + command.len()));
            }
            Err(error) => {
                let (from, to) = error.range(command.len());
                let span = Span::new(command_start + from, command_start + to);
                diagnostics.push(argv_diagnostic(&error, span));
            }
        }
    }

    /// An indented line in the field list.
    fn nested(
        &mut self,
        task: &mut Task,
        start: usize,
        line: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let span = Span::new(start + indent, start + line.len());
        let last_indent = match self.current {
            Current::Skip => return,
            Current::OneLine => {
                Self::error(
                    diagnostics,
                    span,
                    "unexpected indented line in the field list".to_owned(),
                    "not part of any field",
                    "field values fit on one line; only `accept` has nested `  - [ ] ...` items",
                );
                self.current = Current::Skip;
                return;
            }
            Current::Accept(last_indent) => last_indent,
        };
        if let Some(rest) = trimmed.strip_prefix("- [") {
            let (checked, after) = match rest.as_bytes().first() {
                Some(b' ') => (false, &rest[1..]),
                Some(b'x' | b'X') => (true, &rest[1..]),
                _ => (false, rest),
            };
            if let Some(text) = after.strip_prefix(']') {
                let text = text.trim();
                if text.is_empty() {
                    Self::error(
                        diagnostics,
                        span,
                        "empty acceptance item".to_owned(),
                        "no criterion",
                        "write the criterion after the box: `  - [ ] <criterion>`",
                    );
                    return;
                }
                if checked {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::CheckedAcceptance,
                            "a checked box in a plan means nothing to orca",
                            Span::new(start + indent, start + indent + 5),
                            "checked",
                        )
                        .with_help("orca tracks progress outside the plan; write `- [ ]`"),
                    );
                }
                task.accept.push(text.to_owned());
                self.current = Current::Accept(Some(indent));
                return;
            }
        }
        if trimmed.starts_with("- ") || trimmed.starts_with("* ") || trimmed.starts_with("+ ") {
            let text = trimmed[2..].trim();
            Self::error(
                diagnostics,
                span,
                "acceptance items are checkboxes".to_owned(),
                "missing `[ ]`",
                &format!("write `- [ ] {text}`"),
            );
            return;
        }
        match (last_indent, task.accept.last_mut()) {
            (Some(item_indent), Some(item)) if indent > item_indent => {
                // A wrapped acceptance item.
                item.push(' ');
                item.push_str(trimmed.trim_end());
            }
            _ => Self::error(
                diagnostics,
                span,
                "expected an acceptance item".to_owned(),
                "not a `- [ ]` item",
                "write one `  - [ ] <criterion>` line per criterion",
            ),
        }
    }

    /// Reports missing fields and returns the task.
    pub(crate) fn finish(mut self, task: &mut Task, diagnostics: &mut Vec<Diagnostic>) {
        let id = task.id.clone();
        let span = task.spans.id;
        if task.status.is_done() {
            // Finished work needs no agent fields: nothing will run it.
            task.description = self.prose.take();
            return;
        }
        if self.seen[Field::Deps.index()].is_none() {
            diagnostics.push(
                Diagnostic::new(
                    Code::MissingField,
                    format!("task `{id}` has no `deps` field"),
                    span,
                    "this task",
                )
                .with_help("add `- deps: none` if it depends on nothing, or `- deps: T01, T02`"),
            );
        }
        if self.seen[Field::Role.index()].is_none() {
            diagnostics.push(
                Diagnostic::new(
                    Code::MissingField,
                    format!("task `{id}` has no `role` field"),
                    span,
                    "this task",
                )
                .with_help("add `- role: <role>`, e.g. `- role: backend`"),
            );
        }
        if self.seen[Field::Files.index()].is_none() {
            diagnostics.push(
                Diagnostic::new(Code::NoFiles, format!("task `{id}` does not say which files it touches"), span, "no `files`")
                    .with_help("add `- files: src/a.rs, tests/**` (or `- files: none`) so orca can keep it apart from tasks editing the same files"),
            );
        }
        if self.seen[Field::Verify.index()].is_none() {
            diagnostics.push(
                Diagnostic::new(Code::NoVerify, format!("task `{id}` has no `verify` command"), span, "no `verify`")
                    .with_help("add `- verify: <command that proves the task done>`, e.g. `- verify: cargo test -p api`"),
            );
        }
        if task.accept.is_empty() {
            diagnostics.push(
                Diagnostic::new(
                    Code::NoAcceptance,
                    format!("task `{id}` has no acceptance criteria"),
                    span,
                    "no `accept` items",
                )
                .with_help(
                    "add `- accept:` followed by one `  - [ ] <criterion>` line per criterion",
                ),
            );
        }
        task.description = self.prose.take();
    }
}

fn pattern_diagnostic(error: &PatternError, span: Span) -> Diagnostic {
    match error {
        PatternError::Absolute(path) => Diagnostic::new(Code::PathOutsideRepo, error.to_string(), span, "absolute path")
            .with_help(format!(
                "write the path relative to the repository root, e.g. `{}`",
                path.trim_start_matches(['/', '~']).trim_start_matches('/')
            )),
        PatternError::ParentDir(_) => Diagnostic::new(Code::PathOutsideRepo, error.to_string(), span, "`..` leaves the repository")
            .with_help("tasks may only touch files inside the repository; write the path from the repository root"),
        PatternError::Glob { .. } => Diagnostic::new(Code::InvalidGlob, error.to_string(), span, "invalid glob")
            .with_help("globs support `*`, `?`, `**` (a whole segment), `[abc]` and `{a,b}`"),
        PatternError::Empty | PatternError::Backslash(_) | PatternError::EmptySegment(_) => {
            Diagnostic::new(Code::MalformedField, error.to_string(), span, "not a usable path")
                .with_help("write repository-relative paths with `/` between directories, e.g. `src/api/routes.rs`")
        }
    }
}

fn argv_diagnostic(error: &ArgvError, span: Span) -> Diagnostic {
    match error {
        ArgvError::Shell { what, text, .. } => {
            let help = if *what == "the variable assignment" {
                format!("orca runs the command directly; use `env {text} ...` or a script")
            } else if *what == "the glob" {
                "quote it ('*.rs') to pass it literally, or put the command in a script".to_owned()
            } else {
                "put the commands in a script and call it, e.g. `- verify: scripts/verify-api.sh`"
                    .to_owned()
            };
            Diagnostic::new(
                Code::ShellSyntax,
                format!("`verify` uses {what} `{text}`, but orca runs the command directly, not in a shell"),
                span,
                what.to_string(),
            )
            .with_help(help)
        }
        ArgvError::Empty => Diagnostic::new(
            Code::MalformedField,
            "`verify` is empty",
            span,
            "no command",
        )
        .with_help(
            "write the command that proves the task done, e.g. `- verify: cargo test -p api`",
        ),
        ArgvError::UnterminatedQuote { .. } | ArgvError::TrailingBackslash { .. } => {
            Diagnostic::new(
                Code::MalformedField,
                format!("`verify` cannot be split into arguments: {error}"),
                span,
                "here",
            )
            .with_help("close the quote, or quote the text with '...'")
        }
    }
}
