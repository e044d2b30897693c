//! Importers: other tools' plans into orca's model. docs/plan-format.md
//! ("Importing") says how each source field maps.

mod checklist;
mod detect;
mod json;
mod roles;
mod spec_kit;
mod taskmaster;

pub use checklist::from_checklist;
pub use detect::{Format, detect};
pub use json::from_json;
pub use spec_kit::from_spec_kit;
pub use taskmaster::from_taskmaster;

use crate::id::TaskId;
use crate::model::Plan;
use crate::parse::fields::is_field_line;
use crate::parse::{closes_fence, fence_open, heading};

/// Choices the source format cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The role of imported tasks whose files and title do not point to
    /// one (the sources have no roles).
    pub role: String,
    /// Read roles from files and titles (see `roles.rs`); off, every task
    /// gets [`ImportOptions::role`].
    pub infer_roles: bool,
    /// The roles the plan may use: inference picks only these.
    pub roles: Vec<String>,
    /// Leave out tasks the source marks done (and dependencies on them),
    /// instead of keeping them and listing them in [`Imported::done`].
    pub drop_done: bool,
    /// Task Master: which tag to import (default `master`, or the only tag).
    pub tag: Option<String>,
    /// The plan title (default: from the source).
    pub title: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            role: "backend".to_owned(),
            infer_roles: true,
            roles: crate::DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect(),
            drop_done: false,
            tag: None,
            title: None,
        }
    }
}

/// An imported plan and what the import decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The plan; write it with [`crate::to_markdown`].
    pub plan: Plan,
    /// Tasks the source marks done, kept in the plan as `status: done`.
    pub done: Vec<TaskId>,
    /// What was changed or left out, one sentence each.
    pub notes: Vec<String>,
}

/// Why a file could not be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json said.
        message: String,
    },
    /// JSON, but not in the expected shape.
    #[error("{0}")]
    Shape(String),
    /// The requested tag is not in the file.
    #[error("tag `{tag}` is not in the file (tags: {})", available.join(", "))]
    TagNotFound {
        /// The tag asked for.
        tag: String,
        /// The tags present.
        available: Vec<String>,
    },
    /// Several tags and none chosen.
    #[error("the file has several tags and none is `master` (tags: {}); choose one", available.join(", "))]
    AmbiguousTag {
        /// The tags present.
        available: Vec<String>,
    },
    /// Nothing that looks like a task.
    #[error("{0}")]
    NoTasks(String),
    /// Every task is done and `drop_done` left them all out.
    #[error("every task in the file is done, and --drop-done leaves them all out")]
    AllDone,
}

impl ImportError {
    pub(crate) fn json(error: &serde_json::Error) -> Self {
        ImportError::Json { line: error.line(), column: error.column(), message: error.to_string() }
    }
}

/// Removes control characters other than tab and newline (and turns `\r`
/// line ends into `\n`), so imported text is plain text.
fn clean(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

/// Text as one trimmed line with single spaces.
pub(crate) fn one_line(text: &str) -> String {
    clean(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Shortens a one-line text to at most `max` characters at a word
/// boundary, marking the cut with `…`.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = cut.rfind(' ').filter(|&i| i > max / 2).map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end())
}

/// Makes free text safe as a description block in orca Markdown: lines
/// that would read as plan headings or fields are escaped with `\`, an
/// unclosed code fence is closed, blank lines at both ends are dropped.
pub(crate) fn markdown_block(text: &str) -> String {
    let text = clean(text);
    let mut lines: Vec<String> = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    for line in text.split('\n') {
        let line = line.trim_end();
        if let Some((marker, len)) = fence {
            if closes_fence(line, marker, len) {
                fence = None;
            }
            lines.push(line.to_owned());
            continue;
        }
        if let Some(open) = fence_open(line) {
            fence = Some(open);
            lines.push(line.to_owned());
            continue;
        }
        // `\` keeps Markdown's rendering and stops orca reading a plan
        // heading or a field.
        if heading(line).is_some_and(|h| h.level <= 3) || is_field_line(line) {
            lines.push(format!("\\{line}"));
        } else {
            lines.push(line.to_owned());
        }
    }
    if let Some((marker, len)) = fence {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines.push(char::from(marker).to_string().repeat(len));
    }
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(first), Some(last)) => lines[first..=last].join("\n"),
        _ => String::new(),
    }
}

/// A phase heading text that orca reads as a phase: the title itself when
/// it starts with `Phase`, else `Phase <number>: <title>`.
pub(crate) fn phase_title(number: usize, title: &str) -> String {
    let title = one_line(title);
    let is_phase = title
        .strip_prefix("Phase")
        .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphabetic()));
    match (is_phase, title.is_empty()) {
        (true, _) => title,
        (false, true) => format!("Phase {number}"),
        (false, false) => format!("Phase {number}: {title}"),
    }
}

/// Joins description parts with blank lines, skipping empty ones.
pub(crate) fn join_blocks<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> =
        parts.into_iter().map(markdown_block).filter(|p| !p.is_empty()).collect();
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_blocks_cannot_break_the_plan_structure() {
        let text = "\n\n# Heading\n## Phase x\n### T1: y\n#### deep\n```\n### in code\n\n";
        assert_eq!(
            markdown_block(text),
            "\\# Heading\n\\## Phase x\n\\### T1: y\n#### deep\n```\n### in code\n```"
        );
        assert_eq!(markdown_block("a\r\nb\0c\rd"), "a\nbc\nd");
    }

    #[test]
    fn one_line_and_shorten() {
        assert_eq!(one_line("  a\n\tb  c "), "a b c");
        assert_eq!(shorten("one two three four", 12), "one two…");
        assert_eq!(shorten("short", 12), "short");
    }
}
