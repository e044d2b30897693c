//! A `git update-ref --stdin` that keeps running: a branch update (an
//! attempt's branch created, a merge moving the integration branch) is one
//! transaction written to its stdin (`start`, `create` or `update`,
//! `commit`) and acknowledged on its stdout, instead of a git process of
//! its own ([`crate::long_running`]).
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

use std::io::{self, BufRead, Write};

use crate::invocation::{GitError, Invocation};
use crate::long_running::LongRunning;
use crate::sha::Sha;

/// A running `git update-ref -m <reason> --stdin`. Between transactions
/// it holds no lock and has nothing unwritten: stopping it (dropping it)
/// then is safe.
#[derive(Debug)]
pub(crate) struct RefSession {
    reason: String,
    git: LongRunning,
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
        Ok(RefSession { reason: reason.to_string(), git: LongRunning::start(inv)? })
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
        let stdin = &mut self.git.stdin;
        if stdin.write_all(transaction.as_bytes()).and_then(|()| stdin.flush()).is_err() {
            // git is gone: what it read of the transaction without its
            // `commit` was never committed.
            return SessionOutcome::NotDone;
        }
        match self.acknowledged() {
            Ok(Answer::Acknowledged) => SessionOutcome::Committed,
            // git refuses a transaction by exiting; killed, it says nothing.
            Ok(Answer::Ended) => match self.git.wait() {
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
            if self.git.stdout.read_line(&mut line)? == 0 {
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
        self.git.pid()
    }
}
