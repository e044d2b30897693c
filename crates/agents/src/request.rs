//! What the caller asks of one agent run.

use std::ffi::OsString;
use std::path::PathBuf;

/// One run of an agent: a prompt in a working directory, plus the knobs
/// every adapter understands. Adapters ignore what their CLI cannot do.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// The task text. Reaches the CLI as one argv element or a file, never a
    /// shell.
    pub prompt: String,
    /// Where the agent works (usually the attempt's git worktree).
    pub workdir: PathBuf,
    /// Resume this agent session (as reported by `AgentEvent::Started`).
    pub resume_session: Option<String>,
    /// The model name passed to the CLI unchanged.
    pub model: Option<String>,
    /// A HOME of its own for this run (created if missing).
    pub home: Option<PathBuf>,
    /// A TMPDIR of its own for this run (created if missing).
    pub tmpdir: Option<PathBuf>,
    /// Point the CLI at another model server (e.g. `orca model-server`).
    pub endpoint: Option<Endpoint>,
    /// Turn the CLI's own API retries off so errors surface at once (orca
    /// retries with backoff itself). On by default with an `endpoint`.
    pub disable_cli_retries: bool,
    /// Extra arguments appended to the CLI's argv (before the prompt).
    pub extra_args: Vec<OsString>,
    /// Extra environment variables, set after the allow-list.
    pub extra_env: Vec<(String, OsString)>,
    /// The orca task this run works on (`{task_id}` in command templates).
    pub task_id: Option<String>,
}

/// A model server to talk to instead of the CLI's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The server root without `/v1`, e.g. `http://127.0.0.1:4000`.
    pub base_url: String,
    pub api_key: String,
}

impl Endpoint {
    /// The root URL with any trailing `/` or `/v1` removed.
    pub fn root(&self) -> &str {
        let trimmed = self.base_url.trim_end_matches('/');
        trimmed.strip_suffix("/v1").unwrap_or(trimmed)
    }

    /// The root URL plus `/v1`, as OpenAI-style clients want it.
    pub fn v1(&self) -> String {
        format!("{}/v1", self.root())
    }
}

impl AgentRequest {
    pub fn new(prompt: impl Into<String>, workdir: impl Into<PathBuf>) -> Self {
        AgentRequest {
            prompt: prompt.into(),
            workdir: workdir.into(),
            resume_session: None,
            model: None,
            home: None,
            tmpdir: None,
            endpoint: None,
            disable_cli_retries: false,
            extra_args: Vec::new(),
            extra_env: Vec::new(),
            task_id: None,
        }
    }

    /// Points the CLI at `base_url` with `api_key`, and turns the CLI's own
    /// retries off.
    pub fn with_endpoint(
        mut self,
        base_url: impl Into<String>,
        api_key: impl Into<String>,
    ) -> Self {
        self.endpoint = Some(Endpoint { base_url: base_url.into(), api_key: api_key.into() });
        self.disable_cli_retries = true;
        self
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub fn with_resume(mut self, session_id: impl Into<String>) -> Self {
        self.resume_session = Some(session_id.into());
        self
    }

    /// Gives the run its own HOME and TMPDIR.
    pub fn with_isolation(mut self, home: impl Into<PathBuf>, tmpdir: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self.tmpdir = Some(tmpdir.into());
        self
    }

    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.extra_env.push((name.into(), value.into()));
        self
    }

    pub fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_root_strips_slash_and_v1() {
        for url in ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"] {
            let endpoint = Endpoint { base_url: url.into(), api_key: "k".into() };
            assert_eq!(endpoint.root(), "http://h:1", "{url}");
            assert_eq!(endpoint.v1(), "http://h:1/v1", "{url}");
        }
    }
}
