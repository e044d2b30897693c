//! Running git: argv only, a hermetic environment, typed failures.
//!
//! Every git process orca starts goes through [`Git::at`]. The environment
//! is cleaned so that a variable inherited from a surrounding git process
//! (orca or its tests running inside a hook, say) cannot redirect a call to
//! another repository, index or config, and so that git never waits for a
//! terminal, a pager or an editor.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

/// Inherited variables removed from every call. The first block is what
/// `git rev-parse --local-env-vars` lists: they point git at a repository,
/// index or config other than the one orca means. The rest would make
/// orca's commits or output depend on the caller (a hook exports the
/// author date, an outer `git -c` exports its config, and so on).
const REMOVED_VARS: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_QUARANTINE_PATH",
    "GIT_REFLOG_ACTION",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_DATE",
    "GIT_SEQUENCE_EDITOR",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
];

/// Variables set on every call.
const SET_VARS: &[(&str, &str)] = &[
    // Never ask for credentials or anything else on a terminal.
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    // `git merge --no-commit` and friends must never open an editor.
    ("GIT_EDITOR", ":"),
    // Stable, parseable messages.
    ("LC_ALL", "C"),
    ("LANGUAGE", "C"),
    // `git status` must not refresh (rewrite) the index of the user's
    // checkout: orca only ever reads it.
    ("GIT_OPTIONAL_LOCKS", "0"),
];

/// Configuration every call runs with (`git -c key=value`), and why.
const FIXED_CONFIG: &[(&str, &str)] = &[
    // orca's own commits, checkouts and merges run none of the user's hooks:
    // an agent's work is committed whatever a pre-commit hook thinks of it.
    ("core.hooksPath", "/dev/null"),
    // Signing could prompt for a passphrase with nobody there to type it.
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    // No background gc or maintenance racing the worktrees orca runs at
    // once; the user's own git commands still run them.
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    // Let git itself wait for a ref or packed-refs lock another orca call
    // holds, instead of failing at once.
    ("core.filesRefLockTimeout", "1000"),
    ("core.packedRefsTimeout", "1000"),
    // Conflicts are resolved by orca's resolver, never replayed silently.
    ("rerere.enabled", "false"),
    // The base version between the markers helps a resolver agent.
    ("merge.conflictStyle", "zdiff3"),
    // No daemon per worktree, no submodule fetches, no colour codes.
    ("core.fsmonitor", "false"),
    ("submodule.recurse", "false"),
    ("color.ui", "false"),
    ("core.quotePath", "false"),
];

/// How long to keep retrying when another process holds a git lock file.
const LOCK_RETRY_DELAYS_MS: &[u64] = &[10, 20, 40, 80, 160, 320, 500, 500];

/// Longest stderr kept in an error; git's useful line is at the start.
const MAX_STDERR: usize = 4000;

/// Running git failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The `git` executable could not be started.
    #[error("cannot run `{command}` in {dir} (is git installed and on PATH?)")]
    Spawn {
        command: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// git ran and exited unsuccessfully.
    #[error("`{command}` failed in {dir} ({status}): {stderr}")]
    Failed { command: String, dir: PathBuf, status: ExitStatus, stderr: String },
    /// orca's lock serializing worktree changes could not be taken.
    #[error("cannot lock {path} (orca's lock around git worktree changes)")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// git succeeded but printed something orca cannot read.
    #[error("`{command}` in {dir} printed output orca cannot read: {detail}")]
    UnexpectedOutput { command: String, dir: PathBuf, detail: String },
}

impl GitError {
    /// git's standard error, when git ran and failed.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            GitError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// What a finished git process left behind.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
}

/// The git program plus the per-repository identity fallback.
#[derive(Debug, Clone, Default)]
pub(crate) struct Git {
    /// `-c user.name=...`/`-c user.email=...` for what the repository lacks.
    identity: Vec<(String, String)>,
}

impl Git {
    pub(crate) fn with_identity(identity: Vec<(String, String)>) -> Self {
        Git { identity }
    }

    /// A git call running in `dir`.
    pub(crate) fn at<'a>(&'a self, dir: &'a Path) -> Invocation<'a> {
        Invocation { git: self, dir, args: Vec::new(), stdin: None }
    }
}

/// One git command being assembled.
#[derive(Debug)]
pub(crate) struct Invocation<'a> {
    git: &'a Git,
    dir: &'a Path,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
}

impl Invocation<'_> {
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub(crate) fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs and requires exit status 0; returns stdout.
    pub(crate) fn run(&self) -> Result<Vec<u8>, GitError> {
        Ok(self.run_allowing(&[0])?.stdout)
    }

    /// Runs and requires exit status 0; returns stdout as text without the
    /// trailing newline.
    pub(crate) fn run_text(&self) -> Result<String, GitError> {
        let out = self.run()?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Runs and accepts any of `codes` as an answer rather than a failure
    /// (`merge-base --is-ancestor` says "no" with 1, for instance).
    pub(crate) fn run_allowing(&self, codes: &[i32]) -> Result<Finished, GitError> {
        let mut delays = LOCK_RETRY_DELAYS_MS.iter();
        loop {
            let (status, stdout, stderr) = self.spawn_once()?;
            if status.code().is_some_and(|c| codes.contains(&c)) {
                return Ok(Finished { code: status.code(), stdout });
            }
            let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
            if is_lock_contention(&stderr)
                && let Some(ms) = delays.next()
            {
                tracing::debug!(command = %self.display(), %stderr, "git lock busy, retrying");
                thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            return Err(GitError::Failed {
                command: self.display(),
                dir: self.dir.to_path_buf(),
                status,
                stderr: truncate(stderr),
            });
        }
    }

    /// An error for output this crate failed to parse.
    pub(crate) fn unexpected(&self, detail: impl Into<String>) -> GitError {
        GitError::UnexpectedOutput {
            command: self.display(),
            dir: self.dir.to_path_buf(),
            detail: detail.into(),
        }
    }

    /// The command as a person would type it, without the fixed `-c` flags.
    pub(crate) fn display(&self) -> String {
        let mut out = String::from("git");
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            out.push(' ');
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                out.push('\'');
                out.push_str(&arg.replace('\'', r"'\''"));
                out.push('\'');
            } else {
                out.push_str(&arg);
            }
        }
        out
    }

    /// The command with orca's fixed configuration and environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        for (key, value) in FIXED_CONFIG {
            cmd.arg("-c").arg(format!("{key}={value}"));
        }
        for (key, value) in &self.git.identity {
            cmd.arg("-c").arg(format!("{key}={value}"));
        }
        cmd.args(&self.args).current_dir(self.dir);
        for var in REMOVED_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(SET_VARS.iter().copied());
        cmd
    }

    fn spawn_error(&self, source: io::Error) -> GitError {
        GitError::Spawn { command: self.display(), dir: self.dir.to_path_buf(), source }
    }

    /// Starts a git process that keeps running and answers requests on
    /// its stdin, for [`crate::long_running`].
    /// It runs in a process group of its own, so a Ctrl-C meant for orca
    /// does not kill it between two requests.
    pub(crate) fn spawn_long_running(&self) -> Result<Child, GitError> {
        let mut cmd = self.command();
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
        tracing::trace!(command = %self.display(), dir = %self.dir.display(), "git, long-running");
        cmd.spawn().map_err(|source| self.spawn_error(source))
    }

    fn spawn_once(&self) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), GitError> {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tracing::trace!(command = %self.display(), dir = %self.dir.display(), "git");

        let spawn_error = |source| self.spawn_error(source);
        let mut child = cmd.spawn().map_err(spawn_error)?;
        // Feed stdin from another thread so a large answer on stdout can
        // never deadlock against a large input.
        let output = thread::scope(|scope| {
            if let (Some(input), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
                scope.spawn(move || {
                    // A write error means git exited early; its status says why.
                    let _ = pipe.write_all(input);
                });
            }
            child.wait_with_output()
        })
        .map_err(spawn_error)?;
        Ok((output.status, output.stdout, output.stderr))
    }
}

/// git reports a lock file held by another process as
/// "Unable to create '<path>.lock': File exists." (index, refs, packed-refs,
/// config alike). Such a failure happens before git changes anything, so
/// running the same command again is safe.
fn is_lock_contention(stderr: &str) -> bool {
    stderr.contains(".lock': File exists")
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_STDERR {
        let mut cut = MAX_STDERR;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" [...]");
    }
    text
}

/// Splits NUL-terminated fields (`-z` output), dropping the empty tail.
pub(crate) fn nul_fields(out: &[u8]) -> impl Iterator<Item = String> + '_ {
    let out = out.strip_suffix(b"\0").unwrap_or(out);
    out.split(|b| *b == 0)
        .filter(move |_| !out.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let git = Git::default();
        let inv = git.at(Path::new("/")).args(["commit", "-m", "two words", "it's", ""]);
        assert_eq!(inv.display(), r"git commit -m 'two words' 'it'\''s' ''");
    }

    #[test]
    fn lock_contention_is_recognised_and_moved_refs_are_not() {
        assert!(is_lock_contention(
            "fatal: Unable to create '/r/.git/index.lock': File exists.\n\nAnother git process..."
        ));
        assert!(is_lock_contention(
            "error: cannot lock ref 'refs/heads/x': Unable to create '/r/.git/refs/heads/x.lock': File exists."
        ));
        assert!(!is_lock_contention(
            "fatal: cannot lock ref 'refs/heads/x': is at 1111 but expected 2222"
        ));
    }

    #[test]
    fn nul_fields_splits_and_ignores_the_terminator() {
        assert_eq!(nul_fields(b"a\0b c\0").collect::<Vec<_>>(), ["a", "b c"]);
        assert_eq!(nul_fields(b"").count(), 0);
        assert_eq!(nul_fields(b"a\0\0b\0").collect::<Vec<_>>(), ["a", "", "b"]);
    }

    #[test]
    fn long_stderr_is_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_STDERR);
        let cut = truncate(text);
        assert!(cut.len() <= MAX_STDERR + 6);
        assert!(cut.ends_with(" [...]"));
    }

    #[test]
    fn failure_carries_command_status_and_stderr() {
        let dir = std::env::temp_dir();
        let err = Git::default().at(&dir).args(["rev-parse", "--verify", "no-such-rev-x"]).run();
        let err = err.unwrap_err();
        match &err {
            GitError::Failed { command, status, stderr, .. } => {
                assert_eq!(command, "git rev-parse --verify no-such-rev-x");
                assert!(!status.success());
                assert!(!stderr.is_empty());
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.stderr().is_some());
    }
}
