//! A `git update-ref --stdin` that keeps running: a branch update (an
//! attempt's branch created, a merge moving the integration branch) is one
//! transaction written to its stdin (`start`, `create` or `update`,
//! `commit`) and acknowledged on its stdout, instead of a git process of
//! its own. Starting a process is most of what such an update costs.
//!
//! Each transaction locks the ref, compares its value read under the lock
//! with the expected one, writes it and its reflog entry, and unlocks it,
//! exactly as a one-shot `git update-ref` does. Between transactions the
//! process holds no lock. The reflog message is the process's (`-m`), so
//! one session serves one message.
//!
//! git ends the session when a transaction fails (a ref that moved or
//! exists): the caller learns only that, and asks git again with a process
//! of its own, whose answer and message are the ones reported.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};

use crate::invocation::{GitError, Invocation};
use crate::sha::Sha;

/// A running `git update-ref -m <reason> --stdin`.
#[derive(Debug)]
pub(crate) struct RefSession {
    reason: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// How a transaction in a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionOutcome {
    /// git acknowledged the commit: the ref is updated.
    Committed,
    /// The transaction never reached git whole, or git refused it and
    /// exited: the ref is as it was (as far as this session goes).
    NotDone,
    /// git was killed after reading the whole transaction, or answered
    /// out of step: it may or may not have committed it.
    Unknown,
}

/// What a session's git answered a transaction.
enum Answer {
    Acknowledged,
    /// Its output ended: it exited, or was killed.
    Ended,
    /// An answer that is not the one expected.
    OutOfStep,
}

impl RefSession {
    /// Starts `inv`, an `update-ref -m <reason> --stdin` invocation.
    pub(crate) fn start(inv: &Invocation<'_>, reason: &str) -> Result<RefSession, GitError> {
        let mut child = inv.spawn_long_running()?;
        let pipes = child.stdin.take().zip(child.stdout.take());
        let Some((stdin, stdout)) = pipes else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(inv.unexpected("started without pipes"));
        };
        Ok(RefSession { reason: reason.to_string(), child, stdin, stdout: BufReader::new(stdout) })
    }

    /// The reflog message of its updates.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }

    /// Sets `full_ref` (a valid ref name: no spaces or line breaks) to
    /// `new` if it is at `expected` (`None`: if it does not exist). Any
    /// outcome but [`SessionOutcome::Committed`] ends the session: drop it.
    pub(crate) fn update(
        &mut self,
        full_ref: &str,
        new: &Sha,
        expected: Option<&Sha>,
    ) -> SessionOutcome {
        let change = match expected {
            Some(old) => format!("update {full_ref} {new} {old}"),
            None => format!("create {full_ref} {new}"),
        };
        let transaction = format!("start\n{change}\ncommit\n");
        if self.stdin.write_all(transaction.as_bytes()).and_then(|()| self.stdin.flush()).is_err() {
            // git is gone: what it read of the transaction without its
            // `commit` was never committed.
            return SessionOutcome::NotDone;
        }
        match self.acknowledged() {
            Ok(Answer::Acknowledged) => SessionOutcome::Committed,
            // git refuses a transaction by exiting; killed, it says nothing.
            Ok(Answer::Ended) => match self.child.wait() {
                Ok(status) if status.code().is_some() => SessionOutcome::NotDone,
                _ => SessionOutcome::Unknown,
            },
            Ok(Answer::OutOfStep) | Err(_) => SessionOutcome::Unknown,
        }
    }

    /// What git answered the transaction.
    fn acknowledged(&mut self) -> io::Result<Answer> {
        let mut line = String::new();
        for expected in ["start: ok\n", "commit: ok\n"] {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                return Ok(Answer::Ended);
            }
            if line != expected {
                return Ok(Answer::OutOfStep);
            }
        }
        Ok(Answer::Acknowledged)
    }

    #[cfg(test)]
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RefSession {
    fn drop(&mut self) {
        // Between transactions it holds no lock and has nothing unwritten:
        // stopping it is safe, and waiting for it reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
