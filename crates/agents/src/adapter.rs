//! The adapter contract: how to start one agent CLI for a request, and how
//! to read what it prints.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::environment::HostEnv;
use crate::event::{AgentEvent, Finish};
use crate::request::AgentRequest;
use crate::version::TestedVersions;

/// One agent CLI: builds its command line and parses its output.
///
/// Adapters are pure: `invocation` decides argv, env and files without
/// touching the system, so the supervisor (or a test) can act on the result.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// The adapter's name (`claude`, `codex`, ...).
    fn name(&self) -> &str;

    /// The program this adapter runs: a bare name looked up on PATH, or a path.
    fn program(&self) -> &Path;

    /// The CLI versions this adapter is tested with; `None` for `command`.
    fn tested_versions(&self) -> Option<TestedVersions>;

    /// Arguments that make the program print its version.
    fn version_args(&self) -> Vec<OsString> {
        vec!["--version".into()]
    }

    /// The command, environment and files for one run. `run_dir` is the
    /// run's own directory (logs, prompt file); adapters may ask for files
    /// to be written there.
    fn invocation(
        &self,
        request: &AgentRequest,
        host: &HostEnv,
        run_dir: &Path,
    ) -> Result<Invocation, BuildError>;

    /// A fresh parser for one run's output.
    fn parser(&self) -> Box<dyn EventParser>;

    /// Whether stderr output proves the agent is alive (for the stall
    /// watchdog). Structured CLIs report progress on stdout only.
    fn stderr_is_activity(&self) -> bool {
        false
    }
}

/// Turns one run's output into normalized events.
pub trait EventParser: Send {
    /// One line of stdout, without its newline. Never fails: what it does
    /// not understand becomes `AgentEvent::Unknown`.
    fn parse_line(&mut self, line: &str) -> Vec<AgentEvent>;

    /// One line of stderr. Parsers note known fatal messages here.
    fn note_stderr(&mut self, _line: &str) {}

    /// The verdict from the stream's terminal event plus the exit status.
    fn conclude(&mut self, exit: &ExitInfo) -> Finish;
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn code(code: i32) -> Self {
        ExitInfo { code: Some(code), signal: None }
    }

    pub fn signal(signal: i32) -> Self {
        ExitInfo { code: None, signal: Some(signal) }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exited with code 1", "killed by signal 9".
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "ended without an exit status".to_string(),
        }
    }
}

/// Everything needed to start one agent process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// A bare name (looked up on the `PATH` in `env`) or a path.
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The complete environment: the child inherits nothing else.
    pub env: BTreeMap<String, OsString>,
    pub cwd: PathBuf,
    /// Directories to create before the start (an own HOME or TMPDIR).
    pub dirs: Vec<PathBuf>,
    /// Files to write before the start (prompt file, CLI config).
    pub files: Vec<FileToWrite>,
}

/// A file an adapter needs on disk before its CLI starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToWrite {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// Why a command line could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the prompt is {len} bytes; {adapter} takes it as one argument, which Linux limits to {limit} bytes"
    )]
    PromptTooLong { adapter: String, len: usize, limit: usize },
    #[error("{adapter} cannot take the prompt {prompt:?}: the CLI reads it as an instruction")]
    UnsupportedPrompt { adapter: String, prompt: String },
    #[error(
        "claude refuses --permission-mode bypassPermissions when run as root unless IS_SANDBOX=1 is set"
    )]
    RootBypass,
    #[error("the command template is empty")]
    EmptyTemplate,
    #[error("the command template uses {{task_id}} but the request has no task id")]
    MissingTaskId,
    #[error("cannot encode {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Linux refuses a single argv element of 32 pages (`MAX_ARG_STRLEN`) or more.
pub(crate) const MAX_ARG_LEN: usize = 128 * 1024 - 1;

/// Rejects prompts that cannot travel as one argv element.
pub(crate) fn check_prompt_fits_argv(adapter: &str, prompt: &str) -> Result<(), BuildError> {
    if prompt.len() > MAX_ARG_LEN {
        return Err(BuildError::PromptTooLong {
            adapter: adapter.to_string(),
            len: prompt.len(),
            limit: MAX_ARG_LEN,
        });
    }
    Ok(())
}
