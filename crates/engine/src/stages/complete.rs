//! Stage 9, complete: final validation on the integration branch, then the report.

use crate::error::EngineError;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

pub(crate) async fn run(_p: &mut Pipeline) -> Result<Outcome, EngineError> {
    Ok(Outcome::Skipped { reason: super::NOT_BUILT.to_owned() })
}
