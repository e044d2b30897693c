//! Stage 9, complete: the final validation. The repository's build and
//! test commands (`[complete] commands`, else those the analyze stage
//! found, else those found in the result) run in a fresh worktree of the
//! integration branch's tip; `complete.json` in the run's directory says
//! what ran and how it ended. The run succeeds only when every command
//! passes; the worktree of a failed validation is kept to look into. The
//! report itself is written by the driver at every end of a run.

use serde::Serialize;

use crate::checks::{self, CheckResult};
use crate::error::EngineError;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

/// The worktree (and branch) the validation runs in.
const CHECKOUT: &str = "_complete";
/// What the stage writes into the run's directory.
pub const COMPLETE_JSON: &str = "complete.json";

#[derive(Serialize)]
struct Validation<'a> {
    commit: String,
    checks: &'a [CheckResult],
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let worktree = checks::fresh_checkout(p, CHECKOUT).await?;
    let analysis = super::analyze::stored(&p.run_dir());
    let config = p.ws.config.complete.clone();
    let planned = checks::build_and_test(&config.commands, analysis.as_ref(), &worktree);
    if planned.is_empty() {
        checks::remove_checkout(p, &worktree, CHECKOUT).await?;
        return Ok(Outcome::Passed {
            note: Some(
                "no build or test command found to validate with (set [complete] commands)"
                    .to_owned(),
            ),
        });
    }
    let dir = p.run_dir().join("complete");
    let results = checks::run_all(p, &worktree, &planned, config.timeout, &dir).await?;
    if results.iter().any(|result| result.interrupted) {
        return Ok(Outcome::Interrupted);
    }
    let commit = {
        let repo = p.ws.repo.clone();
        let tip = p.integration();
        crate::git_thread::on_git(&repo, move |repo| repo.rev_parse(&tip))
            .await
            .map(|sha| sha.to_string())
            .unwrap_or_default()
    };
    let mut results = results;
    for (result, check) in results.iter_mut().zip(&planned) {
        if result.passed {
            continue;
        }
        // Tests that failed before the run are not the run's doing.
        if let Some(known) = super::test::only_already_failing(p, check, &result.log, &worktree) {
            result.passed = true;
            result.summary = format!(
                "{}: only {known} test(s) that already failed at the run's base",
                result.summary
            );
        }
    }
    let json = p.run_dir().join(COMPLETE_JSON);
    let document =
        serde_json::to_string_pretty(&Validation { commit, checks: &results }).unwrap_or_default();
    std::fs::write(&json, document).map_err(EngineError::io(&json))?;

    let failed: Vec<&CheckResult> = results.iter().filter(|result| !result.passed).collect();
    if failed.is_empty() {
        checks::remove_checkout(p, &worktree, CHECKOUT).await?;
        let commands: Vec<&str> = results.iter().map(|r| r.command.as_str()).collect();
        return Ok(Outcome::Passed { note: Some(format!("validated: {}", commands.join(", "))) });
    }
    let root = p.ws.layout.root();
    let mut reason = String::new();
    for result in &failed {
        let log = result.log.strip_prefix(root).unwrap_or(&result.log);
        reason.push_str(&format!("{} (log: {})", result.summary, log.display()));
        reason.push_str("; ");
    }
    reason.push_str(&format!(
        "the result is checked out in {}; commit a fix to branch {} and run `orca resume --retry-failed`",
        worktree.strip_prefix(root).unwrap_or(&worktree).display(),
        p.integration()
    ));
    Ok(Outcome::Failed { reason })
}
