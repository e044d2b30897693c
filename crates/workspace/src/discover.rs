//! Finding the main worktree's top directory by looking for `.git` upwards,
//! as git does, without starting git.
//!
//! The main worktree, not the current one: agent sessions work in linked
//! worktrees of one repository and must share its store (and `orca run`'s
//! attempt worktrees live below the main one).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The top of the main worktree of the repository around `dir`, if any.
pub(crate) fn main_worktree_root(dir: &Path) -> Option<PathBuf> {
    if std::env::var_os("GIT_DIR").is_some() || std::env::var_os("GIT_WORK_TREE").is_some() {
        return ask_git(dir);
    }
    // Like git, never move up into a directory of GIT_CEILING_DIRECTORIES.
    let ceilings: Vec<PathBuf> = std::env::var_os("GIT_CEILING_DIRECTORIES")
        .map(|dirs| std::env::split_paths(&dirs).filter(|d| d.is_absolute()).collect())
        .unwrap_or_default();
    dir.ancestors()
        .enumerate()
        .take_while(|(i, dir)| *i == 0 || !ceilings.iter().any(|c| c == dir))
        .find_map(|(_, dir)| worktree_root(dir))
}

/// The main worktree's root if `dir` is the top of a worktree (it holds `.git`).
pub(crate) fn worktree_root(dir: &Path) -> Option<PathBuf> {
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

/// Asks git, for setups the walk does not cover (`GIT_DIR`, `GIT_WORK_TREE`).
fn ask_git(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"])
        .current_dir(dir)
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
