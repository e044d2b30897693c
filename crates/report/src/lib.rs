//! A run's report: [`ReportData`] is everything the store holds about the
//! run (what `report.json` holds), [`collect`] reads it from the store,
//! and it renders as Markdown ([`render_markdown`]) and as one
//! self-contained HTML page ([`render_html`]: no network, inline CSS and
//! script, works from `file://`) with the stage bar, the task graph, a
//! timeline of every attempt per agent slot and a table of the tasks. The
//! live dashboard draws the same graph and timeline ([`html`]).

mod collect;
pub mod html;
mod markdown;
mod model;
mod usage;
mod write;

pub use collect::{before_after, collect, gate_checks};

/// Every gate check of a run, one JSON object per line, in its directory.
pub const GATE_CHECKS: &str = "gates.jsonl";
pub use html::render_html;
pub use markdown::render_markdown;
pub use model::{
    AttemptReport, GateCheck, GateReport, MergeReport, ReportData, RunInfo, StageReport,
    TaskReport, Totals, ValidationCheck,
};
pub use usage::{Usage, UsageTotals, compact};
pub use write::{FILES, ReportError, write};
