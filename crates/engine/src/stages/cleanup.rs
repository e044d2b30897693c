//! The cleanup gate: runs the formatters and autofixers of the repository's languages and commits the result when build and tests stay green.
//!
//! Not built yet: the stage shows as skipped with that reason, never as
//! passed, until it is.

use crate::pipeline::transition::Outcome;

pub(crate) fn run() -> Outcome {
    Outcome::Skipped { reason: super::NOT_BUILT.to_owned() }
}
