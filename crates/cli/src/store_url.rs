//! Which store a command uses: `--store URL`, else `ORCA_STORE` (clap reads
//! both), else `.orca/orca.db` at the top of the current git repository.

use std::path::PathBuf;
use std::process::Command;

use orca_config::Layout;

use crate::failure::Failure;

/// The store URL to open, and the repository layout when it is the default.
pub(crate) fn resolve(flag: Option<&str>) -> Result<(String, Option<Layout>), Failure> {
    if let Some(url) = flag {
        return Ok((url.to_owned(), None));
    }
    let layout = Layout::new(repo_root()?);
    Ok((layout.database().display().to_string(), Some(layout)))
}

/// The top-level directory of the git repository around the current directory.
fn repo_root() -> Result<PathBuf, Failure> {
    let out = Command::new("git").args(["rev-parse", "--show-toplevel"]).output().map_err(|e| {
        Failure::usage(format!("cannot run git to find the repository: {e}"))
            .with_hint("pass --store URL (or set ORCA_STORE) to name the store directly")
    })?;
    if !out.status.success() {
        return Err(Failure::usage("not inside a git repository, so there is no default store")
            .with_hint("run orca inside the repository, or pass --store URL (or set ORCA_STORE)"));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end_matches(['\n', '\r'])))
}

/// A single-threaded tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}
