//! Supervision with real child processes (small `sh` scripts through the
//! `command` adapter): stall, hard timeout, two-step cancel, leftovers,
//! stdin, clean environment, logs. No fixed sleeps: every wait polls a
//! condition against a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orca_agents::adapters::command::CommandAdapter;
use orca_agents::{
    Adapter, AgentEvent, AgentOutcome, AgentRequest, AgentRun, CancelToken, ErrorKind, HostEnv,
    StopReason, SupervisionPolicy, group_members, run_agent,
};

/// A test's upper bound for anything to happen; far above what it needs.
const PATIENCE: Duration = Duration::from_secs(30);

fn sh(script: &str) -> Arc<dyn Adapter> {
    let template =
        vec!["sh".into(), "-c".into(), script.into(), "sh".into(), "{prompt_file}".into()];
    Arc::new(CommandAdapter::new(template).unwrap())
}

fn host() -> HostEnv {
    HostEnv::from_vars(
        [("PATH", std::env::var("PATH").unwrap()), ("ORCA_TEST_SECRET", "leak".into())],
        false,
    )
}

fn policy(stall: Option<u64>, timeout: Option<u64>, grace_ms: u64) -> SupervisionPolicy {
    SupervisionPolicy {
        stall_timeout: stall.map(Duration::from_millis),
        timeout: timeout.map(Duration::from_millis),
        grace: Duration::from_millis(grace_ms),
        ..SupervisionPolicy::default()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Fixture { dir }
    }

    fn workdir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn start(
        &self,
        adapter: Arc<dyn Adapter>,
        policy: SupervisionPolicy,
        cancel: &CancelToken,
    ) -> AgentRun {
        let request = AgentRequest::new("the task", self.workdir());
        run_agent(adapter, &request, &host(), policy, self.log_dir(), cancel.clone()).unwrap()
    }

    /// Pids the script wrote to `pids` in its working directory.
    fn recorded_pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.workdir().join("pids"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|pid| pid.parse().unwrap())
            .collect()
    }
}

/// Reads events until one matches, failing after `PATIENCE`.
async fn wait_for_event(
    run: &mut AgentRun,
    mut wanted: impl FnMut(&AgentEvent) -> bool,
) -> Vec<AgentEvent> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = run.next_event().await {
            let hit = wanted(&event);
            seen.push(event);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "event not seen; got {seen:#?}");
    seen
}

/// All remaining events, then the outcome.
async fn finish(mut run: AgentRun) -> (Vec<AgentEvent>, AgentOutcome) {
    tokio::time::timeout(PATIENCE, async {
        let mut events = Vec::new();
        while let Some(event) = run.next_event().await {
            events.push(event);
        }
        (events, run.outcome().await.unwrap())
    })
    .await
    .expect("the run ends")
}

/// Alive means: in /proc and not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().next().unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

fn stops(events: &[AgentEvent]) -> Vec<(StopReason, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Stopping { reason, signal } => Some((*reason, signal.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn silent_agent_is_stopped_as_stalled() {
    let fixture = Fixture::new();
    let run = fixture.start(
        sh("echo working; exec sleep 1000"),
        policy(Some(300), None, 2000),
        &CancelToken::new(),
    );
    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Stalled), "{outcome:#?}");
    assert_eq!(outcome.stopped, Some(StopReason::Stalled));
    // sleep dies of SIGTERM: no SIGKILL was needed.
    assert_eq!(outcome.exit.signal, Some(15));
    assert_eq!(stops(&events), [(StopReason::Stalled, "SIGTERM".to_string())]);
    assert!(matches!(events.last(), Some(AgentEvent::Finished(_))));
    assert!(group_members(outcome.pid).is_empty());
}

#[tokio::test]
async fn output_keeps_the_watchdog_quiet() {
    let fixture = Fixture::new();
    // Eight lines 100 ms apart outlast a 400 ms stall timeout only if every
    // line resets the watchdog.
    let script = "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.1; done";
    let run = fixture.start(sh(script), policy(Some(400), None, 1000), &CancelToken::new());
    let (events, outcome) = finish(run).await;
    assert!(outcome.status.is_success(), "{outcome:#?}");
    let ticks = events.iter().filter(|e| matches!(e, AgentEvent::Text { .. })).count();
    assert_eq!(ticks, 8);
}

/// The acceptance case for process groups: the agent ignores SIGTERM and
/// starts a grandchild that ignores it too; after the grace period every
/// recorded process is gone.
#[tokio::test]
async fn stubborn_agent_and_grandchildren_are_killed() {
    let fixture = Fixture::new();
    let script = r#"
        trap '' TERM INT
        echo $$ >> pids
        ( trap '' TERM INT; sleep 1000 & echo $! >> pids; wait ) &
        echo $! >> pids
        # Wait until the grandchild's pid is on record too.
        while [ "$(wc -l < pids)" -lt 3 ]; do sleep 0.01; done
        echo started
        sleep 1000
    "#;
    let mut run = fixture.start(sh(script), policy(Some(500), None, 500), &CancelToken::new());
    wait_for_event(&mut run, |e| matches!(e, AgentEvent::Text { text } if text == "started")).await;
    let pids = fixture.recorded_pids();
    assert_eq!(pids.len(), 3, "pids: {pids:?}");
    assert!(pids.iter().all(|pid| alive(*pid)), "all alive before the stall");

    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Stalled));
    assert_eq!(outcome.exit.signal, Some(9), "only SIGKILL ends it");
    assert_eq!(
        stops(&events),
        [
            (StopReason::Stalled, "SIGTERM".to_string()),
            (StopReason::Stalled, "SIGKILL".to_string())
        ]
    );
    let survivors: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(survivors.is_empty(), "survivors: {survivors:?}");
    assert!(group_members(outcome.pid).is_empty());
    assert!(outcome.survivors.is_empty());
}

#[tokio::test]
async fn hard_timeout_stops_a_busy_agent() {
    let fixture = Fixture::new();
    let script = "while :; do echo busy; sleep 0.05; done";
    let run = fixture.start(sh(script), policy(Some(5_000), Some(600), 1000), &CancelToken::new());
    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::TimedOut), "{outcome:#?}");
    assert_eq!(stops(&events)[0], (StopReason::TimedOut, "SIGTERM".to_string()));
}

#[tokio::test]
async fn first_cancel_stops_gracefully() {
    let fixture = Fixture::new();
    let script = "trap 'echo cleaning up; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let cancel = CancelToken::new();
    let mut run = fixture.start(sh(script), policy(None, None, 20_000), &cancel);
    let mut events =
        wait_for_event(&mut run, |e| matches!(e, AgentEvent::Text { text } if text == "ready"))
            .await;
    cancel.stop();
    let (rest, outcome) = finish(run).await;
    events.extend(rest);
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Cancelled));
    // The agent's own handler ran and it exited by itself, before any SIGKILL.
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Text { text } if text == "cleaning up")));
    assert_eq!(outcome.exit.code, Some(0));
    assert_eq!(stops(&events), [(StopReason::Cancelled, "SIGTERM".to_string())]);
}

#[tokio::test]
async fn second_cancel_kills_at_once() {
    let fixture = Fixture::new();
    let script = "trap '' TERM; echo $$ >> pids; echo ready; while :; do sleep 0.05; done";
    let cancel = CancelToken::new();
    // The grace period is far longer than the test's patience: only the
    // second cancel can end this run in time.
    let mut run = fixture.start(sh(script), policy(None, None, 600_000), &cancel);
    wait_for_event(&mut run, |e| matches!(e, AgentEvent::Text { text } if text == "ready")).await;
    cancel.escalate();
    wait_for_event(
        &mut run,
        |e| matches!(e, AgentEvent::Stopping { signal, .. } if signal == "SIGTERM"),
    )
    .await;
    cancel.escalate();
    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Cancelled));
    assert_eq!(outcome.exit.signal, Some(9));
    assert_eq!(stops(&events), [(StopReason::Cancelled, "SIGKILL".to_string())]);
    assert!(fixture.recorded_pids().iter().all(|pid| !alive(*pid)));
}

#[tokio::test]
async fn leftovers_of_a_finished_agent_are_killed() {
    let fixture = Fixture::new();
    // The background sleep keeps the output pipe open after sh exits 0.
    let script = "sleep 1000 & echo $! >> pids; echo done";
    let run = fixture.start(sh(script), policy(None, None, 1000), &CancelToken::new());
    let (_, outcome) = finish(run).await;
    assert!(outcome.status.is_success(), "{outcome:#?}");
    assert_eq!(outcome.leftovers_killed, 1);
    let pids = fixture.recorded_pids();
    assert_eq!(pids.len(), 1);
    assert!(!alive(pids[0]), "the background sleep was killed");
}

#[tokio::test]
async fn dropping_the_run_kills_the_group() {
    let fixture = Fixture::new();
    let script = "trap '' TERM; echo $$ >> pids; echo ready; sleep 1000";
    let mut run = fixture.start(sh(script), policy(None, None, 60_000), &CancelToken::new());
    wait_for_event(&mut run, |e| matches!(e, AgentEvent::Text { text } if text == "ready")).await;
    let pgid = run.pid();
    drop(run);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !group_members(pgid).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {pgid} still has {:?}",
            group_members(pgid)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stdin_is_dev_null_and_the_environment_is_clean() {
    let fixture = Fixture::new();
    let script = r#"readlink /proc/$$/fd/0; cat; echo "secret=${ORCA_TEST_SECRET:-unset}"; echo "prompt=$(cat "$1")""#;
    let run = fixture.start(sh(script), policy(Some(10_000), None, 1000), &CancelToken::new());
    let (events, outcome) = finish(run).await;
    assert!(outcome.status.is_success(), "{outcome:#?}");
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // `cat` read EOF at once: stdin is /dev/null, not an open pipe.
    assert_eq!(texts, ["/dev/null", "secret=unset", "prompt=the task"]);
}

#[tokio::test]
async fn every_run_leaves_its_logs() {
    let fixture = Fixture::new();
    let script = "echo out one; echo err one >&2; echo out two; exit 3";
    let run = fixture.start(sh(script), policy(None, None, 1000), &CancelToken::new());
    let (events, outcome) = finish(run).await;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Failed));
    let log = fixture.log_dir();
    assert_eq!(read(&log.join("stdout.log")), "out one\nout two\n");
    assert_eq!(read(&log.join("stderr.log")), "err one\n");
    assert_eq!(read(&log.join("prompt.md")), "the task");
    let logged: Vec<serde_json::Value> = read(&log.join("events.jsonl"))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(logged.len(), events.len());
    assert!(logged.iter().all(|e| e["elapsed_ms"].is_u64()));
    assert_eq!(logged.last().unwrap()["type"], "finished");
    assert_eq!(logged.last().unwrap()["message"], "exited with code 3; stderr: err one");
    let run_json: serde_json::Value = serde_json::from_str(&read(&log.join("run.json"))).unwrap();
    assert_eq!(run_json["command"]["program"].as_str().map(|p| p.ends_with("/sh")), Some(true));
    assert_eq!(run_json["outcome"]["exit"]["code"], 3);
    assert_eq!(run_json["outcome"]["kind"], "failed");
}

#[tokio::test]
async fn a_missing_program_is_an_error_before_the_start() {
    let fixture = Fixture::new();
    let adapter: Arc<dyn Adapter> =
        Arc::new(CommandAdapter::new(vec!["no-such-agent-program".into()]).unwrap());
    let request = AgentRequest::new("p", fixture.workdir());
    let error = run_agent(
        adapter,
        &request,
        &host(),
        SupervisionPolicy::default(),
        fixture.log_dir(),
        CancelToken::new(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("no-such-agent-program"), "{error}");
    assert!(!Path::new(&fixture.log_dir()).join("stdout.log").exists());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_run_is_a_stream_of_events() {
    use futures_core::Stream;
    let fixture = Fixture::new();
    let mut run =
        fixture.start(sh("echo a; echo b"), policy(None, None, 1000), &CancelToken::new());
    let mut types = Vec::new();
    while let Some(event) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut run).poll_next(cx)).await
    {
        types.push(serde_json::to_value(&event).unwrap()["type"].as_str().unwrap().to_string());
    }
    assert_eq!(types, ["text", "text", "finished"]);
    assert!(run.outcome().await.unwrap().status.is_success());
}
