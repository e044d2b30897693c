//! Keeping this worker's leases and its entry in the store alive, and
//! what its running attempts spent so far written where the coordinator
//! counts the run's budget.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use orca_agents::Usage;
use orca_store::{AttemptInfo, LeaseError, RunId, Store};

use super::{IDLE_POLL, Running, Worker, WorkerEvent};
use crate::control::{CANCEL, Control, STOP_ATTEMPTS};
use crate::excerpt::shorten;

/// How often a running attempt's spending so far is written to the store.
const LIVE_SPEND_EVERY: Duration = Duration::from_millis(500);

impl Worker {
    /// What attempt `attempt` in `slot` spent so far: written to its
    /// record, where the coordinator counts the run's budget, as it grows,
    /// at most once a LIVE_SPEND_EVERY (the rest at the next heartbeat, all
    /// of it when the attempt ends).
    pub(super) async fn spent_so_far(
        &mut self,
        slot: usize,
        attempt: i64,
        usage: &Usage,
        cost_usd: Option<f64>,
    ) {
        let Some(running) =
            self.running.get_mut(&slot).filter(|r| r.lease.attempt == attempt && !r.lost)
        else {
            return;
        };
        running.spend_pending = Some(serde_json::json!({
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            "cost_usd": cost_usd,
        }));
        if running.spend_written.is_none_or(|at| at.elapsed() >= LIVE_SPEND_EVERY) {
            write_spend(&self.store, running).await;
        }
    }

    /// Stops the attempts of runs whose coordinator asked it to (the run's
    /// budget spent with `on_budget = "stop"`), and each attempt someone
    /// cancelled (`orca dashboard`), as the coordinator stops its own:
    /// their work committed and pushed, their tasks handed back without
    /// spending a try. Two reads per run with attempts here, of the part
    /// of its log written since the oldest of them started.
    pub(super) async fn stop_what_runs_ask_to(&mut self) {
        let mut oldest: HashMap<RunId, i64> = HashMap::new();
        for running in self.running.values().filter(|r| !r.lost && r.stopped_by.is_none()) {
            let seq = oldest.entry(running.run.clone()).or_insert(running.events_before);
            *seq = (*seq).min(running.events_before);
        }
        for (run, after) in oldest {
            self.cancel_what_was_cancelled(&run, after).await;
            let request = match self.store.newest_event_after(&run, after, STOP_ATTEMPTS).await {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                // Asked again at the next heartbeat.
                Err(error) => {
                    tracing::warn!(%run, %error, "cannot read the run's requests");
                    continue;
                }
            };
            let reason = serde_json::from_str::<serde_json::Value>(&request.payload_json)
                .ok()
                .and_then(|payload| payload["reason"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "the run's coordinator stopped its attempts".to_owned());
            let mut stopped = 0;
            for running in self.running.values_mut() {
                if running.run == run
                    && !running.lost
                    && running.stopped_by.is_none()
                    && running.events_before < request.seq
                {
                    running.stopped_by = Some(reason.clone());
                    running.cancel.stop();
                    stopped += 1;
                }
            }
            if stopped > 0 {
                let _ = self.events.send(WorkerEvent::RunStopped {
                    run: run.to_string(),
                    reason: shorten(&reason, 300),
                    attempts: stopped,
                });
            }
        }
    }

    /// Stops each attempt of `run` here that a cancel request in its log
    /// after `after` names, and records that it did (`attempt.cancelled`).
    async fn cancel_what_was_cancelled(&mut self, run: &RunId, after: i64) {
        let requests = match self.store.events_of_kind_after(run, after, CANCEL, 1000).await {
            Ok(requests) => requests,
            // Read again at the next heartbeat.
            Err(error) => {
                tracing::warn!(%run, %error, "cannot read the run's cancel requests");
                return;
            }
        };
        for request in requests {
            let Some(Control::Cancel { task, attempt }) = Control::from_event(&request) else {
                continue;
            };
            let Some(running) = self.running.values_mut().find(|r| {
                r.run == *run
                    && r.lease.task == task
                    && r.lease.attempt == attempt
                    && !r.lost
                    && r.stopped_by.is_none()
            }) else {
                continue;
            };
            let by = serde_json::from_str::<serde_json::Value>(&request.payload_json)
                .ok()
                .and_then(|payload| payload["by"].as_str().map(str::to_owned))
                .unwrap_or_default();
            running.stopped_by = Some(if by.is_empty() {
                "cancelled".to_owned()
            } else {
                format!("cancelled by {}", shorten(&by, 100))
            });
            running.cancel.stop();
            tracing::info!(%run, %task, attempt, %by, "cancelling an attempt on request");
            let payload =
                serde_json::json!({ "by": by, "request": request.seq, "worker": self.request.name })
                    .to_string();
            let recorded = self
                .store
                .append_event(run, Some(&task), Some(attempt), "attempt.cancelled", &payload)
                .await;
            if let Err(error) = recorded {
                tracing::warn!(%error, "cannot record the cancelled attempt");
            }
        }
    }

    /// Renews every lease. A lease the store says is lost, or that could
    /// not be renewed for a whole TTL (the store unreachable), stops its
    /// agent: someone else may hold the task by now.
    pub(super) async fn heartbeat(&mut self) {
        self.stop_what_runs_ask_to().await;
        let ttl = self.ws.config.lease.ttl;
        let mut store_failed = None;
        for running in self.running.values_mut() {
            if running.lost {
                continue;
            }
            write_spend(&self.store, running).await;
            let lost = match self.store.heartbeat(&running.lease).await {
                Ok(_) => {
                    running.last_heartbeat = Instant::now();
                    None
                }
                Err(LeaseError::Lost(lost)) => Some(lost.to_string()),
                Err(LeaseError::Store(error)) => {
                    store_failed = Some(error);
                    (running.last_heartbeat.elapsed() >= ttl).then(|| {
                        format!(
                            "no heartbeat reached the store for {}",
                            orca_agents::format_duration(ttl)
                        )
                    })
                }
            };
            if let Some(detail) = lost {
                running.lost = true;
                running.cancel.kill();
                let _ = self.events.send(WorkerEvent::LeaseLost {
                    run: running.lease.run.to_string(),
                    task: running.lease.task.clone(),
                    attempt: running.lease.attempt,
                    detail: format!("{}; stopping its agent", shorten(&detail, 300)),
                });
            }
        }
        match store_failed {
            Some(error) => {
                self.store_is_down(&error, IDLE_POLL);
            }
            None => self.alive().await,
        }
    }

    /// Tells the store this worker is alive and what it runs.
    pub(super) async fn alive(&mut self) {
        let tasks: Vec<String> = self
            .running
            .values()
            .map(|r| format!("{}/{}/a{}", r.run, r.lease.task, r.lease.attempt))
            .collect();
        if let Err(error) = self.store.worker_alive(&self.request.name, &tasks, self.stopping).await
        {
            tracing::warn!(%error, "cannot tell the store this worker is alive");
        }
    }
}

/// Writes what `running` spent so far, if anything is new, to its
/// attempt's record (replaced by the whole record when it ends).
async fn write_spend(store: &Store, running: &mut Running) {
    let Some(details) = running.spend_pending.take() else { return };
    running.spend_written = Some(Instant::now());
    let info = AttemptInfo { details_json: Some(details.to_string()), ..AttemptInfo::default() };
    // A lost lease shows at the heartbeat, which stops the attempt.
    if let Err(error) = store.record_attempt(&running.lease, &info).await {
        tracing::warn!(task = %running.lease.task, %error, "cannot record the attempt's spending");
    }
}
