//! The report's three files in a run's directory.

use std::path::{Path, PathBuf};

use orca_store::{RunId, Store, StoreError};

/// The files [`write`] writes, in the run's directory.
pub const FILES: [&str; 3] = ["report.json", "report.md", "report.html"];

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read the run from the store")]
    Store(#[from] StoreError),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `report.json`, `report.md` and `report.html` for `run` into
/// `run_dir` (created when missing), each replaced whole: a reader never
/// sees half a file.
pub async fn write(store: &Store, run: &RunId, run_dir: &Path) -> Result<(), ReportError> {
    let report = crate::collect(store, run, run_dir).await?;
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    let contents = [json, crate::render_markdown(&report), crate::render_html(&report)];
    std::fs::create_dir_all(run_dir)
        .map_err(|source| ReportError::Write { path: run_dir.to_owned(), source })?;
    for (name, text) in FILES.iter().zip(contents) {
        let path = run_dir.join(name);
        let partial = run_dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| ReportError::Write { path, source })?;
    }
    Ok(())
}
