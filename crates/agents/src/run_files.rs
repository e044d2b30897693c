//! The files one agent run leaves in its directory.

use std::path::{Path, PathBuf};

/// Names of the files in a run directory. docs/agents.md lists them.
#[derive(Debug, Clone)]
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunFiles { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The prompt, exactly as given.
    pub fn prompt(&self) -> PathBuf {
        self.dir.join("prompt.md")
    }

    /// The agent's stdout, byte for byte (JSON lines for the agent CLIs).
    pub fn stdout(&self) -> PathBuf {
        self.dir.join("stdout.log")
    }

    /// The agent's stderr, byte for byte.
    pub fn stderr(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }

    /// The normalized events, one JSON object per line.
    pub fn events(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// The command line (environment names only, no values) and, at the
    /// end, the outcome.
    pub fn run(&self) -> PathBuf {
        self.dir.join("run.json")
    }
}
