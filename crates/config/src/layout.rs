//! The `.orca/` directory: one place that knows every path orca writes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What is local to this checkout (the store, the lock, runs, worktrees)
/// stays out of git; `config.toml` (and this file) can be committed, so a
/// team shares one configuration.
const STATE_GITIGNORE: &str = "\
# Written by orca: what is local to this checkout stays out of git.
# Commit config.toml (and this file) to share the configuration.
orca.db
orca.db-*
lock*
repo-id
runs/
worktrees/
";

/// What an orca before schema 5 wrote: everything ignored, the config too.
const OLD_STATE_GITIGNORE: &str = "\
# Written by orca: its state stays out of git. To share the config, run
# `git add -f .orca/config.toml` once.
*
";

/// Paths of orca's state inside one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

/// Why the state directory could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot create orca's state directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Layout {
    /// The layout for the repository whose top-level directory is `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The repository's top-level directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.orca/`
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".orca")
    }

    /// `.orca/orca.db`, the embedded SQLite store.
    pub fn database(&self) -> PathBuf {
        self.state_dir().join("orca.db")
    }

    /// `.orca/lock`, the session lock.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    /// `.orca/config.toml`
    pub fn config_file(&self) -> PathBuf {
        self.state_dir().join("config.toml")
    }

    /// `.orca/runs/<run>/`: plan, analysis, logs, reports of one run.
    pub fn run_dir(&self, run: &str) -> PathBuf {
        self.state_dir().join("runs").join(run)
    }

    /// `.orca/worktrees/`: one worktree per attempt lives below it.
    pub fn worktrees_dir(&self) -> PathBuf {
        self.state_dir().join("worktrees")
    }

    /// Creates `.orca/` with a `.gitignore` that keeps local state out of
    /// git. Safe to call any number of times; never rewrites a `.gitignore`
    /// the user edited (the one an older orca wrote is brought up to date).
    pub fn ensure(&self) -> Result<(), LayoutError> {
        let dir = self.state_dir();
        fs::create_dir_all(&dir)
            .map_err(|source| LayoutError::CreateDir { path: dir.clone(), source })?;
        let ignore = dir.join(".gitignore");
        let outdated = match fs::read_to_string(&ignore) {
            Ok(text) => text == OLD_STATE_GITIGNORE,
            Err(_) => !ignore.exists(),
        };
        if outdated {
            fs::write(&ignore, STATE_GITIGNORE)
                .map_err(|source| LayoutError::WriteFile { path: ignore, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_under_dot_orca() {
        let layout = Layout::new("/repo");
        assert_eq!(layout.database(), Path::new("/repo/.orca/orca.db"));
        assert_eq!(layout.lock_file(), Path::new("/repo/.orca/lock"));
        assert_eq!(layout.config_file(), Path::new("/repo/.orca/config.toml"));
        assert_eq!(layout.run_dir("r1"), Path::new("/repo/.orca/runs/r1"));
        assert_eq!(layout.worktrees_dir(), Path::new("/repo/.orca/worktrees"));
    }

    #[test]
    fn ensure_creates_gitignore_once_and_keeps_user_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        layout.ensure().unwrap();
        let ignore = layout.state_dir().join(".gitignore");
        assert_eq!(fs::read_to_string(&ignore).unwrap(), STATE_GITIGNORE);
        fs::write(&ignore, "custom\n").unwrap();
        layout.ensure().unwrap();
        assert_eq!(fs::read_to_string(&ignore).unwrap(), "custom\n");
        fs::write(&ignore, OLD_STATE_GITIGNORE).unwrap();
        layout.ensure().unwrap();
        assert_eq!(fs::read_to_string(&ignore).unwrap(), STATE_GITIGNORE, "the old one is updated");
    }

    /// The config can be committed; the store, lock, runs and worktrees cannot.
    #[test]
    fn git_ignores_local_state_but_not_the_config() {
        let tmp = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(tmp.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap()
        };
        assert!(git(&["init", "-q"]).status.success());
        let layout = Layout::new(tmp.path());
        layout.ensure().unwrap();
        for file in [
            "config.toml",
            "orca.db",
            "orca.db-wal",
            "lock",
            "repo-id",
            "runs/r1/plan.md",
            "worktrees/r1/T1/x",
        ] {
            let path = layout.state_dir().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "x").unwrap();
        }
        let status = git(&["status", "--porcelain", "--untracked-files=all"]);
        let listed = String::from_utf8_lossy(&status.stdout).into_owned();
        let mut lines: Vec<&str> = listed.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["?? .orca/.gitignore", "?? .orca/config.toml"], "{listed}");
    }

    #[test]
    fn ensure_reports_the_path_it_could_not_create() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, "x").unwrap();
        let err = Layout::new(&file).ensure().unwrap_err();
        assert!(err.to_string().contains("not-a-dir/.orca"), "{err}");
    }
}
