//! Why a run's branch did not reach its git remote (docs/scale-out.md):
//! an attempt branch a worker pushes, the integration branch the
//! coordinator pushes. The reason goes into an attempt's failure or the
//! run's halt, so it reads the same from either side.

use orca_git::{GitError, PushError};

/// Why a branch is not on the remote.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotPushed {
    /// The remote said no (a hook, a protected or diverged branch):
    /// `reason` is what it said.
    #[error("the remote refused it: {reason}")]
    Refused { reason: String },
    /// git itself failed (the remote unreachable, a credential missing).
    #[error(transparent)]
    Git(GitError),
}

impl From<PushError> for NotPushed {
    fn from(error: PushError) -> Self {
        match error {
            PushError::Rejected { reason, .. } => NotPushed::Refused { reason },
            PushError::Git(error) => NotPushed::Git(error),
        }
    }
}
