//! The HTTP server: binds 127.0.0.1, runs on its own thread with its own
//! tokio runtime (so sync tests and async tests alike can use it), answers
//! each request from the script, and logs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::api::Api;
use crate::body::{Cut, ResponseBody};
use crate::conversation::Conversation;
use crate::log::{LoggedRequest, RequestLog, loggable_headers};
use crate::matching::{Chosen, Rulebook};
use crate::render::{self, ErrorKind, Payload, Rendered, Turn};
use crate::script::{Fault, Reply, Script};

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

    /// Blocks until the process gets SIGINT (Ctrl-C) or SIGTERM.
    pub fn wait_for_termination_signal(&self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result,
                _ = terminate.recv() => Ok(()),
            }
        })
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
struct Shared {
    rulebook: Mutex<Rulebook>,
    log: Mutex<RequestLog>,
    /// Signalled after each log entry (for [`ModelServerHandle::wait_for`]).
    logged: Condvar,
    seq: AtomicU64,
    stopped: watch::Receiver<bool>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, RequestLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, entry: LoggedRequest) {
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
    async fn pause(&self, duration: Option<Duration>) {
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
    let service = service_fn(move |request| answer(request, Arc::clone(&shared)));
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "model server connection ended with an error");
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// What the server does after logging the request.
enum Action {
    Respond(Rendered),
    Stall { duration: Option<Duration>, first: Option<render::SseEvent> },
    Disconnect,
}

async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ResponseBody>, Cut> {
    let unix_ms = u64::try_from(unix_now().as_millis()).unwrap_or(u64::MAX);
    let method = request.method().clone();
    // A proxy request (CONNECT host:443, or an absolute URI) keeps its whole
    // target, so a test using the server as a proxy trap sees where it went.
    let path = if method == Method::CONNECT || request.uri().authority().is_some() {
        request.uri().to_string()
    } else {
        request.uri().path().to_string()
    };
    let query = request.uri().query().map(str::to_string);
    let headers = request.headers().clone();
    let api = if method == Method::POST { Api::from_path(&path) } else { None };
    let bytes = request.into_body().collect().await.map_err(|_| Cut)?.to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let mut entry = LoggedRequest {
        seq,
        unix_ms,
        method: method.to_string(),
        path,
        query,
        api,
        headers: loggable_headers(&headers),
        body,
        turn: None,
        tool_result: None,
        rule_index: None,
        rule: None,
        status: None,
        outcome: String::new(),
    };

    let Some(api) = api else {
        let root = entry.path == "/" && (method == Method::HEAD || method == Method::GET);
        let rendered = if root {
            entry.outcome = "root".into();
            Rendered { status: 200, headers: Vec::new(), payload: Payload::Json(Value::Null) }
        } else {
            entry.outcome = "not found".into();
            let message = format!("orca model server: no API at {method} {}", entry.path);
            render::error(None, 404, ErrorKind::Status, &message)
        };
        entry.status = Some(rendered.status);
        shared.record(entry);
        return Ok(respond(rendered, seq));
    };
    if !entry.body.is_object() {
        let rendered = render::error(
            Some(api),
            400,
            ErrorKind::Status,
            "orca model server: the request body is not a JSON object",
        );
        entry.status = Some(400);
        entry.outcome = "body is not a JSON object".into();
        shared.record(entry);
        return Ok(respond(rendered, seq));
    }

    let conversation =
        Conversation::read(api, &entry.body, entry.path.ends_with(":streamGenerateContent"));
    entry.turn = Some(conversation.turn);
    entry.tool_result = Some(conversation.tool_result);
    let (chosen, script_usage) = {
        let mut rulebook = shared.rulebook.lock().unwrap_or_else(PoisonError::into_inner);
        (rulebook.choose(&conversation, &headers), rulebook.script().usage)
    };
    let delay = chosen.as_ref().map_or(Duration::ZERO, |chosen| chosen.rule.delay);
    let (action, outcome) = decide(chosen.as_ref(), &conversation, script_usage, seq);
    if let Some(chosen) = &chosen {
        entry.rule_index = Some(chosen.index);
        entry.rule = Some(chosen.name.clone());
    }
    entry.outcome = outcome;
    if let Action::Respond(rendered) = &action {
        entry.status = Some(rendered.status);
    } else if let Action::Stall { first: Some(_), .. } = &action {
        entry.status = Some(200);
    }
    shared.record(entry);

    if !delay.is_zero() {
        shared.pause(Some(delay)).await;
    }
    match action {
        Action::Respond(rendered) => Ok(respond(rendered, seq)),
        Action::Disconnect => Err(Cut),
        Action::Stall { duration, first: None } => {
            shared.pause(duration).await;
            Err(Cut)
        }
        Action::Stall { duration, first: Some(first) } => {
            let (sender, receiver) = mpsc::channel(2);
            let _ = sender.try_send(Ok(first.frame()));
            tokio::spawn(async move {
                shared.pause(duration).await;
                let _ = sender.send(Err(Cut)).await;
            });
            Ok(build(200, &[], "text/event-stream", ResponseBody::Stream(receiver), seq))
        }
    }
}

/// Chooses the action for a request and describes it for the log.
fn decide(
    chosen: Option<&Chosen>,
    conversation: &Conversation,
    script_usage: crate::script::Usage,
    seq: u64,
) -> (Action, String) {
    let api = conversation.api;
    let Some(chosen) = chosen else {
        let message = format!(
            "orca model server: no script rule matched this request (api {api}, turn {}, \
             tool_result {}, model {}); see the request log",
            conversation.turn,
            conversation.tool_result,
            conversation.model.as_deref().unwrap_or("-"),
        );
        let rendered = render::error(Some(api), 400, ErrorKind::Status, &message);
        return (Action::Respond(rendered), "no rule matched".into());
    };
    let turn = Turn { conversation, usage: chosen.rule.usage.unwrap_or(script_usage), seq };
    let fault = match &chosen.rule.reply {
        Reply::Message { text, tools } => {
            return match render::message(&turn, text.as_deref(), tools) {
                Ok(rendered) => (Action::Respond(rendered), "message".into()),
                Err(no_form) => {
                    let message = format!("orca model server: {}: {no_form}", chosen.name);
                    let rendered = render::error(Some(api), 400, ErrorKind::Status, &message);
                    (Action::Respond(rendered), format!("cannot render: {no_form}"))
                }
            };
        }
        Reply::Fault(fault) => fault,
    };
    let scripted = |what: &str| format!("orca model server: scripted {what}");
    let with_retry_after = |mut rendered: Rendered, seconds: Option<u64>| {
        if let Some(seconds) = seconds {
            rendered.headers.push(("retry-after".into(), seconds.to_string()));
        }
        rendered
    };
    let (rendered, outcome) = match fault {
        Fault::Http { status, message, retry_after, headers } => {
            let message = message.clone().unwrap_or_else(|| scripted(&format!("HTTP {status}")));
            let mut rendered = render::error(Some(api), *status, ErrorKind::Status, &message);
            rendered.headers.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            (with_retry_after(rendered, *retry_after), format!("fault http {status}"))
        }
        Fault::RateLimit { retry_after, message } => {
            let message = message.clone().unwrap_or_else(|| scripted("rate limit"));
            let rendered = render::error(Some(api), 429, ErrorKind::RateLimit, &message);
            (with_retry_after(rendered, Some(retry_after.unwrap_or(1))), "fault rate_limit".into())
        }
        Fault::ServerError { message } => {
            let message = message.clone().unwrap_or_else(|| scripted("server error"));
            (
                render::error(Some(api), 500, ErrorKind::Status, &message),
                "fault server_error".into(),
            )
        }
        Fault::Overloaded { message } => {
            let message = message.clone().unwrap_or_else(|| "Overloaded".into());
            // 529 is Anthropic's own status; the others say 503.
            let status = if api == Api::Anthropic { 529 } else { 503 };
            let rendered = render::error(Some(api), status, ErrorKind::Overloaded, &message);
            (rendered, "fault overloaded".into())
        }
        Fault::UsageLimit { resets_at, resets_in } => {
            let now = unix_now().as_secs();
            let resets_at = resets_at.unwrap_or_else(|| now + resets_in.unwrap_or(3600));
            (render::usage_limit(api, now, resets_at), "fault usage_limit".into())
        }
        Fault::Stall { seconds, mid_stream } => {
            let first = mid_stream.then(|| render::stream_start(&turn));
            let duration = seconds.map(Duration::from_secs);
            return (Action::Stall { duration, first }, "fault stall".into());
        }
        Fault::Disconnect => return (Action::Disconnect, "fault disconnect".into()),
    };
    (Action::Respond(rendered), outcome)
}

fn respond(rendered: Rendered, seq: u64) -> Response<ResponseBody> {
    match rendered.payload {
        Payload::Json(Value::Null) => {
            build(rendered.status, &rendered.headers, "text/plain", ResponseBody::empty(), seq)
        }
        Payload::Json(value) => {
            let body = ResponseBody::full(value.to_string());
            build(rendered.status, &rendered.headers, "application/json", body, seq)
        }
        Payload::Sse(events) => {
            // Every frame is ready: fill the channel and drop the sender so
            // the stream ends after the last one.
            let (sender, receiver) = mpsc::channel(events.len().max(1));
            for event in &events {
                let _ = sender.try_send(Ok(event.frame()));
            }
            drop(sender);
            let body = ResponseBody::Stream(receiver);
            build(rendered.status, &rendered.headers, "text/event-stream", body, seq)
        }
    }
}

fn build(
    status: u16,
    headers: &[(String, String)],
    content_type: &str,
    body: ResponseBody,
    seq: u64,
) -> Response<ResponseBody> {
    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .header("request-id", format!("req_orca_{seq}"))
        .header("x-request-id", format!("req_orca_{seq}"));
    if content_type == "text/event-stream" {
        builder = builder.header("cache-control", "no-cache");
    }
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(body).unwrap_or_else(|error| {
        let mut response = Response::new(ResponseBody::full(Bytes::from(format!(
            "orca model server: the script's response headers are invalid: {error}"
        ))));
        *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}
