//! One place that finds what a command works on: the repository around
//! the current directory (its main worktree, even from a linked worktree),
//! orca's `.orca/` state there, the configuration, and the store.
//!
//! Finding them starts no git process: agent sessions run one short
//! `orca task` command per step, and a git process would cost more than the
//! rest of the command. The store is `--store`, else `ORCA_STORE`, else
//! `[store] url` of `.orca/config.toml`, else `.orca/orca.db`.

mod discover;
mod identity;

use std::path::{Path, PathBuf};

use orca_config::{Config, ConfigError, Layout, StoreLocation};
use orca_store::{OpenError, RepoRef, RunScope, Store, StoreOptions};

pub use identity::IdentityError;

/// The top of the main worktree of the repository around `dir`, found by
/// looking for `.git` upwards without starting git (which costs several
/// milliseconds per process; `orca plan check` runs in a few).
pub fn repository_root(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    discover::main_worktree_root(dir)
}

/// Why no workspace could be found.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("cannot read the current directory")]
    CurrentDir(#[source] std::io::Error),
    #[error("{dir} is not inside a git repository")]
    NotARepository { dir: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The repository a command works on, its configuration and its store.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `None` outside a repository (possible only with an explicit store).
    layout: Option<Layout>,
    config: Config,
    store_url: String,
    store_is_default: bool,
}

impl Workspace {
    /// The workspace around the current directory. `store` is `--store`
    /// (or `ORCA_STORE`, which clap reads into the same flag); outside a
    /// repository it is required.
    pub fn discover(store: Option<&str>) -> Result<Workspace, WorkspaceError> {
        let cwd = std::env::current_dir().map_err(WorkspaceError::CurrentDir)?;
        Workspace::discover_from(&cwd, store)
    }

    /// The top directory of the main worktree of the repository around
    /// `dir`, found without reading the configuration (which may be the
    /// thing that is broken).
    pub fn repository_root(dir: &Path) -> Option<PathBuf> {
        discover::main_worktree_root(dir)
    }

    /// [`Workspace::discover`] from `dir` instead of the current directory.
    pub fn discover_from(dir: &Path, store: Option<&str>) -> Result<Workspace, WorkspaceError> {
        let root = discover::main_worktree_root(dir);
        let layout = match (root, store) {
            (Some(root), _) => Some(Layout::new(root)),
            (None, Some(_)) => None,
            (None, None) => return Err(WorkspaceError::NotARepository { dir: dir.to_owned() }),
        };
        let config = match &layout {
            Some(layout) => Config::load(layout)?,
            None => Config::default(),
        };
        let (store_url, store_is_default) = match (store, &layout) {
            (Some(url), _) => (url.to_owned(), false),
            (None, Some(layout)) => match config.store.location(layout.root()) {
                StoreLocation::Postgres(url) => (url, false),
                StoreLocation::Sqlite(path) => {
                    let is_default = path == layout.database();
                    (path.display().to_string(), is_default)
                }
            },
            (None, None) => unreachable!("without a store flag a repository was found"),
        };
        Ok(Workspace { layout, config, store_url, store_is_default })
    }

    /// The repository's `.orca/` layout; `None` outside a repository.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// The repository's `.orca/` layout, or [`WorkspaceError::NotARepository`].
    pub fn require_layout(&self) -> Result<&Layout, WorkspaceError> {
        self.layout.as_ref().ok_or_else(|| WorkspaceError::NotARepository {
            dir: std::env::current_dir().unwrap_or_default(),
        })
    }

    /// The top of the repository's main worktree.
    pub fn root(&self) -> Option<&Path> {
        self.layout.as_ref().map(Layout::root)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store URL (a SQLite path or `postgres://...`).
    pub fn store_url(&self) -> &str {
        &self.store_url
    }

    /// The store is the repository's own `.orca/orca.db`.
    pub fn store_is_default(&self) -> bool {
        self.store_is_default
    }

    /// Opens the store. The repository's own SQLite store is created with
    /// `.orca/` when `options.create` says so; any other store must exist
    /// or be creatable at its URL.
    pub async fn open_store(&self, options: &StoreOptions) -> Result<Store, OpenError> {
        match (&self.layout, self.store_is_default) {
            (Some(layout), true) => Store::open_default_with(layout, options).await,
            _ => Store::open_with(&self.store_url, options).await,
        }
    }

    /// The repository's identity and this checkout, as runs record them.
    /// Outside a repository, or before its first commit, there is none.
    pub fn repo_ref(&self) -> Result<Option<RepoRef>, IdentityError> {
        match &self.layout {
            Some(layout) => identity::repo_ref(layout),
            None => Ok(None),
        }
    }

    /// Which runs belong here: this checkout's, plus the runs an older orca
    /// recorded without a repository when the store is a SQLite file (a
    /// file on this machine; a shared PostgreSQL store may hold other
    /// repositories' old runs). Without an identity (no repository, or no
    /// commit yet) every run of the store.
    pub fn run_scope<'a>(&self, repo: Option<&'a RepoRef>) -> RunScope<'a> {
        match repo {
            Some(repo) => RunScope::Repo { repo, legacy: self.store_is_sqlite() },
            None => RunScope::All,
        }
    }

    /// The store is a SQLite file (not a PostgreSQL server).
    pub fn store_is_sqlite(&self) -> bool {
        matches!(orca_store::Location::parse(&self.store_url), Ok(orca_store::Location::Sqlite(_)))
    }
}

#[cfg(test)]
mod tests;
