//! Scenarios run with each CLI.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{Adapter, AgentEvent, ErrorKind, StopReason, SupervisionPolicy, group_members};
use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{
    Finished, Sandbox, alive, assert_only_loopback, carries, relaxed_policy, run,
};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Cli {
    Claude,
    Codex,
}

impl Cli {
    pub(crate) fn adapter(self) -> Arc<dyn Adapter> {
        match self {
            Cli::Claude => crate::harness::claude(),
            Cli::Codex => crate::harness::codex(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
        }
    }
}

/// Nothing of the agent's process group is left.
fn assert_group_gone(finished: &Finished) {
    assert!(!finished.group_seen.is_empty(), "the group was observed");
    let alive: Vec<u32> = finished.group_seen.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(alive.is_empty(), "still alive: {alive:?}\n{finished}");
    assert!(group_members(finished.outcome.pid).is_empty());
}

/// Write a file, edit it, answer: the files change on disk in the worktree
/// and the events, tokens and cost are parsed.
pub(crate) async fn writes_and_edits(cli: Cli) {
    let script = Script::new()
        .rule(Rule::tool(ToolCall::write_file("notes.txt", "one\ntwo\n")).turn(1))
        .rule(Rule::tool(ToolCall::edit_file("notes.txt", "two\n", "three\n")).turn(2))
        .rule(Rule::text("Done: notes.txt written and edited.").turn(3));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("edit");
    let request = sandbox.request(&server, &worktree, "edit", "write notes.txt, then edit it");
    let finished = run(cli.adapter(), &request, relaxed_policy(), &sandbox.log_dir("edit")).await;
    let outcome = &finished.outcome;

    assert!(outcome.status.is_success(), "{finished}");
    assert_eq!(outcome.exit.code, Some(0));
    assert_eq!(std::fs::read_to_string(worktree.join("notes.txt")).unwrap(), "one\nthree\n");
    assert_eq!(sandbox.status(&worktree), "?? notes.txt\n");
    assert_eq!(sandbox.status(&sandbox.repo), "", "the main checkout is untouched");

    assert!(matches!(finished.events.first(), Some(AgentEvent::Started { .. })), "{finished}");
    assert!(outcome.session_id.is_some());
    let expected_tools = match cli {
        Cli::Claude => ["Write", "Edit"],
        Cli::Codex => ["apply_patch", "apply_patch"],
    };
    assert_eq!(finished.tool_uses(), expected_tools, "{finished}");
    assert_eq!(finished.tool_results(), [true, true], "{finished}");
    assert_eq!(
        finished.texts().last().map(String::as_str),
        Some("Done: notes.txt written and edited.")
    );
    assert_eq!(finished.warnings(), Vec::<String>::new(), "the pinned version is the tested one");

    // The script reports 100 input and 20 output tokens per reply.
    let replies = server.model_requests().len() as u64;
    assert_eq!(replies, 3);
    assert_eq!(outcome.usage.input_tokens, 100 * replies, "{finished}");
    assert_eq!(outcome.usage.output_tokens, 20 * replies, "{finished}");
    match cli {
        Cli::Claude => assert!(outcome.cost_usd.is_some_and(|usd| usd > 0.0), "{finished}"),
        Cli::Codex => assert_eq!(outcome.cost_usd, None, "codex reports no cost"),
    }

    let logged = std::fs::read_to_string(outcome.log_dir.join("events.jsonl")).unwrap();
    assert_eq!(logged.lines().count(), finished.events.len());
    assert!(std::fs::metadata(outcome.log_dir.join("stdout.log")).unwrap().len() > 0);
    assert_group_gone(&finished);
    assert_only_loopback(&server);
}

/// A second run resumes the first one's session: the server sees the whole
/// history.
pub(crate) async fn resumes(cli: Cli) {
    let script = Script::new()
        .rule(Rule::text("second done").marker("SECOND-PROMPT"))
        .rule(Rule::text("first done").marker("FIRST-PROMPT"));
    let server = ModelServer::start(script).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("resume");
    let first = sandbox.request(&server, &worktree, "resume", "FIRST-PROMPT");
    let first = run(cli.adapter(), &first, relaxed_policy(), &sandbox.log_dir("first")).await;
    assert!(first.outcome.status.is_success(), "{first}");
    let session = first.outcome.session_id.clone().expect("a session id");

    // Same HOME: that is where the CLI keeps its sessions.
    let second =
        sandbox.request(&server, &worktree, "resume", "SECOND-PROMPT").with_resume(session.clone());
    let second = run(cli.adapter(), &second, relaxed_policy(), &sandbox.log_dir("second")).await;
    assert!(second.outcome.status.is_success(), "{second}");
    assert_eq!(second.texts().last().map(String::as_str), Some("second done"), "{second}");
    assert_eq!(
        second.outcome.session_id.as_deref(),
        Some(session.as_str()),
        "{} resumes in place",
        cli.name()
    );
    let last = server.model_requests().pop().unwrap();
    assert!(
        carries(&last, "FIRST-PROMPT") && carries(&last, "SECOND-PROMPT"),
        "history resent: {:#?}",
        last.body
    );
    assert_only_loopback(&server);
}

/// One scripted fault: the run fails at once (retries off) and the outcome
/// says why.
pub(crate) async fn fails_with(cli: Cli, fault: Fault) -> Finished {
    let server = ModelServer::start(Script::new().rule(Rule::fault(fault))).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("fault");
    let request = sandbox.request(&server, &worktree, "fault", "do the task");
    let finished = run(cli.adapter(), &request, relaxed_policy(), &sandbox.log_dir("fault")).await;
    assert_ne!(finished.outcome.exit.code, Some(0), "{finished}");
    assert_eq!(finished.outcome.stopped, None, "{finished}");
    assert_eq!(server.model_requests().len(), 1, "the CLI's own retries are off");
    assert!(matches!(finished.events.last(), Some(AgentEvent::Finished(_))));
    assert_group_gone(&finished);
    assert_only_loopback(&server);
    finished
}

/// The server holds the connection silent: the watchdog stops the agent
/// within stall_timeout + 5 s and nothing of its group survives.
pub(crate) async fn stalls(cli: Cli, mid_stream: bool) {
    let server = ModelServer::start(
        Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream })),
    )
    .unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("stall");
    let request = sandbox.request(&server, &worktree, "stall", "do the task");
    let stall_timeout = Duration::from_secs(3);
    let policy = SupervisionPolicy {
        stall_timeout: Some(stall_timeout),
        grace: Duration::from_secs(2),
        ..relaxed_policy()
    };
    let finished = run(cli.adapter(), &request, policy, &sandbox.log_dir("stall")).await;
    let outcome = &finished.outcome;
    assert_eq!(outcome.status.error_kind(), Some(ErrorKind::Stalled), "{finished}");
    assert_eq!(outcome.stopped, Some(StopReason::Stalled));
    assert!(
        finished
            .events
            .iter()
            .any(|e| matches!(e, AgentEvent::Stopping { reason: StopReason::Stalled, .. })),
        "{finished}"
    );
    // The acceptance bound: the whole run, start-up included, ends within
    // stall_timeout + 5 s.
    assert!(
        outcome.duration < stall_timeout + Duration::from_secs(5),
        "took {:?}",
        outcome.duration
    );
    assert_eq!(server.model_requests().len(), 1);
    assert_group_gone(&finished);
    assert_only_loopback(&server);
}

/// A prompt full of shell syntax reaches the model verbatim, and nothing
/// of it runs.
pub(crate) async fn shell_text_stays_text(cli: Cli) {
    let prompt = "TASK-META: don't run; touch pwned-1 && $(touch pwned-2) `touch pwned-3` | tee pwned-4 \
                  > pwned-5 2>&1 < /dev/null & echo \"$HOME\" '$PATH' \\ * ? [a-z] ~ {b,c} # -p --help doctor -";
    let server = ModelServer::start(Script::new().rule(Rule::text("noted"))).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("meta");
    let request = sandbox.request(&server, &worktree, "meta", prompt);
    let finished = run(cli.adapter(), &request, relaxed_policy(), &sandbox.log_dir("meta")).await;
    assert!(finished.outcome.status.is_success(), "{finished}");
    let requests = server.model_requests();
    assert_eq!(requests.len(), 1);
    assert!(carries(&requests[0], prompt), "the prompt arrives verbatim: {:#?}", requests[0].body);
    assert_no_file_named_like(sandbox.root(), "pwned");
    let run_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(finished.outcome.log_dir.join("run.json")).unwrap(),
    )
    .unwrap();
    let args = run_json["command"]["args"].as_array().unwrap();
    assert_eq!(args.last().and_then(|a| a.as_str()), Some(prompt), "one argv element, last");
    assert_only_loopback(&server);
}

fn assert_no_file_named_like(dir: &Path, fragment: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        assert!(
            !entry.file_name().to_string_lossy().contains(fragment),
            "found {}",
            path.display()
        );
        if entry.file_type().unwrap().is_dir() {
            assert_no_file_named_like(&path, fragment);
        }
    }
}
