//! The review gate: has a reviewer agent review the whole diff against the plan, checks plan adherence itself, and turns requested changes into fix tasks.
//!
//! Not built yet: the stage shows as skipped with that reason, never as
//! passed, until it is.

use crate::pipeline::transition::Outcome;

pub(crate) fn run() -> Outcome {
    Outcome::Skipped { reason: super::NOT_BUILT.to_owned() }
}
