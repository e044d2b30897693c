//! Worktrees: one per attempt, created on a new branch, removed however
//! they were left behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::thread;
use std::time::Duration;

use crate::invocation::{GitError, nul_fields};
use crate::repo::{RefError, Repo, canonical, validate_branch};
use crate::sha::Sha;

/// One worktree of the repository, as `git worktree list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    /// `None` while the branch has no commit yet.
    pub head: Option<Sha>,
    /// The checked-out branch without `refs/heads/`; `None` when detached.
    pub branch: Option<String>,
    /// The repository's main checkout (the first entry git lists).
    pub is_main: bool,
    /// Locked with `git worktree lock` (also set while git is creating it).
    pub locked: bool,
    /// git considers it prunable (its directory is gone, for instance).
    pub prunable: bool,
}

/// How [`Repo::remove_worktree`] found the worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorktreeRemoval {
    Removed,
    /// Neither git nor the file system knew the path any more.
    AlreadyGone,
}

/// What [`Repo::prune_stale`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Worktrees (registered or left-over directories) removed.
    pub removed: Vec<PathBuf>,
    /// Entries that are not worktrees and were left alone.
    pub kept: Vec<PathBuf>,
}

/// Why a worktree operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("{path} already exists and is not an empty directory")]
    PathOccupied { path: PathBuf },
    #[error(
        "{path} is inside the checkout but not git-ignored; a worktree there would show up in git status"
    )]
    NotIgnored { path: PathBuf },
    #[error("{path} is not a worktree of the repository at {repo}")]
    NotAWorktree { path: PathBuf, repo: PathBuf },
    #[error("{path} is the repository's main checkout; orca never works in it")]
    MainCheckout { path: PathBuf },
    #[error("refusing to prune {dir}: it contains the repository itself")]
    UnsafePruneDir { dir: PathBuf },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Pauses between attempts to remove a worktree whose files a dying
/// process may still be writing.
const REMOVE_RETRY_DELAYS_MS: &[u64] = &[50, 200, 500];

impl Repo {
    /// Creates branch `new_branch` at `base` and checks it out in a new
    /// worktree at `path` (parents are created; `path` must not exist or be
    /// an empty directory, and inside the checkout it must be git-ignored,
    /// like `.orca/worktrees/`). The branch is deleted again if the checkout
    /// fails, so a failed call leaves no branch behind.
    pub fn add_worktree(
        &self,
        path: &Path,
        new_branch: &str,
        base: &str,
    ) -> Result<Worktree, WorktreeError> {
        validate_branch(new_branch)?;
        // orca's own branches (a run's integration branch, an earlier
        // attempt's) are read from their loose ref file, as git would, without
        // a git process; anything else, or what the file cannot tell, asks git.
        let base = match base.starts_with("orca/").then(|| self.loose_branch_tip(base)).flatten() {
            Some(tip) => tip,
            None => self.rev_parse(base)?,
        };
        let dir = self.claim_worktree_dir(path)?;
        let created = {
            let _refs = self.lock_refs();
            self.update_branch(new_branch, &base, None, "orca: branch for worktree")
        };
        if let Err(err) = created {
            dir.release();
            return Err(err.into());
        }
        let checkout = self
            .lock_worktree_admin(true)
            .map_err(WorktreeError::from)
            .and_then(|_admin| self.checkout_worktree(&dir.path, new_branch));
        if let Err(err) = checkout {
            let _refs = self.lock_refs();
            if let Err(cleanup) = self.delete_branch_at(new_branch, &base) {
                tracing::warn!(branch = new_branch, error = %cleanup, "cannot delete branch of failed worktree");
            }
            dir.release();
            return Err(err);
        }
        let path = dir.path;
        tracing::debug!(path = %path.display(), branch = new_branch, base = %base, "worktree added");
        Ok(Worktree {
            path,
            head: Some(base),
            branch: Some(new_branch.to_string()),
            is_main: false,
            locked: false,
            prunable: false,
        })
    }

    /// Checks out the existing `branch` in a new worktree at `path`: brings
    /// back the worktree of an attempt whose directory was removed (the
    /// branch carries the work).
    pub fn add_worktree_for_branch(
        &self,
        path: &Path,
        branch: &str,
    ) -> Result<Worktree, WorktreeError> {
        validate_branch(branch)?;
        let head = self
            .branch_tip(branch)?
            .ok_or_else(|| RefError::NoSuchBranch { name: branch.to_string() })?;
        let dir = self.claim_worktree_dir(path)?;
        let checkout = self
            .lock_worktree_admin(true)
            .map_err(WorktreeError::from)
            .and_then(|_admin| self.checkout_worktree(&dir.path, branch));
        if let Err(err) = checkout {
            dir.release();
            return Err(err);
        }
        let path = dir.path;
        Ok(Worktree {
            path,
            head: Some(head),
            branch: Some(branch.to_string()),
            is_main: false,
            locked: false,
            prunable: false,
        })
    }

    /// Makes `path` an absolute, empty directory for a new worktree. Inside
    /// the user's checkout it must be git-ignored (as `.orca/worktrees/`
    /// is), or the worktree would show up in the user's `git status`.
    fn claim_worktree_dir(&self, path: &Path) -> Result<ClaimedDir, WorktreeError> {
        let io_error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| WorktreeError::Io { action, path, source }
        };
        let absolute = canonical(path);
        if let Some(parent) = absolute.parent() {
            fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        let path = canonical(&absolute);
        let created = match fs::read_dir(&path).map(|mut entries| entries.next().is_none()) {
            Ok(true) => false,
            Ok(false) => return Err(WorktreeError::PathOccupied { path }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path).map_err(io_error("create", &path))?;
                true
            }
            Err(err) if err.kind() == io::ErrorKind::NotADirectory => {
                return Err(WorktreeError::PathOccupied { path });
            }
            Err(err) => return Err(io_error("read", &path)(err)),
        };
        let inside = path.strip_prefix(self.root()).ok().filter(|rel| !rel.as_os_str().is_empty());
        if let Some(rel) = inside
            && !self.is_ignored(rel)?
        {
            ClaimedDir { path: path.clone(), created }.release();
            return Err(WorktreeError::NotIgnored { path });
        }
        Ok(ClaimedDir { path, created })
    }

    /// Whether `rel` (relative to the root) is git-ignored. Everything in
    /// an ignored directory is ignored, so a parent found ignored once
    /// answers for all the worktrees put in it later.
    fn is_ignored(&self, rel: &Path) -> Result<bool, GitError> {
        let check_ignore = |path: &Path| -> Result<bool, GitError> {
            let check = self.git.at(self.root()).args(["check-ignore", "--quiet", "--"]).arg(path);
            Ok(check.run_allowing(&[0, 1])?.code == Some(0))
        };
        let known = || self.ignored_dirs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return check_ignore(rel);
        };
        if known().iter().any(|dir| dir == parent) {
            return Ok(true);
        }
        if check_ignore(parent)? {
            known().push(parent.to_path_buf());
            return Ok(true);
        }
        check_ignore(rel)
    }

    fn checkout_worktree(&self, path: &Path, branch: &str) -> Result<(), WorktreeError> {
        self.git
            .at(self.root())
            .args(["worktree", "add", "--quiet"])
            .arg(path)
            .arg(branch)
            .run()?;
        Ok(())
    }

    fn delete_branch_at(&self, branch: &str, at: &Sha) -> Result<(), GitError> {
        self.git
            .at(self.root())
            .args(["update-ref", "-d", "--end-of-options"])
            .arg(format!("refs/heads/{branch}"))
            .arg(at)
            .run()?;
        Ok(())
    }

    /// Every worktree of the repository, the main checkout first.
    pub fn list_worktrees(&self) -> Result<Vec<Worktree>, GitError> {
        let _admin = self.lock_worktree_admin(false)?;
        self.read_worktree_list()
    }

    /// `git worktree list`; the caller holds the administration lock.
    fn read_worktree_list(&self) -> Result<Vec<Worktree>, GitError> {
        let inv = self.git.at(self.root()).args(["worktree", "list", "--porcelain", "-z"]);
        let out = inv.run()?;
        let mut worktrees = Vec::new();
        let mut current: Option<Worktree> = None;
        for field in nul_fields(&out) {
            if field.is_empty() {
                worktrees.extend(current.take());
                continue;
            }
            let (key, value) = field.split_once(' ').unwrap_or((field.as_str(), ""));
            if key == "worktree" {
                worktrees.extend(current.take());
                current = Some(Worktree {
                    path: PathBuf::from(value),
                    head: None,
                    branch: None,
                    is_main: worktrees.is_empty(),
                    locked: false,
                    prunable: false,
                });
                continue;
            }
            let Some(wt) = current.as_mut() else {
                return Err(inv.unexpected(format!("{field:?} before any worktree line")));
            };
            match key {
                "HEAD" => wt.head = Sha::parse(value).ok().filter(|s| !is_null(s)),
                "branch" => {
                    wt.branch = Some(value.strip_prefix("refs/heads/").unwrap_or(value).into())
                }
                "locked" => wt.locked = true,
                "prunable" => wt.prunable = true,
                _ => {} // "detached", "bare", and whatever later versions add
            }
        }
        worktrees.extend(current);
        Ok(worktrees)
    }

    /// Removes the worktree at `path` whatever state it is in: modified,
    /// locked, its directory already deleted, or its administrative files
    /// already pruned (then only the directory is removed, and only if its
    /// `.git` file points into this repository). Never deletes its branch.
    /// Uncommitted changes in it are lost: commit them first.
    pub fn remove_worktree(&self, path: &Path) -> Result<WorktreeRemoval, WorktreeError> {
        let path = canonical(path);
        if path == self.root() {
            return Err(WorktreeError::MainCheckout { path });
        }
        let _admin = self.lock_worktree_admin(true)?;
        // git's administration says which linked worktrees exist; reading
        // it spares a `git worktree list` in the common cases.
        if let Some(admin) = self.read_worktree_admin() {
            match admin.into_iter().filter_map(|w| w.path).find(|p| same_path(p, &path)) {
                Some(registered) => {
                    self.remove_registered(&registered)?;
                    tracing::debug!(path = %path.display(), "worktree removed");
                    return Ok(WorktreeRemoval::Removed);
                }
                None if !path.exists() => return Ok(WorktreeRemoval::AlreadyGone),
                None => {} // an orphan or no worktree at all: git decides below
            }
        }
        let registered = self.read_worktree_list()?.into_iter().find(|w| same_path(&w.path, &path));
        match registered {
            Some(wt) if wt.is_main => Err(WorktreeError::MainCheckout { path }),
            Some(wt) => {
                self.remove_registered(&wt.path)?;
                tracing::debug!(path = %path.display(), "worktree removed");
                Ok(WorktreeRemoval::Removed)
            }
            None if !path.exists() => Ok(WorktreeRemoval::AlreadyGone),
            None if self.is_orphaned_worktree_dir(&path) => {
                remove_dir_with_retries(&path)?;
                tracing::debug!(path = %path.display(), "orphaned worktree directory removed");
                Ok(WorktreeRemoval::Removed)
            }
            None => Err(WorktreeError::NotAWorktree { path, repo: self.root().to_path_buf() }),
        }
    }

    /// `git worktree remove -f -f` handles modified and locked worktrees and
    /// ones whose directory is gone; when it fails anyway (the `.git` file
    /// was deleted, a file is busy) the directory is removed by hand and git
    /// is asked again, which then only drops its administrative files.
    fn remove_registered(&self, path: &Path) -> Result<(), WorktreeError> {
        let mut delays = REMOVE_RETRY_DELAYS_MS.iter();
        loop {
            let remove = self
                .git
                .at(self.root())
                .args(["worktree", "remove", "--force", "--force"])
                .arg(path);
            let Err(err) = remove.run() else { return Ok(()) };
            tracing::debug!(path = %path.display(), error = %err, "worktree remove failed; removing by hand");
            let by_hand = remove_dir_if_present(path).and_then(|()| {
                remove.run()?;
                Ok(())
            });
            match (by_hand, delays.next()) {
                (Ok(()), _) => return Ok(()),
                (Err(_), Some(ms)) => thread::sleep(Duration::from_millis(*ms)),
                (Err(last), None) => return Err(last),
            }
        }
    }

    /// A directory whose `.git` file points into this repository's
    /// `worktrees/` administration: a worktree git no longer knows.
    fn is_orphaned_worktree_dir(&self, path: &Path) -> bool {
        let Ok(contents) = fs::read_to_string(path.join(".git")) else { return false };
        let Some(gitdir) = contents.trim().strip_prefix("gitdir: ") else { return false };
        let gitdir = path.join(gitdir); // relative paths are relative to the worktree
        canonical(&gitdir).starts_with(self.common_dir().join("worktrees"))
    }

    /// Removes everything orca left under `dir` (a directory holding only
    /// orca worktrees, such as `.orca/worktrees/<run>/`): every registered
    /// worktree below it, in whatever state (see [`Repo::remove_worktree`]),
    /// every orphaned worktree directory, and directories left empty.
    /// Other files are reported in [`PruneReport::kept`], not deleted.
    /// Branches are never deleted: they carry the work. Worktrees outside
    /// `dir` are not touched.
    pub fn prune_stale(&self, dir: &Path) -> Result<PruneReport, WorktreeError> {
        let dir = canonical(dir);
        if self.root().starts_with(&dir) || self.common_dir().starts_with(&dir) {
            return Err(WorktreeError::UnsafePruneDir { dir });
        }
        let mut report = PruneReport::default();
        let inside: Vec<PathBuf> = self
            .list_worktrees()?
            .into_iter()
            .filter(|w| !w.is_main && canonical(&w.path).starts_with(&dir))
            .map(|w| w.path)
            .collect();
        for path in inside {
            if self.remove_worktree(&path)? == WorktreeRemoval::Removed {
                report.removed.push(path);
            }
        }
        if dir.is_dir() {
            let _admin = self.lock_worktree_admin(true)?;
            self.sweep(&dir, &mut report)?;
        }
        Ok(report)
    }

    /// Depth-first: orphaned worktree directories go, empty directories go,
    /// anything else is kept and reported.
    fn sweep(&self, dir: &Path, report: &mut PruneReport) -> Result<(), WorktreeError> {
        let entries = fs::read_dir(dir).map_err(|source| WorktreeError::Io {
            action: "read",
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| WorktreeError::Io {
                action: "read",
                path: dir.to_path_buf(),
                source,
            })?;
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir {
                report.kept.push(path);
            } else if self.is_orphaned_worktree_dir(&path) {
                remove_dir_with_retries(&path)?;
                report.removed.push(path);
            } else {
                self.sweep(&path, report)?;
                if fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none()) {
                    fs::remove_dir(&path).map_err(|source| WorktreeError::Io {
                        action: "remove",
                        path: path.clone(),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Checks that `path` is the top of a linked worktree of this
    /// repository (never the main checkout) and returns its real path.
    pub(crate) fn linked_worktree(&self, path: &Path) -> Result<PathBuf, WorktreeError> {
        let real = canonical(path);
        if real == self.root() {
            return Err(WorktreeError::MainCheckout { path: real });
        }
        let not_a_worktree =
            || WorktreeError::NotAWorktree { path: real.clone(), repo: self.root().to_path_buf() };
        if !real.is_dir() {
            return Err(not_a_worktree());
        }
        if self.admin_dir_of(&real).is_some() {
            return Ok(real);
        }
        let out = self
            .git
            .at(&real)
            .args(["rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"])
            .run_allowing(&[0, 128])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        match (out.code, lines.next(), lines.next()) {
            (Some(0), Some(common), Some(top))
                if canonical(Path::new(common)) == self.common_dir()
                    && canonical(Path::new(top)) == real =>
            {
                Ok(real)
            }
            _ => Err(not_a_worktree()),
        }
    }
}

/// A linked worktree as git's administrative files record it.
struct AdminEntry {
    /// `None` when its `gitdir` file cannot be read.
    path: Option<PathBuf>,
    /// Its `HEAD` file.
    head: PathBuf,
}

impl Repo {
    /// The linked worktrees recorded in `<common dir>/worktrees/*/gitdir`
    /// (each names its worktree's `.git` file), as `git worktree list`
    /// reads them; `None` when they cannot be read.
    fn read_worktree_admin(&self) -> Option<Vec<AdminEntry>> {
        let entries = match fs::read_dir(self.common_dir().join("worktrees")) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Some(Vec::new()),
            Err(_) => return None,
        };
        let mut worktrees = Vec::new();
        for entry in entries {
            let admin = entry.ok()?.path();
            // Relative paths (worktree.useRelativePaths) are relative to
            // the administrative directory.
            let path = fs::read_to_string(admin.join("gitdir")).ok().and_then(|gitdir| {
                let dot_git = admin.join(gitdir.trim_end_matches(['\n', '\r']));
                dot_git.parent().map(Path::to_path_buf)
            });
            worktrees.push(AdminEntry { path, head: admin.join("HEAD") });
        }
        Some(worktrees)
    }

    /// The administrative directory of the linked worktree at `real` (a
    /// canonical path): its `.git` file must point into this repository's
    /// `worktrees/` and that directory's `gitdir` back at it.
    fn admin_dir_of(&self, real: &Path) -> Option<PathBuf> {
        let contents = fs::read_to_string(real.join(".git")).ok()?;
        let gitdir = contents.trim_end_matches(['\n', '\r']).strip_prefix("gitdir: ")?;
        let admin = canonical(&real.join(gitdir));
        if admin.parent()? != canonical(&self.common_dir().join("worktrees")) {
            return None;
        }
        let back = fs::read_to_string(admin.join("gitdir")).ok()?;
        let back = canonical(&admin.join(back.trim_end_matches(['\n', '\r'])));
        (back == real.join(".git")).then_some(admin)
    }

    /// The commit the linked worktree at `dir` (canonical) has checked out,
    /// read from its `HEAD` file and its branch's loose ref; `None` when the
    /// files cannot tell (detached HEAD, packed or reftable refs).
    pub(crate) fn worktree_branch_tip(&self, dir: &Path) -> Option<Sha> {
        let head = fs::read_to_string(self.admin_dir_of(dir)?.join("HEAD")).ok()?;
        let branch = head.trim_end().strip_prefix("ref: refs/heads/")?;
        self.loose_branch_tip(branch)
    }

    /// The checkout that has `branch` checked out, if any: read from each
    /// worktree's `HEAD` file (as git itself does) rather than from a
    /// `git worktree list`, which only runs when one does or when the
    /// files cannot tell (reftable repositories keep HEAD elsewhere).
    pub(crate) fn worktree_on_branch(&self, branch: &str) -> Result<Option<PathBuf>, GitError> {
        let from_git = || -> Result<Option<PathBuf>, GitError> {
            Ok(self
                .list_worktrees()?
                .into_iter()
                .find(|w| w.branch.as_deref() == Some(branch))
                .map(|w| w.path))
        };
        if self.common_dir().join("reftable").exists() {
            return from_git();
        }
        let Some(linked) = ({
            let _admin = self.lock_worktree_admin(false)?;
            self.read_worktree_admin()
        }) else {
            return from_git();
        };
        let wanted = format!("ref: refs/heads/{branch}");
        let on_branch = |head: &Path| match fs::read_to_string(head) {
            Ok(contents) => Some(contents.trim_end() == wanted),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Some(false),
            Err(_) => None, // unreadable: ask git
        };
        let heads = std::iter::once(self.common_dir().join("HEAD"))
            .chain(linked.into_iter().map(|w| w.head));
        let mut any = false;
        for head in heads {
            match on_branch(&head) {
                Some(false) => {}
                Some(true) | None => any = true,
            }
        }
        if any { from_git() } else { Ok(None) }
    }
}

/// The directory a new worktree goes into.
struct ClaimedDir {
    path: PathBuf,
    /// orca created it (rather than finding it empty).
    created: bool,
}

impl ClaimedDir {
    /// Gives the directory back after a failure: removed if orca created it
    /// and it is still empty.
    fn release(&self) {
        if self.created {
            let _ = fs::remove_dir(&self.path);
        }
    }
}

fn remove_dir_if_present(path: &Path) -> Result<(), WorktreeError> {
    match fs::remove_dir_all(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(WorktreeError::Io { action: "remove", path: path.to_path_buf(), source: err })
        }
        _ => Ok(()),
    }
}

fn remove_dir_with_retries(path: &Path) -> Result<(), WorktreeError> {
    let mut delays = REMOVE_RETRY_DELAYS_MS.iter();
    loop {
        match (remove_dir_if_present(path), delays.next()) {
            (Ok(()), _) => return Ok(()),
            (Err(_), Some(ms)) => thread::sleep(Duration::from_millis(*ms)),
            (Err(err), None) => return Err(err),
        }
    }
}

fn same_path(listed: &Path, wanted: &Path) -> bool {
    listed == wanted || canonical(listed) == wanted
}

fn is_null(sha: &Sha) -> bool {
    sha.as_str().bytes().all(|b| b == b'0')
}
