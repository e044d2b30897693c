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

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

pub use cancel::{CancelLevel, CancelToken};
pub use group::group_members;
pub use policy::{DurationError, StopSignal, SupervisionPolicy, format_duration, parse_duration};

use crate::adapter::{Adapter, BuildError, EventParser, ExitInfo};
use crate::environment::HostEnv;
use crate::event::{AgentEvent, ErrorKind, Finish, Limit, StopReason, Usage};
use crate::program::locate;
use crate::request::AgentRequest;
use crate::run_files::RunFiles;
use group::ProcessGroup;
use log::RunLog;

/// How often the group is checked for leftovers once the agent exited.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// After SIGKILL, how long to wait for the kernel to remove the group
/// before reporting survivors (processes stuck in uninterruptible sleep).
const KILL_SETTLE: Duration = Duration::from_secs(10);
/// Once the group is gone, how long its pipes may stay open at least
/// (normally they close at once).
const DRAIN_MIN: Duration = Duration::from_secs(1);
/// stderr lines kept to explain a crash.
const STDERR_TAIL: usize = 12;

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

/// The result of one agent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentOutcome {
    pub adapter: String,
    /// Serialized flat: `"status": "failed", "kind": ..., "message": ...`.
    #[serde(flatten)]
    pub status: Finish,
    /// The agent's session id (resume it with `AgentRequest::resume_session`).
    pub session_id: Option<String>,
    /// Total tokens.
    pub usage: Usage,
    /// Total cost in USD, when the CLI reports it.
    pub cost_usd: Option<f64>,
    /// The last rate or usage limit reported.
    pub limit: Option<Limit>,
    pub exit: ExitInfo,
    /// Set when orca stopped the agent.
    pub stopped: Option<StopReason>,
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
    /// The agent's pid, which is also its process group id.
    pub pid: u32,
    /// Processes of the group still alive after the agent exited; orca
    /// killed them.
    pub leftovers_killed: usize,
    /// Processes that survived even SIGKILL (should be empty).
    pub survivors: Vec<u32>,
    pub log_dir: PathBuf,
    /// A log file could not be written.
    pub log_error: Option<String>,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// A running agent: a stream of its events, then its outcome. Dropping it
/// kills the agent's whole process group.
#[derive(Debug)]
pub struct AgentRun {
    pid: u32,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    task: Option<JoinHandle<Result<AgentOutcome, RunError>>>,
}

impl AgentRun {
    /// The agent's pid (and process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next event; `None` after `Finished`.
    pub async fn next_event(&mut self) -> Option<AgentEvent> {
        self.events.recv().await
    }

    /// Waits for the end. Events not read yet are dropped (they are in
    /// `events.jsonl`).
    pub async fn outcome(mut self) -> Result<AgentOutcome, RunError> {
        self.events.close();
        let task = self.task.take().expect("the supervisor task is taken only here");
        task.await.map_err(RunError::Supervisor)?
    }
}

impl futures_core::Stream for AgentRun {
    type Item = AgentEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AgentEvent>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        // Aborting drops the supervisor, whose process-group guard kills
        // every process of the agent.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What `run.json` says about the command (environment values stay out:
/// they hold API keys).
#[derive(Debug, Clone, Serialize)]
struct CommandRecord {
    adapter: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    cwd: PathBuf,
    pid: u32,
    started_at_unix: u64,
}

#[derive(Serialize)]
struct RunRecord<'a> {
    command: &'a CommandRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a AgentOutcome>,
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

    let supervisor = Supervisor {
        adapter: adapter.name().to_string(),
        parser: adapter.parser(),
        stderr_is_activity: adapter.stderr_is_activity(),
        policy,
        cancel,
        log,
        record,
        files,
        events: events_tx,
        started: Instant::now(),
        last_activity: Instant::now(),
        stopped: None,
        kill_at: None,
        killed_at: None,
        session_id: None,
        usage: Usage::default(),
        cost_usd: None,
        limit: None,
        stderr_tail: VecDeque::new(),
        leftovers_killed: 0,
    };
    let task = tokio::spawn(supervisor.run(child, group, stdout_rx, stderr_rx, readers));
    Ok(AgentRun { pid, events: events_rx, task: Some(task) })
}

/// Forwards complete lines (with their newline) until EOF.
async fn read_lines(stream: impl AsyncRead + Unpin, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {
                if lines.send(line).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read agent output");
                break;
            }
        }
    }
}

/// The owner of one run's state.
struct Supervisor {
    adapter: String,
    parser: Box<dyn EventParser>,
    stderr_is_activity: bool,
    policy: SupervisionPolicy,
    /// Held so the token's channel stays open while the run lasts.
    cancel: CancelToken,
    log: RunLog,
    record: CommandRecord,
    files: RunFiles,
    events: mpsc::UnboundedSender<AgentEvent>,
    started: Instant,
    last_activity: Instant,
    stopped: Option<StopReason>,
    /// When the group gets SIGKILL (after the grace period).
    kill_at: Option<Instant>,
    killed_at: Option<Instant>,
    session_id: Option<String>,
    usage: Usage,
    cost_usd: Option<f64>,
    limit: Option<Limit>,
    stderr_tail: VecDeque<String>,
    leftovers_killed: usize,
}

/// A deadline for `select!` branches that may have none.
fn deadline(at: Option<Instant>) -> Instant {
    at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
}

impl Supervisor {
    async fn run(
        mut self,
        mut child: tokio::process::Child,
        mut group: ProcessGroup,
        mut stdout: mpsc::Receiver<Vec<u8>>,
        mut stderr: mpsc::Receiver<Vec<u8>>,
        readers: [JoinHandle<()>; 2],
    ) -> Result<AgentOutcome, RunError> {
        let pid = self.record.pid;
        let mut cancel = self.cancel.subscribe();
        let mut stdout_open = true;
        let mut stderr_open = true;
        let mut status: Option<ExitStatus> = None;
        // Once the agent exited: is its group empty yet, and until when do
        // we wait for pipes that escaped processes may hold open.
        let mut group_empty = false;
        let mut next_group_poll: Option<Instant> = None;
        let mut drain_until: Option<Instant> = None;
        let mut survivors = Vec::new();

        let level = self.cancel.level();
        self.on_cancel(level, &group);

        loop {
            if status.is_some() && group_empty && !stdout_open && !stderr_open {
                break;
            }
            let running = status.is_none();
            let stall_at = self
                .policy
                .stall_timeout
                .filter(|_| running && self.stopped.is_none())
                .map(|stall| self.last_activity + stall);
            let timeout_at = self
                .policy
                .timeout
                .filter(|_| running && self.stopped.is_none())
                .map(|timeout| self.started + timeout);
            let kill_at = self.kill_at.filter(|_| self.killed_at.is_none());
            let give_up_at = self
                .killed_at
                .filter(|_| status.is_some() && !group_empty)
                .map(|at| at + KILL_SETTLE);

            tokio::select! {
                line = stdout.recv(), if stdout_open => match line {
                    Some(line) => self.on_stdout(&line),
                    None => stdout_open = false,
                },
                line = stderr.recv(), if stderr_open => match line {
                    Some(line) => self.on_stderr(&line),
                    None => stderr_open = false,
                },
                exited = child.wait(), if running => {
                    status = Some(exited.map_err(RunError::Wait)?);
                    next_group_poll = Some(Instant::now());
                }
                changed = cancel.changed() => {
                    if changed.is_ok() {
                        let level = *cancel.borrow_and_update();
                        self.on_cancel(level, &group);
                    }
                }
                () = sleep_until(deadline(stall_at)), if stall_at.is_some() => {
                    self.begin_stop(StopReason::Stalled, &group);
                }
                () = sleep_until(deadline(timeout_at)), if timeout_at.is_some() => {
                    self.begin_stop(StopReason::TimedOut, &group);
                }
                () = sleep_until(deadline(kill_at)), if kill_at.is_some() => {
                    self.kill(&group);
                }
                () = sleep_until(deadline(next_group_poll)), if next_group_poll.is_some() && !group_empty => {
                    let members = group.members();
                    if members.is_empty() {
                        group_empty = true;
                        group.disarm();
                        next_group_poll = None;
                        drain_until = Some(Instant::now() + self.policy.grace.max(DRAIN_MIN));
                    } else {
                        if self.leftovers_killed == 0 {
                            self.leftovers_killed = members.len();
                            tracing::info!(pid, leftovers = ?members, "agent exited, its group did not");
                        }
                        if self.kill_at.is_none() {
                            // The agent is gone but left processes behind.
                            group.signal(self.policy.stop_signal.signal());
                            self.kill_at = Some(Instant::now() + self.policy.grace);
                        } else if self.killed_at.is_some() {
                            // Whatever was forked while SIGKILL went out.
                            group.signal(Signal::SIGKILL);
                        }
                        next_group_poll = Some(Instant::now() + GROUP_POLL);
                    }
                }
                () = sleep_until(deadline(give_up_at)), if give_up_at.is_some() => {
                    survivors = group.members();
                    tracing::error!(pid, ?survivors, "processes survived SIGKILL");
                    group_empty = true;
                    drain_until = Some(Instant::now());
                }
                () = sleep_until(deadline(drain_until)), if drain_until.is_some() => {
                    // A process outside the group holds the pipes open.
                    tracing::warn!(pid, "agent output still open after its group ended");
                    break;
                }
            }
        }
        for reader in readers {
            reader.abort();
        }
        // Lines the readers forwarded before the loop ended.
        while let Ok(line) = stdout.try_recv() {
            self.on_stdout(&line);
        }
        while let Ok(line) = stderr.try_recv() {
            self.on_stderr(&line);
        }

        let status = status.expect("the loop ends only after the exit");
        let exit = ExitInfo {
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
        };
        let finish = self.verdict(&exit);
        self.emit(AgentEvent::Finished(finish.clone()));
        let outcome = AgentOutcome {
            adapter: self.adapter.clone(),
            status: finish,
            session_id: self.session_id.clone(),
            usage: self.usage,
            cost_usd: self.cost_usd,
            limit: self.limit.clone(),
            exit,
            stopped: self.stopped,
            duration: self.started.elapsed(),
            pid,
            leftovers_killed: self.leftovers_killed,
            survivors,
            log_dir: self.files.dir().to_path_buf(),
            log_error: self.log.error().map(str::to_string),
        };
        self.log.run_json(&RunRecord { command: &self.record, outcome: Some(&outcome) });
        Ok(AgentOutcome { log_error: self.log.error().map(str::to_string), ..outcome })
    }

    fn on_stdout(&mut self, line: &[u8]) {
        self.last_activity = Instant::now();
        self.log.stdout(line);
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        for event in self.parser.parse_line(text) {
            match &event {
                AgentEvent::Started { session_id, .. } => {
                    self.session_id = Some(session_id.clone())
                }
                AgentEvent::Usage(usage) => self.usage.add(usage),
                AgentEvent::Cost { usd } => *self.cost_usd.get_or_insert(0.0) += usd,
                AgentEvent::Limited(limit) => self.limit = Some(limit.clone()),
                _ => {}
            }
            self.emit(event);
        }
    }

    fn on_stderr(&mut self, line: &[u8]) {
        if self.stderr_is_activity {
            self.last_activity = Instant::now();
        }
        self.log.stderr(line);
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        self.parser.note_stderr(text);
        if !text.trim().is_empty() {
            if self.stderr_tail.len() == STDERR_TAIL {
                self.stderr_tail.pop_front();
            }
            self.stderr_tail.push_back(text.to_string());
        }
    }

    fn emit(&mut self, event: AgentEvent) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.log.event(elapsed, &event);
        // The receiver may be gone (the caller only wants the outcome).
        let _ = self.events.send(event);
    }

    fn on_cancel(&mut self, level: CancelLevel, group: &ProcessGroup) {
        match level {
            CancelLevel::Running => {}
            CancelLevel::Stop => self.begin_stop(StopReason::Cancelled, group),
            CancelLevel::Kill => {
                self.begin_stop(StopReason::Cancelled, group);
                self.kill(group);
            }
        }
    }

    /// The polite signal to the whole group; SIGKILL follows after the grace.
    fn begin_stop(&mut self, reason: StopReason, group: &ProcessGroup) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        let signal = self.policy.stop_signal.signal();
        tracing::info!(pid = self.record.pid, ?reason, %signal, "stopping agent");
        self.emit(AgentEvent::Stopping { reason, signal: signal.as_str().to_string() });
        group.signal(signal);
        self.kill_at = Some(Instant::now() + self.policy.grace);
    }

    fn kill(&mut self, group: &ProcessGroup) {
        if self.killed_at.is_some() {
            return;
        }
        if let Some(reason) = self.stopped {
            self.emit(AgentEvent::Stopping {
                reason,
                signal: Signal::SIGKILL.as_str().to_string(),
            });
        }
        group.signal(Signal::SIGKILL);
        self.killed_at = Some(Instant::now());
    }

    /// The parser's verdict, or why orca stopped the agent, with stderr to
    /// explain crashes. A stopped agent never counts as a success, even
    /// when it exits 0 on the stop signal.
    fn verdict(&mut self, exit: &ExitInfo) -> Finish {
        let reported = self.parser.conclude(exit);
        let finish = match self.stopped {
            Some(reason) => Finish::failed(reason.error_kind(), self.stop_message(reason)),
            None => reported,
        };
        match finish {
            Finish::Failed { kind: kind @ (ErrorKind::Crashed | ErrorKind::Failed), message }
                if !self.stderr_tail.is_empty() =>
            {
                let tail: Vec<&str> = self.stderr_tail.iter().map(String::as_str).collect();
                Finish::failed(kind, format!("{message}; stderr: {}", tail.join(" | ")))
            }
            other => other,
        }
    }

    fn stop_message(&self, reason: StopReason) -> String {
        match reason {
            StopReason::Stalled => format!(
                "no output for {}; stopped",
                format_duration(self.policy.stall_timeout.unwrap_or_default())
            ),
            StopReason::TimedOut => format!(
                "still running after {}; stopped",
                format_duration(self.policy.timeout.unwrap_or_default())
            ),
            StopReason::Cancelled => "cancelled".to_string(),
        }
    }
}
