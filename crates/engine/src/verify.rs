//! Runs a task's `verify` command in its worktree: argv only (never a
//! shell), in its own process group, with a time limit, stopped on request
//! (Ctrl-C), stdout and stderr interleaved into one log file, and the tail
//! kept for the retry prompt.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use orca_agents::{CancelToken, ProcessGroup};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;

/// How much of the output is kept in memory (the tail; the log has all).
pub const KEPT_OUTPUT: usize = 64 * 1024;

/// How long a timed-out or stopped command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// What running `verify` showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub status: VerifyStatus,
    /// The last [`KEPT_OUTPUT`] bytes of stdout and stderr, interleaved.
    pub output: String,
    pub duration: Duration,
}

/// How `verify` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyStatus {
    Passed,
    /// Exited non-zero, or was killed by a signal (`code` is then None).
    Failed {
        code: Option<i32>,
    },
    TimedOut {
        after: Duration,
    },
    /// Stopped on request (Ctrl-C): it says nothing about the work.
    Interrupted,
    /// The program could not be started (not found, not executable).
    NotStarted {
        error: String,
    },
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.status == VerifyStatus::Passed
    }

    /// One line for people and prompts: what happened.
    pub fn describe(&self, command: &str) -> String {
        match &self.status {
            VerifyStatus::Passed => format!("`{command}` passed"),
            VerifyStatus::Failed { code: Some(code) } => {
                format!("`{command}` exited with status {code}")
            }
            VerifyStatus::Failed { code: None } => format!("`{command}` was killed by a signal"),
            VerifyStatus::TimedOut { after } => {
                format!("`{command}` did not finish within {}s and was killed", after.as_secs())
            }
            VerifyStatus::NotStarted { error } => format!("`{command}` could not start: {error}"),
            VerifyStatus::Interrupted => format!("`{command}` was stopped before it finished"),
        }
    }
}

/// Runs `argv` in `workdir`, writing everything it prints to `log`, until
/// it ends, `timeout` passes or `cancel` asks it to stop. `on_start` hears
/// the process's pid (its process group's ID too), so that a caller can
/// note it where a later `orca resume` finds it.
///
/// # Panics
/// If `argv` is empty (the plan parser never produces that).
pub async fn run_verify(
    argv: &[String],
    workdir: &Path,
    timeout: Duration,
    log: &Path,
    cancel: &CancelToken,
    on_start: impl FnOnce(u32),
) -> VerifyReport {
    assert!(!argv.is_empty(), "verify needs a program");
    let started = Instant::now();
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Found by `orca resume` even when orca died before writing its pid file.
    if let Some(dir) = log.parent() {
        command.env(crate::process::PROCESS_DIR_ENV, dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return VerifyReport {
                status: VerifyStatus::NotStarted { error: error.to_string() },
                output: String::new(),
                duration: started.elapsed(),
            };
        }
    };
    let mut group = child.id().map(ProcessGroup::new);
    if let Some(pid) = child.id() {
        on_start(pid);
    }
    let (chunks, mut received) = mpsc::channel::<Vec<u8>>(64);
    let readers = [
        child.stdout.take().map(|out| tokio::spawn(forward(out, chunks.clone()))),
        child.stderr.take().map(|err| tokio::spawn(forward(err, chunks.clone()))),
    ];
    drop(chunks);
    let mut file = tokio::fs::File::create(log).await.ok();
    let mut kept: Vec<u8> = Vec::new();
    let collect = async {
        while let Some(chunk) = received.recv().await {
            if let Some(file) = file.as_mut() {
                let _ = file.write_all(&chunk).await;
            }
            kept.extend_from_slice(&chunk);
            if kept.len() > 2 * KEPT_OUTPUT {
                kept.drain(..kept.len() - KEPT_OUTPUT);
            }
        }
    };
    let status = tokio::select! {
        (status, ()) = async { tokio::join!(child.wait(), collect) } => match status {
            Ok(status) if status.success() => VerifyStatus::Passed,
            Ok(status) => VerifyStatus::Failed { code: status.code() },
            Err(error) => VerifyStatus::NotStarted { error: error.to_string() },
        },
        () = tokio::time::sleep(timeout) => {
            end_group(&mut child, group.as_ref()).await;
            VerifyStatus::TimedOut { after: timeout }
        }
        () = cancel.stopped() => {
            end_group(&mut child, group.as_ref()).await;
            VerifyStatus::Interrupted
        }
    };
    // Whatever the command left behind in its group goes with it.
    if let Some(group) = group.as_mut() {
        if !group.is_empty() {
            group.signal(Signal::SIGKILL);
        }
        group.disarm();
    }
    for reader in readers.into_iter().flatten() {
        reader.abort();
    }
    if kept.len() > KEPT_OUTPUT {
        kept.drain(..kept.len() - KEPT_OUTPUT);
    }
    VerifyReport {
        status,
        output: String::from_utf8_lossy(&kept).into_owned(),
        duration: started.elapsed(),
    }
}

/// SIGTERM to the command's group, SIGKILL after [`GRACE`].
async fn end_group(child: &mut tokio::process::Child, group: Option<&ProcessGroup>) {
    if let Some(group) = group {
        group.signal(Signal::SIGTERM);
    }
    if tokio::time::timeout(GRACE, child.wait()).await.is_err()
        && let Some(group) = group
    {
        group.signal(Signal::SIGKILL);
    }
    let _ = child.wait().await;
}

async fn forward(mut stream: impl AsyncRead + Unpin, chunks: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if chunks.send(buffer[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// Runs `argv` as verify without a cancel token or a start hook.
    async fn check(argv: &[String], dir: &Path, timeout: Duration, log: &Path) -> VerifyReport {
        run_verify(argv, dir, timeout, log, &CancelToken::new(), |_| {}).await
    }

    #[tokio::test]
    async fn passing_and_failing_commands_report_status_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("verify.log");
        let ok = check(
            &argv(&["sh", "-c", "echo fine; echo warn >&2"]),
            dir.path(),
            Duration::from_secs(30),
            &log,
        )
        .await;
        assert!(ok.passed(), "{ok:?}");
        assert!(ok.output.contains("fine") && ok.output.contains("warn"), "{:?}", ok.output);
        assert!(std::fs::read_to_string(&log).unwrap().contains("fine"));

        let bad = check(
            &argv(&["sh", "-c", "echo broken; exit 3"]),
            dir.path(),
            Duration::from_secs(30),
            &log,
        )
        .await;
        assert_eq!(bad.status, VerifyStatus::Failed { code: Some(3) });
        assert_eq!(bad.describe("check"), "`check` exited with status 3");
        assert!(bad.output.contains("broken"));
    }

    #[tokio::test]
    async fn arguments_are_never_interpreted_by_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("verify.log");
        let marker = dir.path().join("pwned");
        let text = format!("$(touch {}); `touch {}`", marker.display(), marker.display());
        let report =
            check(&argv(&["echo", &text]), dir.path(), Duration::from_secs(30), &log).await;
        assert!(report.passed());
        assert!(report.output.contains("$(touch"), "{:?}", report.output);
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_not_started() {
        let dir = tempfile::tempdir().unwrap();
        let report = check(
            &argv(&["orca-no-such-program"]),
            dir.path(),
            Duration::from_secs(5),
            &dir.path().join("log"),
        )
        .await;
        assert!(matches!(report.status, VerifyStatus::NotStarted { .. }), "{report:?}");
    }

    #[tokio::test]
    async fn a_hung_command_and_its_children_are_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The child ignores SIGTERM and leaves a grandchild behind.
        let script = format!(
            "trap '' TERM; sleep 300 & echo $! > {}; echo $$ >> {}; wait",
            pids.display(),
            pids.display()
        );
        let report = check(
            &argv(&["sh", "-c", &script]),
            dir.path(),
            Duration::from_millis(500),
            &dir.path().join("log"),
        )
        .await;
        assert!(matches!(report.status, VerifyStatus::TimedOut { .. }), "{report:?}");
        let recorded = std::fs::read_to_string(&pids).unwrap();
        for pid in recorded.split_whitespace() {
            let alive = || {
                Path::new(&format!("/proc/{pid}")).exists()
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .unwrap_or_default()
                        .contains(") Z ")
            };
            // SIGKILL is delivered at once, but a loaded machine may take
            // a moment to finish the process off.
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!alive(), "process {pid} survived the timeout");
        }
    }

    #[tokio::test]
    async fn a_stop_request_ends_the_command_and_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancelToken::new();
        let stopper = cancel.clone();
        let mut seen = None;
        // It would run for minutes, ignores SIGTERM and starts a child.
        let report = run_verify(
            &argv(&["sh", "-c", "trap '' TERM; sleep 300 & wait"]),
            dir.path(),
            Duration::from_secs(600),
            &dir.path().join("log"),
            &cancel,
            |pid| {
                seen = Some(pid);
                stopper.stop();
            },
        )
        .await;
        assert_eq!(report.status, VerifyStatus::Interrupted, "{report:?}");
        assert_eq!(report.describe("check"), "`check` was stopped before it finished");
        let pid = seen.expect("the pid is reported");
        // Killed processes may take a moment to finish on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !orca_agents::group_members(pid).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(orca_agents::group_members(pid).is_empty(), "the group outlived the stop");
    }

    #[tokio::test]
    async fn only_the_tail_of_a_huge_output_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let script = "i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo THE-END";
        let report = check(
            &argv(&["sh", "-c", script]),
            dir.path(),
            Duration::from_secs(60),
            &dir.path().join("log"),
        )
        .await;
        assert!(report.passed());
        assert!(report.output.len() <= KEPT_OUTPUT);
        assert!(report.output.trim_end().ends_with("THE-END"));
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.starts_with("line-0-"), "the log keeps everything");
    }
}
