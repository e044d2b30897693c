//! One request and its answer: read it, log it, pick the rule, and send
//! the reply, the fault, or nothing at all.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Method, Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::Api;
use crate::body::{Cut, ResponseBody};
use crate::conversation::Conversation;
use crate::log::{LoggedRequest, loggable_headers};
use crate::matching::Chosen;
use crate::render::{self, ErrorKind, Payload, Rendered, Turn};
use crate::script::{Fault, Reply, Usage};
use crate::server::Shared;

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// What the server does after logging the request.
enum Action {
    Respond(Rendered),
    Stall { duration: Option<Duration>, first: Option<render::SseEvent> },
    Disconnect,
}

/// Answers one request; an `Err` makes hyper drop the connection.
pub(crate) async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ResponseBody>, Cut> {
    let (mut entry, headers) = read(request, &shared).await?;
    let seq = entry.seq;
    let Some(api) = entry.api else {
        let rendered = answer_other(&mut entry);
        shared.record(entry);
        return Ok(respond(rendered, seq));
    };
    if !entry.body.is_object() {
        let message = "orca model server: the request body is not a JSON object";
        let rendered = render::error(Some(api), 400, ErrorKind::Status, message);
        entry.status = Some(400);
        entry.outcome = "body is not a JSON object".into();
        shared.record(entry);
        return Ok(respond(rendered, seq));
    }

    let mut conversation =
        Conversation::read(api, &entry.body, entry.path.ends_with(":streamGenerateContent"));
    if api == Api::Gemini && conversation.model.is_none() {
        conversation.model = Api::gemini_model(&entry.path).map(str::to_string);
    }
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
    entry.status = match &action {
        Action::Respond(rendered) => Some(rendered.status),
        Action::Stall { first: Some(_), .. } => Some(200),
        Action::Stall { first: None, .. } | Action::Disconnect => None,
    };
    // Logged before any delay or stall, so a test sees a stalled request.
    shared.record(entry);

    if !delay.is_zero() {
        shared.pause(Some(delay)).await;
    }
    perform(action, shared, seq).await
}

/// Reads the request into a log entry (the body in full) and its headers.
async fn read(
    request: Request<Incoming>,
    shared: &Shared,
) -> Result<(LoggedRequest, HeaderMap), Cut> {
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
    let entry = LoggedRequest {
        seq: shared.seq.fetch_add(1, Ordering::Relaxed) + 1,
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
    Ok((entry, headers))
}

/// A request for no model API: Claude Code's `HEAD /` preconnect, or a 404.
fn answer_other(entry: &mut LoggedRequest) -> Rendered {
    let root = entry.path == "/" && matches!(entry.method.as_str(), "HEAD" | "GET");
    let rendered = if root {
        entry.outcome = "root".into();
        Rendered { status: 200, headers: Vec::new(), payload: Payload::Json(Value::Null) }
    } else {
        entry.outcome = "not found".into();
        let message = format!("orca model server: no API at {} {}", entry.method, entry.path);
        render::error(None, 404, ErrorKind::Status, &message)
    };
    entry.status = Some(rendered.status);
    rendered
}

/// Carries out the chosen action.
async fn perform(
    action: Action,
    shared: Arc<Shared>,
    seq: u64,
) -> Result<Response<ResponseBody>, Cut> {
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
    script_usage: Usage,
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
