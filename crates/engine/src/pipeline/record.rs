//! What the pipeline driver keeps about a run in the store
//! (`runs.pipeline_json`): enough to resume it from any stage in another
//! process — the goal, the commit it started from, the stages the user
//! chose, whether the plan was approved, the options it was started with.

use orca_store::{RunId, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::transition::Selection;

/// Command-line choices that override `[run]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// The most agents at once.
    pub agents: Option<usize>,
    /// The agent for tasks whose plan names none.
    pub agent: Option<String>,
    pub keep_branches: Option<bool>,
    /// Conflicts go to a resolver agent.
    pub resolver: Option<bool>,
    /// The git remote of a scaled-out run: `orca worker`s on other machines
    /// work its tasks and push their attempts there (docs/scale-out.md).
    #[serde(default)]
    pub remote: Option<String>,
    /// What the run's task attempts may spend together, over `[run]`'s
    /// `budget_usd` / `budget_tokens` (each kind on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<orca_plan::Budget>,
}

impl RunOptions {
    /// `self`, with what it leaves open taken from `earlier`.
    pub fn over(&self, earlier: &RunOptions) -> RunOptions {
        RunOptions {
            agents: self.agents.or(earlier.agents),
            agent: self.agent.clone().or_else(|| earlier.agent.clone()),
            keep_branches: self.keep_branches.or(earlier.keep_branches),
            resolver: self.resolver.or(earlier.resolver),
            remote: self.remote.clone().or_else(|| earlier.remote.clone()),
            budget: match (self.budget, earlier.budget) {
                (Some(now), Some(before)) => Some(orca_plan::Budget {
                    tokens: now.tokens.or(before.tokens),
                    usd_micros: now.usd_micros.or(before.usd_micros),
                }),
                (now, before) => now.or(before),
            },
        }
    }
}

/// The plan stage's progress, so that a resumed run neither repeats a
/// finished round nor loses the planner's session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProgress {
    /// Rounds whose plan orca has checked.
    pub rounds: u32,
    /// The round whose agent finished writing (its plan may be unchecked).
    pub written: Option<u32>,
    /// The planner's agent session, to continue it with the diagnostics.
    pub session: Option<String>,
    /// The diagnostics of the last round that was refused.
    pub last_diagnostics: Option<String>,
    /// The round whose plan was accepted (and saved as the run's
    /// `plan.md`): a resumed plan stage takes it from there.
    #[serde(default)]
    pub accepted: Option<u32>,
}

/// The driver's record of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRecord {
    /// What the user asked for (`orca run "GOAL"`); None for a given plan.
    pub goal: Option<String>,
    /// The commit the run started from: the integration branch starts
    /// here, the gates look at the changes since.
    pub base: Option<String>,
    pub selection: Selection,
    /// The plan was written by the planner (and so waits for approval).
    pub planned: bool,
    /// The user accepted the plan (`--yes`, or yes at the prompt).
    pub approved: bool,
    pub plan: PlanProgress,
    pub options: RunOptions,
    /// The scale-out protocol of the orca that drives the run
    /// ([`orca_store::PROTOCOL_VERSION`]): workers of another refuse it.
    #[serde(default)]
    pub protocol: Option<i64>,
}

impl PipelineRecord {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The record of `run`; a run started by an older orca has none (it
    /// was started with `orca run --plan`, at the parallel stage).
    pub async fn load(store: &Store, run: &RunId) -> Result<PipelineRecord, StoreError> {
        Ok(match store.pipeline_json(run).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => PipelineRecord {
                selection: Selection { from: orca_store::Stage::Parallel, ..Selection::default() },
                ..PipelineRecord::default()
            },
        })
    }

    pub(crate) async fn save(&self, store: &Store, run: &RunId) -> Result<(), StoreError> {
        store.set_pipeline_json(run, &self.to_json()).await
    }
}
