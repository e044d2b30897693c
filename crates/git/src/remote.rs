//! Exchanging branches with a git remote, for workers on other machines
//! (docs/scale-out.md): a worker pushes its attempt branch, the coordinator
//! fetches it and pushes the integration branch. Fetched branches land
//! under `refs/orca-remote/`, never over a local branch; a local branch is
//! then set to the exact commit the caller names.

use crate::invocation::GitError;
use crate::repo::{RefError, Repo, validate_branch};
use crate::sha::Sha;

/// Where [`Repo::fetch_branch`] keeps what it fetched.
const FETCHED: &str = "refs/orca-remote/";

/// Why a push did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote refused the update (a hook, a protected or diverged
    /// branch): `reason` is what it said.
    #[error("the remote refused to update {branch}: {reason}")]
    Rejected { branch: String, reason: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Repo {
    /// Pushes local branch `branch` to the same name on `remote` (a URL or
    /// a remote's name). Not forced: a remote branch with other commits is
    /// refused, as is anything a hook on the remote refuses.
    pub fn push_branch(&self, remote: &str, branch: &str) -> Result<(), PushError> {
        validate_branch(branch).map_err(|error| PushError::Rejected {
            branch: branch.to_owned(),
            reason: error.to_string(),
        })?;
        let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let result = self
            .git
            .at(self.root())
            .args(["push", "--porcelain", "--no-verify", "--quiet", "--end-of-options", remote])
            .arg(&spec)
            .run();
        match result {
            Ok(_) => Ok(()),
            Err(GitError::Failed { stderr, .. })
                if stderr.contains("rejected") || stderr.contains("hook declined") =>
            {
                let reason = stderr
                    .lines()
                    .map(|line| line.trim_start_matches("remote: ").trim())
                    .filter(|line| !line.is_empty() && !line.starts_with("To "))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(PushError::Rejected { branch: branch.to_owned(), reason })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Fetches `branch` from `remote` and returns its tip there, or None
    /// when the remote has no such branch. The local branch of that name
    /// is not touched.
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<Sha>, RefError> {
        validate_branch(branch)?;
        let target = format!("{FETCHED}{branch}");
        let spec = format!("+refs/heads/{branch}:{target}");
        let finished = self
            .git
            .at(self.root())
            .args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options"])
            .arg(remote)
            .arg(&spec)
            .run_allowing(&[0, 128])?;
        if finished.code == Some(128) {
            // "couldn't find remote ref": the branch is not there (yet).
            let probe = self
                .git
                .at(self.root())
                .args(["ls-remote", "--heads", "--end-of-options", remote])
                .arg(format!("refs/heads/{branch}"))
                .run_text()?;
            if probe.trim().is_empty() {
                return Ok(None);
            }
            return Err(RefError::Git(self.git.at(self.root()).arg("fetch").unexpected(format!(
                "fetching {branch} from the remote failed although the remote has it"
            ))));
        }
        Ok(Some(self.rev_parse(&target)?))
    }

    /// Sets local branch `name` to commit `at`, creating it or moving it
    /// wherever it was (it must not be checked out anywhere: orca's run
    /// branches never are in a worker's clone).
    pub fn set_branch(&self, name: &str, at: &Sha) -> Result<(), RefError> {
        validate_branch(name)?;
        let _guard = self.lock_refs();
        self.git
            .at(self.root())
            .args(["update-ref", "-m", "orca: set from the remote", "--end-of-options"])
            .arg(format!("refs/heads/{name}"))
            .arg(at.as_str())
            .run()?;
        Ok(())
    }

    /// The copies [`Repo::fetch_branch`] keeps of remote branches whose
    /// names start with `prefix`, as full ref names, sorted.
    pub fn fetched_branches(&self, prefix: &str) -> Result<Vec<String>, GitError> {
        let inv = self.git.at(self.root()).args(["for-each-ref", "--format=%(refname)", FETCHED]);
        let out = inv.run_text()?;
        let mut refs: Vec<String> = out
            .lines()
            .filter(|refname| refname.strip_prefix(FETCHED).is_some_and(|b| b.starts_with(prefix)))
            .map(str::to_owned)
            .collect();
        refs.sort();
        Ok(refs)
    }

    /// Deletes the copies of remote branches whose names start with
    /// `prefix` (a run's, once it is finished) in one transaction; returns
    /// their full ref names.
    pub fn delete_fetched_branches(&self, prefix: &str) -> Result<Vec<String>, GitError> {
        let refs = self.fetched_branches(prefix)?;
        if refs.is_empty() {
            return Ok(refs);
        }
        let mut script = String::from("start\n");
        for refname in &refs {
            script.push_str(&format!("delete {refname}\n"));
        }
        script.push_str("commit\n");
        let _guard = self.lock_refs();
        self.git.at(self.root()).args(["update-ref", "--stdin"]).stdin(script).run()?;
        Ok(refs)
    }

    /// Deletes the branches on `remote` whose names start with `prefix`,
    /// except `keep`, in one push; returns how many it deleted.
    pub fn delete_remote_branches(
        &self,
        remote: &str,
        prefix: &str,
        keep: &str,
    ) -> Result<usize, GitError> {
        let listed = self
            .git
            .at(self.root())
            .args(["ls-remote", "--heads", "--end-of-options", remote])
            .run_text()?;
        let doomed: Vec<String> = listed
            .lines()
            .filter_map(|line| line.split('\t').nth(1)?.strip_prefix("refs/heads/"))
            .filter(|name| name.starts_with(prefix) && *name != keep)
            .map(|name| format!(":refs/heads/{name}"))
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        self.git
            .at(self.root())
            .args(["push", "--quiet", "--no-verify", "--end-of-options", remote])
            .args(&doomed)
            .run()?;
        Ok(doomed.len())
    }

    /// Whether the object database holds commit `sha`.
    pub fn has_commit(&self, sha: &str) -> bool {
        self.git
            .at(self.root())
            .args(["cat-file", "-e", "--end-of-options"])
            .arg(format!("{sha}^{{commit}}"))
            .run()
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn branches_travel_through_a_bare_remote_and_refusals_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let remote = tmp.path().join("remote.git");
        git(tmp.path(), &["init", "-q", "--bare", "-b", "main", remote.to_str().unwrap()]);
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for dir in [&a, &b] {
            git(tmp.path(), &["clone", "-q", remote.to_str().unwrap(), dir.to_str().unwrap()]);
        }
        git(&a, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&a, &["branch", "orca/r/T1/a1"]);
        let url = remote.to_str().unwrap();
        let repo_a = Repo::discover(&a).unwrap();
        repo_a.push_branch(url, "orca/r/T1/a1").unwrap();

        let repo_b = Repo::discover(&b).unwrap();
        assert_eq!(repo_b.fetch_branch(url, "orca/r/T9/a1").unwrap(), None);
        let tip = repo_b.fetch_branch(url, "orca/r/T1/a1").unwrap().unwrap();
        assert_eq!(tip.as_str(), git(&a, &["rev-parse", "HEAD"]));
        assert!(repo_b.has_commit(tip.as_str()));
        assert!(!repo_b.branch_exists("orca/r/T1/a1").unwrap(), "fetching sets no local branch");
        repo_b.set_branch("orca/r/T1/a1", &tip).unwrap();
        assert_eq!(repo_b.branch_tip("orca/r/T1/a1").unwrap(), Some(tip));

        // A diverged branch is refused, not overwritten.
        git(&b, &["commit", "-q", "--allow-empty", "-m", "other"]);
        git(&b, &["branch", "-f", "orca/r/T1/a1", "HEAD"]);
        let err = repo_b.push_branch(url, "orca/r/T1/a1").unwrap_err();
        assert!(matches!(err, PushError::Rejected { .. }), "{err}");
        // So is what a hook on the remote declines.
        let hook = remote.join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n").unwrap();
        let mut perms = std::fs::metadata(&hook).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&hook, perms).unwrap();
        git(&a, &["branch", "orca/r/T2/a1"]);
        let err = repo_a.push_branch(url, "orca/r/T2/a1").unwrap_err();
        assert!(err.to_string().contains("no pushes today"), "{err}");
        std::fs::remove_file(&hook).unwrap();

        git(&a, &["branch", "orca/r/integration"]);
        repo_a.push_branch(url, "orca/r/integration").unwrap();
        assert_eq!(repo_a.delete_remote_branches(url, "orca/r/", "orca/r/integration").unwrap(), 1);
        let left = git(&a, &["ls-remote", "--heads", url]);
        assert!(left.contains("refs/heads/orca/r/integration"), "{left}");
        assert!(!left.contains("orca/r/T1"), "{left}");
    }
}
