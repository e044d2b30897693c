//! Reading plan files and presenting their diagnostics: shared by the plan
//! subcommands.

use std::io::{IsTerminal, Read};
use std::path::Path;

use orca_plan::{
    Checked, MAX_SOURCE_BYTES, PlanOptions, PlanSource, RenderOptions, RenderStyle, SourceError,
};

use crate::failure::Failure;
use crate::output::Output;

/// Options every plan subcommand that reads a plan accepts.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PlanInputArgs {
    /// Allowed task roles, comma-separated (default: backend, frontend,
    /// test, security, docs, infra, refactor, review).
    #[arg(long, value_delimiter = ',', value_name = "ROLES")]
    pub(crate) roles: Vec<String>,

    /// Colors and Unicode in diagnostics: auto (only on a terminal),
    /// always, or never (plain ASCII).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,

    /// Print errors only, no warnings.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Print every warning (by default, after the first 3 of a kind the
    /// rest are one line naming their tasks).
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// Warnings of one kind shown in full before the rest are summarized.
const WARNINGS_PER_KIND: usize = 3;

/// Task IDs a summary line names before `…`.
const IDS_PER_GROUP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl PlanInputArgs {
    /// Checks against `roles` (e.g. the config's `[roles] known`), with
    /// colors only on a terminal.
    pub(crate) fn with_roles(roles: Vec<String>) -> Self {
        PlanInputArgs { roles, color: ColorChoice::Auto, quiet: false, verbose: false }
    }

    /// The roles to check against: `--roles`, else `[roles] known` of the
    /// repository's `.orca/config.toml`, else the defaults.
    pub(crate) fn options(&self) -> PlanOptions {
        let roles: Vec<String> =
            self.roles.iter().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect();
        if !roles.is_empty() {
            return PlanOptions { roles };
        }
        configured_roles().map_or_else(PlanOptions::default, |roles| PlanOptions { roles })
    }

    /// Fixed width and, off a terminal, plain ASCII, so output is stable.
    pub(crate) fn render_options(&self) -> RenderOptions {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let style = match self.color {
            ColorChoice::Never => RenderStyle::Plain,
            ColorChoice::Always => RenderStyle::Color,
            ColorChoice::Auto if tty && !no_color => RenderStyle::Color,
            ColorChoice::Auto if tty => RenderStyle::Unicode,
            ColorChoice::Auto => RenderStyle::Plain,
        };
        RenderOptions { style, width: 100 }
    }
}

/// `[roles] known` from the config of the repository around the current
/// directory; None outside a repository or when the config cannot be read
/// (`orca init --check` reports config problems). Found without starting
/// git: plan commands are meant to take milliseconds.
fn configured_roles() -> Option<Vec<String>> {
    let cwd = std::env::current_dir().ok()?;
    let root = orca_workspace::repository_root(&cwd)?;
    let config = orca_config::Config::load_file(&orca_config::Layout::new(root)).ok()?;
    Some(config.roles.known)
}

/// A plan file read from disk (or stdin for `-`).
pub(crate) struct SourceFile {
    pub(crate) name: String,
    pub(crate) text: String,
}

/// Reads a file as plan text: at most [`MAX_SOURCE_BYTES`], no binary,
/// valid UTF-8. `-` reads standard input.
pub(crate) fn read_source(path: &Path) -> Result<SourceFile, Failure> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    let limit = MAX_SOURCE_BYTES as u64 + 1;
    let result = if path == Path::new("-") {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        if path.is_dir() {
            return Err(Failure::usage(format!("{name} is a directory, not a plan file"))
                .with_hint("pass the plan's Markdown file, e.g. `orca plan check plan.md`"));
        }
        std::fs::File::open(path).and_then(|file| file.take(limit).read_to_end(&mut bytes))
    };
    if let Err(error) = result {
        return Err(Failure::usage(format!("cannot read {name}: {error}"))
            .with_hint("check the path and its permissions"));
    }
    match orca_plan::decode(&bytes) {
        Ok(text) => Ok(SourceFile {
            name: if path == Path::new("-") { "<stdin>".to_owned() } else { name },
            text: text.to_owned(),
        }),
        Err(error) => {
            let hint = match error {
                SourceError::TooLarge { .. } => "split the plan into smaller plans",
                SourceError::Binary { .. } => "pass the plan's Markdown (or JSON) file",
                SourceError::InvalidUtf8 { .. } => "save the file as UTF-8",
            };
            Err(Failure::usage(format!("{name}: {error}")).with_hint(hint))
        }
    }
}

/// A file read and checked.
pub(crate) struct LoadedPlan {
    pub(crate) source: SourceFile,
    pub(crate) checked: Checked,
}

pub(crate) fn load(path: &Path, args: &PlanInputArgs) -> Result<LoadedPlan, Failure> {
    let source = read_source(path)?;
    let checked = orca_plan::check(&source.text, &args.options());
    Ok(LoadedPlan { source, checked })
}

impl LoadedPlan {
    pub(crate) fn source(&self) -> PlanSource<'_> {
        PlanSource::new(&self.source.name, &self.source.text)
    }

    /// Prints the diagnostics, rendered, on stderr: every error; warnings
    /// grouped by kind (all with --verbose, none with --quiet).
    pub(crate) fn print_diagnostics(&self, args: &PlanInputArgs) {
        print_grouped(&self.source(), &self.checked.diagnostics, &self.checked.plan, args);
    }

    /// The graph of a valid plan. For an invalid plan, prints the
    /// diagnostics (rendered, or as JSON with `--json`) and returns the
    /// exit code to stop with.
    pub(crate) fn require_valid(
        &self,
        args: &PlanInputArgs,
        out: &Output,
    ) -> Result<&orca_plan::PlanGraph, crate::exit_code::ExitCode> {
        if let Some(graph) = &self.checked.graph {
            if !out.is_json() {
                self.print_diagnostics(args);
            }
            return Ok(graph);
        }
        let message =
            format!("{} is not a valid plan ({})", self.source.name, counts(&self.checked));
        let hint =
            format!("fix the errors above; `orca plan check {}` lists them", self.source.name);
        if out.is_json() {
            out.json(&serde_json::json!({
                "error": { "kind": "failed", "message": message, "hints": [hint] },
                "diagnostics": self.source().locate(&self.checked.diagnostics),
            }));
        } else {
            self.print_diagnostics(args);
            out.failure(&Failure::failed(message).with_hint(hint));
        }
        Err(crate::exit_code::ExitCode::Failure)
    }
}

/// "2 errors, 1 warning".
pub(crate) fn counts(checked: &Checked) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}", plural(checked.errors(), "error"), plural(checked.warnings(), "warning"))
}

/// Renders `diagnostics` on stderr as [`PlanInputArgs`] asks: errors in
/// full; warnings all (`--verbose`), none (`--quiet`), or the first few of
/// each kind and then one line per kind naming the other tasks.
pub(crate) fn print_grouped(
    source: &PlanSource<'_>,
    diagnostics: &[orca_plan::Diagnostic],
    plan: &orca_plan::Plan,
    args: &PlanInputArgs,
) {
    let per_kind = match (args.quiet, args.verbose) {
        (true, _) => 0,
        (_, true) => usize::MAX,
        _ => WARNINGS_PER_KIND,
    };
    let (shown, groups) = orca_plan::diagnostic::group(diagnostics, plan, per_kind);
    let shown: Vec<orca_plan::Diagnostic> = shown.into_iter().cloned().collect();
    let mut text =
        if shown.is_empty() { String::new() } else { source.render(&shown, args.render_options()) };
    if !args.quiet {
        for group in &groups {
            text.push_str(&format!("warning: {}\n", group.line(IDS_PER_GROUP)));
        }
        if !groups.is_empty() {
            text.push('\n');
        }
    }
    eprint!("{text}");
}
