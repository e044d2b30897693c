//! Stage 1, analyze: maps the repository for the planner and the gates.

use crate::error::EngineError;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

pub(crate) async fn run(_p: &mut Pipeline) -> Result<Outcome, EngineError> {
    Ok(Outcome::Skipped { reason: super::NOT_BUILT.to_owned() })
}
