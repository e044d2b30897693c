//! The task that owns one run: it reacts to output lines, the exit, the
//! timers and the cancel token, and decides the verdict.

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::cancel::{CancelLevel, CancelToken};
use super::group::ProcessGroup;
use super::log::{CommandRecord, RunLog, RunRecord};
use super::policy::{SupervisionPolicy, format_duration};
use super::{AgentOutcome, RunError};
use crate::adapter::{EventParser, ExitInfo};
use crate::event::{AgentEvent, ErrorKind, Finish, Limit, StopReason, Usage};
use crate::run_files::RunFiles;

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

/// Forwards complete lines (with their newline) until EOF.
pub(super) async fn read_lines(stream: impl AsyncRead + Unpin, lines: mpsc::Sender<Vec<u8>>) {
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
pub(super) struct Supervisor {
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

/// What the supervisor needs from `run_agent`.
pub(super) struct Setup {
    pub(super) adapter: String,
    pub(super) parser: Box<dyn EventParser>,
    pub(super) stderr_is_activity: bool,
    pub(super) policy: SupervisionPolicy,
    pub(super) cancel: CancelToken,
    pub(super) log: RunLog,
    pub(super) record: CommandRecord,
    pub(super) files: RunFiles,
    pub(super) events: mpsc::UnboundedSender<AgentEvent>,
}

impl Supervisor {
    pub(super) fn new(setup: Setup) -> Self {
        let now = Instant::now();
        Supervisor {
            adapter: setup.adapter,
            parser: setup.parser,
            stderr_is_activity: setup.stderr_is_activity,
            policy: setup.policy,
            cancel: setup.cancel,
            log: setup.log,
            record: setup.record,
            files: setup.files,
            events: setup.events,
            started: now,
            last_activity: now,
            stopped: None,
            kill_at: None,
            killed_at: None,
            session_id: None,
            usage: Usage::default(),
            cost_usd: None,
            limit: None,
            stderr_tail: VecDeque::new(),
            leftovers_killed: 0,
        }
    }
}

/// A deadline for `select!` branches that may have none.
fn deadline(at: Option<Instant>) -> Instant {
    at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
}

impl Supervisor {
    pub(super) async fn run(
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
                    let members = if group.is_empty() { Vec::new() } else { group.members() };
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
