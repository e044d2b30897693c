//! Conflicts handed to a resolver: a worktree holding a half-done merge,
//! and committing it once every conflict is gone.

use std::fs;
use std::path::{Path, PathBuf};

use crate::invocation::GitError;
use crate::repo::{RefError, Repo, text, unique_paths};
use crate::sha::Sha;
use crate::worktree::{Worktree, WorktreeError};

/// A worktree with a merge in progress, made by
/// [`Repo::prepare_conflict_worktree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictWorktree {
    pub worktree: Worktree,
    /// The commit being merged in (`MERGE_HEAD`).
    pub merging: Sha,
    /// Paths git could not merge; their conflict markers are in the files.
    pub files: Vec<String>,
}

/// Why a conflict worktree could not be prepared or finished.
#[derive(Debug, thiserror::Error)]
pub enum ConflictError {
    #[error("{branch} is already contained in {target}; there is nothing to merge")]
    NothingToMerge { target: String, branch: String },
    #[error("no merge is in progress in {worktree}")]
    NoMergeInProgress { worktree: PathBuf },
    #[error("conflicts remain in {worktree}: {}", files.join(", "))]
    Unresolved { worktree: PathBuf, files: Vec<String> },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Repo {
    /// Creates a worktree at `path` on the new branch `new_branch` starting
    /// at `target_tip`, and starts merging `branch` into it
    /// (`git merge --no-ff --no-commit`), leaving conflict markers in the
    /// files for a resolver. Nothing is committed; finish with
    /// [`Repo::finish_conflict_resolution`]. If the merge cannot even start,
    /// the worktree and branch are removed again.
    pub fn prepare_conflict_worktree(
        &self,
        path: &Path,
        new_branch: &str,
        target_tip: &str,
        branch: &str,
    ) -> Result<ConflictWorktree, ConflictError> {
        let theirs = self.rev_parse(branch)?;
        if self.is_ancestor(theirs.as_str(), target_tip)? {
            return Err(ConflictError::NothingToMerge {
                target: target_tip.to_string(),
                branch: branch.to_string(),
            });
        }
        let worktree = self.add_worktree(path, new_branch, target_tip)?;
        let merge = self
            .git
            .at(&worktree.path)
            .args(["merge", "--no-ff", "--no-commit", "--no-stat", "--end-of-options"])
            .arg(&theirs)
            .run_allowing(&[0, 1]);
        let files = merge.map_err(ConflictError::from).and_then(|_| {
            if self.merge_head(&worktree.path)?.is_none() {
                return Err(ConflictError::NoMergeInProgress { worktree: worktree.path.clone() });
            }
            self.unmerged_paths(&worktree.path)
        });
        match files {
            Ok(files) => {
                tracing::debug!(path = %worktree.path.display(), conflicts = files.len(), "conflict worktree ready");
                Ok(ConflictWorktree { worktree, merging: theirs, files })
            }
            Err(err) => {
                self.discard_failed_conflict_worktree(&worktree);
                Err(err)
            }
        }
    }

    fn discard_failed_conflict_worktree(&self, worktree: &Worktree) {
        if let Err(e) = self.remove_worktree(&worktree.path) {
            tracing::warn!(path = %worktree.path.display(), error = %e, "cannot remove failed conflict worktree");
        }
        if let (Some(branch), Some(head)) = (&worktree.branch, &worktree.head) {
            let _refs = self.lock_refs();
            let deleted = self
                .git
                .at(self.root())
                .args(["update-ref", "-d", "--end-of-options"])
                .arg(format!("refs/heads/{branch}"))
                .arg(head)
                .run();
            if let Err(e) = deleted {
                tracing::warn!(branch, error = %e, "cannot delete branch of failed conflict worktree");
            }
        }
    }

    /// Commits the merge in progress in `worktree` once it is resolved and
    /// returns the merge commit (parents: the worktree's HEAD, then the
    /// merged commit). Resolved means: no file that differs from HEAD still
    /// holds a conflict block (`<<<<<<<` … `=======` … `>>>>>>>` at line
    /// starts) and, after staging everything, no path is unmerged.
    /// Otherwise nothing is committed and [`ConflictError::Unresolved`]
    /// lists the files. Runs no hooks.
    pub fn finish_conflict_resolution(
        &self,
        worktree: &Path,
        message: &str,
    ) -> Result<Sha, ConflictError> {
        let dir = self.linked_worktree(worktree)?;
        let Some(merging) = self.merge_head(&dir)? else {
            return Err(ConflictError::NoMergeInProgress { worktree: dir });
        };
        let mut candidates = unique_paths(
            &self
                .git
                .at(&dir)
                .args(["diff", "--name-only", "-z", "--no-ext-diff", "HEAD", "--"])
                .run()?,
        );
        let untracked =
            self.git.at(&dir).args(["ls-files", "-z", "--others", "--exclude-standard"]).run()?;
        candidates.extend(unique_paths(&untracked));
        let mut unresolved = Vec::new();
        for file in candidates {
            let path = dir.join(&file);
            if path.is_file() && has_conflict_block(&path)? {
                unresolved.push(file);
            }
        }
        if !unresolved.is_empty() {
            return Err(ConflictError::Unresolved { worktree: dir, files: unresolved });
        }
        self.git.at(&dir).args(["add", "--all"]).run()?;
        let still = self.unmerged_paths(&dir)?;
        if !still.is_empty() {
            return Err(ConflictError::Unresolved { worktree: dir, files: still });
        }
        self.git
            .at(&dir)
            .args(["commit", "--quiet", "--no-verify", "--cleanup=whitespace", "-m", message])
            .run()?;
        let head = self.rev_parse_in(&dir, "HEAD")?;
        let parents = self.parents(head.as_str())?;
        if parents.len() != 2 || parents[1] != merging {
            let inv = self.git.at(&dir).arg("commit");
            let detail =
                format!("expected a merge of {merging}, made {head} with parents {parents:?}");
            return Err(inv.unexpected(detail).into());
        }
        tracing::debug!(worktree = %dir.display(), commit = %head, "conflict resolution committed");
        Ok(head)
    }

    /// `MERGE_HEAD` of a worktree, when a merge is in progress there.
    fn merge_head(&self, dir: &Path) -> Result<Option<Sha>, GitError> {
        let inv = self.git.at(dir).args(["rev-parse", "--verify", "--quiet", "MERGE_HEAD"]);
        let out = inv.run_allowing(&[0, 1])?;
        if out.code != Some(0) {
            return Ok(None);
        }
        Sha::parse(&text(&out.stdout)).map(Some).map_err(|_| inv.unexpected("not an object name"))
    }

    fn unmerged_paths(&self, dir: &Path) -> Result<Vec<String>, ConflictError> {
        let out = self
            .git
            .at(dir)
            .args(["diff", "--name-only", "-z", "--diff-filter=U", "--no-ext-diff", "--"])
            .run()?;
        Ok(unique_paths(&out))
    }

    fn rev_parse_in(&self, dir: &Path, rev: &str) -> Result<Sha, GitError> {
        let inv = self.git.at(dir).args(["rev-parse", "--verify", rev]);
        let out = inv.run()?;
        Sha::parse(&text(&out)).map_err(|_| inv.unexpected("not an object name"))
    }
}

/// Whether the file holds a complete conflict block as git writes them.
fn has_conflict_block(path: &Path) -> Result<bool, ConflictError> {
    let bytes =
        fs::read(path).map_err(|source| ConflictError::Read { path: path.into(), source })?;
    Ok(contains_conflict_block(&bytes))
}

fn contains_conflict_block(bytes: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum Seen {
        Nothing,
        Start,
        Separator,
    }
    let mut seen = Seen::Nothing;
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let marker =
            |m: &[u8]| line == m || (line.starts_with(m) && line.get(m.len()) == Some(&b' '));
        if marker(b"<<<<<<<") {
            seen = Seen::Start;
        } else if seen == Seen::Start && line == b"=======" {
            seen = Seen::Separator;
        } else if seen == Seen::Separator && marker(b">>>>>>>") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::contains_conflict_block;

    #[test]
    fn finds_git_style_conflict_blocks_only() {
        let zdiff3 =
            b"a\n<<<<<<< HEAD\nours\n||||||| base\nold\n=======\ntheirs\n>>>>>>> branch\nz\n";
        assert!(contains_conflict_block(zdiff3));
        assert!(contains_conflict_block(b"<<<<<<< HEAD\r\nx\r\n=======\r\ny\r\n>>>>>>> b\r\n"));
        // A Markdown heading underline alone is not a conflict.
        assert!(!contains_conflict_block(b"Title\n=======\n\ntext\n"));
        // Markers in the wrong order, or incomplete, are not a conflict block.
        assert!(!contains_conflict_block(b">>>>>>> b\n=======\n<<<<<<< HEAD\n"));
        assert!(!contains_conflict_block(b"<<<<<<< HEAD\nx\n=======\ny\n"));
        assert!(!contains_conflict_block(b"<<<<<<<<< long\n=======\n>>>>>>> b\n"));
    }
}
