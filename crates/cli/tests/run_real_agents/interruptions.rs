//! A run stopped in the middle, with real processes: `kill -9` of orca
//! while one task is merged and another's claude is waiting on the model,
//! or Ctrl-C (SIGINT) at the same point; then `orca resume` finishes it.

use std::time::Duration;

use nix::sys::signal::Signal;
use orca_agents::group_members;
use orca_model_server::{
    Fault, LoggedRequest, ModelServer, ModelServerHandle, Rule, Script, ToolCall,
};

use crate::harness::{
    Checkout, Cli, Events, Orca, Project, RUN_PATIENCE, agent_pids,
    assert_merged_in_dependency_order, assert_only_model_traffic, assert_tidy, is_running,
    merge_order, prompt_text, requests_for, wait_until,
};

const PLAN: &str = "# Plan: Two parts and a whole

### T01: Write the first part
- deps: none
- role: backend
- files: first.txt

### T02: Write the second part
- deps: none
- role: backend
- files: second.txt, second-draft.txt

### T03: Join the parts
- deps: T01, T02
- role: backend
- files: whole.txt
- verify: grep -q second whole.txt
";

const DEPS: &[(&str, &[&str])] = &[("T01", &[]), ("T02", &[]), ("T03", &["T01", "T02"])];

const T02: &str = "Task T02: Write the second part";

/// T02's agent writes a draft, then the model never answers: the run is
/// stopped while it waits. Its next session continues and finishes.
fn script() -> Script {
    let simple = |id: &str, title: &str, file: &str, content: &str| {
        let marker = format!("Task {id}: {title}");
        [
            Rule::tool(ToolCall::write_file(file, content))
                .marker(marker.clone())
                .tool_result(false),
            Rule::text(format!("{id} done.")).marker(marker).tool_result(true),
        ]
    };
    let t02 = [
        // The continued session (after resume) finishes the part.
        Rule::tool(ToolCall::write_file("second.txt", "the second part\n"))
            .marker(format!("{T02} (continued)"))
            .times(1)
            .named("T02 continues"),
        Rule::tool(ToolCall::write_file("second-draft.txt", "a draft of the second part\n"))
            .marker(T02)
            .turn(1)
            .times(1)
            .named("T02 drafts"),
        Rule::fault(Fault::Stall { seconds: None, mid_stream: false })
            .marker(T02)
            .tool_result(true)
            .times(1)
            .named("T02 waits for the model"),
        // A session that starts over (fresh prompt) does the same.
        Rule::tool(ToolCall::write_file("second.txt", "the second part\n"))
            .marker(T02)
            .tool_result(false)
            .named("T02 writes"),
        Rule::text("T02 done.").marker(T02).tool_result(true).named("T02 done"),
    ];
    simple("T01", "Write the first part", "first.txt", "the first part\n")
        .into_iter()
        .chain(t02)
        .chain(simple("T03", "Join the parts", "whole.txt", "the first part\nthe second part\n"))
        .fold(Script::new(), Script::rule)
}

fn stalled(log: &[LoggedRequest]) -> bool {
    log.iter().any(|request| request.rule.as_deref() == Some("T02 waits for the model"))
}

/// Starts the run and waits until T01 is merged and T02's agent waits on
/// the model. Returns orca, the run and T02's agent process.
fn start_and_wait(project: &Project, server: &ModelServerHandle) -> (Orca, String, (u32, u64)) {
    let plan = project.plan(PLAN);
    let mut orca =
        project.spawn(server, "run", &["run", "--plan", plan.to_str().unwrap(), "--agents", "2"]);
    orca.wait_for(
        "T01 merged and T02 waiting on the model",
        RUN_PATIENCE,
        server,
        |events, log| !events.of("merged", "T01").is_empty() && stalled(log),
    );
    let events = orca.events();
    let run = events.run_id();
    let t02_dir = project.attempt_dir(&run, "T02", 1);
    let agent = agent_pids(project, &run)
        .into_iter()
        .find(|(pid, start)| {
            // `<pid> <start time> <boot id>`
            std::fs::read_to_string(t02_dir.join("agent.pid"))
                .unwrap()
                .starts_with(&format!("{pid} {start} "))
        })
        .expect("T02's agent.pid");
    assert!(is_running(agent.0, agent.1), "T02's claude waits on the model");
    assert!(events.of("merged", "T02").is_empty() && events.of("task_started", "T03").is_empty());
    (orca, run, agent)
}

/// `orca resume` to the end; checks what every resumed run must show.
fn resume_and_check(
    cli: Cli,
    project: &Project,
    server: &ModelServerHandle,
    first: &Events,
) -> Events {
    let resume = project.run(server, "resume", &["resume"]);
    resume.assert_exit(0, server);
    let events = resume.events();
    let story = || format!("first run:\n{first}\nresume:\n{}", resume.story(server));
    assert_eq!(events.named("run_started")[0]["resumed"], true);
    assert_eq!(events.run_id(), first.run_id());
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", story());
    // T01 was merged before the stop: not again.
    assert!(events.of("task_started", "T01").is_empty() && events.of("merged", "T01").is_empty());
    let integration = events.integration_branch();
    assert_merged_in_dependency_order(&merge_order(project, &integration), DEPS);
    // Nothing lost: the draft T02's first attempt left uncommitted in its
    // worktree is on the integration branch, with the rest of the work.
    let on = |path: &str| project.show(&integration, path);
    assert_eq!(on("first.txt").as_deref(), Some("the first part\n"));
    assert_eq!(
        on("second-draft.txt").as_deref(),
        Some("a draft of the second part\n"),
        "{}",
        story()
    );
    assert_eq!(on("second.txt").as_deref(), Some("the second part\n"));
    assert_eq!(on("whole.txt").as_deref(), Some("the first part\nthe second part\n"));
    // T02 went on in the session its first attempt started.
    let t02 = events.of("task_started", "T02");
    assert_eq!(t02.len(), 1, "{}", story());
    assert_eq!(t02[0]["resumed_session"], true, "{}", story());
    let log = server.model_requests();
    let requests = requests_for(&log, T02);
    let continued: Vec<_> =
        requests.iter().filter(|r| prompt_text(r).contains("(continued)")).collect();
    assert!(!continued.is_empty(), "{}", story());
    let session = requests[0].header(cli.session_header());
    assert!(session.is_some());
    assert!(continued.iter().all(|r| r.header(cli.session_header()) == session));
    assert_tidy(project, &integration);
    assert_only_model_traffic(server);
    events
}

fn kill_9_mid_run_then_resume(cli: Cli) {
    let server = ModelServer::start(script()).unwrap();
    let project = Project::new(&[("README.md", "# parts\n")]);
    project.configure(cli, &server, "");
    Checkout::make_dirty(&project, "README.md", "draft.txt");
    let checkout = Checkout::take(&project);
    let (mut orca, run, agent) = start_and_wait(&project, &server);
    // The agent's whole process group (Codex runs a Node launcher and the
    // native CLI under it).
    let group = group_members(agent.0);
    assert!(group.contains(&agent.0), "{group:?}");

    orca.signal(Signal::SIGKILL);
    orca.wait(Duration::from_secs(30), &server);
    let first = orca.events();
    assert!(first.outcome().is_none(), "killed: no run_finished");
    // The killed orca left its agent running and T02's work uncommitted.
    assert!(is_running(agent.0, agent.1), "the agent outlives a kill -9 of orca");
    assert_eq!(group_members(agent.0), group, "and so do its children");
    let worktree = project.repo.join(".orca/worktrees").join(&run).join("T02");
    assert!(worktree.join("second-draft.txt").exists());

    let events = resume_and_check(cli, &project, &server, &first);
    Checkout::take(&project).assert_unchanged(&checkout);
    // No orphan: resume killed the agent the dead orca left behind.
    wait_until("the orphaned claude to be gone", Duration::from_secs(10), || {
        !is_running(agent.0, agent.1)
    });
    // T01 merged once over both processes; T02 and T03 once, by resume.
    for (task, _) in DEPS {
        let merges = first.of("merged", task).len() + events.of("merged", task).len();
        assert_eq!(merges, 1, "{task}");
    }
}

#[test]
fn heavy_kill_9_mid_run_then_resume_completes_with_claude() {
    kill_9_mid_run_then_resume(Cli::Claude);
}

#[test]
fn heavy_kill_9_mid_run_then_resume_completes_with_codex() {
    kill_9_mid_run_then_resume(Cli::Codex);
}

#[test]
fn heavy_ctrl_c_stops_commits_partial_work_then_resume_completes() {
    let cli = Cli::Claude;
    let server = ModelServer::start(script()).unwrap();
    let project = Project::new(&[("README.md", "# parts\n")]);
    project.configure(cli, &server, "");
    let (mut orca, run, agent) = start_and_wait(&project, &server);
    let group = group_members(agent.0);

    orca.signal(Signal::SIGINT);
    orca.wait(RUN_PATIENCE, &server);
    orca.assert_exit(130, &server);
    let first = orca.events();
    let story = || orca.story(&server);
    assert_eq!(first.outcome().as_deref(), Some("interrupted"), "{}", story());
    // Dispatch stopped: nothing started after the stop.
    let stopping = first.0.iter().position(|e| e["event"] == "stopping").expect("a stopping event");
    assert!(first.0[stopping..].iter().all(|e| e["event"] != "task_started"), "{}", story());
    assert!(first.of("task_started", "T03").is_empty());
    // The agent was stopped, and its partial work committed on its branch.
    assert!(!is_running(agent.0, agent.1), "orca stops its agents before it exits");
    let left: Vec<u32> =
        group.iter().copied().filter(|pid| group_members(agent.0).contains(pid)).collect();
    assert!(left.is_empty(), "processes of the agent left running: {left:?}");
    let branch = first.of("task_started", "T02")[0]["branch"].as_str().unwrap().to_owned();
    assert_eq!(
        project.show(&branch, "second-draft.txt").as_deref(),
        Some("a draft of the second part\n"),
        "the partial work is on {branch}"
    );
    assert!(!project.repo.join(".orca/worktrees").join(&run).join("T02").exists());

    let events = resume_and_check(cli, &project, &server, &first);
    for (task, _) in DEPS {
        let merges = first.of("merged", task).len() + events.of("merged", task).len();
        assert_eq!(merges, 1, "{task}");
    }
}

/// A verify that hangs the first time it runs (and notes its pid), then
/// passes.
const HANG_ONCE: &str = "#!/bin/sh\n\
    if [ ! -e \"$0.tried\" ]; then touch \"$0.tried\"; echo $$ > \"$0.pid\"; exec sleep 600; fi\n\
    exit 0\n";

/// Stops orca (`signal`) while the task's `verify` runs, then resumes.
fn stop_during_verify_then_resume(signal: Signal) {
    let server = ModelServer::start(
        [
            Rule::tool(ToolCall::write_file("note.txt", "noted\n"))
                .marker("Task T01: Write the note")
                .tool_result(false),
            Rule::text("T01 done.").marker("Task T01: Write the note").tool_result(true),
        ]
        .into_iter()
        .fold(Script::new(), Script::rule),
    )
    .unwrap();
    let project = Project::new(&[("README.md", "# note\n")]);
    project.configure(Cli::Claude, &server, "");
    let verify = project.repo.parent().unwrap().join("hang-once.sh");
    std::fs::write(&verify, HANG_ONCE).unwrap();
    let plan = project.plan(&format!(
        "# Plan: A note\n\n### T01: Write the note\n- deps: none\n- role: docs\n\
         - files: note.txt\n- verify: sh {}\n",
        verify.display()
    ));
    let mut orca = project.spawn(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    let pid_file = verify.with_file_name("hang-once.sh.pid");
    orca.wait_for("verify to hang", RUN_PATIENCE, &server, |_, _| {
        std::fs::read_to_string(&pid_file).is_ok_and(|text| text.ends_with('\n'))
    });
    let verify_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(group_members(verify_pid), [verify_pid], "verify runs in its own process group");

    orca.signal(signal);
    // Far less than the hanging verify's 600 s: orca does not wait for it.
    let status = orca.wait(Duration::from_secs(120), &server);
    let story = || orca.story(&server);
    if signal == Signal::SIGINT {
        assert_eq!(status.code(), Some(130), "{}", story());
        assert!(group_members(verify_pid).is_empty(), "Ctrl-C stops verify\n{}", story());
        assert_eq!(orca.events().outcome().as_deref(), Some("interrupted"));
    } else {
        assert_eq!(group_members(verify_pid), [verify_pid], "verify outlives a kill -9 of orca");
    }

    let resume = project.run(&server, "resume", &["resume"]);
    resume.assert_exit(0, &server);
    let events = resume.events();
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", resume.story(&server));
    // No orphan: the hung verify is gone.
    wait_until("the hung verify to be gone", Duration::from_secs(10), || {
        group_members(verify_pid).is_empty()
    });
    let integration = events.integration_branch();
    assert_eq!(project.show(&integration, "note.txt").as_deref(), Some("noted\n"));
    assert_eq!(merge_order(&project, &integration), ["T01"]);
    assert_tidy(&project, &integration);
}

#[test]
fn heavy_ctrl_c_during_verify_stops_it_then_resume_completes() {
    stop_during_verify_then_resume(Signal::SIGINT);
}

#[test]
fn heavy_kill_9_during_verify_then_resume_leaves_no_orphan() {
    stop_during_verify_then_resume(Signal::SIGKILL);
}
