//! The agents a run may start, built from `[agents.<name>]` in the config:
//! the adapter, how its requests are made, and how it is supervised.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::adapters::claude::{ClaudeAdapter, ClaudePermissionMode};
use orca_agents::adapters::codex::CodexAdapter;
use orca_agents::adapters::command::CommandAdapter;
use orca_agents::adapters::gemini::GeminiAdapter;
use orca_agents::adapters::opencode::OpencodeAdapter;
use orca_agents::{Adapter, AgentRequest, HostEnv, SupervisionPolicy};
use orca_config::{AgentConfig, Config, RolesConfig};

/// One agent a run can start.
#[derive(Debug)]
pub struct AgentProfile {
    /// The table name under `[agents]`.
    pub name: String,
    pub adapter: Arc<dyn Adapter>,
    pub config: AgentConfig,
    /// The key for `base_url`, read from `api_key_env`.
    api_key: Option<String>,
}

/// Why an agent from the config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no agent named `{name}` in .orca/config.toml ({suggestion}known: {known})")]
    Unknown { name: String, known: String, suggestion: String },
    #[error("agent `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

/// Every agent of the config, by name.
#[derive(Debug, Default)]
pub struct AgentProfiles {
    profiles: BTreeMap<String, Arc<AgentProfile>>,
}

impl AgentProfiles {
    /// Builds a profile for every agent in the config. Nothing is checked
    /// against the machine here: a missing CLI fails the attempt that
    /// needs it, with the adapter's message.
    pub fn from_config(config: &Config, host: &HostEnv) -> Result<Self, ProfileError> {
        let mut profiles = BTreeMap::new();
        for (name, agent) in &config.agents {
            let invalid = |reason: String| ProfileError::Invalid { name: name.clone(), reason };
            let api_key = match &agent.api_key_env {
                Some(variable) => Some(
                    host.get(variable)
                        .and_then(|value| value.to_str())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            invalid(format!(
                                "api_key_env names `{variable}`, which is not set in the environment"
                            ))
                        })?,
                ),
                None => None,
            };
            let adapter = build_adapter(agent).map_err(invalid)?;
            profiles.insert(
                name.clone(),
                Arc::new(AgentProfile {
                    name: name.clone(),
                    adapter,
                    config: agent.clone(),
                    api_key,
                }),
            );
        }
        Ok(AgentProfiles { profiles })
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<AgentProfile>, ProfileError> {
        self.profiles.get(name).cloned().ok_or_else(|| ProfileError::Unknown {
            name: name.to_owned(),
            known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            suggestion: orca_plan::diagnostic::closest(
                name,
                self.profiles.keys().map(String::as_str),
                usize::MAX,
            )
            .map_or_else(String::new, |close| format!("did you mean `{close}`? ")),
        })
    }

    /// The profile that does `role`'s work, as [`routed_agent`] picks it,
    /// asking for `[roles.<role>] model` when one is set.
    pub fn for_role(
        &self,
        roles: &RolesConfig,
        role: &str,
        named: Option<&str>,
        default: &str,
    ) -> Result<Arc<AgentProfile>, ProfileError> {
        let profile = self.get(routed_agent(roles, role, named, default))?;
        match roles.model_for(role) {
            Some(model) if profile.config.model.as_deref() != Some(model) => {
                let mut config = profile.config.clone();
                config.model = Some(model.to_owned());
                Ok(Arc::new(AgentProfile {
                    name: profile.name.clone(),
                    adapter: Arc::clone(&profile.adapter),
                    config,
                    api_key: profile.api_key.clone(),
                }))
            }
            _ => Ok(profile),
        }
    }

    /// Profile names in a stable order (their index is the scheduler's
    /// agent kind).
    pub fn names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }
}

/// The agent that does `role`'s work: the one named for it (a task's own
/// `agent:`, or `[plan] agent` / `[review] agent` for the planner and the
/// reviewer), else `[roles.<role>] agent`, else `default` (the run's).
pub fn routed_agent<'a>(
    roles: &'a RolesConfig,
    role: &str,
    named: Option<&'a str>,
    default: &'a str,
) -> &'a str {
    named.or_else(|| roles.agent_for(role)).unwrap_or(default)
}

impl AgentProfile {
    /// The request for one run of this agent. `isolation` is the directory
    /// that holds a private HOME and TMPDIR when the profile isolates.
    pub fn request(
        &self,
        prompt: String,
        workdir: &Path,
        task: &str,
        resume: Option<&str>,
        isolation: &Path,
    ) -> AgentRequest {
        let mut request = AgentRequest::new(prompt, workdir).with_task_id(task);
        if let Some(url) = &self.config.base_url {
            request = request
                .with_endpoint(url.clone(), self.api_key.clone().unwrap_or_else(|| "orca".into()));
        }
        if let Some(model) = &self.config.model {
            request = request.with_model(model.clone());
        }
        if let Some(session) = resume {
            request = request.with_resume(session);
        }
        if self.config.isolate {
            request = request.with_isolation(isolation.join("home"), isolation.join("tmp"));
        }
        request.extra_args = self.config.args.iter().map(Into::into).collect();
        request
    }

    /// How an attempt of this agent is supervised; a task's own `timeout`
    /// overrides the agent's.
    pub fn policy(&self, task_timeout: Option<Duration>) -> SupervisionPolicy {
        SupervisionPolicy {
            stall_timeout: Some(self.config.stall_timeout),
            timeout: Some(task_timeout.unwrap_or(self.config.timeout)),
            ..SupervisionPolicy::default()
        }
    }
}

fn build_adapter(agent: &AgentConfig) -> Result<Arc<dyn Adapter>, String> {
    use orca_config::Adapter as Kind;
    let program = || agent.command.first().cloned().ok_or_else(|| "`command` is empty".to_owned());
    Ok(match agent.adapter {
        Kind::Claude => {
            let mut adapter = ClaudeAdapter::default().with_program(program()?);
            if let Some(mode) = agent.permission_mode {
                let mode = ClaudePermissionMode::parse(mode.as_str()).ok_or_else(|| {
                    format!("permission mode `{}` is unknown to the claude adapter", mode.as_str())
                })?;
                adapter = adapter.with_permission_mode(mode);
            }
            Arc::new(adapter)
        }
        Kind::Codex => Arc::new(CodexAdapter::default().with_program(program()?)),
        Kind::Gemini => Arc::new(GeminiAdapter::default().with_program(program()?)),
        Kind::Opencode => Arc::new(OpencodeAdapter::default().with_program(program()?)),
        Kind::Command => {
            Arc::new(CommandAdapter::new(agent.command.clone()).map_err(|error| error.to_string())?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_agent_gets_a_suggestion() {
        let host = HostEnv::from_vars([("PATH", "/bin")], false);
        let profiles = AgentProfiles::from_config(&Config::default(), &host).unwrap();
        let error = profiles.get("claud").unwrap_err().to_string();
        assert!(error.contains("did you mean `claude`?"), "{error}");
        let error = profiles.get("zzzzzz").unwrap_err().to_string();
        assert!(!error.contains("did you mean"), "{error}");
    }
}
