//! A failure as the user reads it: a message, the hints that say what to
//! do, and an exit code. `command_error` makes them from library errors.

use std::fmt;

use crate::exit_code::ExitCode;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FailureKind {
    /// Bad arguments or unreadable/unwritable input and output.
    Usage,
    /// The command ran and its answer is "no".
    Failed,
    /// Another orca holds the resource.
    Refused,
}

/// A failure ready to show to the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) hints: Vec<String>,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Usage, message: message.into(), hints: Vec::new() }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Failed, message: message.into(), hints: Vec::new() }
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Refused, message: message.into(), hints: Vec::new() }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        match self.kind {
            FailureKind::Usage => ExitCode::Usage,
            FailureKind::Failed => ExitCode::Failure,
            FailureKind::Refused => ExitCode::Refused,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for hint in &self.hints {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}
