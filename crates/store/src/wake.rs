//! Waking whoever waits for work, instead of having them poll.
//!
//! On PostgreSQL the statements that make work appear notify a channel at
//! commit (see `lease_sql`): `orca_ready` when tasks of a run became ready,
//! `orca_verified` when a worker submitted an attempt. A [`Wakeup`] listens
//! on its own connection; a worker or a coordinator waits on it with a
//! timeout and polls the store when woken or when the time is up, so a
//! lost notification (a dropped connection, work that appears without one,
//! like a retry's backoff running out) costs at most one poll interval.
//! SQLite has no notifications (and one machine): waiting is sleeping.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::Notify;

use crate::db::Pool;
use crate::store::Store;

/// Which work a [`Wakeup`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Tasks became ready to claim (workers wait for these).
    Ready,
    /// An attempt was submitted as verified (the coordinator waits).
    Verified,
}

impl Wake {
    fn channel(self) -> &'static str {
        match self {
            Wake::Ready => "orca_ready",
            Wake::Verified => "orca_verified",
        }
    }
}

/// Waits until the store says work appeared, or a timeout. Notifications
/// that arrive while nobody waits are kept as one: the next wait returns
/// at once. Dropping it closes its connection.
#[derive(Debug)]
pub struct Wakeup {
    told: Arc<Notify>,
    listening: Option<tokio::task::JoinHandle<()>>,
}

impl Wakeup {
    /// Waits until told or until `timeout` passes; returns whether it was
    /// told. Either way the caller looks for work next.
    pub async fn wait(&self, timeout: Duration) -> bool {
        if self.listening.is_none() {
            tokio::time::sleep(timeout).await;
            return false;
        }
        tokio::time::timeout(timeout, self.told.notified()).await.is_ok()
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(listening) = &self.listening {
            listening.abort();
        }
    }
}

/// After the listening connection fails, this long before it connects again
/// (the waiter keeps polling on its timeout meanwhile).
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

impl Store {
    /// A [`Wakeup`] for `what`. On PostgreSQL it listens on a connection of
    /// its own (outside the store's pool, so waiting never takes a
    /// connection the store's work needs); connecting happens in the
    /// background and is retried, so this never fails and never blocks.
    pub fn wakeup(&self, what: Wake) -> Wakeup {
        let told = Arc::new(Notify::new());
        let Pool::Postgres(pool) = &self.pool else {
            return Wakeup { told, listening: None };
        };
        let options = pool.connect_options().as_ref().clone();
        let listening = tokio::spawn({
            let told = told.clone();
            async move {
                loop {
                    let pool = PgPoolOptions::new()
                        .max_connections(1)
                        .max_lifetime(None)
                        .idle_timeout(None)
                        .connect_lazy_with(options.clone());
                    let Err(error) = listen(&pool, what, &told).await;
                    tracing::debug!(%error, channel = what.channel(), "listening for work failed; polling until it connects again");
                    pool.close().await;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        });
        Wakeup { told, listening: Some(listening) }
    }
}

/// Listens on `what`'s channel and tells `told` of every notification;
/// returns only when the connection fails.
async fn listen(
    pool: &sqlx::PgPool,
    what: Wake,
    told: &Notify,
) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(what.channel()).await?;
    // Work may have appeared before the LISTEN took effect: look once.
    told.notify_one();
    loop {
        listener.recv().await?;
        told.notify_one();
    }
}
