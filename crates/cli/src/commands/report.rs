//! `orca report`: a run's report, written into its directory again from
//! the store (report.json, report.md, report.html), or one of them printed
//! or written where the user says.

use std::path::PathBuf;

use orca_store::{OpenError, RunId, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{
    describe, open_failure, report_failure, store_failure, workspace_failure,
};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Md,
    Json,
    Html,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The run [default: this repository's latest].
    #[arg(value_name = "RUN")]
    run: Option<String>,

    /// Print this format (or write it to -o FILE) instead of writing the
    /// three files into the run's directory.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,

    /// Write the report to FILE (the format from --format, else from the
    /// file's extension: .md, .json, .html).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Open the HTML report in the browser afterwards.
    #[arg(long)]
    open: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &ReportArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let layout = workspace.require_layout().map_err(|e| workspace_failure(&e))?.clone();
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let format = match (args.format, &args.output) {
        (Some(format), _) => Some(format),
        (None, Some(file)) => Some(format_of(file)?),
        (None, None) if out.is_json() => Some(Format::Json),
        (None, None) => None,
    };
    let (run, report) = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&options).await {
            Ok(store) => store,
            Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
                return Err(no_runs());
            }
            Err(error) => return Err(open_failure(&error)),
        };
        let run = match &args.run {
            Some(id) => RunId::from(id.as_str()),
            None => {
                let scope = workspace.run_scope(repo.as_ref());
                match store.latest_run_in(scope, &[]).await.map_err(|e| store_failure(&e))? {
                    Some(run) => run.id,
                    None => return Err(no_runs()),
                }
            }
        };
        let dir = layout.run_dir(run.as_str());
        let report = match format {
            None => orca_report::write(&store, &run, &dir).await.map(|()| None),
            Some(_) => orca_report::collect(&store, &run, &dir)
                .await
                .map(Some)
                .map_err(orca_report::ReportError::from),
        };
        store.close().await;
        Ok((run, report.map_err(|e| report_failure(&e))?))
    })?;

    let dir = layout.run_dir(run.as_str());
    let html = match (format, report) {
        (Some(format), Some(report)) => {
            let text = match format {
                Format::Md => orca_report::render_markdown(&report),
                Format::Json => serde_json::to_string_pretty(&report).expect("a report serializes"),
                Format::Html => orca_report::render_html(&report),
            };
            match &args.output {
                Some(file) => {
                    std::fs::write(file, text).map_err(|e| {
                        Failure::failed(format!("cannot write {}: {e}", file.display()))
                    })?;
                    if !out.is_json() {
                        out.text(format!("wrote {}", file.display()));
                    }
                    (format == Format::Html).then(|| file.clone())
                }
                None => {
                    print!("{text}");
                    None
                }
            }
        }
        _ => {
            let shown = dir.strip_prefix(layout.root()).unwrap_or(&dir).to_owned();
            out.text(format!(
                "report of run {run}: {} (also report.md, report.json)",
                shown.join("report.html").display()
            ));
            Some(dir.join("report.html"))
        }
    };
    if args.open {
        let page = html.unwrap_or_else(|| dir.join("report.html"));
        open_in_browser(&page)?;
    }
    Ok(ExitCode::Success)
}

fn no_runs() -> Failure {
    Failure::usage("no runs yet in this repository, so there is no report").with_hint(
        "start one with `orca run \"GOAL\"`; `orca runs --all` lists every run in the store",
    )
}

fn format_of(file: &std::path::Path) -> Result<Format, Failure> {
    match file.extension().and_then(|ext| ext.to_str()) {
        Some("md" | "markdown") => Ok(Format::Md),
        Some("json") => Ok(Format::Json),
        Some("html" | "htm") => Ok(Format::Html),
        _ => {
            Err(Failure::usage(format!("cannot tell the report's format from {}", file.display()))
                .with_hint("name the file .md, .json or .html, or pass --format md|json|html"))
        }
    }
}

/// The desktop's opener (xdg-open, open), without waiting for the browser.
pub(crate) fn open_in_browser(page: &std::path::Path) -> Result<(), Failure> {
    if !page.is_file() {
        return Err(Failure::failed(format!("{} does not exist", page.display()))
            .with_hint("write it first: `orca report` (or -o FILE.html)"));
    }
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| {
            Failure::failed(format!("cannot start {opener}: {e}"))
                .with_hint(format!("open {} in a browser yourself", page.display()))
        })
}
