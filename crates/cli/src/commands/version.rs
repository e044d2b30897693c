//! `orca version`: which orca this is.

use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct VersionArgs {}

pub(crate) fn run(_args: &VersionArgs, out: &Output) -> Result<ExitCode, Failure> {
    let version = env!("CARGO_PKG_VERSION");
    if out.is_json() {
        out.json(&serde_json::json!({ "name": "orca", "version": version }));
    } else {
        out.text(format!("orca {version}"));
    }
    Ok(ExitCode::Success)
}
