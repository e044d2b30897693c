//! The HTTP server: binds 127.0.0.1, runs on its own thread with its own
//! tokio runtime (so sync tests and async tests alike can use it), answers
//! each request from the script, and logs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::exchange;
use crate::log::{LoggedRequest, RequestLog};
use crate::matching::Rulebook;
use crate::script::Script;

/// The scripted model server. Start it with [`ModelServer::start`].
#[derive(Debug)]
pub struct ModelServer;

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Also append every logged request to this JSONL file.
    pub log_file: Option<PathBuf>,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request log file could not be opened.
    #[error("cannot open the request log {path}")]
    LogFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server's thread or runtime could not be created.
    #[error("cannot start the server thread")]
    Thread(#[source] std::io::Error),
}

impl ModelServer {
    /// Starts a server for `script` on a free port of 127.0.0.1.
    pub fn start(script: Script) -> Result<ModelServerHandle, StartError> {
        ModelServer::start_with(script, ServerOptions::default())
    }

    /// Starts a server for `script` with `options`.
    pub fn start_with(
        script: Script,
        options: ServerOptions,
    ) -> Result<ModelServerHandle, StartError> {
        let port = options.port;
        let bind = |source| StartError::Bind { port, source };
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let log = match &options.log_file {
            Some(path) => RequestLog::with_file(path)
                .map_err(|source| StartError::LogFile { path: path.clone(), source })?,
            None => RequestLog::default(),
        };
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            rulebook: Mutex::new(Rulebook::new(script)),
            log: Mutex::new(log),
            logged: Condvar::new(),
            seq: AtomicU64::new(0),
            stopped,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Thread)?;
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("orca-model-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(listener, serving).await,
                        Err(error) => tracing::error!(%error, "model server cannot listen"),
                    }
                });
            })
            .map_err(StartError::Thread)?;
        tracing::debug!(%addr, "model server listening");
        Ok(ModelServerHandle { addr, shared, stop, thread: Some(thread) })
    }
}

/// A running server. Dropping it shuts the server down.
#[derive(Debug)]
pub struct ModelServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ModelServerHandle {
    /// The address the server listens on (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: Claude Code's `ANTHROPIC_BASE_URL`, Gemini
    /// CLI's `GOOGLE_GEMINI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: Codex's provider `base_url`, opencode's `baseURL`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log().entries().to_vec()
    }

    /// The requests that spoke a model API (no `HEAD /`, no 404s).
    pub fn model_requests(&self) -> Vec<LoggedRequest> {
        self.shared.log().entries().iter().filter(|r| r.api.is_some()).cloned().collect()
    }

    /// Waits until `done` holds for the log, or `timeout` passes. Returns the
    /// log either way, and whether `done` held.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[LoggedRequest]) -> bool,
    ) -> (bool, Vec<LoggedRequest>) {
        let deadline = Instant::now() + timeout;
        let mut log = self.shared.log();
        loop {
            if done(log.entries()) {
                return (true, log.entries().to_vec());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (false, log.entries().to_vec());
            }
            log = self
                .shared
                .logged
                .wait_timeout(log, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the server: open connections (stalls included) are cut.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the model server thread panicked");
        }
    }
}

impl Drop for ModelServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// State shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) rulebook: Mutex<Rulebook>,
    log: Mutex<RequestLog>,
    /// Signalled after each log entry (for [`ModelServerHandle::wait_for`]).
    logged: Condvar,
    /// Numbers requests in arrival order.
    pub(crate) seq: AtomicU64,
    stopped: watch::Receiver<bool>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, RequestLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record(&self, entry: LoggedRequest) {
        tracing::debug!(
            seq = entry.seq,
            path = %entry.path,
            rule = entry.rule.as_deref().unwrap_or("-"),
            outcome = %entry.outcome,
            "model server request"
        );
        self.log().push(entry);
        self.logged.notify_all();
    }

    /// Sleeps for `duration` (forever if none) or until the server stops.
    pub(crate) async fn pause(&self, duration: Option<Duration>) {
        let mut stopped = self.stopped.clone();
        let stop = stopped.wait_for(|stopped| *stopped);
        match duration {
            Some(duration) => {
                tokio::select! {
                    () = tokio::time::sleep(duration) => {}
                    _ = stop => {}
                }
            }
            None => {
                let _ = stop.await;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    let mut stopped = shared.stopped.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(serve_connection(stream, shared));
                }
                Err(error) => {
                    tracing::warn!(%error, "model server accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped.wait_for(|stopped| *stopped) => break,
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |request| exchange::answer(request, Arc::clone(&shared)));
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "model server connection ended with an error");
    }
}
