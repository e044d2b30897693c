//! Diagnostics as text (miette's graphical report) and as located records
//! for JSON. Pure: returns strings and values, writes nothing.

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::span::{LineIndex, Span};

/// How rendered diagnostics look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderStyle {
    /// ASCII only, no colors: stable for files, pipes and snapshots.
    Plain,
    /// Unicode box drawing, no colors.
    Unicode,
    /// Unicode with ANSI colors, for terminals.
    Color,
}

/// Rendering settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Characters and colors.
    pub style: RenderStyle,
    /// Wrap width in columns.
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { style: RenderStyle::Plain, width: 100 }
    }
}

/// The source a plan came from, indexed for fast line lookups.
pub struct PlanSource<'a> {
    name: &'a str,
    text: &'a str,
    index: LineIndex,
}

impl<'a> PlanSource<'a> {
    /// Indexes `text`, shown as `name` in reports.
    pub fn new(name: &'a str, text: &'a str) -> Self {
        PlanSource { name, text, index: LineIndex::new(text) }
    }

    /// Renders diagnostics one after another, each as a miette graphical
    /// report with the file name, line and column, the labelled source
    /// lines and the help line.
    pub fn render(&self, diagnostics: &[Diagnostic], options: RenderOptions) -> String {
        let theme = match options.style {
            RenderStyle::Plain => GraphicalTheme::none(),
            RenderStyle::Unicode => GraphicalTheme::unicode_nocolor(),
            RenderStyle::Color => GraphicalTheme::unicode(),
        };
        let handler =
            GraphicalReportHandler::new_themed(theme).with_width(options.width).with_links(false);
        let mut out = String::new();
        for diagnostic in diagnostics {
            let report = Report { diagnostic, source: self };
            // Writing into a String cannot fail; a renderer error would only
            // lose decoration, so fall back to the bare message.
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&format!("{}: {}\n", diagnostic.code, diagnostic.message));
            }
            out.push('\n');
        }
        out
    }

    /// Diagnostics with line/column positions, for JSON output.
    pub fn locate(&self, diagnostics: &[Diagnostic]) -> Vec<LocatedDiagnostic> {
        diagnostics
            .iter()
            .map(|d| {
                let mut labels = d.labels.iter().map(|l| self.locate_label(l.span, &l.text));
                let primary =
                    labels.next().unwrap_or_else(|| self.locate_label(Span::default(), ""));
                LocatedDiagnostic {
                    severity: d.severity(),
                    code: d.code,
                    message: d.message.clone(),
                    file: self.name.to_owned(),
                    line: primary.line,
                    column: primary.column,
                    end_line: primary.end_line,
                    end_column: primary.end_column,
                    label: primary.label.clone(),
                    help: d.help.clone(),
                    related: labels.collect(),
                }
            })
            .collect()
    }

    fn locate_label(&self, span: Span, text: &str) -> LocatedLabel {
        let start = self.index.position(self.text, span.start());
        let end = self.index.position(self.text, span.end());
        LocatedLabel {
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            label: text.to_owned(),
        }
    }
}

/// A diagnostic with positions resolved, as printed by `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocatedDiagnostic {
    /// `error` or `warning`.
    pub severity: Severity,
    /// e.g. `plan::unknown-dep`.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// The file name as given.
    pub file: String,
    /// 1-based line of the primary label.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
    /// Line where the primary span ends.
    pub end_line: u32,
    /// Column one past the primary span's end.
    pub end_column: u32,
    /// What the primary label says.
    pub label: String,
    /// What to do.
    pub help: Option<String>,
    /// Secondary labels.
    pub related: Vec<LocatedLabel>,
}

/// A secondary label with positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocatedLabel {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
    /// End line.
    pub end_line: u32,
    /// End column (exclusive).
    pub end_column: u32,
    /// What the label says.
    pub label: String,
}

/// Adapts a [`Diagnostic`] to miette.
struct Report<'r, 'a> {
    diagnostic: &'r Diagnostic,
    source: &'r PlanSource<'a>,
}

impl fmt::Debug for Report<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_, '_> {}

impl miette::Diagnostic for Report<'_, '_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let text_len = self.source.text.len();
        let labels = self.diagnostic.labels.iter().enumerate().map(move |(i, label)| {
            let start = label.span.start().min(text_len);
            let span = SourceSpan::from((start, label.span.end().min(text_len) - start));
            if i == 0 {
                LabeledSpan::new_primary_with_span(Some(label.text.clone()), span)
            } else {
                LabeledSpan::new_with_span(Some(label.text.clone()), span)
            }
        });
        Some(Box::new(labels))
    }
}

impl SourceCode for PlanSource<'_> {
    /// Like miette's own implementation for strings, but O(context) per
    /// call thanks to the line index, so thousands of diagnostics on a huge
    /// plan render quickly.
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first_line = self.index.line_of(start);
        let last_line = self.index.line_of(if end > start { end - 1 } else { start });
        let from_line = first_line.saturating_sub(context_lines_before);
        let to_line = (last_line + context_lines_after).min(self.index.line_count() - 1);
        let (data_start, line, column) = if context_lines_before == 0 {
            let line_start = self.index.line_start(first_line);
            let column = self.text.get(line_start..start).map_or(0, |s| s.chars().count());
            (start, first_line, column)
        } else {
            (self.index.line_start(from_line), from_line, 0)
        };
        let data_end = self.index.line_end(to_line).max(data_start);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_owned(),
            &self.text.as_bytes()[data_start..data_end],
            SourceSpan::from((data_start, data_end - data_start)),
            line,
            column,
            to_line - from_line + 1,
        )))
    }
}
