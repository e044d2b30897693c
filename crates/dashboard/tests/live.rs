//! The event stream of a run's page, on SQLite and PostgreSQL: every event
//! exactly once, from the start (in pages), live while writers append
//! concurrently (PostgreSQL may commit sequence numbers out of order), and
//! from `Last-Event-ID` after a reconnect.

use std::collections::BTreeSet;
use std::time::Duration;

use orca_dashboard::{Dashboard, DashboardOptions, Source};
use orca_queue::{Queue, QueueSettings};
use orca_store::{NewRun, NewTask, RunId, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn serve(store: &Store) -> (String, tokio::sync::oneshot::Sender<()>) {
    let source =
        Source { queue: Queue::new(store.clone(), QueueSettings::default()), layout: None };
    let options = DashboardOptions {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        token: None,
        allow_actions: false,
        poll: Duration::from_millis(20),
    };
    let dashboard = Dashboard::bind(source, options).await.unwrap();
    let addr = dashboard.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(dashboard.serve(async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Reads the stream's event ids until there are `count`.
async fn ids(addr: &str, run: &RunId, last_event_id: Option<i64>, count: usize) -> Vec<i64> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    let request = format!(
        "GET /api/runs/{run}/events HTTP/1.1\r\nHost: {addr}\r\n{resume}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    let mut ids = Vec::new();
    let read = async {
        while ids.len() < count {
            let line = lines.next_line().await.unwrap().expect("the stream goes on");
            if let Some(id) = line.strip_prefix("id: ") {
                ids.push(id.trim().parse::<i64>().unwrap());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the events arrive");
    ids
}

async fn check(store: Store) {
    let task =
        NewTask { key: "a".into(), max_attempts: 1, spec_json: "{}".into(), ..NewTask::default() };
    let run = store
        .create_run(&NewRun { title: "events".into(), tasks: vec![task], ..NewRun::default() })
        .await
        .unwrap();
    // More than one page (500) before anyone watches.
    for n in 0..1200 {
        let payload = format!("{{\"n\":{n}}}");
        store.append_event(&run, Some("a"), Some(1), "agent.text", &payload).await.unwrap();
    }
    let before = store.events(&run, 0, 10_000).await.unwrap().len();
    let (addr, _stop) = serve(&store).await;

    // Writers append while the page follows.
    let total = before + 8 * 50;
    let follower = {
        let (addr, run) = (addr.clone(), run.clone());
        tokio::spawn(async move { ids(&addr, &run, None, total).await })
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, run) = (store.clone(), run.clone());
            tokio::spawn(async move {
                for n in 0..50 {
                    let payload = format!("{{\"w\":{w},\"n\":{n}}}");
                    store
                        .append_event(&run, Some("a"), Some(1), "agent.tool_use", &payload)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let got = follower.await.unwrap();
    let stored: Vec<i64> =
        store.events(&run, 0, 10_000).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(stored.len(), total);
    let unique: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no event twice");
    assert_eq!(unique, stored.iter().copied().collect::<BTreeSet<_>>(), "every event");
    assert!(got[..before].windows(2).all(|w| w[0] < w[1]), "the backlog in order");

    // A browser reconnecting sends the last id it got.
    let from = stored[before + 10];
    let resumed = ids(&addr, &run, Some(from), total - before - 11).await;
    assert_eq!(resumed[0], stored[before + 11]);
    assert!(resumed.iter().all(|id| *id > from));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_every_event_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("orca.db").display());
    check(Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_every_event_once_on_postgres() {
    let url = orca_test_postgres::shared().create_database();
    check(Store::open(&url).await.unwrap()).await;
}
