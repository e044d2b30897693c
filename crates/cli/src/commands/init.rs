//! `orca init`: write orca's system into the repository (the managed block
//! in CLAUDE.md and AGENTS.md, Claude Code subagents and commands, the
//! default config), or with `--check` say whether any of it is stale.

use std::path::PathBuf;
use std::process::Command;

use orca_config::{Config, ConfigError, Layout};
use orca_instructions::{Action, FileChange, FileKind, InitError, InitOptions, InitPlan, Reason};
use serde::Serialize;

use crate::command_error::describe;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Change nothing; exit 1 when a block or generated file is missing or stale.
    #[arg(long, conflicts_with = "force")]
    check: bool,

    /// Overwrite generated files you have changed (CLAUDE.md and AGENTS.md
    /// outside orca's block are never touched).
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    root: String,
    version: &'static str,
    check: bool,
    /// Whether every file is as this orca writes it (check) or now is (init).
    current: bool,
    files: Vec<FileReport<'a>>,
    config: ConfigReport,
}

#[derive(Serialize)]
struct FileReport<'a> {
    path: &'a str,
    kind: &'static str,
    status: &'static str,
    /// Why it is updated, stale or skipped, for people.
    reason: Option<String>,
    /// The same, for scripts.
    reason_code: Option<&'static str>,
    hint: Option<&'static str>,
}

#[derive(Serialize)]
struct ConfigReport {
    valid: bool,
    diagnostics: Vec<ConfigProblem>,
}

#[derive(Serialize)]
struct ConfigProblem {
    message: String,
    line: Option<usize>,
    column: Option<usize>,
    hint: Option<String>,
}

const FORCE_HINT: &str = "`orca init --force` overwrites it";

pub(crate) fn run(args: &InitArgs, out: &Output) -> Result<ExitCode, Failure> {
    let root = repository_root()?;
    let version = env!("CARGO_PKG_VERSION");
    let plan = InitPlan::new(InitOptions { root: &root, version, force: args.force })
        .map_err(init_failure)?;
    if !args.check {
        plan.apply().map_err(init_failure)?;
    }
    let layout = Layout::new(&root);
    let config = Config::load(&layout).err();

    let files: Vec<FileReport<'_>> =
        plan.files().iter().map(|file| file_report(file, args.check)).collect();
    let stale = files.iter().filter(|file| matches!(file.status, "missing" | "stale")).count();
    let report = Report {
        root: root.display().to_string(),
        version,
        check: args.check,
        current: !args.check || plan.is_current(),
        files,
        config: config_report(config.as_ref()),
    };

    if out.is_json() {
        out.json(&report);
    } else {
        for file in &report.files {
            let mut line = format!("{:<10} {}", file.status, file.path);
            match (&file.reason, file.hint) {
                (Some(reason), Some(hint)) => line.push_str(&format!("  ({reason}; {hint})")),
                (Some(reason), None) => line.push_str(&format!("  ({reason})")),
                _ => {}
            }
            out.text(line);
        }
        if !args.check {
            out.text(summary(&report.files));
        }
    }

    if let Some(error) = config {
        let failure = Failure::failed(describe(&error).trim_end().to_owned()).with_hint(
            "fix the file, or run `orca init --force` to reset it to the documented defaults",
        );
        return report_failure(out, failure);
    }
    if args.check && stale > 0 {
        let files = if stale == 1 { "file is" } else { "files are" };
        let failure = Failure::failed(format!("{stale} {files} missing or stale"))
            .with_hint("run `orca init` to write them");
        return report_failure(out, failure);
    }
    Ok(ExitCode::Success)
}

/// With `--json` the report already said everything; a second JSON
/// document would break the one-object contract, so only the code remains.
fn report_failure(out: &Output, failure: Failure) -> Result<ExitCode, Failure> {
    if out.is_json() { Ok(failure.exit_code()) } else { Err(failure) }
}

fn file_report(file: &FileChange, check: bool) -> FileReport<'_> {
    let status = match (file.action, check) {
        (Action::Create, false) => "created",
        (Action::Update, false) => "updated",
        (Action::Unchanged, false) => "unchanged",
        (Action::Skip, false) => "skipped",
        (Action::Create, true) => "missing",
        (Action::Update, true) => "stale",
        (Action::Unchanged, true) => "current",
        (Action::Skip, true) => "edited",
    };
    let kind = match file.kind {
        FileKind::ManagedBlock => "managed_block",
        FileKind::Generated => "generated",
    };
    let hint = (file.action == Action::Skip).then_some(FORCE_HINT);
    let reason = file.reason.as_ref().map(|reason| reason_text(reason, check));
    let reason_code = file.reason.as_ref().map(reason_code);
    FileReport { path: &file.path, kind, status, reason, reason_code, hint }
}

/// Words for `reason`; `check` reports the state found, init what it did.
fn reason_text(reason: &Reason, check: bool) -> String {
    match (reason, check) {
        (Reason::NoBlock, false) => "block added".to_owned(),
        (Reason::NoBlock, true) => "no orca block".to_owned(),
        (Reason::BlockOfVersion(version), false) => format!("block of orca v{version} replaced"),
        (Reason::BlockOfVersion(version), true) => format!("block of orca v{version}"),
        (Reason::BlockEdited, false) => "edited block replaced".to_owned(),
        (Reason::BlockEdited, true) => "block text differs".to_owned(),
        (Reason::GeneratedByOtherVersion, _) => "generated by another orca version".to_owned(),
        (Reason::Forced, _) => "your changes were overwritten (--force)".to_owned(),
        (Reason::ChangedByUser, _) => "changed by you".to_owned(),
        (Reason::SameFileAs(path), _) => format!("same file as {path}"),
    }
}

fn reason_code(reason: &Reason) -> &'static str {
    match reason {
        Reason::NoBlock => "no_block",
        Reason::BlockOfVersion(_) => "block_of_other_version",
        Reason::BlockEdited => "block_edited",
        Reason::GeneratedByOtherVersion => "generated_by_other_version",
        Reason::Forced => "forced",
        Reason::ChangedByUser => "changed_by_user",
        Reason::SameFileAs(_) => "same_file",
    }
}

fn summary(files: &[FileReport<'_>]) -> String {
    let count = |status| files.iter().filter(|file| file.status == status).count();
    format!(
        "orca init: {} created, {} updated, {} unchanged, {} skipped",
        count("created"),
        count("updated"),
        count("unchanged"),
        count("skipped")
    )
}

fn config_report(error: Option<&ConfigError>) -> ConfigReport {
    let diagnostics = match error {
        None => Vec::new(),
        Some(ConfigError::Invalid(invalid)) => invalid
            .diagnostics()
            .iter()
            .map(|diagnostic| ConfigProblem {
                message: diagnostic.message.clone(),
                line: diagnostic.location.as_ref().map(|at| at.line),
                column: diagnostic.location.as_ref().map(|at| at.column),
                hint: diagnostic.hint.clone(),
            })
            .collect(),
        Some(other) => {
            vec![ConfigProblem { message: describe(other), line: None, column: None, hint: None }]
        }
    };
    ConfigReport { valid: error.is_none(), diagnostics }
}

fn init_failure(error: InitError) -> Failure {
    match &error {
        InitError::Markers { .. } => {
            Failure::failed(describe(&error)).with_hint("nothing was written").with_hint(
                "fix the markers by hand: one `<!-- orca:begin vX.Y.Z -->` line, then one \
                 `<!-- orca:end -->` line; or delete both and run `orca init` again",
            )
        }
        InitError::NotText { .. } => Failure::usage(describe(&error))
            .with_hint("nothing was written; save the file as UTF-8 and run `orca init` again"),
        _ => Failure::usage(describe(&error)),
    }
}

/// The top-level directory of the git repository around the current directory.
fn repository_root() -> Result<PathBuf, Failure> {
    let output =
        Command::new("git").args(["rev-parse", "--show-toplevel"]).output().map_err(|error| {
            Failure::usage(format!("cannot run git: {error}")).with_hint("install git")
        })?;
    if !output.status.success() {
        return Err(Failure::usage("not inside a git repository")
            .with_hint("run `orca init` in your repository (or `git init` first)"));
    }
    let top = String::from_utf8_lossy(&output.stdout).trim_end_matches(['\n', '\r']).to_owned();
    Ok(PathBuf::from(top))
}
