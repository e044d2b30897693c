//! What the queue takes from `.orca/config.toml`.

use std::time::Duration;

use orca_config::Config;
use orca_store::{RepoRef, RetryPolicy};

/// The knobs of the session queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// How long a session's lease lasts without a heartbeat (`[lease] session_ttl`).
    pub session_ttl: Duration,
    /// How a failed task is retried (`[limits] retry_backoff_base/max`).
    pub retry: RetryPolicy,
    /// Tries per task before it fails for good (`[run] max_attempts`).
    pub max_attempts: u32,
    /// The repository the sessions work in: runs loaded here record it,
    /// and a session picks among its runs only (None: every run).
    pub repo: Option<RepoRef>,
    /// Also pick runs recorded before runs carried their repository (the
    /// repository's own store).
    pub legacy_runs: bool,
}

impl QueueSettings {
    /// The settings a repository's configuration asks for.
    pub fn from_config(config: &Config) -> QueueSettings {
        QueueSettings {
            session_ttl: config.lease.session_ttl,
            retry: RetryPolicy {
                base: config.limits.retry_backoff_base,
                max: config.limits.retry_backoff_max,
                ..RetryPolicy::default()
            },
            max_attempts: config.run.max_attempts.max(1),
            repo: None,
            legacy_runs: true,
        }
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings::from_config(&Config::default())
    }
}
