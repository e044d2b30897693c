//! Running one agent under supervision: its own process group, stdin from
//! /dev/null, a stall watchdog, a hard timeout, two-step cancel, and no
//! process of the group left behind.
//!
//! One task owns all state of a run and reacts to one stream of inputs
//! (output lines, the exit, timers, the cancel token); callers read the
//! normalized events as a stream and then the outcome.

mod cancel;
mod group;
mod log;
mod policy;
mod run;
mod supervisor;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

pub use cancel::{CancelLevel, CancelToken};
pub use group::{ProcessGroup, group_members};
pub use policy::{DurationError, StopSignal, SupervisionPolicy, format_duration, parse_duration};
pub use run::{AgentOutcome, AgentRun};

use crate::adapter::{Adapter, BuildError};
use crate::environment::HostEnv;
use crate::program::locate;
use crate::request::AgentRequest;
use crate::run_files::RunFiles;
use log::{CommandRecord, RunLog, RunRecord};
use supervisor::{Setup, Supervisor, read_lines};

/// Why an agent could not be started, or its supervision failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot find the {adapter} program {program:?} on PATH")]
    ProgramNotFound { adapter: String, program: PathBuf },
    #[error("the working directory {0} does not exist")]
    Workdir(PathBuf),
    #[error("cannot prepare {path}")]
    Prepare {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start {program}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lost track of the agent process")]
    Wait(#[source] io::Error),
    #[error("the supervisor task ended abnormally")]
    Supervisor(#[source] tokio::task::JoinError),
}

/// Starts one agent and supervises it on the current tokio runtime.
///
/// `log_dir` receives the prompt, the raw output, the normalized events and
/// `run.json`. Errors before the process runs come back here; everything
/// after is in the outcome.
pub fn run_agent(
    adapter: Arc<dyn Adapter>,
    request: &AgentRequest,
    host: &HostEnv,
    policy: SupervisionPolicy,
    log_dir: impl Into<PathBuf>,
    cancel: CancelToken,
) -> Result<AgentRun, RunError> {
    // Absolute: adapters put these paths in argv and env, and the agent
    // runs in another directory.
    let log_dir = log_dir.into();
    let log_dir = std::path::absolute(&log_dir)
        .map_err(|source| RunError::Prepare { path: log_dir.clone(), source })?;
    let files = RunFiles::new(log_dir);
    let invocation = adapter.invocation(request, host, files.dir())?;
    let program = locate(&invocation.program, invocation.env.get("PATH").map(OsString::as_os_str))
        .ok_or_else(|| RunError::ProgramNotFound {
            adapter: adapter.name().to_string(),
            program: invocation.program.clone(),
        })?;
    if !invocation.cwd.is_dir() {
        return Err(RunError::Workdir(invocation.cwd.clone()));
    }
    let prepare = |path: &Path, source| RunError::Prepare { path: path.to_path_buf(), source };
    let mut log = RunLog::create(files.clone()).map_err(|e| prepare(files.dir(), e))?;
    std::fs::write(files.prompt(), &request.prompt).map_err(|e| prepare(&files.prompt(), e))?;
    for dir in &invocation.dirs {
        std::fs::create_dir_all(dir).map_err(|e| prepare(dir, e))?;
    }
    for file in &invocation.files {
        if let Some(parent) = file.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| prepare(parent, e))?;
        }
        std::fs::write(&file.path, &file.contents).map_err(|e| prepare(&file.path, e))?;
    }

    let mut command = tokio::process::Command::new(&program);
    command
        .args(&invocation.args)
        .env_clear()
        .envs(&invocation.env)
        .current_dir(&invocation.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: signals reach grandchildren, and the terminal's
        // Ctrl-C reaches orca only, which decides.
        .process_group(0)
        .kill_on_drop(true);
    let mut child =
        command.spawn().map_err(|source| RunError::Spawn { program: program.clone(), source })?;
    let pid = child.id().expect("a child that was just spawned has a pid");
    let group = ProcessGroup::new(pid);

    let record = CommandRecord {
        adapter: adapter.name().to_string(),
        program,
        args: invocation.args.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        env: invocation.env.keys().cloned().collect(),
        cwd: invocation.cwd.clone(),
        pid,
        started_at_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    log.run_json(&RunRecord { command: &record, outcome: None });

    let (stdout_tx, stdout_rx) = mpsc::channel(256);
    let (stderr_tx, stderr_rx) = mpsc::channel(256);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let readers =
        [tokio::spawn(read_lines(stdout, stdout_tx)), tokio::spawn(read_lines(stderr, stderr_tx))];
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let supervisor = Supervisor::new(Setup {
        adapter: adapter.name().to_string(),
        parser: adapter.parser(),
        stderr_is_activity: adapter.stderr_is_activity(),
        policy,
        cancel,
        log,
        record,
        files,
        events: events_tx,
    });
    let task = tokio::spawn(supervisor.run(child, group, stdout_rx, stderr_rx, readers));
    Ok(AgentRun { pid, events: events_rx, task: Some(task) })
}
