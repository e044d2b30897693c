//! The nine stages, a module each, named as the [`Stage`] variant it
//! implements. The pipeline driver ([`crate::pipeline`]) decides which
//! stage runs; a stage does its work and says how it ended.

pub mod analyze;
pub mod cleanup;
pub mod complete;
pub mod implement;
pub mod parallel;
pub mod plan;
pub mod review;
pub mod security;
pub mod test;

use orca_store::Stage;

use crate::error::EngineError;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

/// Runs one stage of the run.
pub(crate) async fn run(stage: Stage, p: &mut Pipeline) -> Result<Outcome, EngineError> {
    match stage {
        Stage::Analyze => analyze::run(p).await,
        Stage::Plan => plan::run(p).await,
        Stage::Parallel => parallel::run(p).await,
        Stage::Implement => implement::run(p).await,
        Stage::Security => security::run(p).await,
        Stage::Test => test::run(p).await,
        Stage::Cleanup => cleanup::run(p).await,
        Stage::Review => review::run(p).await,
        Stage::Complete => complete::run(p).await,
    }
}

/// The module that implements `stage`: `stages/<name>.rs` or `stages/<name>/`.
pub fn module_name(stage: Stage) -> &'static str {
    stage.as_str()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The tree shows the pipeline: a module per stage, named as its variant.
    #[test]
    fn every_stage_has_a_module_named_after_it() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/stages");
        for stage in Stage::ALL {
            let name = module_name(*stage);
            let file = dir.join(format!("{name}.rs"));
            let folder = dir.join(name).join("mod.rs");
            assert!(
                file.is_file() || folder.is_file(),
                "no module for stage {stage} in {}",
                dir.display()
            );
        }
        let modules = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(modules, Stage::ALL.len() + 1, "stages/ holds the nine stages and mod.rs only");
    }
}
