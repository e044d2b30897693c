//! Writes one run's files as the run goes: raw stdout and stderr, the
//! normalized events, and `run.json`. Each line is flushed at once so a
//! crash of orca loses nothing the agent printed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::AgentOutcome;
use crate::event::AgentEvent;
use crate::run_files::RunFiles;

#[derive(Debug)]
pub(crate) struct RunLog {
    files: RunFiles,
    stdout: File,
    stderr: File,
    events: File,
    /// The first write error; later ones are dropped (the run goes on).
    error: Option<String>,
}

/// One line of `events.jsonl`.
#[derive(Serialize)]
struct LoggedEvent<'a> {
    elapsed_ms: u64,
    #[serde(flatten)]
    event: &'a AgentEvent,
}

impl RunLog {
    /// Creates the files (truncating earlier ones of the same directory).
    pub(crate) fn create(files: RunFiles) -> io::Result<Self> {
        fs::create_dir_all(files.dir())?;
        Ok(RunLog {
            stdout: File::create(files.stdout())?,
            stderr: File::create(files.stderr())?,
            events: File::create(files.events())?,
            files,
            error: None,
        })
    }

    pub(crate) fn stdout(&mut self, bytes: &[u8]) {
        let result = self.stdout.write_all(bytes);
        self.note(result, "stdout.log");
    }

    pub(crate) fn stderr(&mut self, bytes: &[u8]) {
        let result = self.stderr.write_all(bytes);
        self.note(result, "stderr.log");
    }

    pub(crate) fn event(&mut self, elapsed_ms: u64, event: &AgentEvent) {
        let result = serde_json::to_vec(&LoggedEvent { elapsed_ms, event })
            .map_err(io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                self.events.write_all(&line)
            });
        self.note(result, "events.jsonl");
    }

    /// Replaces `run.json` atomically (write, then rename).
    pub(crate) fn run_json(&mut self, value: &impl Serialize) {
        let result = write_json_atomically(&self.files.run(), value);
        self.note(result, "run.json");
    }

    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn note(&mut self, result: io::Result<()>, file: &str) {
        if let Err(error) = result
            && self.error.is_none()
        {
            tracing::warn!(dir = %self.files.dir().display(), file, %error, "cannot write agent log");
            self.error = Some(format!("cannot write {file}: {error}"));
        }
    }
}

fn write_json_atomically(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.set_extension("json.tmp");
    let mut text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    text.push(b'\n');
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

/// What `run.json` says about the command (environment values stay out:
/// they hold API keys).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CommandRecord {
    pub(crate) adapter: String,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) cwd: PathBuf,
    pub(crate) pid: u32,
    pub(crate) started_at_unix: u64,
}

#[derive(Serialize)]
pub(crate) struct RunRecord<'a> {
    pub(crate) command: &'a CommandRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<&'a AgentOutcome>,
}
