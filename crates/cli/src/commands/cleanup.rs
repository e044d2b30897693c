//! `orca cleanup`: the cleanup gate's formatters and autofixers on the
//! current checkout, in place (nothing is committed): the installed ones
//! of the repository's languages, then the files they changed.

use std::process::{Command, Stdio};

use orca_engine::stages::cleanup::fixers;
use orca_workspace::Workspace;

use crate::command_error::workspace_failure;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct CleanupArgs {}

#[derive(serde::Serialize)]
struct Ran {
    command: String,
    passed: bool,
}

pub(crate) fn run(_args: &CleanupArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = Workspace::discover(None).map_err(|e| workspace_failure(&e))?;
    let root = workspace.require_layout().map_err(|e| workspace_failure(&e))?.root().to_owned();
    let found = fixers(None, &root);
    if found.is_empty() {
        return Err(Failure::usage(
            "no formatter or autofixer of this repository's languages is installed",
        )
        .with_hint("orca runs cargo fmt, cargo clippy --fix, ruff, black, gofmt and npm's format script when present"));
    }
    let before = changed_files(&root);
    let mut ran = Vec::new();
    for fixer in &found {
        let status = Command::new(&fixer.argv[0])
            .args(&fixer.argv[1..])
            .current_dir(root.join(&fixer.dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if out.is_json() { Stdio::null() } else { Stdio::inherit() })
            .status();
        ran.push(Ran { command: fixer.display(), passed: status.is_ok_and(|s| s.success()) });
    }
    let changed: Vec<String> =
        changed_files(&root).into_iter().filter(|file| !before.contains(file)).collect();
    if out.is_json() {
        out.json(&serde_json::json!({ "ran": ran, "changed": changed }));
    } else {
        for one in &ran {
            out.text(format!("{} {}", if one.passed { "✓" } else { "✗" }, one.command));
        }
        if changed.is_empty() {
            out.text("nothing changed");
        } else {
            out.text(format!("changed ({}):", changed.len()));
            for file in &changed {
                out.text(format!("  {file}"));
            }
        }
    }
    Ok(if ran.iter().all(|one| one.passed) { ExitCode::Success } else { ExitCode::Failure })
}

/// The files `git status` lists as changed.
fn changed_files(root: &std::path::Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["status", "--porcelain", "-z", "--untracked-files=all"])
        .current_dir(root)
        .output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|entry| entry.len() > 3)
        .map(|entry| entry[3..].to_owned())
        .collect()
}
