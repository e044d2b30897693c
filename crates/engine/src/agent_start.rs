//! Starting an agent under supervision for any stage (a task attempt, a
//! conflict resolver, the planner), with its pid recorded so that
//! `orca resume` can kill what a killed orca left running.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{AgentRun, CancelToken, HostEnv, RunError};

use crate::process::process_identity;
use crate::profiles::AgentProfile;

/// One start of an agent.
pub(crate) struct AgentStart<'a> {
    pub profile: &'a AgentProfile,
    /// Names the work in the agent's request (the task ID, `plan`, ...).
    pub label: &'a str,
    pub prompt: String,
    pub workdir: &'a Path,
    pub resume: Option<&'a str>,
    /// Holds the agent's private HOME and TMPDIR when its profile isolates.
    pub isolation: &'a Path,
    /// The work's directory: logs go to `<dir>/<log_name>/`, the pid to
    /// `<dir>/agent.pid`.
    pub dir: &'a Path,
    pub log_name: &'a str,
    /// The plan's time limit for this work, if any.
    pub timeout: Option<Duration>,
    pub cancel: &'a CancelToken,
}

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start agent `{agent}`")]
pub(crate) struct StartError {
    pub agent: String,
    #[source]
    pub source: RunError,
}

/// Starts the agent and writes `agent.pid`.
pub(crate) fn start_agent(
    host: &Arc<HostEnv>,
    start: AgentStart<'_>,
) -> Result<AgentRun, StartError> {
    let AgentStart {
        profile,
        label,
        prompt,
        workdir,
        resume,
        isolation,
        dir,
        log_name,
        timeout,
        cancel,
    } = start;
    let request = profile
        .request(prompt, workdir, label, resume, isolation)
        .with_env(crate::process::PROCESS_DIR_ENV, dir);
    let policy = profile.policy(timeout);
    let run = orca_agents::run_agent(
        profile.adapter.clone(),
        &request,
        host,
        policy,
        dir.join(log_name),
        cancel.clone(),
    )
    .map_err(|source| StartError { agent: profile.name.clone(), source })?;
    let _ = std::fs::write(dir.join("agent.pid"), process_identity(run.pid()));
    Ok(run)
}
