//! orca's Markdown plan format: a strict line parser.
//!
//! The structure (title, phases, tasks, field lists) is read line by line
//! with exact spans; prose is kept verbatim and never interpreted. Fenced
//! code blocks in prose are respected, so a `###` line inside one is text.

pub(crate) mod fields;
pub mod values;

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Phase, Plan, Task};
use crate::span::Span;

use fields::{IdSet, TaskDraft};

/// A parsed plan and every syntax problem found on the way.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The plan, as far as it could be read.
    pub plan: Plan,
    /// Syntax problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses orca's Markdown plan format. Never fails: problems become
/// diagnostics and the plan holds what could be read.
pub fn parse(text: &str) -> Parsed {
    let mut parser = Parser::new(text);
    // Typical tasks take 150–400 bytes; reserving avoids copying the task
    // list as it grows.
    let expected_tasks = (text.len() / 256).min(100_000);
    parser.plan.tasks.reserve(expected_tasks);
    parser.ids.reserve(expected_tasks);
    let mut offset = crate::source::bom_len(text);
    while offset < text.len() || (offset == text.len() && offset == 0) {
        let end = next_newline(text.as_bytes(), offset).unwrap_or(text.len());
        let raw = &text[offset..end];
        let line =
            if raw.as_bytes().last() == Some(&b'\r') { raw.trim_end_matches('\r') } else { raw };
        parser.line(offset, line);
        offset = end + 1;
        if end == text.len() {
            break;
        }
    }
    parser.finish()
}

/// The index of the first `\n` at or after `from`. Lines are short, so
/// this looks at eight bytes at a time with plain arithmetic instead of
/// calling a general-purpose search per line.
pub(crate) fn next_newline(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NEWLINES;
        // Sets the high bit of the lowest zero byte (exact for the lowest).
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes.get(at..)?.iter().position(|&b| b == b'\n').map(|i| at + i)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Before `# Plan:`.
    Preamble,
    Plan,
    Phase,
    Task,
    /// The block under a task heading that could not be read (reported).
    Skipped,
}

struct Fence {
    marker: u8,
    len: usize,
    span: Span,
}

/// Prose being collected for the current plan, phase or task description.
#[derive(Default)]
pub(crate) struct Prose {
    text: String,
    pending_blanks: usize,
}

impl Prose {
    pub(crate) fn push(&mut self, line: &str) {
        if values::trim(line).is_empty() {
            if !self.text.is_empty() {
                self.pending_blanks += 1;
            }
            return;
        }
        for _ in 0..self.pending_blanks {
            self.text.push('\n');
        }
        self.pending_blanks = 0;
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
    }

    fn take(&mut self) -> String {
        self.pending_blanks = 0;
        std::mem::take(&mut self.text)
    }
}

struct Parser<'t> {
    text: &'t str,
    plan: Plan,
    diagnostics: Vec<Diagnostic>,
    title_seen: bool,
    preamble_reported: bool,
    target: Target,
    prose: Prose,
    task: Option<TaskDraft>,
    fence: Option<Fence>,
    ids: IdSet,
}

/// A Markdown ATX heading at column 0.
pub(crate) struct Heading<'l> {
    pub(crate) level: usize,
    /// Text after the `#`s, trimmed.
    pub(crate) text: &'l str,
    /// Whether the space after the `#`s was missing (`###T01:`).
    pub(crate) missing_space: bool,
}

pub(crate) fn heading(line: &str) -> Option<Heading<'_>> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &line[hashes..];
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        return Some(Heading { level: hashes, text: values::trim(rest), missing_space: false });
    }
    // Without the space CommonMark sees prose; these are almost certainly
    // meant as structure, so they are read as headings and reported.
    let meant = match hashes {
        1 => rest.starts_with("Plan:"),
        2 => rest.starts_with("Phase"),
        3 => true,
        _ => false,
    };
    meant.then(|| Heading { level: hashes, text: values::trim(rest), missing_space: true })
}

/// A fence opener: up to three spaces, then three or more backticks or
/// tildes.
pub(crate) fn fence_open(line: &str) -> Option<(u8, usize)> {
    let indent = line.bytes().take_while(|&b| b == b' ').count();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let marker = *rest.as_bytes().first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|&b| b == marker).count();
    if len < 3 || (marker == b'`' && rest[len..].contains('`')) {
        return None;
    }
    Some((marker, len))
}

fn fence_closes(line: &str, fence: &Fence) -> bool {
    closes_fence(line, fence.marker, fence.len)
}

/// Whether `line` closes a fence opened with `len` times `marker`.
pub(crate) fn closes_fence(line: &str, marker: u8, len: usize) -> bool {
    let indent = line.bytes().take_while(|&b| b == b' ').count();
    if indent > 3 {
        return false;
    }
    let rest = &line[indent..];
    let run = rest.bytes().take_while(|&b| b == marker).count();
    run >= len && rest[run..].trim().is_empty()
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Parser {
            text,
            plan: Plan::default(),
            diagnostics: Vec::new(),
            title_seen: false,
            preamble_reported: false,
            target: Target::Preamble,
            prose: Prose::default(),
            task: None,
            fence: None,
            ids: IdSet::default(),
        }
    }

    fn line(&mut self, start: usize, line: &str) {
        let span = Span::new(start, start + line.len());
        if let Some(fence) = &self.fence {
            let closes = fence_closes(line, fence);
            // The closing line is still code: it must not open a new fence.
            self.prose_text(start, line, true);
            if closes {
                self.fence = None;
            }
            return;
        }
        if let Some(h) = heading(line)
            && h.level <= 3
        {
            self.heading(start, line, &h, span);
            return;
        }
        if self.target == Target::Task
            && let Some(draft) = self.task.as_mut()
            && let Some(task) = self.plan.tasks.last_mut()
            && draft.take_line(task, start, line, &mut self.ids, &mut self.diagnostics)
        {
            return;
        }
        self.prose_line(start, line);
    }

    /// A line of description prose outside code (it may open a fence).
    fn prose_line(&mut self, start: usize, line: &str) {
        let span = Span::new(start, start + line.len());
        if let Some((marker, len)) = fence_open(line) {
            self.fence = Some(Fence { marker, len, span });
        }
        self.prose_text(start, line, self.fence.is_some());
    }

    /// A line of prose; `in_fence`: it is code (or a fence line).
    fn prose_text(&mut self, start: usize, line: &str, in_fence: bool) {
        let span = Span::new(start, start + line.len());
        match self.target {
            Target::Preamble => {
                if !line.trim().is_empty() && !self.preamble_reported {
                    self.preamble_reported = true;
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::MissingTitle,
                            "the plan does not start with a `# Plan: <title>` heading",
                            span,
                            "this comes before the title",
                        )
                        .with_help(
                            "start the file with `# Plan: <title>`; put any introduction after it",
                        ),
                    );
                }
            }
            Target::Task => {
                if let Some(draft) = self.task.as_mut() {
                    draft.description_line(start, line, in_fence, &mut self.diagnostics);
                }
            }
            Target::Plan | Target::Phase => self.prose.push(line),
            Target::Skipped => {}
        }
    }

    fn heading(&mut self, start: usize, line: &str, h: &Heading<'_>, span: Span) {
        self.close_section();
        let text_span = Span::of_subslice(start, line, h.text);
        if h.missing_space {
            let hashes = "#".repeat(h.level);
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MalformedHeading,
                    format!("`{hashes}` must be followed by a space"),
                    Span::new(start, start + h.level + 1),
                    "no space after the `#`s",
                )
                .with_help(format!("write `{hashes} {}`", h.text)),
            );
        }
        match h.level {
            1 => self.title(h.text, text_span, span),
            2 => self.phase(h.text, text_span, span),
            _ => self.task_heading(start, line, h.text, span),
        }
    }

    fn title(&mut self, text: &str, text_span: Span, span: Span) {
        if self.title_seen {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MalformedHeading,
                    "a plan has exactly one `#` heading",
                    span,
                    "second top-level heading",
                )
                .with_help(
                    "use `## Phase ...` for phases and `####` or deeper inside descriptions",
                ),
            );
            self.target = Target::Plan;
            return;
        }
        self.title_seen = true;
        self.target = Target::Plan;
        self.plan.title_span = text_span;
        match text.strip_prefix("Plan:").map(str::trim) {
            Some(title) if !title.is_empty() => self.plan.title = title.to_owned(),
            Some(_) => self.diagnostics.push(
                Diagnostic::new(
                    Code::MissingTitle,
                    "the plan title is empty",
                    span,
                    "no title after `Plan:`",
                )
                .with_help("write `# Plan: <what this plan builds>`"),
            ),
            None => {
                if !self.preamble_reported {
                    self.preamble_reported = true;
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::MissingTitle,
                            "the title heading must read `# Plan: <title>`",
                            span,
                            "not a `# Plan:` heading",
                        )
                        .with_help(format!("write `# Plan: {text}`")),
                    );
                }
                self.plan.title = text.to_owned();
            }
        }
    }

    fn phase(&mut self, text: &str, text_span: Span, span: Span) {
        let is_phase = text
            .strip_prefix("Phase")
            .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphabetic()));
        if !is_phase {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MalformedHeading,
                    format!("`## {text}` is not a phase heading"),
                    text_span,
                    "expected `Phase ...`",
                )
                .with_help("level-2 headings are phases, e.g. `## Phase 2: API`; use `####` or deeper for headings inside descriptions"),
            );
        }
        self.plan.phases.push(Phase { title: text.to_owned(), description: String::new(), span });
        self.target = Target::Phase;
    }

    fn task_heading(&mut self, start: usize, line: &str, text: &str, span: Span) {
        let phase = self.plan.phases.len().checked_sub(1);
        match fields::parse_task_heading(
            start,
            line,
            text,
            span,
            &mut self.ids,
            &mut self.diagnostics,
        ) {
            Some((id, title, id_span)) => {
                let mut task = Task::new(id, title, "");
                task.phase = phase;
                task.spans.heading = span;
                task.spans.id = id_span;
                // Built in place: a task record is large, and moving it
                // through the draft into the list showed up as copying.
                self.plan.tasks.push(task);
                self.task = Some(TaskDraft::new());
                self.target = Target::Task;
            }
            None => {
                // Unreadable heading: its block is skipped (already reported).
                self.task = None;
                self.target = Target::Skipped;
            }
        }
    }

    /// Ends the current plan/phase/task block.
    fn close_section(&mut self) {
        let prose = self.prose.take();
        match self.target {
            Target::Preamble | Target::Skipped => {}
            Target::Plan => {
                if self.plan.description.is_empty() {
                    self.plan.description = prose;
                }
            }
            Target::Phase => {
                if let Some(phase) = self.plan.phases.last_mut() {
                    phase.description = prose;
                }
            }
            Target::Task => {
                if let Some(draft) = self.task.take()
                    && let Some(task) = self.plan.tasks.last_mut()
                {
                    draft.finish(task, &mut self.diagnostics);
                }
            }
        }
    }

    fn finish(mut self) -> Parsed {
        self.close_section();
        if let Some(fence) = self.fence.take() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::UnclosedFence,
                    "this code block is never closed, so the rest of the file reads as code",
                    fence.span,
                    "opened here",
                )
                .with_help(format!(
                    "add a line with just {} where the code ends",
                    char::from(fence.marker).to_string().repeat(fence.len)
                )),
            );
        }
        if !self.title_seen && !self.preamble_reported {
            let first_line = self.text.find('\n').unwrap_or(self.text.len());
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MissingTitle,
                    "the plan has no `# Plan: <title>` heading",
                    Span::new(0, first_line),
                    "expected the title here",
                )
                .with_help("start the file with `# Plan: <title>`"),
            );
        }
        if self.plan.tasks.is_empty() {
            let span = if self.title_seen {
                self.plan.title_span
            } else {
                Span::new(0, self.text.find('\n').unwrap_or(self.text.len()))
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::EmptyPlan,
                    "the plan has no tasks",
                    span,
                    "no tasks in this plan",
                )
                .with_help(
                    "add tasks as `### T01: <title>` headings, each followed by its field list",
                ),
            );
        }
        crate::diagnostic::sort(&mut self.diagnostics);
        Parsed { plan: self.plan, diagnostics: self.diagnostics }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_found_at_every_offset() {
        let text = "ab\nc\n\nlonger line here\r\nx\u{e9}\u{2028}\n\n0123456789abcdef0123\nend";
        let bytes = text.as_bytes();
        for from in 0..=bytes.len() {
            let expected = bytes[from..].iter().position(|&b| b == b'\n').map(|i| from + i);
            assert_eq!(next_newline(bytes, from), expected, "from {from}");
        }
        let high: Vec<u8> = (0..40).map(|i| if i == 17 { b'\n' } else { 0x8a }).collect();
        assert_eq!(next_newline(&high, 0), Some(17));
        assert_eq!(next_newline(&high, 18), None);
    }

    #[test]
    fn repeated_deps_are_found_in_long_lists_too() {
        let ids: Vec<String> = (1..=40).map(|i| format!("T{i}")).collect();
        let mut text = String::from("# Plan: x\n");
        for id in &ids {
            text.push_str(&format!("\n### {id}: t\n- deps: none\n- role: backend\n"));
        }
        text.push_str(&format!(
            "\n### Z: last\n- deps: {}, T3, T40\n- role: backend\n",
            ids.join(", ")
        ));
        let parsed = parse(&text);
        let repeats: Vec<&Diagnostic> =
            parsed.diagnostics.iter().filter(|d| d.code == Code::DuplicateDep).collect();
        assert_eq!(repeats.len(), 2, "{repeats:?}");
        let last = parsed.plan.tasks.last().unwrap();
        assert_eq!(last.deps.len(), 40);
        assert_eq!(last.spans.deps.len(), 40);
    }
}
