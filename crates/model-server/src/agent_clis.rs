//! Where the pinned agent CLIs for tests live: `scripts/test-deps`
//! installs them with npm into `$ORCA_TEST_TOOLS` (default
//! `~/.cache/orca/test-tools`).

use std::fmt;
use std::path::PathBuf;

/// The directory `scripts/test-deps` installs the agent CLIs into.
pub fn test_tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCA_TEST_TOOLS").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    home.join(".cache/orca/test-tools")
}

/// A pinned agent CLI is not installed.
#[derive(thiserror::Error)]
#[error(
    "the pinned `{name}` CLI is not installed at {}: run scripts/test-deps \
     (it installs the agent CLIs into $ORCA_TEST_TOOLS, default ~/.cache/orca/test-tools)",
    path.display()
)]
pub struct MissingAgentCli {
    /// The CLI's name.
    pub name: &'static str,
    /// Where it was looked for.
    pub path: PathBuf,
}

// `unwrap()` prints Debug: make that the readable message too.
impl fmt::Debug for MissingAgentCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn agent_cli(name: &'static str) -> Result<PathBuf, MissingAgentCli> {
    let path = test_tools_dir().join("node_modules/.bin").join(name);
    if path.is_file() { Ok(path) } else { Err(MissingAgentCli { name, path }) }
}

/// The pinned `claude` (Claude Code) binary.
pub fn claude_bin() -> Result<PathBuf, MissingAgentCli> {
    agent_cli("claude")
}

/// The pinned `codex` binary (its Node launcher).
pub fn codex_bin() -> Result<PathBuf, MissingAgentCli> {
    agent_cli("codex")
}

/// The pinned `gemini` (Gemini CLI, a Node script).
pub fn gemini_bin() -> Result<PathBuf, MissingAgentCli> {
    agent_cli("gemini")
}

/// The pinned `opencode` binary.
pub fn opencode_bin() -> Result<PathBuf, MissingAgentCli> {
    agent_cli("opencode")
}

/// The pinned `qwen` (Qwen Code, a Node script).
pub fn qwen_bin() -> Result<PathBuf, MissingAgentCli> {
    agent_cli("qwen")
}
