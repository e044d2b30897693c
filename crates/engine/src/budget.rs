//! Budgets: what a task's attempts, and a run's task attempts together,
//! may spend in tokens and money. Spending is counted as the agents'
//! usage events arrive, so a limit stops work at the event that crosses
//! it rather than when an attempt ends.

use std::fmt::Write as _;

use orca_agents::{AgentEvent, Usage};
use orca_config::{Config, Price};
use orca_plan::Budget;
use orca_store::AttemptRecord;

use crate::profiles::AgentProfile;

/// Tokens (fresh input plus output: cache reads, cheap and repeated every
/// turn, are not counted) and money.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub tokens: u64,
    pub usd: f64,
}

impl Spend {
    pub(crate) fn add(&mut self, other: Spend) {
        self.tokens += other.tokens;
        self.usd += other.usd;
    }

    pub(crate) fn plus(mut self, other: Spend) -> Spend {
        self.add(other);
        self
    }

    /// What a finished attempt recorded in its details.
    pub(crate) fn of_record(record: &AttemptRecord) -> Spend {
        let Some(details) = record
            .details_json
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        else {
            return Spend::default();
        };
        let count = |key: &str| details[key].as_u64().unwrap_or(0);
        Spend {
            tokens: count("input_tokens").saturating_sub(count("cached_tokens"))
                + count("output_tokens"),
            usd: details["cost_usd"].as_f64().unwrap_or(0.0),
        }
    }

    /// What these token counts come to, at `usd`.
    pub(crate) fn of_usage(usage: &Usage, usd: f64) -> Spend {
        Spend {
            tokens: usage.input_tokens.saturating_sub(usage.cached_tokens) + usage.output_tokens,
            usd,
        }
    }
}

/// A limit in tokens, money or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Limit {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
}

impl Limit {
    pub(crate) fn of_task(budget: Option<Budget>) -> Limit {
        budget.map_or_else(Limit::default, |budget| Limit {
            tokens: budget.tokens,
            usd: budget.usd(),
        })
    }

    /// `run`'s limit as it applies now: the last one given on the command
    /// line (kept with the run), else `[run]` in `config`.
    pub async fn for_run(
        store: &orca_store::Store,
        run: &orca_store::RunId,
        config: &Config,
    ) -> Result<Limit, orca_store::StoreError> {
        let record = crate::pipeline::PipelineRecord::load(store, run).await?;
        Ok(Limit::of_run(config, record.options.budget))
    }

    pub fn is_unlimited(&self) -> bool {
        self.tokens.is_none() && self.usd.is_none()
    }

    /// The run's limit: the command line's (kept with the run), else `[run]`.
    pub(crate) fn of_run(config: &Config, options: Option<Budget>) -> Limit {
        let options = options.unwrap_or_default();
        Limit {
            tokens: options.tokens.or(config.run.budget_tokens),
            usd: options.usd().or(config.run.budget_usd),
        }
    }

    /// Which part of the limit `spend` went over, in words
    /// (`1,240 tokens of 1,000`), or `None` while within it.
    pub fn exceeded(&self, spend: Spend) -> Option<String> {
        let mut over = Vec::new();
        if let Some(tokens) = self.tokens.filter(|&tokens| spend.tokens > tokens) {
            over.push(format!("{} tokens of {}", grouped(spend.tokens), grouped(tokens)));
        }
        // A thousandth of a cent of float noise is not over.
        if let Some(usd) = self.usd.filter(|&usd| spend.usd > usd + 1e-9) {
            over.push(format!("${:.4} of ${usd}", spend.usd));
        }
        (!over.is_empty()).then(|| over.join(" and "))
    }
}

/// `1234567` → `1,234,567`.
pub fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        let _ = out.write_char(digit);
    }
    out
}

/// Counts one agent run's spending from its events. Money comes from the
/// CLI's own report where it gives one (claude, codex at the end of a
/// turn); before that, and for CLIs that never report it, from the
/// `[pricing]` table when it has the agent's model.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meter {
    price: Option<Price>,
    usage: Usage,
    reported_usd: Option<f64>,
}

impl Meter {
    pub(crate) fn for_agent(config: &Config, profile: &AgentProfile) -> Meter {
        let price = profile
            .config
            .model
            .as_deref()
            .and_then(|model| config.pricing.get(model))
            .or_else(|| config.pricing.get(&profile.name))
            .copied();
        Meter { price, ..Meter::default() }
    }

    /// Takes in an event; true when the spending changed.
    pub(crate) fn observe(&mut self, event: &AgentEvent) -> bool {
        match event {
            AgentEvent::Usage(more) => {
                self.usage.add(more);
                !more.is_zero()
            }
            AgentEvent::Cost { usd } => {
                *self.reported_usd.get_or_insert(0.0) += usd;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }

    /// The money spent, when anything says: the CLI, else the price table.
    pub(crate) fn cost_usd(&self) -> Option<f64> {
        self.reported_usd.or_else(|| {
            self.price.map(|price| {
                let cached = self.usage.cached_tokens.min(self.usage.input_tokens);
                price.cost(self.usage.input_tokens - cached, self.usage.output_tokens, cached)
            })
        })
    }

    pub(crate) fn spend(&self) -> Spend {
        Spend::of_usage(&self.usage, self.cost_usd().unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cached: u64) -> AgentEvent {
        AgentEvent::Usage(Usage {
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
        })
    }

    #[test]
    fn a_limit_is_exceeded_only_past_it() {
        let limit = Limit { tokens: Some(1_000), usd: Some(0.5) };
        assert_eq!(limit.exceeded(Spend { tokens: 1_000, usd: 0.5 }), None);
        assert_eq!(
            limit.exceeded(Spend { tokens: 1_001, usd: 0.1 }).as_deref(),
            Some("1,001 tokens of 1,000")
        );
        assert_eq!(
            limit.exceeded(Spend { tokens: 1_234_567, usd: 0.75 }).as_deref(),
            Some("1,234,567 tokens of 1,000 and $0.7500 of $0.5")
        );
        assert_eq!(Limit::default().exceeded(Spend { tokens: u64::MAX, usd: 1e9 }), None);
    }

    #[test]
    fn the_command_line_wins_over_the_config_key_by_key() {
        let mut config = Config::default();
        config.run.budget_usd = Some(5.0);
        config.run.budget_tokens = Some(9);
        let options = Budget { tokens: Some(100), usd_micros: None };
        assert_eq!(
            Limit::of_run(&config, Some(options)),
            Limit { tokens: Some(100), usd: Some(5.0) }
        );
        assert_eq!(Limit::of_run(&config, None), Limit { tokens: Some(9), usd: Some(5.0) });
    }

    #[test]
    fn money_comes_from_the_cli_else_from_the_price_table() {
        let price = Price { input: 2.0, output: 10.0, cached: 0.5 };
        let mut meter = Meter { price: Some(price), ..Meter::default() };
        assert!(meter.observe(&usage(1_000_000, 100_000, 400_000)));
        // 600k fresh input × $2 + 100k output × $10 + 400k cached × $0.5 per million.
        assert!((meter.spend().usd - 2.4).abs() < 1e-9, "{:?}", meter.spend());
        // Cache reads are not counted as tokens.
        assert_eq!(meter.spend().tokens, 700_000);
        assert!(meter.observe(&AgentEvent::Cost { usd: 0.25 }));
        assert_eq!(meter.cost_usd(), Some(0.25));

        let mut unpriced = Meter::default();
        unpriced.observe(&usage(10, 5, 0));
        assert_eq!(unpriced.cost_usd(), None);
        assert_eq!(unpriced.spend(), Spend { tokens: 15, usd: 0.0 });
        assert!(!unpriced.observe(&AgentEvent::Text { text: "hi".into() }));
    }
}
