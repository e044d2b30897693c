//! `orca clean`: removes what finished runs left in the repository —
//! attempt and planner branches, worktrees, run directories — never
//! anything outside `orca/` branches and `.orca/`, never an active run's,
//! and never the integration branch of a run whose result the user has not
//! taken (merged into a branch of their own), unless `--force`.
//!
//! In an `orca worker`'s clone it also removes what the worker kept of
//! finished runs coordinated from another checkout of the repository
//! (their logs under `.orca/runs/`, its copy of their integration branch).

use std::path::PathBuf;

use orca_git::{Repo, integration_branch, run_branch_prefix};
use orca_store::{Run, RunId, RunState, StoreOptions};
use orca_workspace::Workspace;
use serde::Serialize;

use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").args(["run", "finished", "all"]))]
pub(crate) struct CleanArgs {
    /// One run to clean.
    #[arg(value_name = "RUN")]
    run: Option<String>,

    /// Every finished run of this repository (the default).
    #[arg(long)]
    finished: bool,

    /// Every finished run, and orca branches, worktrees and run directories
    /// that belong to no run in the store.
    #[arg(long)]
    all: bool,

    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,

    /// Also remove the integration branches of runs whose result was not taken.
    #[arg(long)]
    force: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

/// What was (or, with --dry-run, would be) removed, and what was kept.
#[derive(Debug, Default, Serialize)]
struct Cleaned {
    dry_run: bool,
    branches: Vec<String>,
    /// Copies of remote branches fetched for a run (`refs/orca-remote/...`).
    fetched: Vec<String>,
    worktrees: Vec<PathBuf>,
    directories: Vec<PathBuf>,
    /// Kept on purpose, with why.
    kept: Vec<(String, String)>,
}

/// A run with something to clean in this checkout.
struct Found {
    run: Run,
    /// Coordinated from another checkout of the repository: this one is an
    /// `orca worker`'s clone, and its copy of the run's integration branch
    /// is not the run's result (that is in the coordinator's checkout).
    elsewhere: bool,
}

pub(crate) fn run(args: &CleanArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let layout = workspace.require_layout().map_err(|e| workspace_failure(&e))?.clone();
    let repo_ref = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let repo = Repo::discover(layout.root()).map_err(|e| Failure::usage(describe(&e)))?;
    let runs: Vec<Found> = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => store,
            Err(orca_store::OpenError::Missing { .. }) if workspace.store_is_default() => {
                return Ok(Vec::new());
            }
            Err(error) => return Err(open_failure(&error)),
        };
        let scope = workspace.run_scope(repo_ref.as_ref());
        let ours = |run: &Run| match (&run.repo, &repo_ref) {
            (Some(theirs), Some(ours)) => theirs.checkout == ours.checkout,
            _ => true,
        };
        let runs = match &args.run {
            Some(id) => {
                let run =
                    store.run(&RunId::from(id.as_str())).await.map_err(|e| store_failure(&e))?;
                if let (Some(theirs), Some(ours)) = (&run.repo, &repo_ref)
                    && theirs.id != ours.id
                {
                    return Err(Failure::refused(format!(
                        "run {} belongs to another repository ({})",
                        run.id, theirs.checkout
                    )));
                }
                vec![Found { elsewhere: !ours(&run), run }]
            }
            None => {
                let mut runs: Vec<Found> = store
                    .runs(scope, usize::MAX)
                    .await
                    .map_err(|e| store_failure(&e))?
                    .into_iter()
                    .map(|summary| Found { run: summary.run, elsewhere: false })
                    .collect();
                // What this checkout holds of runs the store does not list
                // for it: a worker's share of runs coordinated elsewhere.
                let known: Vec<String> = runs.iter().map(|f| f.run.id.to_string()).collect();
                for id in orphans(&repo, &layout, &known) {
                    let Ok(run) = store.run(&RunId::from(id.as_str())).await else { continue };
                    let same_repo = match (&run.repo, &repo_ref) {
                        (Some(theirs), Some(ours)) => theirs.id == ours.id,
                        _ => false,
                    };
                    if same_repo && !ours(&run) {
                        runs.push(Found { run, elsewhere: true });
                    }
                }
                runs
            }
        };
        store.close().await;
        Ok(runs)
    })?;

    let mut cleaned = Cleaned { dry_run: args.dry_run, ..Cleaned::default() };
    let known: Vec<String> = runs.iter().map(|found| found.run.id.to_string()).collect();
    let failed: Vec<&str> = runs
        .iter()
        .filter(|found| found.run.state == RunState::Failed)
        .map(|found| found.run.id.as_str())
        .collect();
    for Found { run, elsewhere } in &runs {
        if run.state == RunState::Active {
            if args.run.is_some() {
                return Err(Failure::refused(format!("run {} is still active", run.id))
                    .with_hint("finish it (`orca resume`) or let it end first; orca never cleans an active run"));
            }
            cleaned.kept.push((run.id.to_string(), "still active".into()));
            continue;
        }
        let run = RunToClean { id: run.id.as_str(), elsewhere: *elsewhere };
        clean_run(&repo, &layout, run, &failed, args, &mut cleaned)?;
    }
    if args.all {
        for orphan in orphans(&repo, &layout, &known) {
            let run = RunToClean { id: &orphan, elsewhere: false };
            clean_run(&repo, &layout, run, &failed, args, &mut cleaned)?;
        }
    }
    if out.is_json() {
        out.json(&cleaned);
    } else {
        out.text(render(&cleaned));
    }
    Ok(ExitCode::Success)
}

/// One run [`clean_run`] removes the leftovers of.
#[derive(Clone, Copy)]
struct RunToClean<'a> {
    id: &'a str,
    /// See [`Found::elsewhere`].
    elsewhere: bool,
}

/// Removes one run's worktrees, branches and (once its result is gone or
/// taken) its directory.
fn clean_run(
    repo: &Repo,
    layout: &orca_config::Layout,
    RunToClean { id: run, elsewhere }: RunToClean<'_>,
    failed_runs: &[&str],
    args: &CleanArgs,
    cleaned: &mut Cleaned,
) -> Result<(), Failure> {
    let git_failure = |error: &(dyn std::error::Error + 'static)| Failure::failed(describe(error));
    let worktrees = layout.worktrees_dir().join(orca_git::ref_component(run));
    if worktrees.exists() {
        let empty = std::fs::read_dir(&worktrees).is_ok_and(|mut entries| entries.next().is_none());
        if !args.dry_run {
            repo.prune_stale(&worktrees).map_err(|e| git_failure(&e))?;
            // The run's own directory goes too: nothing is left to say next time.
            let _ = std::fs::remove_dir(&worktrees);
        }
        if !empty {
            cleaned.worktrees.push(worktrees);
        }
    }
    let integration = integration_branch(run);
    let keep_integration = match repo.branch_tip(&integration).map_err(|e| git_failure(&e))? {
        Some(tip) if !args.force && !elsewhere && !taken(repo, tip.as_ref()) => {
            cleaned.kept.push((
                integration.clone(),
                "the run's result, not merged into a branch of yours (--force removes it)".into(),
            ));
            true
        }
        _ => false,
    };
    // A failed run can still be resumed (`orca resume --retry-failed`): its
    // attempt branches hold work it would merge, unless --force.
    if failed_runs.contains(&run) && !args.force {
        cleaned.kept.push((
            format!("{}*", run_branch_prefix(run)),
            "a failed run's work, which `orca resume --retry-failed` still uses (--force removes it)"
                .into(),
        ));
        return Ok(());
    }
    let prefix = run_branch_prefix(run);
    let branches: Vec<String> = repo
        .branches_with_prefix(&prefix)
        .map_err(|e| git_failure(&e))?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !(keep_integration && *name == integration))
        .collect();
    if !branches.is_empty() {
        if !args.dry_run {
            let deleted = repo
                .delete_branches_where(&prefix, |name| branches.iter().any(|b| b == name))
                .map_err(|e| git_failure(&e))?;
            for branch in deleted.checked_out {
                cleaned.kept.push((branch, "checked out in a worktree".into()));
            }
            cleaned.branches.extend(deleted.deleted);
        } else {
            cleaned.branches.extend(branches);
        }
    }
    // What was fetched from the remote for the run (attempt branches in
    // the coordinator's checkout, the integration branch in a worker's).
    let fetched = if args.dry_run {
        repo.fetched_branches(&prefix)
    } else {
        repo.delete_fetched_branches(&prefix)
    };
    cleaned.fetched.extend(fetched.map_err(|e| git_failure(&e))?);
    let dir = layout.run_dir(run);
    if dir.exists() {
        if keep_integration {
            cleaned.kept.push((dir.display().to_string(), "its result is kept".into()));
        } else {
            if !args.dry_run {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    Failure::failed(format!("cannot remove {}: {e}", dir.display()))
                })?;
            }
            cleaned.directories.push(dir);
        }
    }
    Ok(())
}

/// Whether `commit` is in a branch outside `orca/`: the user took the result.
fn taken(repo: &Repo, commit: &str) -> bool {
    repo.branches_with_prefix("").unwrap_or_default().iter().any(|(name, _)| {
        !name.starts_with(orca_git::BRANCH_NAMESPACE)
            && repo.is_ancestor(commit, name).unwrap_or(false)
    })
}

/// Runs that left branches, worktrees or directories but are not in the store.
fn orphans(repo: &Repo, layout: &orca_config::Layout, known: &[String]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let namespace = format!("{}/", orca_git::BRANCH_NAMESPACE);
    for (name, _) in repo.branches_with_prefix(&namespace).unwrap_or_default() {
        if let Some(run) = name[namespace.len()..].split('/').next() {
            found.push(run.to_owned());
        }
    }
    for dir in [layout.worktrees_dir(), layout.state_dir().join("runs")] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found.sort();
    found.dedup();
    found.retain(|run| !known.iter().any(|k| orca_git::ref_component(k) == *run));
    found
}

fn render(cleaned: &Cleaned) -> String {
    let verb = if cleaned.dry_run { "would remove" } else { "removed" };
    let mut lines = Vec::new();
    for branch in &cleaned.branches {
        lines.push(format!("{verb} branch {branch}"));
    }
    for refname in &cleaned.fetched {
        lines.push(format!("{verb} {refname} (fetched from the remote)"));
    }
    for worktree in &cleaned.worktrees {
        lines.push(format!("{verb} worktrees under {}", worktree.display()));
    }
    for dir in &cleaned.directories {
        lines.push(format!("{verb} {}", dir.display()));
    }
    for (what, why) in &cleaned.kept {
        lines.push(format!("kept {what}: {why}"));
    }
    if lines.is_empty() {
        lines.push("nothing to clean".into());
    }
    lines.join("\n")
}
