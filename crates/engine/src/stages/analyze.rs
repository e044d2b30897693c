//! Stage 1, analyze: maps the repository (`orca-analyze`) and writes the
//! map into the run's directory: `analysis.md` for the planner, within
//! `[analyze] budget_tokens`, and `analysis.json` whole, for the later
//! stages (the test, cleanup and complete stages take the repository's
//! build and test commands from it). Needs no agent.
//!
//! It maps the checkout as it is on disk: what the user sees.

use orca_analyze::{Analysis, AnalyzeOptions};

use crate::error::EngineError;
use crate::events::RunEvent;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

/// `analysis.json` in the run's directory.
pub const ANALYSIS_JSON: &str = "analysis.json";
/// `analysis.md` in the run's directory.
pub const ANALYSIS_MD: &str = "analysis.md";

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let root = p.ws.layout.root().to_owned();
    let analyzed = tokio::task::spawn_blocking(move || {
        orca_analyze::analyze(&root, &AnalyzeOptions::default())
    })
    .await
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    let analysis = match analyzed {
        Ok(analysis) => analysis,
        Err(error) => return Ok(Outcome::Failed { reason: crate::excerpt::error_chain(&error) }),
    };
    let dir = p.run_dir();
    let json = dir.join(ANALYSIS_JSON);
    let text = serde_json::to_string_pretty(&analysis).unwrap_or_default();
    std::fs::write(&json, text).map_err(EngineError::io(&json))?;
    let markdown = dir.join(ANALYSIS_MD);
    let budget = p.ws.config.analyze.budget_tokens as usize;
    std::fs::write(&markdown, analysis.to_markdown(budget)).map_err(EngineError::io(&markdown))?;
    p.emit(RunEvent::Analyzed {
        files: analysis.files.len(),
        lines: analysis.code_lines(),
        languages: analysis.languages.iter().take(5).map(|l| l.name.clone()).collect(),
    });
    let note = analysis.summary().lines().next().unwrap_or_default().to_owned();
    Ok(Outcome::Passed { note: Some(note) })
}

/// The analysis a run's analyze stage wrote, if it ran.
pub fn stored(run_dir: &std::path::Path) -> Option<Analysis> {
    let text = std::fs::read_to_string(run_dir.join(ANALYSIS_JSON)).ok()?;
    serde_json::from_str(&text).ok()
}
