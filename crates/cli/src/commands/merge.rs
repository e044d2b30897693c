//! `orca merge`: takes a finished run's result: the branch checked out in
//! this checkout is fast-forwarded to the run's integration branch, when
//! the checkout is clean and nothing of the branch's would be lost.

use orca_git::{FastForward, FastForwardError, Repo};
use orca_store::{OpenError, RunId, RunState, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// The run [default: this repository's latest succeeded run].
    #[arg(value_name = "RUN")]
    run: Option<String>,

    /// Take the result of a run that did not succeed (what it merged so far).
    #[arg(long)]
    force: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

#[derive(serde::Serialize)]
struct Merged {
    run: String,
    branch: String,
    from: Option<String>,
    to: String,
    moved: bool,
}

pub(crate) fn run(args: &MergeArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let root = workspace.require_layout().map_err(|e| workspace_failure(&e))?.root().to_owned();
    let repo_ref = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let run = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => store,
            Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
                return Err(Failure::usage("no runs yet in this repository: nothing to merge"));
            }
            Err(error) => return Err(open_failure(&error)),
        };
        let found = match &args.run {
            Some(id) => store.run(&RunId::from(id.as_str())).await.map(Some),
            None => {
                let scope = workspace.run_scope(repo_ref.as_ref());
                store.latest_run_in(scope, &[RunState::Succeeded]).await
            }
        };
        store.close().await;
        match found.map_err(|e| store_failure(&e))? {
            Some(run) => Ok(run),
            None => Err(Failure::usage("no succeeded run in this repository to merge").with_hint(
                "`orca runs` lists the runs; `orca merge RUN --force` takes an unfinished one",
            )),
        }
    })?;
    if run.state != RunState::Succeeded && !args.force {
        return Err(Failure::failed(format!(
            "run {} is {}, not succeeded: its result may be partial",
            run.id, run.state
        ))
        .with_hint(format!("take what it merged anyway with `orca merge {} --force`", run.id)));
    }
    let repo = Repo::discover(&root).map_err(|e| Failure::usage(describe(&e)))?;
    let merged = take(&repo, run.id.as_str())?;
    if out.is_json() {
        out.json(&merged);
    } else {
        out.text(describe_merge(&merged));
    }
    Ok(ExitCode::Success)
}

/// Fast-forwards the checkout's branch to `run`'s integration branch.
fn take(repo: &Repo, run: &str) -> Result<Merged, Failure> {
    let integration = orca_git::integration_branch(run);
    let refused = |error: &FastForwardError| {
        Failure::failed(format!("cannot fast-forward to {integration}: {}", describe(error)))
    };
    match repo.fast_forward_checkout(&integration) {
        Ok(FastForward::Moved { branch, from, to }) => Ok(Merged {
            run: run.to_owned(),
            branch,
            from: Some(from.to_string()),
            to: to.to_string(),
            moved: true,
        }),
        Ok(FastForward::AlreadyThere { branch, at }) => {
            Ok(Merged { run: run.to_owned(), branch, from: None, to: at.to_string(), moved: false })
        }
        Err(error @ FastForwardError::Dirty) => Err(refused(&error).with_hint(
            "commit or stash your changes first (`git stash`), then `orca merge` again",
        )),
        Err(error @ FastForwardError::Detached) => Err(refused(&error)
            .with_hint("check out the branch that should get the result (`git switch main`)")),
        Err(error @ FastForwardError::Diverged { .. }) => Err(refused(&error).with_hint(format!(
            "merge it yourself: `git merge {integration}` (or rebase your commits onto it)"
        ))),
        Err(FastForwardError::Ref(orca_git::RefError::UnknownRevision { .. })) => {
            Err(Failure::failed(format!("branch {integration} does not exist"))
                .with_hint("`orca clean` may have removed it; `orca runs` shows the run"))
        }
        Err(error) => Err(Failure::failed(describe(&error))),
    }
}

fn describe_merge(merged: &Merged) -> String {
    let short = |sha: &str| sha.chars().take(10).collect::<String>();
    match &merged.from {
        Some(from) => format!(
            "{} fast-forwarded {} → {} (run {})",
            merged.branch,
            short(from),
            short(&merged.to),
            merged.run
        ),
        None => format!(
            "{} already has run {}'s result ({})",
            merged.branch,
            merged.run,
            short(&merged.to)
        ),
    }
}

/// `orca run --merge` / `orca resume --merge` after a completed run: the
/// line for the summary, success or refusal (the run itself succeeded).
pub(crate) fn after_run(root: &std::path::Path, run: &str) -> String {
    let merged = Repo::discover(root)
        .map_err(|e| Failure::usage(describe(&e)))
        .and_then(|repo| take(&repo, run));
    match merged {
        Ok(merged) => format!("  {}", describe_merge(&merged)),
        Err(failure) => {
            let mut line = format!("  not merged: {}", failure.message);
            for hint in &failure.hints {
                line.push_str(&format!("\n    hint: {hint}"));
            }
            line
        }
    }
}
