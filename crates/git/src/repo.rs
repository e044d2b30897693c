//! A repository: where it is, what HEAD is, and its branches.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::batch_check::BatchCheck;
use crate::invocation::{Git, GitError, Invocation, nul_fields};
use crate::ref_session::{RefSession, SessionOutcome};
use crate::refname::check_branch_name;
use crate::sha::Sha;

/// Identity for orca's commits in a repository that configures none.
pub const FALLBACK_NAME: &str = "orca";
/// See [`FALLBACK_NAME`].
pub const FALLBACK_EMAIL: &str = "orca@localhost";

/// A git repository as seen from one checkout (normally the user's).
///
/// Cheap operations run one short git process each. A `Repo` is `Sync`:
/// share it (in an `Arc`) between threads working in different worktrees.
/// Ref updates of one `Repo` are serialized; updates from other processes
/// are detected by compare-and-swap (see [`Repo::merge_into`]). Changes to
/// git's worktree administration are serialized across threads and
/// processes by a file lock ([`WORKTREE_ADMIN_LOCK`]).
#[derive(Debug)]
pub struct Repo {
    root: PathBuf,
    common_dir: PathBuf,
    pub(crate) git: Git,
    /// Serializes read-compute-update sequences on refs (merges, deletions).
    ref_updates: Mutex<()>,
    /// Directories inside the checkout known to be git-ignored: every
    /// worktree of a run goes into the same one, which is checked once.
    pub(crate) ignored_dirs: Mutex<Vec<PathBuf>>,
    /// The `cat-file --batch-check` answering [`Repo::resolve_objects`],
    /// started by the first lookup; `None` until then, or after it failed.
    batch_check: Mutex<Option<BatchCheck>>,
    /// The `update-ref --stdin` sessions making [`Repo::update_branch`]'s
    /// updates, one per reflog message, the most recently used last.
    ref_sessions: Mutex<Vec<RefSession>>,
}

/// Most `update-ref --stdin` sessions a `Repo` keeps: a run's hot
/// updates carry two reflog messages (attempt branches, merges).
const MAX_REF_SESSIONS: usize = 2;

/// A file lock in the common git directory that orca takes around changes
/// to git's worktree administration (exclusive) and reads of it (shared):
/// `git worktree add` is not safe against another `git worktree` command
/// reading the half-written administrative directory, across processes too.
pub const WORKTREE_ADMIN_LOCK: &str = "orca-worktree-admin.lock";

/// Held while git's worktree administration is changed or read.
#[derive(Debug)]
pub(crate) struct AdminLock {
    _file: File,
}

/// Why a directory could not be opened as a repository.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is not inside a git repository")]
    NotARepository { path: PathBuf },
    #[error("{path} is a bare repository; orca needs a checkout")]
    Bare { path: PathBuf },
    #[error("{path} is inside a git directory, not a checkout")]
    NotAWorkTree { path: PathBuf },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Why a revision or branch operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("{rev:?} does not name a commit")]
    UnknownRevision { rev: String },
    #[error("HEAD has no commit yet: the repository is empty")]
    UnbornHead,
    #[error("{name:?} is not a valid branch name: {reason}")]
    InvalidBranchName { name: String, reason: &'static str },
    #[error("branch {name} already exists")]
    BranchExists { name: String },
    #[error("branch {name} does not exist")]
    NoSuchBranch { name: String },
    #[error("branch {name} moved to {actual} while orca expected {expected}")]
    BranchMoved { name: String, expected: String, actual: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// What [`Repo::delete_branches_with_prefix`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchDeletion {
    /// Branches deleted.
    pub deleted: Vec<String>,
    /// Branches kept because a worktree has them checked out.
    pub checked_out: Vec<String>,
}

impl Repo {
    /// Opens the repository containing `path` (a directory or a file in
    /// it), at the top of its checkout.
    pub fn discover(path: impl AsRef<Path>) -> Result<Repo, DiscoverError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(DiscoverError::NotFound { path: path.to_path_buf() });
        }
        let path = match path.parent() {
            Some(parent) if path.is_file() => parent,
            _ => path,
        };
        let plain = Git::default();
        let probe = plain
            .at(path)
            .args([
                "rev-parse",
                "--is-bare-repository",
                "--path-format=absolute",
                "--git-common-dir",
            ])
            .run_text();
        let probe = match probe {
            Ok(text) => text,
            Err(err) if err.stderr().is_some_and(|e| e.contains("not a git repository")) => {
                return Err(DiscoverError::NotARepository { path: path.to_path_buf() });
            }
            Err(err) => return Err(err.into()),
        };
        let mut lines = probe.lines();
        let (Some(bare), Some(common_dir)) = (lines.next(), lines.next()) else {
            let inv = plain.at(path).arg("rev-parse");
            return Err(inv.unexpected(format!("expected two lines, got {probe:?}")).into());
        };
        if bare == "true" {
            return Err(DiscoverError::Bare { path: path.to_path_buf() });
        }
        let root = match plain.at(path).args(["rev-parse", "--show-toplevel"]).run_text() {
            Ok(root) if !root.is_empty() => root,
            Ok(_) => return Err(DiscoverError::NotAWorkTree { path: path.to_path_buf() }),
            Err(err) if err.stderr().is_some_and(|e| e.contains("must be run in a work tree")) => {
                return Err(DiscoverError::NotAWorkTree { path: path.to_path_buf() });
            }
            Err(err) => return Err(err.into()),
        };
        let root = canonical(Path::new(&root));
        let identity = missing_identity(&plain, &root)?;
        Ok(Repo {
            root,
            common_dir: canonical(Path::new(common_dir)),
            git: Git::with_identity(identity),
            ref_updates: Mutex::new(()),
            ignored_dirs: Mutex::new(Vec::new()),
            batch_check: Mutex::new(None),
            ref_sessions: Mutex::new(Vec::new()),
        })
    }

    /// The top-level directory of the checkout this `Repo` was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The git directory shared by all worktrees (`<root>/.git` usually).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The commit HEAD points at in the checkout.
    pub fn head_commit(&self) -> Result<Sha, RefError> {
        self.resolve_commit("HEAD")?.ok_or(RefError::UnbornHead)
    }

    /// The root commits of HEAD's history (commits without parents),
    /// sorted: the first is the same in every clone, so it identifies the
    /// repository. [`RefError::UnbornHead`] when there is no commit yet.
    pub fn root_commits(&self) -> Result<Vec<Sha>, RefError> {
        self.head_commit()?;
        let inv = self.git.at(&self.root).args(["rev-list", "--max-parents=0", "HEAD"]);
        let out = inv.run_text()?;
        let mut roots = out
            .lines()
            .map(|line| Sha::parse(line.trim()).map_err(|_| inv.unexpected("not an object name")))
            .collect::<Result<Vec<_>, _>>()?;
        roots.sort();
        Ok(roots)
    }

    /// The branch checked out in the checkout; `None` when HEAD is detached.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        let out = self
            .git
            .at(&self.root)
            .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
            .run_allowing(&[0, 1])?;
        Ok((out.code == Some(0)).then(|| text(&out.stdout)))
    }

    /// Whether the checkout has staged, unstaged or untracked (not ignored)
    /// changes. Reads only: the index is not refreshed.
    pub fn is_dirty(&self) -> Result<bool, GitError> {
        let out = self
            .git
            .at(&self.root)
            .args(["status", "--porcelain", "-z", "--ignore-submodules=none"])
            .run()?;
        Ok(!out.is_empty())
    }

    /// The commit `rev` names (a branch, tag, sha, `HEAD~2`, ...).
    pub fn rev_parse(&self, rev: &str) -> Result<Sha, RefError> {
        self.resolve_commit(rev)?.ok_or_else(|| RefError::UnknownRevision { rev: rev.to_string() })
    }

    fn resolve_commit(&self, rev: &str) -> Result<Option<Sha>, GitError> {
        let inv =
            self.git.at(&self.root).args(["rev-parse", "--verify", "--quiet", "--end-of-options"]);
        let inv = inv.arg(format!("{rev}^{{commit}}"));
        let out = inv.run_allowing(&[0, 1])?;
        if out.code != Some(0) {
            return Ok(None);
        }
        Sha::parse(&text(&out.stdout)).map(Some).map_err(|_| inv.unexpected("not an object name"))
    }

    /// Resolves several revisions with one git process (`git cat-file
    /// --batch-check`): each to the object it names, or `None`. Peel with
    /// `^{commit}` where a commit is meant. A revision must not contain a
    /// line break.
    pub(crate) fn resolve_objects(&self, revs: &[String]) -> Result<Vec<Option<Sha>>, GitError> {
        let input: String = revs.iter().map(|rev| format!("{rev}\n")).collect();
        let inv = self.git.at(&self.root).args(["cat-file", "--batch-check=%(objectname)"]);
        let (inv, out) = match self.ask_batch_check(&inv, &input, revs.len()) {
            Some(out) => (inv, out),
            None => {
                let inv = inv.stdin(input);
                let out = String::from_utf8_lossy(&inv.run()?).into_owned();
                (inv, out)
            }
        };
        let lines: Vec<&str> = out.lines().collect();
        if lines.len() != revs.len() {
            return Err(inv.unexpected(format!("{} answers to {} names", lines.len(), revs.len())));
        }
        lines
            .iter()
            .map(|line| match Sha::parse(line) {
                Ok(sha) => Ok(Some(sha)),
                Err(_) if line.ends_with(" missing") || line.ends_with(" ambiguous") => Ok(None),
                Err(_) => Err(inv.unexpected(format!("unexpected answer {line:?}"))),
            })
            .collect()
    }

    /// `input` answered by the running `cat-file --batch-check` (`inv`),
    /// started here if need be. `None` when it cannot answer: the caller
    /// runs `inv` as a process of its own, and the next lookup starts a new
    /// long-running one.
    fn ask_batch_check(&self, inv: &Invocation<'_>, input: &str, count: usize) -> Option<String> {
        // A name with a line break would be two requests and leave an
        // answer unread for the next lookup: such input goes to a process
        // of its own, which fails as it always did.
        if !BatchCheck::fits(input) || input.matches('\n').count() != count {
            return None;
        }
        let mut running = self.batch_check.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_none() {
            match BatchCheck::start(inv) {
                Ok(started) => *running = Some(started),
                Err(error) => {
                    tracing::debug!(%error, "cannot start git cat-file --batch-check");
                    return None;
                }
            }
        }
        match running.as_mut()?.answer(input, count) {
            Ok(out) => Some(out),
            Err(error) => {
                tracing::debug!(%error, "git cat-file --batch-check failed; starting it again next time");
                *running = None;
                None
            }
        }
    }

    #[cfg(test)]
    fn batch_check_pid(&self) -> Option<u32> {
        self.batch_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(BatchCheck::pid)
    }

    /// Whether the branch `name` (without `refs/heads/`) exists.
    pub fn branch_exists(&self, name: &str) -> Result<bool, GitError> {
        Ok(self.branch_tip(name)?.is_some())
    }

    /// The commit branch `name` points at, if the branch exists.
    pub fn branch_tip(&self, name: &str) -> Result<Option<Sha>, GitError> {
        if let Some(tip) = self.loose_branch_tip(name) {
            return Ok(Some(tip));
        }
        let inv =
            self.git.at(&self.root).args(["rev-parse", "--verify", "--quiet", "--end-of-options"]);
        let inv = inv.arg(format!("refs/heads/{name}"));
        let out = inv.run_allowing(&[0, 1])?;
        if out.code != Some(0) {
            return Ok(None);
        }
        Sha::parse(&text(&out.stdout)).map(Some).map_err(|_| inv.unexpected("not an object name"))
    }

    /// The branch's tip read from its loose ref file, as git's files
    /// backend stores a branch it has just written (a loose ref wins over
    /// `packed-refs`). `None` when that cannot tell: no such file (packed,
    /// or no branch), a symbolic ref, a reftable repository.
    pub(crate) fn loose_branch_tip(&self, name: &str) -> Option<Sha> {
        if validate_branch(name).is_err() || self.common_dir.join("reftable").exists() {
            return None;
        }
        let contents =
            std::fs::read_to_string(self.common_dir.join("refs/heads").join(name)).ok()?;
        Sha::parse(contents.trim_end()).ok()
    }

    /// Creates branch `name` at commit `at`; fails if it exists already.
    pub fn create_branch(&self, name: &str, at: &str) -> Result<Sha, RefError> {
        validate_branch(name)?;
        let at = self.rev_parse(at)?;
        let _guard = self.lock_refs();
        self.update_branch(name, &at, None, "orca: create branch")?;
        Ok(at)
    }

    /// Every branch whose name starts with `prefix` (plain string prefix:
    /// pass [`run_branch_prefix`](crate::run_branch_prefix), which ends
    /// in `/`, to select one run), sorted by name, with their tips.
    pub fn branches_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Sha)>, GitError> {
        let inv = self.git.at(&self.root).args([
            "for-each-ref",
            "--format=%(refname)%00%(objectname)",
            "refs/heads/",
        ]);
        let out = inv.run()?;
        let unexpected = || inv.unexpected("bad for-each-ref line");
        let mut branches = Vec::new();
        for line in String::from_utf8_lossy(&out).lines() {
            let (refname, sha) = line.split_once('\0').ok_or_else(unexpected)?;
            let name = refname.strip_prefix("refs/heads/").unwrap_or(refname);
            if name.starts_with(prefix) {
                let sha = Sha::parse(sha).map_err(|_| unexpected())?;
                branches.push((name.to_string(), sha));
            }
        }
        branches.sort();
        Ok(branches)
    }

    /// Deletes every branch starting with `prefix` in one transaction,
    /// except branches checked out in a worktree (reported, not deleted).
    /// Use when a run is complete; attempt branches carry work until then.
    /// If another process moves one of the branches meanwhile, the
    /// transaction fails and nothing is deleted.
    pub fn delete_branches_with_prefix(&self, prefix: &str) -> Result<BranchDeletion, RefError> {
        self.delete_branches_where(prefix, |_| true)
    }

    /// [`Repo::delete_branches_with_prefix`] for the branches starting with
    /// `prefix` that `select` picks (given the full branch name): many
    /// groups of branches in one transaction and three git calls.
    pub fn delete_branches_where(
        &self,
        prefix: &str,
        select: impl Fn(&str) -> bool,
    ) -> Result<BranchDeletion, RefError> {
        if prefix.is_empty() {
            // Deleting every branch is never what a caller means.
            return Err(RefError::InvalidBranchName { name: String::new(), reason: "it is empty" });
        }
        let _guard = self.lock_refs();
        let checked_out: Vec<String> =
            self.list_worktrees()?.into_iter().filter_map(|w| w.branch).collect();
        let mut result = BranchDeletion::default();
        let mut script = String::from("start\n");
        for (name, sha) in self.branches_with_prefix(prefix)? {
            if !select(&name) {
                continue;
            }
            if checked_out.contains(&name) {
                result.checked_out.push(name);
            } else {
                script.push_str(&format!("delete refs/heads/{name} {sha}\n"));
                result.deleted.push(name);
            }
        }
        if result.deleted.is_empty() {
            return Ok(result);
        }
        script.push_str("commit\n");
        self.git.at(&self.root).args(["update-ref", "--stdin"]).stdin(script).run()?;
        tracing::debug!(prefix, deleted = result.deleted.len(), "deleted branches");
        Ok(result)
    }

    /// Whether `ancestor` is reachable from `descendant` (a commit is its own
    /// ancestor).
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, RefError> {
        let a = self.rev_parse(ancestor)?;
        let d = self.rev_parse(descendant)?;
        Ok(self.commit_is_ancestor(&a, &d)?)
    }

    /// [`Repo::is_ancestor`] for commits already resolved.
    pub(crate) fn commit_is_ancestor(
        &self,
        ancestor: &Sha,
        descendant: &Sha,
    ) -> Result<bool, GitError> {
        let out = self
            .git
            .at(&self.root)
            .args(["merge-base", "--is-ancestor"])
            .arg(ancestor)
            .arg(descendant)
            .run_allowing(&[0, 1])?;
        Ok(out.code == Some(0))
    }

    /// The parents of `commit`, first parent first.
    pub fn parents(&self, commit: &str) -> Result<Vec<Sha>, RefError> {
        let sha = self.rev_parse(commit)?;
        Ok(self.commit_parents(&sha)?)
    }

    /// [`Repo::parents`] of a commit already resolved.
    pub(crate) fn commit_parents(&self, sha: &Sha) -> Result<Vec<Sha>, GitError> {
        let inv = self.git.at(&self.root).args(["rev-list", "--parents", "-n", "1"]).arg(sha);
        let line = inv.run_text()?;
        let mut parents = Vec::new();
        for word in line.split_whitespace().skip(1) {
            parents
                .push(Sha::parse(word).map_err(|_| inv.unexpected("bad rev-list --parents line"))?);
        }
        Ok(parents)
    }

    /// Moves branch `name` to `new` if it is still at `expected` (`None`:
    /// the branch must not exist yet). Callers hold [`Repo::lock_refs`];
    /// other processes are caught by git's own compare-and-swap.
    pub(crate) fn update_branch(
        &self,
        name: &str,
        new: &Sha,
        expected: Option<&Sha>,
        reason: &str,
    ) -> Result<(), RefError> {
        let full = format!("refs/heads/{name}");
        match self.update_in_session(&full, new, expected, reason) {
            SessionOutcome::Committed => return Ok(()),
            // Killed after reading the update: if the branch is where the
            // update was to put it, the update is what put it there.
            SessionOutcome::Unknown if self.branch_tip(name)?.as_ref() == Some(new) => {
                return Ok(());
            }
            // Refused (or not sent): git is asked again by a process of
            // its own, whose answer and message are the ones reported.
            SessionOutcome::Unknown | SessionOutcome::NotDone => {}
        }
        let old = expected.map_or(String::new(), |s| s.to_string());
        let result = self
            .git
            .at(&self.root)
            .args(["update-ref", "-m", reason, "--end-of-options", &full])
            .arg(new)
            .arg(&old)
            .run();
        let Err(err) = result else { return Ok(()) };
        // Classify by looking at the ref, not by parsing git's message.
        match (self.branch_tip(name)?, expected) {
            (Some(_), None) => Err(RefError::BranchExists { name: name.to_string() }),
            (None, Some(_)) => Err(RefError::NoSuchBranch { name: name.to_string() }),
            (Some(actual), Some(expected)) if &actual != expected => Err(RefError::BranchMoved {
                name: name.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            }),
            _ => Err(err.into()),
        }
    }

    /// [`Repo::update_branch`] through the running `update-ref --stdin`
    /// for `reason`, started here if need be (the least recently used
    /// session makes room). A session that did not commit is dropped.
    fn update_in_session(
        &self,
        full_ref: &str,
        new: &Sha,
        expected: Option<&Sha>,
        reason: &str,
    ) -> SessionOutcome {
        let mut sessions = self.ref_sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut session = match sessions.iter().position(|s| s.reason() == reason) {
            Some(index) => sessions.remove(index),
            None => {
                let inv = self.git.at(&self.root).args(["update-ref", "-m", reason, "--stdin"]);
                match RefSession::start(&inv, reason) {
                    Ok(session) => session,
                    Err(error) => {
                        tracing::debug!(%error, "cannot start git update-ref --stdin");
                        return SessionOutcome::NotDone;
                    }
                }
            }
        };
        let outcome = session.update(full_ref, new, expected);
        if outcome == SessionOutcome::Committed {
            if sessions.len() >= MAX_REF_SESSIONS {
                sessions.remove(0);
            }
            sessions.push(session);
        } else {
            tracing::debug!(
                ?outcome,
                full_ref,
                "git update-ref --stdin ended; starting it again next time"
            );
        }
        outcome
    }

    #[cfg(test)]
    fn ref_session_pids(&self) -> Vec<u32> {
        let sessions = self.ref_sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.iter().map(RefSession::pid).collect()
    }

    pub(crate) fn lock_refs(&self) -> MutexGuard<'_, ()> {
        self.ref_updates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks git's worktree administration against other threads and
    /// processes: `exclusive` to change it, shared to read it. Never take it
    /// before [`Repo::lock_refs`] (that order is the one used everywhere).
    pub(crate) fn lock_worktree_admin(&self, exclusive: bool) -> Result<AdminLock, GitError> {
        let path = self.common_dir.join(WORKTREE_ADMIN_LOCK);
        let lock_error = |source| GitError::Lock { path: path.clone(), source };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        if exclusive { file.lock() } else { file.lock_shared() }.map_err(lock_error)?;
        Ok(AdminLock { _file: file })
    }
}

pub(crate) fn validate_branch(name: &str) -> Result<(), RefError> {
    check_branch_name(name)
        .map_err(|reason| RefError::InvalidBranchName { name: name.to_string(), reason })
}

/// The `-c user.*` settings needed so commits work in a repository (and
/// user config) that sets no identity.
fn missing_identity(git: &Git, root: &Path) -> Result<Vec<(String, String)>, GitError> {
    let mut identity = Vec::new();
    for (key, fallback) in [("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)] {
        let out = git.at(root).args(["config", "--get", key]).run_allowing(&[0, 1])?;
        if out.code != Some(0) || text(&out.stdout).trim().is_empty() {
            identity.push((key.to_string(), fallback.to_string()));
        }
    }
    Ok(identity)
}

/// stdout as text without the trailing newline.
pub(crate) fn text(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout).trim_end_matches('\n').to_string()
}

/// The real path when it exists; otherwise an absolute path whose existing
/// part is resolved (so it compares equal to what git reports once created).
pub(crate) fn canonical(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while let Some(parent) = existing.parent() {
        rest.push(existing.file_name().map(|n| n.to_os_string()).unwrap_or_default());
        existing = parent;
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
    }
    absolute
}

/// Paths from `-z` output, deduplicated, in order.
pub(crate) fn unique_paths(out: &[u8]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for path in nul_fields(out) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_git(dir: &Path, args: &[&str]) {
        let out = Git::with_identity(vec![
            ("user.name".into(), "T".into()),
            ("user.email".into(), "t@example.com".into()),
        ])
        .at(dir)
        .args(args)
        .run();
        out.unwrap_or_else(|e| panic!("{e}"));
    }

    /// A repository whose `main` holds one commit, and that commit.
    fn one_commit() -> (tempfile::TempDir, Repo, Sha) {
        let tmp = tempfile::tempdir().unwrap();
        plain_git(tmp.path(), &["init", "-q", "-b", "main"]);
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "one"]);
        let repo = Repo::discover(tmp.path()).unwrap();
        let one = repo.rev_parse("main").unwrap();
        (tmp, repo, one)
    }

    fn resolve(repo: &Repo, names: &[&str]) -> Vec<Option<Sha>> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        repo.resolve_objects(&names).unwrap()
    }

    #[test]
    fn the_running_batch_check_sees_what_changed_since_it_started() {
        let (tmp, repo, one) = one_commit();
        assert_eq!(resolve(&repo, &["refs/heads/main", "refs/heads/b"]), [Some(one.clone()), None]);
        let started = repo.batch_check_pid().expect("the lookup started it");

        // A new commit and a new branch made by other processes, then all
        // refs packed: the same process answers with what is there now.
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "two"]);
        plain_git(tmp.path(), &["branch", "b", "main~1"]);
        let two = repo.rev_parse("main").unwrap();
        assert_eq!(
            resolve(&repo, &["refs/heads/main", "main^{commit}^1", "refs/heads/b"]),
            [Some(two.clone()), Some(one.clone()), Some(one.clone())]
        );
        plain_git(tmp.path(), &["pack-refs", "--all"]);
        plain_git(tmp.path(), &["branch", "-f", "b", "main"]);
        assert_eq!(resolve(&repo, &["refs/heads/b", "nope^{commit}"]), [Some(two), None]);
        assert_eq!(repo.batch_check_pid(), Some(started));
    }

    #[test]
    fn a_name_with_a_line_break_leaves_the_batch_check_in_step() {
        let (_tmp, repo, one) = one_commit();
        assert_eq!(resolve(&repo, &["main"]), [Some(one.clone())]);
        let names = ["main\nmain".to_string()];
        assert!(repo.resolve_objects(&names).is_err(), "two answers to one name");
        assert_eq!(resolve(&repo, &["nope", "main"]), [None, Some(one)]);
    }

    #[test]
    fn a_batch_check_that_died_is_replaced() {
        let (_tmp, repo, one) = one_commit();
        assert_eq!(resolve(&repo, &["main"]), [Some(one.clone())]);
        let first = repo.batch_check_pid().unwrap();
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &first.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());

        // The lookup that finds it gone is answered by a process of its
        // own; the next one starts a new long-running process.
        assert_eq!(resolve(&repo, &["main"]), [Some(one.clone())]);
        assert_eq!(resolve(&repo, &["main"]), [Some(one)]);
        let second = repo.batch_check_pid().expect("started again");
        assert_ne!(second, first);
    }

    fn reflog(dir: &Path, branch: &str) -> String {
        let out = Git::with_identity(Vec::new())
            .at(dir)
            .args(["reflog", "--format=%gs", branch])
            .run()
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn kill(pid: u32) {
        let status =
            std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }

    #[test]
    fn branch_updates_with_one_reflog_message_go_to_one_running_update_ref() {
        let (tmp, repo, one) = one_commit();
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "two"]);
        let two = repo.rev_parse("main").unwrap();

        repo.update_branch("b", &one, None, "orca: r").unwrap();
        let started = repo.ref_session_pids();
        assert_eq!(started.len(), 1);
        repo.update_branch("b", &two, Some(&one), "orca: r").unwrap();
        // Moved by another process meanwhile: the same session compares
        // with what is there now.
        plain_git(tmp.path(), &["branch", "-f", "b", "main~1"]);
        assert!(matches!(
            repo.update_branch("b", &two, Some(&two), "orca: r"),
            Err(RefError::BranchMoved { .. })
        ));
        repo.update_branch("b", &two, Some(&one), "orca: r").unwrap();
        repo.update_branch("c", &two, None, "orca: r").unwrap();
        assert_eq!(repo.branch_tip("b").unwrap(), Some(two.clone()));
        assert_eq!(repo.branch_tip("c").unwrap(), Some(two));
        let pids = repo.ref_session_pids();
        assert_eq!(pids.len(), 1);
        assert_ne!(pids, started, "git ends a session when it refuses an update");
        assert_eq!(reflog(tmp.path(), "b"), "orca: r\nbranch: Reset to main~1\norca: r\norca: r\n");
        assert_eq!(reflog(tmp.path(), "c"), "orca: r\n");

        // One session per message, the least recently used makes room.
        repo.update_branch("d", &one, None, "orca: s").unwrap();
        repo.update_branch("e", &one, None, "orca: t").unwrap();
        let kept = repo.ref_session_pids();
        assert_eq!(kept.len(), MAX_REF_SESSIONS);
        assert!(!kept.contains(&pids[0]), "{kept:?} {pids:?}");
        assert_eq!(reflog(tmp.path(), "e"), "orca: t\n");
    }

    #[test]
    fn a_killed_update_ref_session_is_replaced() {
        let (tmp, repo, one) = one_commit();
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "two"]);
        let two = repo.rev_parse("main").unwrap();
        repo.update_branch("b", &one, None, "orca: r").unwrap();
        let first = repo.ref_session_pids()[0];
        kill(first);

        // The update that finds it gone is made by a process of its own.
        repo.update_branch("b", &two, Some(&one), "orca: r").unwrap();
        assert_eq!(repo.branch_tip("b").unwrap(), Some(two.clone()));
        repo.update_branch("b", &one, Some(&two), "orca: r").unwrap();
        let second = repo.ref_session_pids();
        assert_eq!(second.len(), 1);
        assert_ne!(second[0], first);
        assert_eq!(repo.branch_tip("b").unwrap(), Some(one));
    }

    #[test]
    fn update_branch_is_a_compare_and_swap() {
        let tmp = tempfile::tempdir().unwrap();
        plain_git(tmp.path(), &["init", "-q", "-b", "main"]);
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "one"]);
        plain_git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "two"]);
        let repo = Repo::discover(tmp.path()).unwrap();
        let one = repo.rev_parse("main~1").unwrap();
        let two = repo.rev_parse("main").unwrap();

        repo.update_branch("b", &one, None, "test").unwrap();
        // Someone else moved b to `two`; an update expecting `one`... succeeds
        // only while b is still at `one`.
        repo.update_branch("b", &two, Some(&one), "test").unwrap();
        let err = repo.update_branch("b", &one, Some(&one), "test").unwrap_err();
        match err {
            RefError::BranchMoved { name, expected, actual } => {
                assert_eq!(name, "b");
                assert_eq!(expected, one.to_string());
                assert_eq!(actual, two.to_string());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(repo.branch_tip("b").unwrap(), Some(two.clone()));
        assert!(matches!(
            repo.update_branch("b", &one, None, "test"),
            Err(RefError::BranchExists { .. })
        ));
        assert!(matches!(
            repo.update_branch("gone", &one, Some(&two), "test"),
            Err(RefError::NoSuchBranch { .. })
        ));
        assert_eq!(repo.branch_tip("b").unwrap(), Some(two));
    }
}
