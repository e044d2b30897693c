//! The security gate: scans the run's changes for secrets and dangerous code patterns (built-in rules, and semgrep, bandit or gitleaks when installed), writes SARIF, and turns findings into fix tasks.
//!
//! Not built yet: the stage shows as skipped with that reason, never as
//! passed, until it is.

use crate::pipeline::transition::Outcome;

pub(crate) fn run() -> Outcome {
    Outcome::Skipped { reason: super::NOT_BUILT.to_owned() }
}
