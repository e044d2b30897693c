//! Commands run against the run's result: a fresh worktree of the
//! integration branch's tip, and the build and test commands run in it one
//! after another, each with a time limit and its own log, stopped by
//! Ctrl-C. The complete stage validates with them; the test gate runs the
//! suites the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orca_agents::CancelToken;
use orca_analyze::{Command, CommandKind};
use serde::Serialize;

use crate::error::EngineError;
use crate::events::RunEvent;
use crate::git_thread::on_git;
use crate::pipeline::Pipeline;
use crate::verify::{VerifyReport, VerifyStatus, run_verify};

/// One command to run, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub argv: Vec<String>,
    /// Relative to the worktree's root (`""` for the top).
    pub dir: String,
}

impl Check {
    /// The command as a person would type it (in its directory).
    pub fn display(&self) -> String {
        let line = self.argv.join(" ");
        if self.dir.is_empty() { line } else { format!("(cd {} && {line})", self.dir) }
    }
}

/// How one check ended.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub command: String,
    pub passed: bool,
    /// What happened, in one line (`cargo test` exited with status 101).
    pub summary: String,
    pub duration_ms: u64,
    /// Everything it printed.
    pub log: PathBuf,
    /// The end of what it printed (the last lines; the log has it all).
    pub tail: String,
    #[serde(skip)]
    pub interrupted: bool,
}

/// The build and test commands of the checkout at `root`: `configured`
/// when any (run at the top), else those `analysis` found, else those
/// found in `root` now (the run may have added the build files).
pub fn build_and_test(
    configured: &[Vec<String>],
    analysis: Option<&orca_analyze::Analysis>,
    root: &Path,
) -> Vec<Check> {
    if !configured.is_empty() {
        return configured
            .iter()
            .filter(|argv| !argv.is_empty())
            .map(|argv| Check { argv: argv.clone(), dir: String::new() })
            .collect();
    }
    let found: Vec<Command> = match analysis {
        Some(analysis) if !analysis.commands.is_empty() => analysis.commands.clone(),
        _ => orca_analyze::detect_commands(root),
    };
    let mut checks: Vec<Check> = Vec::new();
    // Builds first: a test run that cannot compile says less.
    for kind in [CommandKind::Build, CommandKind::Test] {
        for command in found.iter().filter(|c| c.kind == kind) {
            let check = Check { argv: command.argv.clone(), dir: command.dir.clone() };
            if !checks.contains(&check) {
                checks.push(check);
            }
        }
    }
    checks
}

/// A worktree of the integration branch's tip at
/// `.orca/worktrees/<run>/<name>` on branch `orca/<run>/<name>`, made
/// afresh (whatever an earlier round left there is removed first).
pub(crate) async fn fresh_checkout(p: &Pipeline, name: &str) -> Result<PathBuf, EngineError> {
    fresh_checkout_of(p, name, &p.integration()).await
}

/// [`fresh_checkout`] of commit `rev` instead of the integration tip.
pub(crate) async fn fresh_checkout_of(
    p: &Pipeline,
    name: &str,
    rev: &str,
) -> Result<PathBuf, EngineError> {
    let worktree = orca_git::task_worktree_path(&p.ws.layout.worktrees_dir(), p.run.as_str(), name);
    let prefix = orca_git::run_branch_prefix(p.run.as_str());
    let branch = format!("{prefix}{name}");
    let tip = rev.to_owned();
    let path = worktree.clone();
    on_git(&p.ws.repo, move |repo| -> Result<(), EngineError> {
        repo.remove_worktree(&path)?;
        repo.delete_branches_where(&prefix, |candidate| candidate == branch)?;
        repo.add_worktree(&path, &branch, &tip)?;
        Ok(())
    })
    .await?;
    Ok(worktree)
}

/// Removes a checkout [`fresh_checkout`] made, and its branch.
pub(crate) async fn remove_checkout(
    p: &Pipeline,
    worktree: &Path,
    name: &str,
) -> Result<(), EngineError> {
    let prefix = orca_git::run_branch_prefix(p.run.as_str());
    let branch = format!("{prefix}{name}");
    let path = worktree.to_owned();
    on_git(&p.ws.repo, move |repo| -> Result<(), EngineError> {
        repo.remove_worktree(&path)?;
        repo.delete_branches_where(&prefix, |candidate| candidate == branch)?;
        Ok(())
    })
    .await
}

/// Runs `checks` in `worktree` one after another, logs in `log_dir`
/// (`1.log`, `2.log`, ...), each within `timeout`; stops at the first
/// interrupt (the rest are not run). Every result is reported as a
/// `CheckFinished` event.
pub(crate) async fn run_all(
    p: &Pipeline,
    worktree: &Path,
    checks: &[Check],
    timeout: Duration,
    log_dir: &Path,
) -> Result<Vec<CheckResult>, EngineError> {
    std::fs::create_dir_all(log_dir).map_err(EngineError::io(log_dir))?;
    let mut results = Vec::new();
    for (at, check) in checks.iter().enumerate() {
        let log = log_dir.join(format!("{}.log", at + 1));
        let workdir = worktree.join(&check.dir);
        let cancel = CancelToken::new();
        let mut interrupts = p.interrupts.clone();
        let running = run_verify(&check.argv, &workdir, timeout, &log, &cancel, |_| {});
        tokio::pin!(running);
        let report: VerifyReport = loop {
            tokio::select! {
                report = &mut running => break report,
                count = interrupts.next() => {
                    if count <= 1 { cancel.stop() } else { cancel.kill() }
                }
            }
        };
        let command = check.display();
        let result = CheckResult {
            summary: report.describe(&command),
            passed: report.passed(),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
            tail: last_lines(&report.output, 40),
            interrupted: report.status == VerifyStatus::Interrupted,
            log: log.clone(),
            command,
        };
        p.emit(RunEvent::CheckFinished {
            command: result.command.clone(),
            passed: result.passed,
            summary: result.summary.clone(),
        });
        let stop = result.interrupted;
        results.push(result);
        if stop {
            break;
        }
    }
    Ok(results)
}

/// The last `count` lines of `text`.
pub(crate) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn configured_commands_win_over_what_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let checks = build_and_test(&[argv(&["make", "ci"])], None, tmp.path());
        assert_eq!(checks, vec![Check { argv: argv(&["make", "ci"]), dir: String::new() }]);
    }

    #[test]
    fn found_commands_are_builds_then_tests() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let checks = build_and_test(&[], None, tmp.path());
        let programs: Vec<String> = checks.iter().map(|c| c.argv.join(" ")).collect();
        let build = programs.iter().position(|c| c.starts_with("cargo build"));
        let test = programs.iter().position(|c| c.starts_with("cargo test"));
        assert!(build.is_some() && test.is_some(), "{programs:?}");
        assert!(build < test, "{programs:?}");
        assert!(
            !programs.iter().any(|c| c.contains("fmt") || c.contains("clippy")),
            "{programs:?}"
        );
    }

    #[test]
    fn a_command_in_a_subdirectory_says_where() {
        let check = Check { argv: argv(&["npm", "test"]), dir: "web".into() };
        assert_eq!(check.display(), "(cd web && npm test)");
    }

    #[test]
    fn the_tail_is_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
