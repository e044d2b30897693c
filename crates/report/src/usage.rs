//! Tokens and cost, per task, per agent and for the run: what `orca status`
//! and the report show. Each attempt's usage is what its agent reported
//! (the CLI's own cost where it gives one, as claude and codex do).

use std::collections::BTreeMap;

use orca_store::{AttemptRecord, Event};
use serde::{Deserialize, Serialize};

/// Tokens in and out and the cost in US dollars, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of the input, what the provider read from its cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// 0 when no agent reported a cost.
    pub cost_usd: f64,
}

impl Usage {
    /// What one stored attempt used (nothing yet while it runs).
    pub fn of_attempt(record: &AttemptRecord) -> Usage {
        let details: serde_json::Value = record
            .details_json
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Usage {
            input_tokens: details["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: details["output_tokens"].as_u64().unwrap_or(0),
            cached_tokens: details["cached_tokens"].as_u64().unwrap_or(0),
            cost_usd: details["cost_usd"].as_f64().unwrap_or(0.0),
        }
    }

    /// What an attempt had used when it recorded `event` (the implement
    /// stage writes the tokens and cost so far on each `agent.*` event).
    pub fn so_far(event: &Event) -> Usage {
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload_json).unwrap_or_default();
        Usage {
            input_tokens: payload["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: payload["output_tokens"].as_u64().unwrap_or(0),
            cached_tokens: payload["cached_tokens"].as_u64().unwrap_or(0),
            cost_usd: payload["cost_usd"].as_f64().unwrap_or(0.0),
        }
    }

    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cost_usd += other.cost_usd;
    }

    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// The tokens budgets count: fresh input plus output, cache reads left
    /// out (see docs/agents.md, "Budgets").
    pub fn budget_tokens(&self) -> u64 {
        self.input_tokens.saturating_sub(self.cached_tokens) + self.output_tokens
    }

    pub fn is_empty(&self) -> bool {
        self.tokens() == 0 && self.cost_usd == 0.0
    }

    /// `12.3k tokens, $0.42` (the cost only when one was reported).
    pub fn describe(&self) -> String {
        let tokens = format!("{} tokens", compact(self.tokens()));
        if self.cost_usd > 0.0 { format!("{tokens}, ${:.2}", self.cost_usd) } else { tokens }
    }
}

/// `950`, `12.3k`, `4.1M`.
pub fn compact(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A run's usage, summed per task, per agent and in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub run: Usage,
    /// By agent name (`unknown` for an attempt that recorded none).
    pub agents: BTreeMap<String, Usage>,
    /// By task ID.
    pub tasks: BTreeMap<String, Usage>,
}

impl UsageTotals {
    /// Sums `(task, attempt)` pairs, as [`orca_store::Store::run_attempts`]
    /// gives them; an attempt still running counts what the newest of its
    /// `latest` agent events says so far
    /// ([`orca_store::Store::latest_agent_events`]).
    pub fn of_attempts<'a>(
        attempts: impl IntoIterator<Item = (&'a str, &'a AttemptRecord)>,
        latest: &[Event],
    ) -> UsageTotals {
        let mut totals = UsageTotals::default();
        for (task, record) in attempts {
            let usage = match record.ended_ms {
                Some(_) => Usage::of_attempt(record),
                None => latest
                    .iter()
                    .rev()
                    .find(|event| {
                        event.task.as_deref() == Some(task) && event.attempt == Some(record.attempt)
                    })
                    .map(Usage::so_far)
                    .unwrap_or_default(),
            };
            totals.run.add(usage);
            let agent = record.agent.clone().unwrap_or_else(|| "unknown".to_owned());
            totals.agents.entry(agent).or_default().add(usage);
            totals.tasks.entry(task.to_owned()).or_default().add(usage);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(agent: &str, details: &str) -> AttemptRecord {
        AttemptRecord {
            attempt: 1,
            worker: "w".into(),
            started_ms: 0,
            ended_ms: Some(1),
            outcome: "succeeded".into(),
            error: None,
            branch: None,
            agent: Some(agent.into()),
            agent_session_id: None,
            commit_sha: None,
            summary: None,
            details_json: Some(details.into()),
        }
    }

    #[test]
    fn usage_sums_per_task_per_agent_and_for_the_run() {
        let a = attempt("claude", r#"{"input_tokens":1000,"output_tokens":200,"cost_usd":0.25}"#);
        let b = attempt("codex", r#"{"input_tokens":500,"output_tokens":100}"#);
        let c = attempt("claude", r#"{"input_tokens":300,"output_tokens":50,"cost_usd":0.05}"#);
        let running = AttemptRecord { details_json: None, ended_ms: None, ..attempt("codex", "") };
        let totals =
            UsageTotals::of_attempts([("T1", &a), ("T2", &b), ("T1", &c), ("T3", &running)], &[]);
        assert_eq!(totals.run.tokens(), 2150);
        assert!((totals.run.cost_usd - 0.30).abs() < 1e-9);
        assert_eq!(totals.agents["claude"].input_tokens, 1300);
        assert_eq!(totals.agents["codex"].tokens(), 600);
        assert_eq!(totals.tasks["T1"].tokens(), 1550);
        assert!(totals.tasks["T3"].is_empty());
        assert_eq!(totals.agents["claude"].describe(), "1.6k tokens, $0.30");
        assert_eq!(totals.agents["codex"].describe(), "600 tokens");
        assert_eq!(compact(4_100_000), "4.1M");

        // A running attempt counts what its newest agent event says so far.
        let event = |seq, task: &str, attempt, tokens: u64| Event {
            seq,
            run: orca_store::RunId::from("r"),
            task: Some(task.to_owned()),
            attempt: Some(attempt),
            kind: "agent.tool_use".to_owned(),
            payload_json: format!(
                r#"{{"input_tokens":{tokens},"output_tokens":10,"cost_usd":0.01}}"#
            ),
            at_ms: 0,
        };
        let latest = [event(7, "T3", 1, 400), event(9, "T2", 1, 999_999)];
        let totals = UsageTotals::of_attempts([("T3", &running), ("T2", &b)], &latest);
        assert_eq!(totals.tasks["T3"].tokens(), 410);
        assert_eq!(totals.tasks["T2"].tokens(), 600, "an ended attempt keeps its own figures");
        assert!((totals.agents["codex"].cost_usd - 0.01).abs() < 1e-9);
    }
}
