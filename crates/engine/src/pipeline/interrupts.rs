//! The user's interrupts (Ctrl-C, SIGTERM) as a count every stage can
//! watch: the first asks the stage to stop gracefully, later ones to kill.

use tokio::sync::{mpsc, watch};

/// How many interrupts have arrived; cheap to clone, one per listener.
#[derive(Debug, Clone)]
pub struct Interrupts {
    count: watch::Receiver<u32>,
    seen: u32,
}

impl Interrupts {
    /// Counts the messages of `raw` (one per Ctrl-C) from now on.
    pub(crate) fn counting(mut raw: mpsc::UnboundedReceiver<()>) -> Interrupts {
        let (tx, rx) = watch::channel(0);
        tokio::spawn(async move {
            while raw.recv().await.is_some() {
                tx.send_modify(|count| *count += 1);
            }
        });
        Interrupts { count: rx, seen: 0 }
    }

    /// Interrupts so far.
    pub fn count(&self) -> u32 {
        *self.count.borrow()
    }

    /// Waits for an interrupt this listener has not seen yet and returns
    /// the count so far; never returns when none comes.
    pub async fn next(&mut self) -> u32 {
        loop {
            let count = *self.count.borrow_and_update();
            if count > self.seen {
                self.seen = count;
                return count;
            }
            if self.count.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
