//! `orca plan import FILE [--from spec-kit|taskmaster|checklist|json] [-o plan.md]`

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use orca_plan::import::{Format, ImportError, ImportOptions, Imported};

use super::input::{PlanInputArgs, counts, read_source};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The file to import (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The format of FILE (default: detected from its content).
    #[arg(long, value_enum)]
    from: Option<Source>,

    /// Write the plan here instead of standard output.
    #[arg(short, long, value_name = "PLAN.md")]
    output: Option<PathBuf>,

    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,

    /// The role of tasks whose files and title do not show one (the
    /// sources have no roles).
    #[arg(long, default_value = "backend")]
    role: String,

    /// Give every task --role instead of reading roles from files and
    /// titles (test files → test, docs → docs, CI → infra, ...).
    #[arg(long)]
    no_infer_roles: bool,

    /// Leave out tasks the source marks done (and dependencies on them)
    /// instead of writing them with `status: done`.
    #[arg(long)]
    drop_done: bool,

    /// Task Master: the tag to import (default `master`, or the only tag).
    #[arg(long)]
    tag: Option<String>,

    /// The plan title (default: from the source).
    #[arg(long)]
    title: Option<String>,

    #[command(flatten)]
    input: PlanInputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Source {
    /// spec-kit `tasks.md`.
    SpecKit,
    /// Task Master `tasks.json`.
    Taskmaster,
    /// A Markdown checklist (`- [ ] ...`).
    Checklist,
    /// orca's plan JSON (`orca plan graph --format json`).
    Json,
}

impl Source {
    fn format(self) -> Format {
        match self {
            Source::SpecKit => Format::SpecKit,
            Source::Taskmaster => Format::Taskmaster,
            Source::Checklist => Format::Checklist,
            Source::Json => Format::OrcaJson,
        }
    }
}

fn hint_for(error: &ImportError, format: Format) -> &'static str {
    match (error, format) {
        (ImportError::TagNotFound { .. } | ImportError::AmbiguousTag { .. }, _) => {
            "pick one with --tag <TAG>"
        }
        (ImportError::AllDone, _) => {
            "import without --drop-done: done tasks are written with `status: done` and never run"
        }
        (ImportError::Json { .. }, Format::Taskmaster) => {
            "pass the .taskmaster/tasks/tasks.json file"
        }
        (_, Format::SpecKit) => "pass a spec-kit tasks.md (lines like `- [ ] T001 [P] Create ...`)",
        (_, Format::Taskmaster) => "pass a Task Master tasks.json",
        (_, Format::Checklist) => {
            "pass a Markdown checklist (lines like `- [ ] Add the login form`)"
        }
        (_, Format::OrcaJson) => "pass the JSON that `orca plan graph --format json` writes",
        (_, Format::Orca) => "run `orca plan check` on it instead",
    }
}

/// Writes through a temporary file in the same directory, then renames, so
/// a crash never leaves half a plan.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "plan".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.orca-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

pub(crate) fn run(args: &ImportArgs, out: &Output) -> Result<ExitCode, Failure> {
    let options = args.input.options();
    if !options.roles.contains(&args.role) {
        return Err(Failure::usage(format!("`{}` is not an allowed role", args.role))
            .with_hint(format!("use one of: {}", options.roles.join(", "))));
    }
    if let Some(output) = &args.output
        && output.exists()
        && !args.force
    {
        return Err(Failure::usage(format!("{} already exists", output.display()))
            .with_hint("pass --force to overwrite it, or choose another path with -o"));
    }
    let source = read_source(&args.file)?;
    let import_options = ImportOptions {
        role: args.role.clone(),
        infer_roles: !args.no_infer_roles,
        roles: options.roles.clone(),
        drop_done: args.drop_done,
        tag: args.tag.clone(),
        title: args.title.clone(),
    };
    let format = match args.from {
        Some(from) => from.format(),
        None => match orca_plan::import::detect(&source.text) {
            Some(Format::Orca) => {
                return Err(Failure::usage(format!("{} is already an orca plan", source.name))
                    .with_hint(format!("`orca plan check {}` reads it as it is", source.name)));
            }
            Some(format) => format,
            None => {
                return Err(Failure::usage(format!(
                    "cannot tell which format {} is in",
                    source.name
                ))
                .with_hint("name it with --from spec-kit|taskmaster|checklist|json"));
            }
        },
    };
    let imported = format.import(&source.text, &import_options);
    let Imported { plan, done, notes } = imported.map_err(|error| {
        Failure::failed(format!("cannot import {}: {error}", source.name))
            .with_hint(hint_for(&error, format))
    })?;

    let markdown = orca_plan::to_markdown(&plan);
    // Check what will be written, exactly as `orca plan check` will.
    let checked = orca_plan::check(&markdown, &options);
    let shown_name = args
        .output
        .as_ref()
        .map_or_else(|| "<imported plan>".to_owned(), |p| p.display().to_string());
    let plan_source = orca_plan::PlanSource::new(&shown_name, &markdown);
    if let Some(output) = &args.output {
        write_atomically(output, &markdown).map_err(|e| {
            Failure::usage(format!("cannot write {}: {e}", output.display()))
                .with_hint("check the directory exists and is writable")
        })?;
    }
    let code = if checked.is_valid() { ExitCode::Success } else { ExitCode::Failure };

    if out.is_json() {
        out.json(&serde_json::json!({
            "format": format.from_flag(),
            "output": args.output.as_ref().map(|p| p.display().to_string()),
            "markdown": if args.output.is_none() { Some(&markdown) } else { None },
            "tasks": plan.tasks.len(),
            "done": done,
            "notes": notes,
            "valid": checked.is_valid(),
            "diagnostics": plan_source.locate(&checked.diagnostics),
        }));
        return Ok(code);
    }

    if args.output.is_none() {
        out.text(markdown.trim_end());
    }
    // The summary goes to stderr when the plan itself is on stdout.
    let report = |line: String| {
        if args.output.is_some() { out.text(line) } else { eprintln!("{line}") }
    };
    let errors: Vec<orca_plan::Diagnostic> =
        checked.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    if !errors.is_empty() {
        eprint!("{}", plan_source.render(&errors, args.input.render_options()));
    }
    let target = args
        .output
        .as_ref()
        .map_or_else(|| "the plan".to_owned(), |p| format!("wrote {}", p.display()));
    report(format!(
        "{target}: {} task{} from {} ({})",
        plan.tasks.len(),
        if plan.tasks.len() == 1 { "" } else { "s" },
        format.name(),
        counts(&checked)
    ));
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for d in checked.diagnostics.iter().filter(|d| !d.is_error()) {
        *by_code.entry(d.code.as_str()).or_default() += 1;
    }
    if !by_code.is_empty() {
        let list: Vec<String> = by_code.iter().map(|(code, n)| format!("{code} ×{n}")).collect();
        report(format!("  warnings: {} (`orca plan check` shows each)", list.join(", ")));
    }
    if !done.is_empty() {
        let ids: Vec<&str> = done.iter().map(|d| d.as_str()).collect();
        report(format!(
            "  {} task{} already done in the source, written with `status: done` (never run): {}",
            done.len(),
            if done.len() == 1 { " is" } else { "s are" },
            shown_ids(&ids)
        ));
    }
    for note in &notes {
        report(format!("  note: {note}"));
    }
    Ok(code)
}

/// IDs for a summary line: the first 20, then how many more.
fn shown_ids(ids: &[&str]) -> String {
    if ids.len() <= 20 {
        return ids.join(", ");
    }
    format!("{}, … and {} more", ids[..20].join(", "), ids.len() - 20)
}
