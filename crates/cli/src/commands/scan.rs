//! `orca scan`: the security gate on demand. By default it scans the lines
//! this repository's latest run added (its integration branch against the
//! commit the run started from); `--base REV` scans from REV to HEAD
//! instead, and `--path` scans files whole. Exit 0 when nothing is at or
//! above the threshold, 1 when something is.

use std::path::PathBuf;

use orca_scan::{ScanTarget, Severity};
use orca_store::{RunState, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, store_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// Scan the lines added from REV to `--head` [default: the latest
    /// run's base, else HEAD~1].
    #[arg(long, value_name = "REV", conflicts_with = "path")]
    base: Option<String>,

    /// The revision whose added lines are scanned [default: the latest
    /// run's integration branch, else HEAD].
    #[arg(long, value_name = "REV", conflicts_with = "path")]
    head: Option<String>,

    /// Scan this file or directory whole (relative to the current
    /// directory; repeat for more) instead of a range of commits.
    #[arg(long, value_name = "PATH")]
    path: Vec<PathBuf>,

    /// Only these rules (repeat for more).
    #[arg(long, value_name = "ID")]
    rule: Vec<String>,

    /// Findings at or above this severity fail [default: `[security] threshold`].
    #[arg(long, value_name = "SEVERITY")]
    threshold: Option<String>,

    /// Also write the findings as SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,

    /// Do not run semgrep, bandit or gitleaks even when installed.
    #[arg(long)]
    no_external: bool,

    /// The store, to find the latest run [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &ScanArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let mut config = workspace.config().security.clone();
    if let Some(threshold) = &args.threshold {
        config.threshold.clone_from(threshold);
    }
    if args.no_external {
        config.external = false;
    }
    let threshold: Severity = orca_engine::stages::security::threshold(&config)
        .map_err(|e| Failure::usage(describe(&e)).with_hint("note, warning or error"))?;
    let cwd = std::env::current_dir().map_err(|e| Failure::usage(e.to_string()))?;
    let (target, root) = if args.path.is_empty() {
        let root = workspace.require_layout().map_err(|e| workspace_failure(&e))?.root().to_owned();
        let (base, head) = range(args, &workspace)?;
        (ScanTarget::diff(&root, &base, &head), root)
    } else {
        (ScanTarget::Files { root: cwd.clone(), paths: args.path.clone() }, cwd)
    };
    // `[security] rules` names a file from the repository's top, wherever
    // the command runs.
    let rules_root = workspace.root().map_or_else(|| root.clone(), std::path::Path::to_owned);
    let mut scanner = orca_engine::stages::security::scanner(&rules_root, &config)
        .map_err(|e| Failure::usage(describe(&e)))?;
    if !args.rule.is_empty() {
        let rules = scanner.rules().filtered(|rule| args.rule.iter().any(|id| id == rule.id()));
        scanner = orca_scan::Scanner::new(rules, scanner.options().clone());
    }
    // Exit 1 means findings; a scan that cannot run is a usage error (2).
    let report = scanner.scan(&target).map_err(|e| Failure::usage(describe(&e)))?;
    if let Some(path) = &args.sarif {
        std::fs::write(path, report.sarif_json())
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if out.is_json() {
        out.json(&report.to_json(threshold));
    } else {
        out.text(report.summary(threshold).trim_end());
    }
    Ok(if report.passes(threshold) { ExitCode::Success } else { ExitCode::Failure })
}

/// The commits to scan between: the flags, else the latest run's, else
/// the last commit.
fn range(args: &ScanArgs, workspace: &Workspace) -> Result<(String, String), Failure> {
    if let Some(base) = &args.base {
        return Ok((base.clone(), args.head.clone().unwrap_or_else(|| "HEAD".to_owned())));
    }
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let latest = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => store,
            Err(orca_store::OpenError::Missing { .. }) => return Ok(None),
            Err(error) => return Err(open_failure(&error)),
        };
        let scope = workspace.run_scope(repo.as_ref());
        let run = store
            .latest_run_in(scope, &[RunState::Active, RunState::Succeeded, RunState::Failed])
            .await
            .map_err(|e| store_failure(&e))?;
        let found = match run {
            Some(run) => {
                let record = store.pipeline_json(&run.id).await.map_err(|e| store_failure(&e))?;
                let base = record
                    .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
                    .and_then(|record| record["base"].as_str().map(str::to_owned));
                base.map(|base| (base, orca_git::integration_branch(run.id.as_str())))
            }
            None => None,
        };
        store.close().await;
        Ok(found)
    })?;
    Ok(match latest {
        Some((base, integration)) => (base, args.head.clone().unwrap_or(integration)),
        None => ("HEAD~1".to_owned(), args.head.clone().unwrap_or_else(|| "HEAD".to_owned())),
    })
}
