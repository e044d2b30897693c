//! Which store a command uses: `--store URL`, else `ORCA_STORE` (clap reads
//! both), else `[store] url` of `.orca/config.toml`, else `.orca/orca.db` in
//! the repository's main worktree.
//!
//! The main worktree, not the current one: agent sessions work in linked
//! worktrees of one repository and must share its store (and `orca run`'s
//! attempt worktrees live below the main one).

use std::path::{Path, PathBuf};
use std::process::Command;

use orca_config::{Config, ConfigError, Layout, StoreLocation};

use crate::failure::{Failure, describe};

/// The store URL to open, and the repository layout when it is the default.
pub(crate) fn resolve(flag: Option<&str>) -> Result<(String, Option<Layout>), Failure> {
    if let Some(url) = flag {
        return Ok((url.to_owned(), None));
    }
    let layout = Layout::new(repo_root()?);
    Ok((layout.database().display().to_string(), Some(layout)))
}

/// Where a command that reads the configuration finds its store.
pub(crate) struct Resolved {
    pub(crate) url: String,
    /// The repository, when the command runs inside one.
    pub(crate) layout: Option<Layout>,
    /// `.orca/config.toml` (defaults outside a repository or without one).
    pub(crate) config: Config,
    /// The store is the repository's own `.orca/orca.db`.
    pub(crate) is_default: bool,
}

/// Like [`resolve`], but also reads the configuration, whose `[store] url`
/// applies when neither `--store` nor `ORCA_STORE` is given. Outside a
/// repository a `--store` is enough (and the defaults apply).
pub(crate) fn resolve_with_config(flag: Option<&str>) -> Result<Resolved, Failure> {
    let layout = match (repo_root(), flag) {
        (Ok(root), _) => Some(Layout::new(root)),
        (Err(_), Some(_)) => None,
        (Err(failure), None) => return Err(failure),
    };
    let config = match &layout {
        Some(layout) => Config::load(layout).map_err(|e| config_failure(&e))?,
        None => Config::default(),
    };
    if let Some(url) = flag {
        return Ok(Resolved { url: url.to_owned(), layout, config, is_default: false });
    }
    let Some(layout) = layout else { unreachable!("no flag means a repository was found") };
    let (url, is_default) = match config.store.location(layout.root()) {
        StoreLocation::Postgres(url) => (url, false),
        StoreLocation::Sqlite(path) => {
            let is_default = path == layout.database();
            (path.display().to_string(), is_default)
        }
    };
    Ok(Resolved { url, layout: Some(layout), config, is_default })
}

fn config_failure(error: &ConfigError) -> Failure {
    match error {
        ConfigError::Invalid(_) => Failure::failed(describe(error))
            .with_hint("fix .orca/config.toml; `orca init --check` validates it"),
        ConfigError::Read { .. } | ConfigError::Environment { .. } => {
            Failure::usage(describe(error))
        }
    }
}

/// The top-level directory of the repository's main worktree around the
/// current directory. Found by looking for `.git` upwards, as git does,
/// without starting git: agent sessions run a command per step and a git
/// process would cost more than the rest of the command.
fn repo_root() -> Result<PathBuf, Failure> {
    let not_a_repo = || {
        Failure::usage("not inside a git repository, so there is no default store")
            .with_hint("run orca inside the repository, or pass --store URL (or set ORCA_STORE)")
    };
    if std::env::var_os("GIT_DIR").is_some() || std::env::var_os("GIT_WORK_TREE").is_some() {
        return git_main_root().ok_or_else(not_a_repo);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::usage(format!("cannot read the current directory: {e}")))?;
    // Like git, never move up into a directory of GIT_CEILING_DIRECTORIES.
    let ceilings: Vec<PathBuf> = std::env::var_os("GIT_CEILING_DIRECTORIES")
        .map(|dirs| std::env::split_paths(&dirs).filter(|d| d.is_absolute()).collect())
        .unwrap_or_default();
    cwd.ancestors()
        .enumerate()
        .take_while(|(i, dir)| *i == 0 || !ceilings.iter().any(|c| c == dir))
        .find_map(|(_, dir)| worktree_root(dir))
        .ok_or_else(not_a_repo)
}

/// The main worktree's root if `dir` is the top of a worktree (it holds `.git`).
fn worktree_root(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = std::fs::metadata(&dot_git).ok()?;
    if meta.is_dir() {
        // As for git, a `.git` directory without HEAD is no repository: an
        // agent's sandbox, for one, may leave an empty `.git` as a mount point.
        return dot_git.join("HEAD").is_file().then(|| dir.to_owned());
    }
    // A linked worktree (or a submodule): `.git` is a file `gitdir: PATH`.
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let gitdir = text.lines().find_map(|line| line.strip_prefix("gitdir:"))?.trim();
    let gitdir = dir.join(gitdir);
    let Ok(common) = std::fs::read_to_string(gitdir.join("commondir")) else {
        return Some(dir.to_owned()); // a submodule: its own repository
    };
    let common = gitdir.join(common.trim()).canonicalize().ok()?;
    match common.file_name() {
        Some(name) if name == ".git" => common.parent().map(Path::to_owned),
        // The main repository is bare; this worktree is as close as it gets.
        _ => Some(dir.to_owned()),
    }
}

/// Asks git, for setups the walk above does not cover (`GIT_DIR`).
fn git_main_root() -> Option<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let common = PathBuf::from(lines.next()?);
    let toplevel = PathBuf::from(lines.next()?);
    match common.file_name() {
        Some(name) if name == ".git" => common.parent().map(Path::to_owned),
        _ => Some(toplevel),
    }
}

/// A single-threaded tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn linked_worktrees_share_the_main_worktrees_root() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("repo");
        std::fs::create_dir(&main).unwrap();
        git(&main, &["init", "-q"]);
        git(&main, &["commit", "-q", "--allow-empty", "-m", "init"]);
        git(&main, &["worktree", "add", "-q", "../repo-alice", "-b", "alice"]);
        let main = main.canonicalize().unwrap();
        let linked = dir.path().join("repo-alice").canonicalize().unwrap();
        assert_eq!(worktree_root(&main), Some(main.clone()));
        assert_eq!(worktree_root(&linked), Some(main.clone()));
        assert_eq!(worktree_root(dir.path()), None);
        // git agrees.
        let git_says = Command::new("git")
            .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .current_dir(&linked)
            .output()
            .unwrap();
        let common = PathBuf::from(String::from_utf8_lossy(&git_says.stdout).trim());
        assert_eq!(common.parent(), Some(main.as_path()));
    }

    #[test]
    fn an_empty_dot_git_directory_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir_all(inner.join(".git")).unwrap();
        assert_eq!(worktree_root(&inner), None);
        git(&inner, &["init", "-q"]);
        assert_eq!(worktree_root(&inner), Some(inner.clone()));
    }
}
