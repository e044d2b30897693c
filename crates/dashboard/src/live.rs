//! A run's event log as server-sent events. Each open page follows the
//! log from the last sequence number it has (`?after=`, or the browser's
//! `Last-Event-ID` when it reconnects): one query for the rows after it per
//! poll (and a short window behind it), so the cost is the new events,
//! never the run's size.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use orca_store::{RunId, Store};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::App;

/// Events read per query; a page far behind catches up in pages this big.
const PAGE: usize = 500;

#[derive(Debug, Deserialize)]
pub(crate) struct After {
    after: Option<i64>,
}

pub(crate) async fn events(
    State(app): State<Arc<App>>,
    Path(run): Path<String>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> impl axum::response::IntoResponse {
    let resumed = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i64>().ok());
    let after = resumed.or(query.after).unwrap_or(0);
    // A small buffer: a page that reads slowly slows its own follower,
    // nothing else, and memory stays bounded.
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(follow(app.source.store().clone(), RunId::from(run.as_str()), after, app, tx));
    Sse::new(Events(rx)).keep_alive(KeepAlive::default())
}

/// How long each poll keeps looking behind the newest event sent. On
/// PostgreSQL a sequence number is taken when an event is written, and
/// concurrent transactions may commit out of that order: an event numbered
/// below one already sent can appear later (docs/store.md). A poll reads
/// again from the newest number it had seen this long ago; any number
/// taken after that is above it, so an event that commits within this
/// time of taking its number is never missed, however many others commit
/// first (a window counted in events was, on a loaded machine). Store
/// writes are single statements: they commit within milliseconds. On
/// SQLite writes are serial and the window only costs rows already sent.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

/// Sends the run's events after `after` until the page goes away.
async fn follow(
    store: Store,
    run: RunId,
    after: i64,
    app: Arc<App>,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    // Sent sequence numbers above `floor`; nothing at or below it is sent.
    let mut sent: BTreeSet<i64> = BTreeSet::new();
    let mut high = after;
    let mut floor = after;
    // The newest number sent, as it was at each poll, oldest first.
    let mut marks: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut from = after;
    loop {
        let mut full = false;
        match store.events(&run, from, PAGE).await {
            Ok(events) => {
                full = events.len() == PAGE;
                if let Some(last) = events.last() {
                    from = last.seq;
                }
                for event in events {
                    if event.seq <= floor || !sent.insert(event.seq) {
                        continue;
                    }
                    high = high.max(event.seq);
                    if tx.send(Ok(as_sse(&event))).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(%run, %error, "cannot read the run's events"),
        }
        if full {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(app.options.poll) => {}
            () = tx.closed() => return,
        }
        let now = Instant::now();
        marks.push_back((now, high));
        while let Some(&(at, seen)) = marks.front() {
            if now.duration_since(at) <= COMMIT_PATIENCE {
                break;
            }
            floor = seen;
            marks.pop_front();
        }
        sent = sent.split_off(&(floor + 1));
        from = floor;
    }
}

/// The page's view of one stored event.
pub(crate) fn event_json(event: &orca_store::Event) -> serde_json::Value {
    let payload: serde_json::Value =
        serde_json::from_str(&event.payload_json).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "seq": event.seq,
        "task": event.task,
        "attempt": event.attempt,
        "kind": event.kind,
        "payload": payload,
        "at_ms": event.at_ms,
    })
}

fn as_sse(event: &orca_store::Event) -> Event {
    Event::default().id(event.seq.to_string()).data(event_json(event).to_string())
}

/// The follower's channel as the stream axum sends.
pub(crate) struct Events(mpsc::Receiver<Result<Event, Infallible>>);

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
