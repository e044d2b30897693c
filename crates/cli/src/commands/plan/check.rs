//! `orca plan check FILE...`

use std::path::PathBuf;

use super::input::{PlanInputArgs, counts, load};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// Plan files to check (`-` reads standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    input: PlanInputArgs,
}

pub(crate) fn run(args: &CheckArgs, out: &Output) -> Result<ExitCode, Failure> {
    let mut unreadable = false;
    let mut invalid = false;
    let mut reports = Vec::new();
    for path in &args.files {
        let loaded = match load(path, &args.input) {
            Ok(loaded) => loaded,
            Err(failure) => {
                unreadable = true;
                if out.is_json() {
                    reports.push(serde_json::json!({
                        "file": path.display().to_string(),
                        "error": { "kind": failure.kind, "message": failure.message, "hints": failure.hints },
                    }));
                } else {
                    out.failure(&failure);
                }
                continue;
            }
        };
        let checked = &loaded.checked;
        invalid |= !checked.is_valid();
        // Another tool's plan: say which, and how to import it, instead of
        // listing why it is not orca's format.
        if !checked.is_valid()
            && let Some(format) = orca_plan::import::detect(&loaded.source.text)
            && let Some(from) = format.from_flag()
        {
            let name = &loaded.source.name;
            let message = format!("{name} is {}, not an orca plan", format.name());
            let hint = format!("import it: `orca plan import {name} --from {from} -o plan.md`");
            if out.is_json() {
                reports.push(serde_json::json!({
                    "file": name,
                    "valid": false,
                    "format": from,
                    "error": { "kind": "failed", "message": message, "hints": [hint] },
                }));
            } else {
                out.failure(&Failure::failed(message).with_hint(hint));
            }
            continue;
        }
        if out.is_json() {
            reports.push(serde_json::json!({
                "file": loaded.source.name,
                "valid": checked.is_valid(),
                "tasks": checked.plan.tasks.len(),
                "errors": checked.errors(),
                "warnings": checked.warnings(),
                "diagnostics": loaded.source().locate(&checked.diagnostics),
            }));
        } else {
            loaded.print_diagnostics(&args.input);
            let verdict = if checked.is_valid() { "valid" } else { "invalid" };
            let tasks = checked.plan.tasks.len();
            out.text(format!(
                "{}: {verdict} ({tasks} task{}, {})",
                loaded.source.name,
                if tasks == 1 { "" } else { "s" },
                counts(checked)
            ));
        }
    }
    if out.is_json() {
        out.json(&serde_json::json!({ "valid": !invalid && !unreadable, "files": reports }));
    }
    Ok(if unreadable {
        ExitCode::Usage
    } else if invalid {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}
