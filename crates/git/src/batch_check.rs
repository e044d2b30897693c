//! A `git cat-file --batch-check` that keeps running: object lookups by
//! name (a merge's target tip and tree, its branch's parents) are written to
//! its stdin and answered on its stdout, instead of starting a git process
//! for each merge ([`crate::long_running`]).
//!
//! git reads refs and the object store afresh for every name it is given
//! (a loose ref is read from its file, a pack it does not know yet is found
//! by looking again), so the answers are those a new process would give.

use std::io::{self, BufRead, Write};

use crate::invocation::{GitError, Invocation};
use crate::long_running::LongRunning;

/// The most input one request writes: it is written whole before the
/// answers are read, so it must fit in the pipe without git's answers
/// filling the other pipe first.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// A running `git cat-file --batch-check[=<format>]`. It only reads:
/// stopping it at any point (dropping it) is safe.
#[derive(Debug)]
pub(crate) struct BatchCheck {
    git: LongRunning,
}

impl BatchCheck {
    /// Starts `inv`, a `cat-file --batch-check` invocation.
    pub(crate) fn start(inv: &Invocation<'_>) -> Result<BatchCheck, GitError> {
        Ok(BatchCheck { git: LongRunning::start(inv)? })
    }

    /// Whether `input` is small enough for [`BatchCheck::answer`].
    pub(crate) fn fits(input: &str) -> bool {
        input.len() <= MAX_REQUEST_BYTES
    }

    /// The answers to `input` (names, one a line, `count` lines; see
    /// [`BatchCheck::fits`]): one line each, in order. An error means the
    /// process is gone or out of step; drop it.
    pub(crate) fn answer(&mut self, input: &str, count: usize) -> io::Result<String> {
        self.git.stdin.write_all(input.as_bytes())?;
        self.git.stdin.flush()?;
        let mut out = String::new();
        for _ in 0..count {
            if self.git.stdout.read_line(&mut out)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "git cat-file exited"));
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    pub(crate) fn pid(&self) -> u32 {
        self.git.pid()
    }
}
