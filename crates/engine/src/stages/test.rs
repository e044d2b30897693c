//! The test gate: runs the repository's test suites on the integration branch, reads their machine-readable results, and turns failures into fix tasks.
//!
//! Not built yet: the stage shows as skipped with that reason, never as
//! passed, until it is.

use crate::pipeline::transition::Outcome;

pub(crate) fn run() -> Outcome {
    Outcome::Skipped { reason: super::NOT_BUILT.to_owned() }
}
