//! Which repository runs belong to. A run records the repository's
//! identity (its root commit: the same in every clone, so workers on other
//! machines recognise it) and this checkout (`host:path`, so two clones
//! sharing one store do not take each other's runs).
//!
//! The root commit costs two git processes; it is kept in `.orca/repo-id`
//! so that the short commands agent sessions run per step read a file.

use std::path::PathBuf;

use orca_config::Layout;
use orca_git::{DiscoverError, RefError, Repo};
use orca_store::RepoRef;

/// Why the repository's identity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error("cannot read the repository's root commit")]
    Git(#[from] RefError),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The identity file: one root commit.
fn identity_file(layout: &Layout) -> PathBuf {
    layout.state_dir().join("repo-id")
}

pub(crate) fn repo_ref(layout: &Layout) -> Result<Option<RepoRef>, IdentityError> {
    let path = identity_file(layout);
    let cached = std::fs::read_to_string(&path).ok().map(|text| text.trim().to_owned());
    let id = match cached.filter(|id| is_object_name(id)) {
        Some(id) => id,
        None => {
            let repo = Repo::discover(layout.root())?;
            let roots = match repo.root_commits() {
                Ok(roots) => roots,
                Err(RefError::UnbornHead) => return Ok(None),
                Err(error) => return Err(error.into()),
            };
            let Some(first) = roots.first() else { return Ok(None) };
            let id = first.to_string();
            if layout.state_dir().is_dir() {
                std::fs::write(&path, format!("{id}\n"))
                    .map_err(|source| IdentityError::Write { path, source })?;
            }
            id
        }
    };
    Ok(Some(RepoRef { id, checkout: checkout(layout) }))
}

/// `host:path` of the main worktree.
pub(crate) fn checkout(layout: &Layout) -> String {
    let host =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let root = layout.root().canonicalize().unwrap_or_else(|_| layout.root().to_owned());
    format!("{host}:{}", root.display())
}

fn is_object_name(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}
