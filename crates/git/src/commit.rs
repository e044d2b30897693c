//! Committing whatever an agent left in its worktree.

use std::path::Path;

use crate::repo::{Repo, text};
use crate::sha::Sha;
use crate::worktree::WorktreeError;

impl Repo {
    /// Stages everything in the linked worktree at `worktree` (new,
    /// modified and deleted files; `.gitignore`d files stay out) and commits
    /// it with `message` on top of whatever the worktree's HEAD is, so
    /// commits the agent made itself stay as they are. Returns `None` when
    /// there was nothing to commit.
    ///
    /// The commit runs no hooks (the work must be saved whatever a
    /// pre-commit hook thinks of it) and keeps `message` verbatim apart from
    /// surrounding whitespace. Refuses to run in the main checkout.
    ///
    /// The commit goes wherever the worktree's HEAD is: if the agent left it
    /// detached or on another branch, check [`Repo::list_worktrees`] first.
    /// A merge the agent left half-done is committed as it is, markers and
    /// all, so that nothing is lost; conflict worktrees orca prepared are
    /// finished with [`Repo::finish_conflict_resolution`] instead.
    pub fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<Sha>, WorktreeError> {
        let dir = self.linked_worktree(worktree)?;
        self.git.at(&dir).args(["add", "--all"]).run()?;
        let commit = self.git.at(&dir).args([
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=whitespace",
            "-m",
            message,
        ]);
        // git commit exits with 1 when nothing is staged; only then is the
        // index asked, and a failure that is not that is reported by
        // running the commit once more.
        if commit.run_allowing(&[0, 1])?.code == Some(1) {
            let staged = self
                .git
                .at(&dir)
                .args(["diff", "--cached", "--quiet", "--no-ext-diff", "--ignore-submodules=none"])
                .run_allowing(&[0, 1])?;
            if staged.code == Some(0) {
                return Ok(None);
            }
            commit.run()?;
        }
        if let Some(sha) = self.worktree_branch_tip(&dir) {
            tracing::debug!(worktree = %dir.display(), commit = %sha, "committed worktree changes");
            return Ok(Some(sha));
        }
        let head = self.git.at(&dir).args(["rev-parse", "--verify", "HEAD"]);
        let out = head.run()?;
        let sha = Sha::parse(&text(&out)).map_err(|_| head.unexpected("not an object name"))?;
        tracing::debug!(worktree = %dir.display(), commit = %sha, "committed worktree changes");
        Ok(Some(sha))
    }

    /// Whether the linked worktree has anything [`Repo::commit_all`] would
    /// commit. Reads only.
    pub fn worktree_has_changes(&self, worktree: &Path) -> Result<bool, WorktreeError> {
        let dir = self.linked_worktree(worktree)?;
        let out = self
            .git
            .at(&dir)
            .args(["status", "--porcelain", "-z", "--ignore-submodules=none"])
            .run()?;
        Ok(!out.is_empty())
    }

    /// Removes `index.lock` of a linked worktree, left by a git process that
    /// was killed (an agent's `git add` when orca killed the agent). Only
    /// call this when no process can be using the worktree any more: a live
    /// git process holding the lock would be corrupted. Returns whether a
    /// lock was there.
    pub fn clear_stale_index_lock(&self, worktree: &Path) -> Result<bool, WorktreeError> {
        let dir = self.linked_worktree(worktree)?;
        let git_dir = self
            .git
            .at(&dir)
            .args(["rev-parse", "--path-format=absolute", "--git-dir"])
            .run_text()?;
        let lock = Path::new(&git_dir).join("index.lock");
        match std::fs::remove_file(&lock) {
            Ok(()) => {
                tracing::info!(path = %lock.display(), "removed stale index.lock");
                Ok(true)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(WorktreeError::Io { action: "remove", path: lock, source }),
        }
    }
}
