//! A git process that keeps running and answers requests written to its
//! stdin on its stdout ([`crate::batch_check`], [`crate::ref_session`]),
//! instead of a process per request: starting a process is most of what a
//! small request costs (the dynamic loader, git reading its configuration
//! and finding the repository).

use std::io::{self, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, ExitStatus};

use crate::invocation::{GitError, Invocation};

/// A running git process and its pipes. Dropping it kills the process and
/// reaps it: its owner drops it only between requests, where stopping it
/// loses nothing.
#[derive(Debug)]
pub(crate) struct LongRunning {
    child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<ChildStdout>,
}

impl LongRunning {
    /// Starts `inv`.
    pub(crate) fn start(inv: &Invocation<'_>) -> Result<LongRunning, GitError> {
        let mut child = inv.spawn_long_running()?;
        let pipes = child.stdin.take().zip(child.stdout.take());
        let Some((stdin, stdout)) = pipes else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(inv.unexpected("started without pipes"));
        };
        Ok(LongRunning { child, stdin, stdout: BufReader::new(stdout) })
    }

    /// How it ended, once its output has: waits for it to exit.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    #[cfg(test)]
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LongRunning {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
