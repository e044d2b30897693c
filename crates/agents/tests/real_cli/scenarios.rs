//! Scenarios run with each CLI.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orca_agents::{Adapter, AgentEvent, ErrorKind, StopReason, SupervisionPolicy, group_members};
use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{
    Finished, Sandbox, alive, assert_only_loopback, carries, relaxed_policy, run, running_latest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cli {
    Claude,
    Codex,
    Gemini,
    Opencode,
    Qwen,
}

impl Cli {
    pub(crate) fn adapter(self) -> Arc<dyn Adapter> {
        match self {
            Cli::Claude => crate::harness::claude(),
            Cli::Codex => crate::harness::codex(),
            Cli::Gemini => crate::harness::gemini(),
            Cli::Opencode => crate::harness::opencode(),
            Cli::Qwen => crate::harness::qwen(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
            Cli::Opencode => "opencode",
            Cli::Qwen => "qwen",
        }
    }

    /// A file path for the script's tool calls: Qwen Code's file tools
    /// refuse relative paths; the others take them relative to the workdir.
    fn path(self, worktree: &Path, name: &str) -> String {
        match self {
            Cli::Qwen => worktree.join(name).display().to_string(),
            _ => name.to_string(),
        }
    }

    /// The tools a write then an edit show up as.
    fn write_and_edit_tools(self) -> [&'static str; 2] {
        match self {
            Cli::Claude => ["Write", "Edit"],
            Cli::Codex => ["apply_patch", "apply_patch"],
            Cli::Gemini => ["write_file", "replace"],
            Cli::Opencode => ["write", "edit"],
            Cli::Qwen => ["write_file", "edit"],
        }
    }

    /// Whether orca can turn the CLI's own retries of a 429 or 5xx off.
    /// opencode retries them up to 5 times (honouring `retry-after`), Qwen
    /// Code up to 6 times, whatever the settings (docs/agents.md).
    pub(crate) fn retries_are_off(self) -> bool {
        !matches!(self, Cli::Opencode | Cli::Qwen)
    }

    /// The prompt as the argv carries it: the last argument (attached to
    /// `--prompt=` for gemini and qwen), or for opencode the arguments after
    /// `--`, which opencode joins with spaces.
    fn prompt_in_args(self, args: &[&str]) -> String {
        match self {
            Cli::Gemini | Cli::Qwen => {
                args.last().and_then(|arg| arg.strip_prefix("--prompt=")).unwrap_or("").to_string()
            }
            Cli::Opencode => {
                let after = args.iter().position(|arg| *arg == "--").map_or(args.len(), |i| i + 1);
                args[after..].join(" ")
            }
            Cli::Claude | Cli::Codex => args.last().copied().unwrap_or("").to_string(),
        }
    }

    /// A stall timeout the CLI's start-up fits in several times over: the
    /// watchdog counts from the start, and gemini, opencode and qwen take
    /// 1 to 3 s to load before their first request (more than 10 s on a
    /// 2-core machine running much else), printing nothing meanwhile.
    fn stall_timeout(self) -> Duration {
        match self {
            Cli::Claude | Cli::Codex => Duration::from_secs(3),
            Cli::Gemini | Cli::Opencode | Cli::Qwen => Duration::from_secs(15),
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
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("edit");
    let path = cli.path(&worktree, "notes.txt");
    let script = Script::new()
        .rule(Rule::tool(ToolCall::write_file(&path, "one\ntwo\n")).turn(1))
        .rule(Rule::tool(ToolCall::edit_file(&path, "two\n", "three\n")).turn(2))
        .rule(Rule::text("Done: notes.txt written and edited.").turn(3));
    let server = ModelServer::start(script).unwrap();
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
    assert_eq!(finished.tool_uses(), cli.write_and_edit_tools(), "{finished}");
    assert_eq!(finished.tool_results(), [true, true], "{finished}");
    assert_eq!(
        finished.texts().last().map(String::as_str),
        Some("Done: notes.txt written and edited.")
    );
    // The pinned version is a tested one; scripts/test-agents-latest runs
    // newer ones, which the CLIs that report their version warn about.
    let warnings: Vec<String> = finished
        .warnings()
        .into_iter()
        .filter(|warning| !(running_latest() && warning.contains("adapter is tested with")))
        .collect();
    assert_eq!(warnings, Vec::<String>::new(), "{finished}");

    // The script reports 100 input and 20 output tokens per reply.
    let replies = server.model_requests().len() as u64;
    assert_eq!(replies, 3);
    assert_eq!(outcome.usage.input_tokens, 100 * replies, "{finished}");
    assert_eq!(outcome.usage.output_tokens, 20 * replies, "{finished}");
    match cli {
        Cli::Claude => assert!(outcome.cost_usd.is_some_and(|usd| usd > 0.0), "{finished}"),
        // The model is none opencode knows a price for.
        Cli::Opencode => assert_eq!(outcome.cost_usd, Some(0.0), "{finished}"),
        Cli::Codex | Cli::Gemini | Cli::Qwen => {
            assert_eq!(outcome.cost_usd, None, "{} reports no cost", cli.name())
        }
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

/// One scripted fault: the run fails at once (retries off where the CLI
/// lets orca turn them off) and the outcome says why.
pub(crate) async fn fails_with(cli: Cli, fault: Fault) -> Finished {
    let server = ModelServer::start(Script::new().rule(Rule::fault(fault))).unwrap();
    let sandbox = Sandbox::new();
    let worktree = sandbox.worktree("fault");
    let request = sandbox.request(&server, &worktree, "fault", "do the task");
    let finished = run(cli.adapter(), &request, relaxed_policy(), &sandbox.log_dir("fault")).await;
    assert_ne!(finished.outcome.exit.code, Some(0), "{finished}");
    assert_eq!(finished.outcome.stopped, None, "{finished}");
    let requests = server.model_requests().len();
    if cli.retries_are_off() {
        assert_eq!(requests, 1, "the CLI's own retries are off");
    } else {
        assert!(requests >= 1, "{requests}");
    }
    assert!(matches!(finished.events.last(), Some(AgentEvent::Finished(_))));
    assert_group_gone(&finished);
    assert_only_loopback(&server);
    finished
}

/// The server holds the connection silent: the watchdog stops the agent
/// and nothing of its group survives.
///
/// The watchdog counts from the start, and a CLI that loads slowly (a busy
/// 2-core machine) can be stopped before it reaches the server at all:
/// that is a stall too, but not the one under test, so the test tries
/// again with twice the stall timeout, until the model request was made.
pub(crate) async fn stalls(cli: Cli, mid_stream: bool) {
    let mut stall_timeout = cli.stall_timeout();
    for round in 1..=3 {
        let server = ModelServer::start(
            Script::new().rule(Rule::fault(Fault::Stall { seconds: None, mid_stream })),
        )
        .unwrap();
        let sandbox = Sandbox::new();
        let worktree = sandbox.worktree("stall");
        let request = sandbox.request(&server, &worktree, "stall", "do the task");
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
        assert_group_gone(&finished);
        assert_only_loopback(&server);
        let requests = server.model_requests().len();
        if requests == 0 && round < 3 {
            eprintln!(
                "{} was stopped before its first model request (round {round}, {stall_timeout:?})",
                cli.name()
            );
            stall_timeout *= 2;
            continue;
        }
        assert_eq!(requests, 1, "{:#?}", server.requests());
        // claude and codex print nothing before the model answers: the
        // whole run, start-up included, ends within stall_timeout + 5 s (the
        // earlier acceptance bound). The others report the session or the
        // stream's start first, which restarts the count; their test waits
        // for the stall and the kill only.
        if matches!(cli, Cli::Claude | Cli::Codex) {
            assert!(
                outcome.duration < stall_timeout + Duration::from_secs(5),
                "took {:?}",
                outcome.duration
            );
        }
        return;
    }
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
    let args: Vec<&str> =
        run_json["command"]["args"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(cli.prompt_in_args(&args), prompt, "the argv carries the prompt: {args:?}");
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
