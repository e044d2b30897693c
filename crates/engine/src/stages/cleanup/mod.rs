//! Stage 7, cleanup: the formatters and autofixers of the repository's
//! languages (cargo fmt and clippy --fix, ruff format and ruff check --fix,
//! black, gofmt, an npm `format` script) run on the integration branch's
//! tip in a worktree of their own, each only when its program is
//! installed. What they change becomes one commit; the build and the tests
//! run again on it, and only when they stay green does the integration
//! branch move to it. Otherwise the commit is dropped and `cleanup.json`
//! says why. The stage never fails a run: a cleanup that cannot be kept is
//! reported, not forced.

use std::path::Path;

use orca_analyze::{Analysis, CommandKind};
use orca_store::Stage;
use serde::Serialize;

use crate::checks::{self, Check, CheckResult};
use crate::error::EngineError;
use crate::fix_tasks::{self, FixTask};
use crate::git_thread::on_git;
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

pub mod dead_code;

const CHECKOUT: &str = "_cleanup";
/// What the stage writes into the run's directory.
pub const CLEANUP_JSON: &str = "cleanup.json";

/// The fixers for the checkout at `root`: formatters as found, and the
/// linters that can fix, in their fixing form; only those installed.
pub fn fixers(analysis: Option<&Analysis>, root: &Path) -> Vec<Check> {
    let found = match analysis {
        Some(analysis) if !analysis.commands.is_empty() => analysis.commands.clone(),
        _ => orca_analyze::detect_commands(root),
    };
    let mut fixers: Vec<Check> = Vec::new();
    for command in found {
        let argv: Option<Vec<String>> = match command.kind {
            CommandKind::Format => Some(command.argv.clone()),
            CommandKind::Lint => fixing_form(&command.argv),
            CommandKind::Build | CommandKind::Test => None,
        };
        let Some(argv) = argv else { continue };
        if !installed(&argv[0]) {
            continue;
        }
        let check = Check { argv, dir: command.dir.clone() };
        if !fixers.contains(&check) {
            fixers.push(check);
        }
    }
    fixers
}

/// A linter's command that also fixes what it can; None when it cannot.
fn fixing_form(argv: &[String]) -> Option<Vec<String>> {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let fixing: Vec<&str> = match words.as_slice() {
        ["cargo", "clippy", rest @ ..] => {
            let mut fixing = vec!["cargo", "clippy", "--fix", "--allow-dirty", "--allow-staged"];
            fixing.extend(rest);
            fixing
        }
        ["ruff", "check", rest @ ..] => {
            let mut fixing = vec!["ruff", "check", "--fix"];
            fixing.extend(rest);
            fixing
        }
        _ => return None,
    };
    Some(fixing.into_iter().map(str::to_owned).collect())
}

/// Whether `program` can be started: a path that exists, or a name on PATH.
fn installed(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[derive(Serialize)]
struct CleanupReport<'a> {
    fixers: &'a [CheckResult],
    /// The cleanup commit, when the fixers changed anything.
    commit: Option<String>,
    /// Whether the integration branch moved to it.
    kept: bool,
    /// Why it was dropped.
    dropped_because: Option<String>,
    /// The build and tests run on it.
    checks: &'a [CheckResult],
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let worktree = checks::fresh_checkout(p, CHECKOUT).await?;
    let tidied = tidy(p, &worktree).await?;
    let note = match &tidied {
        Outcome::Passed { note } => note.clone().unwrap_or_default(),
        Outcome::Skipped { reason } => reason.clone(),
        _ => return Ok(tidied),
    };
    let unused = unused_code(p, &worktree).await?;
    let verify = green_check(p, &worktree);
    checks::remove_checkout(p, &worktree, CHECKOUT).await?;
    if unused.is_empty() {
        return Ok(tidied);
    }
    let proven: Vec<&dead_code::Unused> = unused.iter().filter(|u| u.proven).collect();
    let found = format!(
        "{note}; {} unused item(s) in the run's files ({} proven), see cleanup.json",
        unused.len(),
        proven.len()
    );
    // Proven unused code goes to a cleanup task once; what is left (and
    // every guess) is for the reviewer, as suggestions.
    if !proven.is_empty()
        && p.fix_round(Stage::Cleanup).await? == Some(1)
        && let Some(verify) = verify
    {
        let fixes = unused_fix_tasks(&proven, &verify);
        let added = fix_tasks::add(p, Stage::Cleanup, 1, fixes).await?;
        return Ok(Outcome::FixTasks { added, note: found });
    }
    Ok(Outcome::Passed { note: Some(found) })
}

/// The formatters and autofixers, their commit, and its check.
async fn tidy(p: &mut Pipeline, worktree: &Path) -> Result<Outcome, EngineError> {
    let worktree = worktree.to_owned();
    let analysis = super::analyze::stored(&p.run_dir());
    let fixers = fixers(analysis.as_ref(), &worktree);
    if fixers.is_empty() {
        return Ok(Outcome::Skipped {
            reason: "no formatter or autofixer of the repository's languages is installed"
                .to_owned(),
        });
    }
    let dir = p.run_dir().join("cleanup");
    let timeout = p.ws.config.complete.timeout;
    let ran = checks::run_all(p, &worktree, &fixers, timeout, &dir).await?;
    if ran.iter().any(|result| result.interrupted) {
        return Ok(Outcome::Interrupted);
    }
    let names: Vec<String> = fixers.iter().map(Check::display).collect();
    let message = format!("orca cleanup: {}", names.join(", "));
    let tip = p.integration();
    let path = worktree.clone();
    let (before, commit) = on_git(&p.ws.repo, move |repo| -> Result<_, EngineError> {
        let before = repo.rev_parse(&tip)?;
        let commit = repo.commit_all(&path, &message)?;
        Ok((before, commit))
    })
    .await?;
    let Some(commit) = commit else {
        write_report(
            p,
            &CleanupReport {
                fixers: &ran,
                commit: None,
                kept: false,
                dropped_because: None,
                checks: &[],
            },
        )?;
        let kept = earlier_rounds(p).iter().filter(|round| round["kept"] == true).count();
        let earlier = if kept > 0 {
            format!("; {kept} earlier cleanup commit(s) kept, see cleanup.json")
        } else {
            String::new()
        };
        return Ok(Outcome::Passed {
            note: Some(format!("nothing (more) to clean ({}){earlier}", names.join(", "))),
        });
    };
    let changed = {
        let (from, to) = (before.to_string(), commit.to_string());
        on_git(&p.ws.repo, move |repo| repo.changed_files(&from, &to)).await?.len()
    };

    // The cleanup must leave the build and the tests as green as they were.
    let config = p.ws.config.complete.clone();
    let planned = checks::build_and_test(&config.commands, analysis.as_ref(), &worktree);
    let verified =
        checks::run_all(p, &worktree, &planned, config.timeout, &dir.join("after")).await?;
    if verified.iter().any(|result| result.interrupted) {
        return Ok(Outcome::Interrupted);
    }
    let broken: Vec<&CheckResult> = verified
        .iter()
        .zip(&planned)
        .filter(|(result, check)| {
            !result.passed
                && super::test::only_already_failing(p, check, &result.log, &worktree).is_none()
        })
        .map(|(result, _)| result)
        .collect();
    let short = commit.to_string().chars().take(10).collect::<String>();
    if let Some(first) = broken.first() {
        let why = format!("{} after the cleanup", first.summary);
        write_report(
            p,
            &CleanupReport {
                fixers: &ran,
                commit: Some(commit.to_string()),
                kept: false,
                dropped_because: Some(why.clone()),
                checks: &verified,
            },
        )?;
        return Ok(Outcome::Passed { note: Some(format!("cleanup commit dropped: {why}")) });
    }
    let integration = p.integration();
    let to = commit.clone();
    on_git(&p.ws.repo, move |repo| repo.advance_branch(&integration, &before, &to))
        .await
        .map_err(|source| EngineError::Advance { branch: p.integration(), source })?;
    write_report(
        p,
        &CleanupReport {
            fixers: &ran,
            commit: Some(commit.to_string()),
            kept: true,
            dropped_because: None,
            checks: &verified,
        },
    )?;
    Ok(Outcome::Passed {
        note: Some(format!("{changed} file(s) cleaned by {} in commit {short}", names.join(", "))),
    })
}

/// Adds this round's report to `cleanup.json`, which keeps every round
/// of the run (a gate runs again after each fix round).
fn write_report(p: &Pipeline, report: &CleanupReport<'_>) -> Result<(), EngineError> {
    let json = p.run_dir().join(CLEANUP_JSON);
    let mut rounds = earlier_rounds(p);
    rounds.push(serde_json::to_value(report).unwrap_or_default());
    let document =
        serde_json::to_string_pretty(&serde_json::json!({ "rounds": rounds })).unwrap_or_default();
    std::fs::write(&json, document).map_err(EngineError::io(&json))
}

/// The rounds `cleanup.json` holds so far.
fn earlier_rounds(p: &Pipeline) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p.run_dir().join(CLEANUP_JSON))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|kept| kept["rounds"].as_array().cloned())
        .unwrap_or_default()
}

/// Unused code in the files the run changed, as the checkout shows it;
/// kept in `cleanup.json` beside the round's report.
async fn unused_code(p: &Pipeline, worktree: &Path) -> Result<Vec<dead_code::Unused>, EngineError> {
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let tip = p.integration();
    let changed: std::collections::BTreeSet<String> =
        on_git(&p.ws.repo, move |repo| repo.changed_files(&base, &tip))
            .await?
            .into_iter()
            .map(|change| change.path)
            .collect();
    let root = worktree.to_owned();
    let unused = tokio::task::spawn_blocking(move || dead_code::find(&root, &changed))
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    let json = p.run_dir().join(CLEANUP_JSON);
    let mut kept: serde_json::Value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| serde_json::json!({ "rounds": [] }));
    kept["unused"] = serde_json::to_value(&unused).unwrap_or_default();
    let document = serde_json::to_string_pretty(&kept).unwrap_or_default();
    std::fs::write(&json, document).map_err(EngineError::io(&json))?;
    Ok(unused)
}

/// The unused items the reviewer should hear of: the latest cleanup's
/// findings in the run's directory.
pub fn unused_for_review(run_dir: &Path) -> Vec<dead_code::Unused> {
    std::fs::read_to_string(run_dir.join(CLEANUP_JSON))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|kept| serde_json::from_value(kept["unused"].clone()).ok())
        .unwrap_or_default()
}

/// The command a removal must keep green: the repository's first test
/// command (else its build), for the fix task's `verify`.
fn green_check(p: &Pipeline, worktree: &Path) -> Option<Vec<String>> {
    let analysis = super::analyze::stored(&p.run_dir());
    let config = &p.ws.config.complete;
    let planned = checks::build_and_test(&config.commands, analysis.as_ref(), worktree);
    let check = planned.last()?;
    Some(if check.dir.is_empty() {
        check.argv.clone()
    } else {
        let line: Vec<String> = check.argv.iter().map(|w| orca_suites::shell_quote(w)).collect();
        vec![
            "sh".into(),
            "-c".into(),
            format!("cd {} && {}", orca_suites::shell_quote(&check.dir), line.join(" ")),
        ]
    })
}

/// One task per file: remove what the tools prove unused.
fn unused_fix_tasks(proven: &[&dead_code::Unused], verify: &[String]) -> Vec<FixTask> {
    let mut by_file: std::collections::BTreeMap<&str, Vec<&dead_code::Unused>> =
        std::collections::BTreeMap::new();
    for unused in proven {
        by_file.entry(unused.file.as_str()).or_default().push(unused);
    }
    by_file
        .into_iter()
        .map(|(file, items)| {
            let mut description = format!(
                "orca's cleanup found code this run added to `{file}` that nothing uses (the \
                 tools below prove it). Remove it, and anything only it used; keep the build and \
                 the tests green. If an item is meant for later use, use it or leave it and say \
                 why in your summary.\n\n"
            );
            for item in &items {
                description
                    .push_str(&format!("- line {}: {} ({})\n", item.line, item.what, item.tool));
            }
            FixTask {
                title: format!("Remove the unused code in {file}"),
                role: "refactor".to_owned(),
                files: vec![file.to_owned()],
                description,
                verify: Some(verify.to_vec()),
                accept: items
                    .iter()
                    .map(|item| format!("{} (line {}) is gone or used", item.what, item.line))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn linters_that_can_fix_are_asked_to() {
        assert_eq!(
            fixing_form(&argv(&["cargo", "clippy", "--all-targets"])),
            Some(argv(&[
                "cargo",
                "clippy",
                "--fix",
                "--allow-dirty",
                "--allow-staged",
                "--all-targets"
            ]))
        );
        assert_eq!(
            fixing_form(&argv(&["ruff", "check", "."])),
            Some(argv(&["ruff", "check", "--fix", "."]))
        );
        assert_eq!(fixing_form(&argv(&["go", "vet", "./..."])), None);
    }

    #[test]
    fn only_installed_fixers_run() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("go.mod"), "module x\n").unwrap();
        std::fs::write(tmp.path().join("pyproject.toml"), "[tool.ruff]\n").unwrap();
        let programs: Vec<String> =
            fixers(None, tmp.path()).iter().map(|c| c.argv[0].clone()).collect();
        for program in &programs {
            assert!(installed(program), "{program} is listed but not installed");
        }
        assert!(!installed("surely-not-a-program-orca-knows"));
    }
}
