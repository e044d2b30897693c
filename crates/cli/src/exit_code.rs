//! orca's exit codes. docs/cli.md documents them; keep the two in step.

/// A process exit status with a documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    /// The command did what was asked and the answer is "yes".
    Success,
    /// The command ran and the answer is "no": an invalid plan, a failed
    /// run, a stale managed block.
    Failure,
    /// Bad arguments, or input/output that could not be read or written.
    Usage,
    /// Another orca holds what this command needs (the repository lock).
    Refused,
    /// Stopped by the user (Ctrl-C); `orca resume` continues.
    Interrupted,
}

impl ExitCode {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::Refused => 3,
            ExitCode::Interrupted => 130,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
