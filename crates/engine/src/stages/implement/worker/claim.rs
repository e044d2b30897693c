//! Which runs this worker works on, and claiming their ready tasks.

use std::sync::Arc;

use orca_git::integration_branch;
use orca_plan::PlanGraph;
use orca_store::RunId;
use tokio::sync::mpsc;

use super::{RunSlot, Worker, WorkerEvent};
use crate::error::EngineError;
use crate::excerpt::error_chain;
use crate::pipeline::PipelineRecord;
use crate::profiles::AgentProfiles;
use crate::stages::implement::context::RunContext;
use crate::stages::implement::messages::Msg;

impl Worker {
    /// Claims what the free slots allow, from the repository's runs
    /// oldest first. Returns whether it claimed anything.
    pub(super) async fn claim(
        &mut self,
        tx: &mpsc::UnboundedSender<(usize, Msg)>,
    ) -> Result<bool, EngineError> {
        let free = self.request.agents.saturating_sub(self.running.len());
        if free == 0 {
            return Ok(false);
        }
        let ttl = self.ws.config.lease.ttl;
        let mut claimed = false;
        let mut free = free;
        for run in self.store.active_runs_of_repo(&self.repo_id).await? {
            if free == 0 {
                break;
            }
            if self.refused.contains(&run) {
                continue;
            }
            match self.accept_run(&run).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error @ EngineError::Store(_)) => return Err(error),
                // Something about this run (its plan, this machine's
                // config for it): the other runs go on.
                Err(error) => {
                    self.refused.insert(run.clone());
                    let reason = format!("cannot work on it: {}", error_chain(&error));
                    let _ =
                        self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
                    continue;
                }
            }
            let leases = self.store.claim(&run, &self.request.name, free, ttl).await?;
            free -= leases.len();
            for lease in leases {
                claimed = true;
                self.launch(lease, tx).await?;
            }
        }
        Ok(claimed)
    }

    /// Whether this worker works on `run`: a run whose coordinator works
    /// with a remote and speaks this worker's protocol. Builds the run's
    /// context the first time.
    pub(super) async fn accept_run(&mut self, run: &RunId) -> Result<bool, EngineError> {
        if self.runs.contains_key(run) {
            return Ok(true);
        }
        let record = PipelineRecord::load(&self.store, run).await?;
        let refuse = match (&record.options.remote, record.protocol) {
            (None, _) => Some(None),
            (Some(_), Some(protocol)) if protocol == self.me.protocol => None,
            (Some(_), protocol) => Some(Some(format!(
                "its coordinator speaks scale-out protocol {}, this orca {} speaks {}: run the \
                 same orca version on every machine",
                protocol.map_or_else(|| "(none)".to_owned(), |p| p.to_string()),
                self.me.version,
                self.me.protocol
            ))),
        };
        if let Some(reason) = refuse {
            self.refused.insert(run.clone());
            if let Some(reason) = reason {
                let _ = self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
            }
            return Ok(false);
        }
        let plan = crate::stages::parallel::stored_plan(&self.store, run).await?;
        let graph = PlanGraph::new(&plan).map_err(|error| EngineError::StoredPlan {
            run: run.clone(),
            source: Box::new(error),
        })?;
        let ws = &self.ws;
        let default_agent = self
            .request
            .agent
            .clone()
            .or_else(|| record.options.agent.clone())
            .unwrap_or_else(|| ws.config.run.agent.clone());
        // Agents this machine cannot run would spend every try of the
        // run's tasks: leave the run to workers that can.
        let options =
            crate::RunOptions { agent: Some(default_agent.clone()), ..Default::default() };
        let usable = match crate::stages::parallel::check_agents(ws, &options, Some(&plan)).await {
            Ok(()) => None,
            Err(error @ (EngineError::AgentsUnusable(_) | EngineError::Profile(_))) => {
                Some(format!("this machine cannot run its agents: {}", error_chain(&error)))
            }
            Err(error) => return Err(error),
        };
        if let Some(reason) = usable {
            self.refused.insert(run.clone());
            let _ = self.events.send(WorkerEvent::RunRefused { run: run.to_string(), reason });
            return Ok(false);
        }
        let profiles = AgentProfiles::from_config(&ws.config, &ws.host)?;
        let ctx = RunContext {
            agents: self.request.agents,
            resolver: false,
            keep_branches: true,
            repo: ws.repo.clone(),
            host: ws.host.clone(),
            layout: ws.layout.clone(),
            store: self.store.clone(),
            config: ws.config.clone(),
            run: run.clone(),
            integration: integration_branch(run.as_str()),
            nodes: graph.indices().collect(),
            plan,
            graph,
            profiles,
            default_agent,
            worker: self.request.name.clone(),
            remote: Some(self.request.remote.clone()),
            // The coordinator keeps the run's budget; a worker stops an
            // attempt over its task's budget.
            run_budget: crate::budget::Limit::of_run(&ws.config, record.options.budget),
        };
        self.runs.insert(run.clone(), RunSlot { ctx: Arc::new(ctx) });
        Ok(true)
    }
}
