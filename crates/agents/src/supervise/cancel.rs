//! A shared stop request with two levels: the first asks agents to stop,
//! the second kills them (Ctrl-C, then Ctrl-C again).

use std::sync::Arc;

use tokio::sync::watch;

/// How firmly the caller wants the agents gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    Running,
    /// Send the stop signal, SIGKILL after the grace period.
    Stop,
    /// SIGKILL the process group now.
    Kill,
}

/// Cloneable; every clone sees the same level. One token can serve many
/// agents (the scheduler hands the same token to all of them).
#[derive(Debug, Clone)]
pub struct CancelToken {
    level: Arc<watch::Sender<CancelLevel>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        CancelToken { level: Arc::new(watch::Sender::new(CancelLevel::Running)) }
    }

    pub fn level(&self) -> CancelLevel {
        *self.level.borrow()
    }

    /// Ask for a graceful stop.
    pub fn stop(&self) {
        self.raise(CancelLevel::Stop);
    }

    /// Kill now.
    pub fn kill(&self) {
        self.raise(CancelLevel::Kill);
    }

    /// One step up: running → stop → kill. Returns the new level.
    pub fn escalate(&self) -> CancelLevel {
        let next = match self.level() {
            CancelLevel::Running => CancelLevel::Stop,
            CancelLevel::Stop | CancelLevel::Kill => CancelLevel::Kill,
        };
        self.raise(next);
        next
    }

    /// Waits until a stop (or a kill) is asked; at once if it already was.
    pub async fn stopped(&self) {
        let mut level = self.level.subscribe();
        // The sender lives in `self`: the wait ends only by a raise.
        let _ = level.wait_for(|level| *level != CancelLevel::Running).await;
    }

    fn raise(&self, to: CancelLevel) {
        self.level.send_if_modified(|level| {
            let raised = to > *level;
            if raised {
                *level = to;
            }
            raised
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<CancelLevel> {
        self.level.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalates_and_never_goes_back() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert_eq!(clone.escalate(), CancelLevel::Stop);
        assert_eq!(token.level(), CancelLevel::Stop);
        token.kill();
        token.stop();
        assert_eq!(clone.level(), CancelLevel::Kill);
        assert_eq!(token.escalate(), CancelLevel::Kill);
    }

    #[tokio::test]
    async fn stopped_waits_for_a_stop() {
        let token = CancelToken::new();
        let waiting = tokio::spawn({
            let token = token.clone();
            async move { token.stopped().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        token.stop();
        waiting.await.unwrap();
        // Already stopped: returns at once.
        token.stopped().await;
    }
}
