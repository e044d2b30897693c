//! `orca debug-worker` (hidden, for the crash tests): a worker whose
//! "agent" sleeps a random time. It loops claim → heartbeat while sleeping
//! → record the attempt → complete, and logs `worker.*` events so a test can
//! check the store's invariants afterwards. Store errors (a database that
//! restarts) are retried; a lost lease is logged and the task abandoned.

use std::future::Future;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use orca_store::{AttemptInfo, Lease, LeaseError, RunId, Store, StoreError};

use crate::command_error::{open_failure, store_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct DebugWorkerArgs {
    /// The store URL.
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
    /// The run to work on.
    #[arg(long)]
    run: String,
    /// This worker's name, as lease holder.
    #[arg(long)]
    worker: String,
    /// How long each task "works": `MIN..MAX` milliseconds.
    #[arg(long, value_parser = parse_range, default_value = "10..50")]
    sleep_ms: RangeInclusive<u64>,
    /// Lease time-to-live in milliseconds.
    #[arg(long, default_value_t = 2000)]
    ttl_ms: u64,
    /// Give up after the store stayed unusable this long (milliseconds).
    #[arg(long, default_value_t = 60_000)]
    retry_for_ms: u64,
    /// While "working", record an `agent.tool_use` event this often
    /// (milliseconds), as a real agent's calls would be: the dashboard's
    /// load bench streams them. 0: none.
    #[arg(long, default_value_t = 0)]
    tool_every_ms: u64,
}

fn parse_range(text: &str) -> Result<RangeInclusive<u64>, String> {
    let (min, max) = text.split_once("..").ok_or("expected MIN..MAX")?;
    let min: u64 = min.parse().map_err(|e| format!("MIN: {e}"))?;
    let max: u64 = max.parse().map_err(|e| format!("MAX: {e}"))?;
    if min > max {
        return Err("MIN must not exceed MAX".to_owned());
    }
    Ok(min..=max)
}

pub(crate) fn run(args: &DebugWorkerArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace = orca_workspace::Workspace::discover(args.store.as_deref())
        .map_err(|e| crate::command_error::workspace_failure(&e))?;
    let done = crate::runtime::runtime()?.block_on(work(args, workspace.store_url()))?;
    if out.is_json() {
        out.json(&serde_json::json!({ "worker": args.worker, "completed": done }));
    } else {
        out.text(format!("{}: completed {done} tasks", args.worker));
    }
    Ok(ExitCode::Success)
}

async fn work(args: &DebugWorkerArgs, url: &str) -> Result<usize, Failure> {
    let patience = Duration::from_millis(args.retry_for_ms);
    let store = open_patiently(url, patience).await?;
    let run = RunId::from(args.run.as_str());
    let worker = args.worker.as_str();
    let ttl = Duration::from_millis(args.ttl_ms);
    let host =
        nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    let pid = std::process::id();
    patiently(patience, || store.register_worker(worker, &host, pid))
        .await
        .map_err(|e| store_failure(&e))?;
    let mut completed = 0;
    let mut last_rescue: Option<Instant> = None;
    loop {
        if last_rescue.is_none_or(|at| at.elapsed() >= ttl / 2) {
            patiently(patience, || store.rescue_expired()).await.map_err(|e| store_failure(&e))?;
            last_rescue = Some(Instant::now());
        }
        let mut leases = patiently(patience, || store.claim(&run, worker, 1, ttl))
            .await
            .map_err(|e| store_failure(&e))?;
        let Some(lease) = leases.pop() else {
            let status = patiently(patience, || store.run_status(&run))
                .await
                .map_err(|e| store_failure(&e))?;
            if status.tasks.iter().all(|t| t.state.is_terminal()) {
                return Ok(completed);
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(10..40))).await;
            continue;
        };
        let started = serde_json::json!({ "worker": worker, "pid": pid });
        log(&store, &lease, "worker.started", &started, patience).await?;
        match run_attempt(&store, &lease, args, patience).await? {
            Ok(()) => {
                completed += 1;
                log(&store, &lease, "worker.completed", &started, patience).await?;
            }
            Err((op, error)) => {
                let lost = error.lease_lost();
                let payload = serde_json::json!({
                    "worker": worker,
                    "pid": pid,
                    "op": op,
                    "message": error.to_string(),
                    "holder": lost.and_then(|l| l.now.holder.clone()),
                    "current_attempt": lost.map(|l| l.now.attempt),
                });
                log(&store, &lease, "worker.lease_lost", &payload, patience).await?;
            }
        }
    }
}

/// Sleeps the "agent" time while heartbeating, records the attempt and
/// completes. `Ok(Err((op, error)))` when the lease was lost at `op`.
async fn run_attempt(
    store: &Store,
    lease: &Lease,
    args: &DebugWorkerArgs,
    patience: Duration,
) -> Result<Result<(), (&'static str, LeaseError)>, Failure> {
    let busy = Duration::from_millis(fastrand::u64(args.sleep_ms.clone()));
    let beat = Duration::from_millis(args.ttl_ms / 3).max(Duration::from_millis(1));
    let until = Instant::now() + busy;
    let every = (args.tool_every_ms > 0).then(|| Duration::from_millis(args.tool_every_ms));
    let mut next_beat = Instant::now() + beat;
    let mut next_tool = every.map(|every| Instant::now() + every);
    let mut calls = 0u64;
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let wake = next_tool.map_or(next_beat, |tool| tool.min(next_beat)).min(until);
        tokio::time::sleep(wake.saturating_duration_since(now)).await;
        let now = Instant::now();
        if let (Some(at), Some(every)) = (next_tool, every)
            && now >= at
        {
            calls += 1;
            let payload = serde_json::json!({
                "tool": "Edit",
                "summary": format!("src/file_{calls}.rs"),
                "input_tokens": calls * 1000,
                "output_tokens": calls * 50,
                "cost_usd": 0.0,
            });
            log(store, lease, "agent.tool_use", &payload, patience).await?;
            next_tool = Some(at + every);
        }
        if now >= next_beat {
            if let Err(error) = lease_op(patience, || store.heartbeat(lease)).await? {
                return Ok(Err(("heartbeat", error)));
            }
            next_beat = now + beat;
        }
    }
    let info = AttemptInfo {
        summary: Some(format!("slept {} ms", busy.as_millis())),
        ..AttemptInfo::default()
    };
    if let Err(error) = lease_op(patience, || store.record_attempt(lease, &info)).await? {
        return Ok(Err(("record_attempt", error)));
    }
    let result =
        serde_json::json!({ "worker": lease.worker, "pid": std::process::id() }).to_string();
    if let Err(error) = lease_op(patience, || store.complete(lease, &result)).await? {
        return Ok(Err(("complete", error)));
    }
    Ok(Ok(()))
}

async fn log(
    store: &Store,
    lease: &Lease,
    kind: &str,
    payload: &serde_json::Value,
    patience: Duration,
) -> Result<(), Failure> {
    let payload = payload.to_string();
    patiently(patience, || {
        store.append_event(&lease.run, Some(&lease.task), Some(lease.attempt), kind, &payload)
    })
    .await
    .map(|_| ())
    .map_err(|e| store_failure(&e))
}

async fn open_patiently(url: &str, patience: Duration) -> Result<Store, Failure> {
    let deadline = Instant::now() + patience;
    loop {
        match Store::open(url).await {
            Ok(store) => return Ok(store),
            Err(error) if Instant::now() < deadline => {
                tracing::warn!(%error, "store not available yet; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(open_failure(&error)),
        }
    }
}

/// Retries an operation while the store is unavailable (e.g. a database
/// restart), up to `patience`.
async fn patiently<T, F, Fut>(patience: Duration, mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + patience;
    loop {
        match op().await {
            Err(error @ StoreError::Database { .. }) if Instant::now() < deadline => {
                tracing::warn!(%error, "store operation failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

/// Like [`patiently`] for lease operations: `Ok(Err(..))` is a lost lease.
async fn lease_op<T, F, Fut>(
    patience: Duration,
    mut op: F,
) -> Result<Result<T, LeaseError>, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LeaseError>>,
{
    let deadline = Instant::now() + patience;
    loop {
        match op().await {
            Ok(value) => return Ok(Ok(value)),
            Err(error @ LeaseError::Lost(_)) => return Ok(Err(error)),
            Err(LeaseError::Store(error @ StoreError::Database { .. }))
                if Instant::now() < deadline =>
            {
                tracing::warn!(%error, "lease operation failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(LeaseError::Store(error)) => return Err(store_failure(&error)),
        }
    }
}
