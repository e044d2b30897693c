//! Taking a run's result: the user's checked-out branch fast-forwarded to
//! the run's integration branch, only when nothing of the user's can be
//! lost (a clean checkout, and the branch's tip already in the result).

use crate::{GitError, RefError, Repo, Sha};

/// What [`Repo::fast_forward_checkout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastForward {
    /// `branch` moved from `from` to `to`, and the checkout with it.
    Moved { branch: String, from: Sha, to: Sha },
    /// `branch` is at the result already.
    AlreadyThere { branch: String, at: Sha },
}

/// Why the checkout was not fast-forwarded (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum FastForwardError {
    #[error("HEAD is detached: there is no branch to move")]
    Detached,
    #[error("the checkout has uncommitted changes")]
    Dirty,
    #[error("{branch} has commits that {target} does not: a fast-forward is not possible")]
    Diverged { branch: String, target: String },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Repo {
    /// Fast-forwards the branch checked out in this checkout to `target`
    /// (`git merge --ff-only`), refusing when HEAD is detached, the
    /// checkout has changes (tracked or untracked) or the branch has
    /// commits `target` lacks.
    pub fn fast_forward_checkout(&self, target: &str) -> Result<FastForward, FastForwardError> {
        let branch = self.current_branch()?.ok_or(FastForwardError::Detached)?;
        let to = self.rev_parse(target)?;
        let from = self.head_commit()?;
        if from == to {
            return Ok(FastForward::AlreadyThere { branch, at: to });
        }
        if self.is_dirty()? {
            return Err(FastForwardError::Dirty);
        }
        if !self.commit_is_ancestor(&from, &to)? {
            return Err(FastForwardError::Diverged { branch, target: target.to_owned() });
        }
        self.git.at(self.root()).args(["merge", "--ff-only", "--quiet"]).arg(&to).run()?;
        Ok(FastForward::Moved { branch, from, to })
    }
}

impl Repo {
    /// Moves branch `name` forward from `expected` to `to`, a descendant of
    /// it, if nobody moved it meanwhile. For branches no worktree has
    /// checked out (orca's integration branch): the ref moves, no files do.
    pub fn advance_branch(
        &self,
        name: &str,
        expected: &Sha,
        to: &Sha,
    ) -> Result<(), FastForwardError> {
        if !self.commit_is_ancestor(expected, to)? {
            return Err(FastForwardError::Diverged {
                branch: name.to_owned(),
                target: to.to_string(),
            });
        }
        let _refs = self.lock_refs();
        self.update_branch(name, to, Some(expected), "orca: advance branch")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    /// A repository on `main` with one commit, and branch `result` one
    /// commit ahead of it.
    fn repo_with_result() -> (tempfile::TempDir, Repo) {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(tmp.path().join("a.txt"), "a\n").unwrap();
        git(tmp.path(), &["add", "a.txt"]);
        git(tmp.path(), &["commit", "-q", "-m", "a"]);
        git(tmp.path(), &["checkout", "-q", "-b", "result"]);
        std::fs::write(tmp.path().join("b.txt"), "b\n").unwrap();
        git(tmp.path(), &["add", "b.txt"]);
        git(tmp.path(), &["commit", "-q", "-m", "b"]);
        git(tmp.path(), &["checkout", "-q", "main"]);
        let repo = Repo::discover(tmp.path()).unwrap();
        (tmp, repo)
    }

    #[test]
    fn a_clean_checkout_behind_the_result_moves_to_it() {
        let (tmp, repo) = repo_with_result();
        let result = repo.rev_parse("result").unwrap();
        let moved = repo.fast_forward_checkout("result").unwrap();
        assert!(
            matches!(moved, FastForward::Moved { ref branch, ref to, .. } if branch == "main" && *to == result)
        );
        assert_eq!(repo.head_commit().unwrap(), result);
        assert!(tmp.path().join("b.txt").is_file(), "the checkout follows the branch");
        assert!(matches!(
            repo.fast_forward_checkout("result").unwrap(),
            FastForward::AlreadyThere { .. }
        ));
    }

    #[test]
    fn uncommitted_changes_are_never_touched() {
        let (tmp, repo) = repo_with_result();
        let before = repo.head_commit().unwrap();
        std::fs::write(tmp.path().join("a.txt"), "mine\n").unwrap();
        assert!(matches!(repo.fast_forward_checkout("result"), Err(FastForwardError::Dirty)));
        assert_eq!(repo.head_commit().unwrap(), before);
        assert_eq!(std::fs::read_to_string(tmp.path().join("a.txt")).unwrap(), "mine\n");
    }

    #[test]
    fn a_branch_with_its_own_commits_is_refused() {
        let (tmp, repo) = repo_with_result();
        std::fs::write(tmp.path().join("c.txt"), "c\n").unwrap();
        git(tmp.path(), &["add", "c.txt"]);
        git(tmp.path(), &["commit", "-q", "-m", "c"]);
        let before = repo.head_commit().unwrap();
        assert!(matches!(
            repo.fast_forward_checkout("result"),
            Err(FastForwardError::Diverged { .. })
        ));
        assert_eq!(repo.head_commit().unwrap(), before);
    }

    #[test]
    fn a_branch_advances_only_forward_and_only_from_where_it_was() {
        let (_tmp, repo) = repo_with_result();
        let main = repo.rev_parse("main").unwrap();
        let result = repo.rev_parse("result").unwrap();
        assert!(matches!(
            repo.advance_branch("result", &result, &main),
            Err(FastForwardError::Diverged { .. })
        ));
        repo.create_branch("side", "main").unwrap();
        assert!(matches!(
            repo.advance_branch("side", &result, &result),
            Err(FastForwardError::Ref(RefError::BranchMoved { .. }))
        ));
        repo.advance_branch("side", &main, &result).unwrap();
        assert_eq!(repo.rev_parse("side").unwrap(), result);
    }

    #[test]
    fn a_detached_head_is_refused() {
        let (tmp, repo) = repo_with_result();
        git(tmp.path(), &["checkout", "-q", "--detach"]);
        assert!(matches!(repo.fast_forward_checkout("result"), Err(FastForwardError::Detached)));
    }
}
