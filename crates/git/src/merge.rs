//! Merging a task's branch into a target branch without any checkout.
//!
//! The merge is computed by `git merge-tree --write-tree` (objects only),
//! recorded by `git commit-tree`, and published by `git update-ref` with
//! the target's expected old value, so an update by another process between
//! reading the target and moving it is detected and the merge is redone on
//! the new tip instead of clobbering it.

use crate::invocation::{GitError, nul_fields};
use crate::repo::{RefError, Repo, text, validate_branch};
use crate::sha::Sha;

/// The answer of [`Repo::merge_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeCheck {
    /// The branch is already contained in the target: nothing to merge.
    AlreadyMerged,
    /// The merge is clean; `tree` is the merged tree.
    Clean { tree: Sha },
    /// The merge conflicts in `files`; `messages` are git's explanations.
    Conflicted { files: Vec<String>, messages: Vec<MergeMessage> },
}

/// One informational message of `git merge-tree --messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeMessage {
    /// Paths the message is about.
    pub paths: Vec<String>,
    /// git's stable short type, e.g. `CONFLICT (contents)` or `Auto-merging`.
    pub kind: String,
    /// The human-readable message.
    pub text: String,
}

/// What [`Repo::merge_into`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// A merge commit (first parent: the old target tip) now heads the target.
    Merged { commit: Sha },
    /// The branch tip was a merge prepared on the current target tip (a
    /// finished conflict resolution); the target now points at it.
    FastForwarded { commit: Sha },
    /// The branch was already contained in the target; nothing changed.
    AlreadyMerged { tip: Sha },
}

impl MergeOutcome {
    /// The target's tip after the call.
    pub fn tip(&self) -> &Sha {
        match self {
            MergeOutcome::Merged { commit } | MergeOutcome::FastForwarded { commit } => commit,
            MergeOutcome::AlreadyMerged { tip } => tip,
        }
    }
}

/// Why a merge did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merging {branch} into {target} conflicts in {}", files.join(", "))]
    Conflicted { target: String, branch: String, files: Vec<String>, messages: Vec<MergeMessage> },
    #[error(
        "branch {target} is checked out in {worktree}; orca only merges into branches no checkout uses"
    )]
    TargetCheckedOut { target: String, worktree: std::path::PathBuf },
    #[error("branch {target} kept moving while merging {branch} ({attempts} attempts)")]
    TargetKeptMoving { target: String, branch: String, attempts: usize },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// How often a merge is recomputed when another process moves the target
/// in between; each round costs only a few git calls.
const MERGE_ATTEMPTS: usize = 16;

impl Repo {
    /// Would merging `branch` into `target` be clean? Computed in the object
    /// store only (`git merge-tree --write-tree`); no file, index or ref
    /// changes. Both arguments are revisions (branch names or commits).
    pub fn merge_check(&self, target: &str, branch: &str) -> Result<MergeCheck, MergeError> {
        let target = self.rev_parse(target)?;
        let branch = self.rev_parse(branch)?;
        self.check_commits(&target, &branch)
    }

    fn check_commits(&self, target: &Sha, branch: &Sha) -> Result<MergeCheck, MergeError> {
        if self.commit_is_ancestor(branch, target)? {
            return Ok(MergeCheck::AlreadyMerged);
        }
        self.merge_tree(target, branch)
    }

    /// The merge of `branch` into `target` as `git merge-tree` computes it:
    /// [`MergeCheck::Clean`] or [`MergeCheck::Conflicted`], never
    /// [`MergeCheck::AlreadyMerged`].
    fn merge_tree(&self, target: &Sha, branch: &Sha) -> Result<MergeCheck, MergeError> {
        let inv = self
            .git
            .at(self.root())
            .args(["merge-tree", "--write-tree", "--name-only", "--messages", "-z"])
            .arg(target)
            .arg(branch);
        let out = inv.run_allowing(&[0, 1])?;
        // "<tree>\0<file>\0...<file>\0\0<n>\0<path>*n\0<type>\0<message>\0..."
        let mut fields = nul_fields(&out.stdout);
        let tree = fields.next().ok_or_else(|| inv.unexpected("no tree"))?;
        let tree = Sha::parse(&tree).map_err(|_| inv.unexpected(format!("bad tree {tree:?}")))?;
        if out.code == Some(0) {
            return Ok(MergeCheck::Clean { tree });
        }
        let mut files: Vec<String> = Vec::new();
        for file in fields.by_ref() {
            if file.is_empty() {
                break;
            }
            if !files.contains(&file) {
                files.push(file);
            }
        }
        let mut messages = Vec::new();
        while let Some(count) = fields.next() {
            let count: usize =
                count.parse().map_err(|_| inv.unexpected(format!("bad path count {count:?}")))?;
            let paths: Vec<String> = fields.by_ref().take(count).collect();
            let kind = fields.next().ok_or_else(|| inv.unexpected("message type missing"))?;
            let text = fields.next().ok_or_else(|| inv.unexpected("message missing"))?;
            messages.push(MergeMessage { paths, kind, text: text.trim_end().to_string() });
        }
        Ok(MergeCheck::Conflicted { files, messages })
    }

    /// Merges `branch` (a branch name or commit) into the branch
    /// `target_branch` without touching any checkout, and returns what
    /// happened:
    ///
    /// - `branch` already contained in the target: nothing happens, so
    ///   merging twice is harmless ([`MergeOutcome::AlreadyMerged`]);
    /// - `branch`'s tip is a merge commit whose first parent is the
    ///   target's tip (what [`Repo::finish_conflict_resolution`] makes): the
    ///   target fast-forwards to it ([`MergeOutcome::FastForwarded`]);
    /// - otherwise a merge commit with parents (target tip, branch tip) and
    ///   `message` is created, even when a fast-forward were possible, so
    ///   the target's first-parent history has one commit per merged task
    ///   ([`MergeOutcome::Merged`]).
    ///
    /// Conflicts change nothing and return [`MergeError::Conflicted`]. The
    /// target must exist and must not be checked out in any worktree
    /// (moving a checked-out branch would make its checkout look changed).
    /// Calls on one `Repo` are serialized; a concurrent update from another
    /// process is detected by compare-and-swap and the merge is redone on
    /// the new tip.
    pub fn merge_into(
        &self,
        target_branch: &str,
        branch: &str,
        message: &str,
    ) -> Result<MergeOutcome, MergeError> {
        validate_branch(target_branch)?;
        let _guard = self.lock_refs();
        for attempt in 1..=MERGE_ATTEMPTS {
            // One git process reads the target's tip and tree and the
            // branch's commit and parents.
            let [old, old_tree, theirs, first, second, third] = self
                .resolve_objects(&[
                    format!("refs/heads/{target_branch}"),
                    format!("refs/heads/{target_branch}^{{tree}}"),
                    format!("{branch}^{{commit}}"),
                    format!("{branch}^{{commit}}^1"),
                    format!("{branch}^{{commit}}^2"),
                    format!("{branch}^{{commit}}^3"),
                ])?
                .try_into()
                .expect("six names, six answers");
            let old =
                old.ok_or_else(|| RefError::NoSuchBranch { name: target_branch.to_string() })?;
            let theirs =
                theirs.ok_or_else(|| RefError::UnknownRevision { rev: branch.to_string() })?;
            // A two-parent commit on top of the target (a resolved conflict)
            // is taken as it is.
            let (new, fast_forward) =
                if first.as_ref() == Some(&old) && second.is_some() && third.is_none() {
                    (theirs.clone(), true)
                } else {
                    // Merging a branch the target already holds gives the
                    // target's own tree: only then is the ancestry asked.
                    let check = match self.merge_tree(&old, &theirs)? {
                        MergeCheck::Clean { tree }
                            if Some(&tree) == old_tree.as_ref()
                                && self.commit_is_ancestor(&theirs, &old)? =>
                        {
                            MergeCheck::AlreadyMerged
                        }
                        check => check,
                    };
                    match check {
                        MergeCheck::AlreadyMerged => {
                            return Ok(MergeOutcome::AlreadyMerged { tip: old });
                        }
                        MergeCheck::Conflicted { files, messages } => {
                            return Err(MergeError::Conflicted {
                                target: target_branch.to_string(),
                                branch: branch.to_string(),
                                files,
                                messages,
                            });
                        }
                        MergeCheck::Clean { tree } => {
                            (self.commit_tree(&tree, &old, &theirs, message)?, false)
                        }
                    }
                };
            if let Some(worktree) = self.worktree_on_branch(target_branch)? {
                return Err(MergeError::TargetCheckedOut {
                    target: target_branch.to_string(),
                    worktree,
                });
            }
            // One reflog message for every merge, so that one running
            // `update-ref` makes them all; the merge commit names the branch.
            match self.update_branch(target_branch, &new, Some(&old), "orca: merge") {
                Ok(()) => {
                    tracing::debug!(target = target_branch, branch, commit = %new, fast_forward, "merged");
                    return Ok(if fast_forward {
                        MergeOutcome::FastForwarded { commit: new }
                    } else {
                        MergeOutcome::Merged { commit: new }
                    });
                }
                Err(RefError::BranchMoved { actual, .. }) => {
                    tracing::debug!(target = target_branch, branch, attempt, %actual, "target moved; merging again");
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(MergeError::TargetKeptMoving {
            target: target_branch.to_string(),
            branch: branch.to_string(),
            attempts: MERGE_ATTEMPTS,
        })
    }

    fn commit_tree(
        &self,
        tree: &Sha,
        first: &Sha,
        second: &Sha,
        message: &str,
    ) -> Result<Sha, GitError> {
        let inv = self
            .git
            .at(self.root())
            .args(["commit-tree", "--no-gpg-sign"])
            .arg(tree)
            .arg("-p")
            .arg(first)
            .arg("-p")
            .arg(second)
            .args(["-m", message]);
        let out = inv.run()?;
        Sha::parse(&text(&out)).map_err(|_| inv.unexpected("not an object name"))
    }
}
