//! orca's plan model. Pure: no I/O.
//!
//! - [`parse()`] reads orca's Markdown plan format (docs/plan-format.md),
//!   [`validate()`] checks the plan as a whole, [`check()`] does both.
//! - [`PlanGraph`] answers scheduling questions: ready set, waves,
//!   critical path, dispatch order, file conflicts.
//! - [`import`] reads spec-kit `tasks.md`, Task Master `tasks.json` and
//!   orca's own JSON; [`export`] writes Markdown, JSON, Mermaid and DOT.
//! - [`PlanSource`] renders diagnostics (miette) and locates them for JSON.

pub mod argv;
mod budget;
pub mod conflicts;
pub mod diagnostic;
pub mod export;
mod fast_hash;
mod graph;
pub mod id;
pub mod import;
mod model;
pub mod parse;
pub mod paths;
mod render;
mod schedule;
mod source;
mod span;
pub mod spec;
pub mod synthetic;
mod validate;

pub use budget::Budget;
pub use diagnostic::{Code, Diagnostic, Label, Severity};
pub use export::{graph_json, to_dot, to_json, to_markdown, to_mermaid};
pub use graph::{
    CriticalPath, DispatchKey, GraphError, Parallelism, PlanGraph, TaskIndex, Weights,
};
pub use id::TaskId;
pub use model::{
    Estimate, FilePattern, Phase, Plan, Priority, Status, Task, TaskSpans, Verify, format_duration,
};
pub use parse::{Parsed, parse};
pub use render::{LocatedDiagnostic, LocatedLabel, PlanSource, RenderOptions, RenderStyle};
pub use schedule::{Dispatch, HoldReason, Progress, TaskState};
pub use source::{MAX_SOURCE_BYTES, SourceError, decode};
pub use span::{LineIndex, Position, Span};
pub use validate::{DEFAULT_ROLES, PlanOptions, Validated, validate};

/// A plan read from Markdown and checked as a whole.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The plan as far as it could be read.
    pub plan: Plan,
    /// The graph, present exactly when there is no error.
    pub graph: Option<PlanGraph>,
    /// Every problem, errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether the plan has no errors.
    pub fn is_valid(&self) -> bool {
        self.graph.is_some()
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Parses and validates orca Markdown: every problem, at once.
pub fn check(text: &str, options: &PlanOptions) -> Checked {
    let Parsed { plan, mut diagnostics } = parse(text);
    let validated = validate(&plan, options);
    let parse_errors = diagnostics.iter().any(Diagnostic::is_error);
    diagnostics.extend(validated.diagnostics);
    diagnostic::sort(&mut diagnostics);
    let graph = if parse_errors { None } else { validated.graph };
    Checked { plan, graph, diagnostics }
}
