//! orca's git layer: one worktree and branch per attempt, auto-commit of
//! an agent's work, and the primitives of the merge queue — a
//! `merge-tree` precheck, checkout-free merges published by
//! compare-and-swap, and worktrees holding a conflict for a resolver.
//!
//! Everything drives the real `git` CLI (argv only, never a shell) with a
//! hermetic environment: variables such as `GIT_DIR` or `GIT_INDEX_FILE`
//! inherited from a surrounding git process are removed, git never prompts,
//! pages or opens an editor, messages are in the C locale, and orca's own
//! commits run no hooks and are not signed. A repository without an
//! identity gets `orca <orca@localhost>` for orca's commits.
//!
//! **The user's checkout is never touched.** No operation checks out,
//! resets, stashes, or writes the working tree or index of the checkout a
//! [`Repo`] was opened from; `git status` there runs without refreshing the
//! index. Work happens in linked worktrees (orca puts them under
//! `.orca/worktrees/`), and branches move only through `update-ref`.
//! Branches checked out anywhere are never moved or deleted.
//!
//! The API is synchronous; an async caller uses `spawn_blocking`. A [`Repo`]
//! is `Send + Sync`: calls on different worktrees may run at once, ref
//! updates of one `Repo` are serialized, updates by other processes are
//! detected by compare-and-swap, and a git lock file held by another
//! process is waited for briefly.
//!
//! ```no_run
//! use orca_git::{Repo, attempt_branch, integration_branch, task_worktree_path};
//! # fn main() -> anyhow::Result<()> {
//! let repo = Repo::discover(".")?;
//! let integration = integration_branch("r1");
//! repo.create_branch(&integration, "HEAD")?;
//! let path = task_worktree_path(&repo.root().join(".orca/worktrees"), "r1", "T1");
//! let wt = repo.add_worktree(&path, &attempt_branch("r1", "T1", 1), &integration)?;
//! // ... an agent works in wt.path ...
//! repo.commit_all(&wt.path, "T1: add the parser")?;
//! repo.merge_into(&integration, &attempt_branch("r1", "T1", 1), "Merge T1")?;
//! repo.remove_worktree(&wt.path)?;
//! # Ok(()) }
//! ```
//!
//! See `docs/git.md` for branch names, the merge strategy and manual cleanup.

mod batch_check;
mod commit;
mod conflict;
mod diff;
mod fast_forward;
mod invocation;
mod long_running;
mod merge;
mod ref_session;
mod refname;
mod remote;
mod repo;
mod sha;
mod stale_lock;
mod worktree;

pub use conflict::{ConflictError, ConflictWorktree};
pub use diff::{
    ChangeKind, DiffStat, FileChange, FileStat, FileSummary, MAX_SUMMARY_COMMITS, RangeSummary,
};
pub use fast_forward::{FastForward, FastForwardError};
pub use invocation::GitError;
pub use merge::{MergeCheck, MergeError, MergeMessage, MergeOutcome};
pub use refname::{
    BRANCH_NAMESPACE, attempt_branch, check_branch_name, integration_branch, ref_component,
    resolver_worktree_path, run_branch_prefix, task_worktree_path,
};
pub use remote::PushError;
pub use repo::{
    BranchDeletion, DiscoverError, FALLBACK_EMAIL, FALLBACK_NAME, RefError, Repo,
    WORKTREE_ADMIN_LOCK,
};
pub use sha::{InvalidSha, Sha};
pub use stale_lock::StaleLocks;
pub use worktree::{PruneReport, Worktree, WorktreeError, WorktreeRemoval};

#[cfg(test)]
mod tests {
    /// The engine shares one `Repo` between threads.
    #[test]
    fn repo_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::Repo>();
    }
}
