//! Waiting for Ctrl-C or SIGTERM, for `orca model-server`. The handlers are
//! installed before the server announces its address, so a signal sent the
//! moment the address appears still stops it cleanly.

use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM handlers, installed and ready to wait on.
#[derive(Debug)]
pub struct StopSignals {
    runtime: Runtime,
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Installs the handlers: from now on SIGINT and SIGTERM no longer kill
    /// the process but end [`StopSignals::wait`].
    pub fn install() -> std::io::Result<StopSignals> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (interrupt, terminate) = runtime.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        Ok(StopSignals { runtime, interrupt, terminate })
    }

    /// Blocks until SIGINT or SIGTERM arrives (or arrived since `install`).
    pub fn wait(self) {
        let StopSignals { runtime, mut interrupt, mut terminate } = self;
        runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        });
    }
}
