//! Two tasks that edit the same file without saying so in `files`: they
//! run at the same time, the second merge conflicts, and a resolver
//! attempt (the real claude, answering the resolver prompt) merges them.

use std::time::Duration;

use nix::sys::signal::Signal;
use orca_agents::group_members;
use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{
    Cli, Project, RUN_PATIENCE, Steps, agent_pids, assert_only_model_traffic, assert_tidy,
    edit_existing, merge_order, overwrite_existing, prompt_text, requests_for, wait_until,
};

const PLAN: &str = "# Plan: Two colors

### T01: Add the red color
- deps: none
- role: backend
- files: red.txt
- verify: grep -q red colors.txt

Describe red in `red.txt` and list it in `colors.txt`.

### T02: Add the blue color
- deps: none
- role: backend
- files: blue.txt
- verify: grep -q blue colors.txt

Describe blue in `blue.txt` and list it in `colors.txt`.
";

const RESOLVED: &str = "colors:\n- red\n- blue\n";

/// The rule that leaves the first resolver waiting on the model.
const RESOLVER_WAITS: &str = "the resolver waits for the model";

fn script(resolver_waits: bool) -> Script {
    let cli = Cli::Claude;
    // The resolver's prompt also names the task: its rules come first.
    let resolver = Steps {
        marker: "resolve merge conflict".into(),
        calls: overwrite_existing(cli, "colors.txt", RESOLVED),
        done: "Kept both colors.".into(),
    };
    let mut rules: Vec<Rule> = Vec::new();
    if resolver_waits {
        rules.push(
            Rule::fault(Fault::Stall { seconds: None, mid_stream: false })
                .marker("resolve merge conflict")
                .times(1)
                .named(RESOLVER_WAITS),
        );
    }
    rules.extend(resolver.rules());
    for (id, color) in [("T01", "red"), ("T02", "blue")] {
        let mut calls =
            vec![ToolCall::write_file(format!("{color}.txt"), format!("{color} is a color\n"))];
        calls.extend(edit_existing(
            cli,
            "colors.txt",
            "colors:\n",
            &format!("colors:\n- {color}\n"),
        ));
        let steps = Steps {
            marker: format!("Task {id}: Add the {color} color"),
            calls,
            done: format!("{color} added."),
        };
        rules.extend(steps.rules());
    }
    rules.into_iter().fold(Script::new(), Script::rule)
}

#[test]
fn heavy_conflict_resolved_by_a_resolver_attempt() {
    let server = ModelServer::start(script(false)).unwrap();
    let project = Project::new(&[("README.md", "# colors\n"), ("colors.txt", "colors:\n")]);
    project.configure(Cli::Claude, &server, "");
    let plan = project.plan(PLAN);

    let orca =
        project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap(), "--agents", "2"]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);
    let integration = events.integration_branch();

    // Both ran from the same base, so whichever merged second conflicted.
    let order = merge_order(&project, &integration);
    assert_eq!(order.len(), 2, "{order:?}");
    let (first, second) = (order[0].as_str(), order[1].as_str());
    assert!(
        events.position("task_started", second) < events.position("merged", first),
        "{}",
        story()
    );
    let conflicts = events.named("conflict");
    assert_eq!(conflicts.len(), 1, "{}", story());
    assert_eq!(conflicts[0]["task"], second);
    assert_eq!(conflicts[0]["files"], serde_json::json!(["colors.txt"]));
    assert_eq!(conflicts[0]["resolver"], true);
    assert_eq!(events.of("merged", first)[0]["resolved_conflict"], false);
    assert_eq!(events.of("merged", second)[0]["resolved_conflict"], true, "{}", story());

    // The resolver was told what collided and saw the conflict markers.
    let log = server.model_requests();
    let resolver = requests_for(&log, "resolve merge conflict");
    assert_eq!(resolver.len(), 3, "read, write, answer");
    let prompt = prompt_text(resolver[0]);
    assert!(prompt.contains(&format!("# Task {second}: resolve merge conflict")), "{prompt}");
    assert!(prompt.contains("- `colors.txt`"), "{prompt}");
    assert!(
        prompt.contains(&format!("- {first}: Add the")),
        "names the task it collided with: {prompt}"
    );
    assert!(resolver[1].body_contains("<<<<<<<"), "the resolver read the conflicted file");

    // The integration branch has both tasks' work and the resolution.
    assert_eq!(project.show(&integration, "colors.txt").as_deref(), Some(RESOLVED));
    assert_eq!(project.show(&integration, "red.txt").as_deref(), Some("red is a color\n"));
    assert_eq!(project.show(&integration, "blue.txt").as_deref(), Some("blue is a color\n"));
    assert_tidy(&project, &integration);
    assert_only_model_traffic(&server);
}

/// Stops orca (`kill -9` or Ctrl-C) while a resolver waits on the model,
/// then resumes: the conflict is resolved once, the verified work of the
/// task is merged without running its agent again.
fn stop_while_resolving_then_resume(signal: Signal) {
    let server = ModelServer::start(script(true)).unwrap();
    let project = Project::new(&[("README.md", "# colors\n"), ("colors.txt", "colors:\n")]);
    project.configure(Cli::Claude, &server, "");
    let plan = project.plan(PLAN);
    let mut orca =
        project.spawn(&server, "run", &["run", "--plan", plan.to_str().unwrap(), "--agents", "2"]);
    orca.wait_for("a resolver waiting on the model", RUN_PATIENCE, &server, |_, log| {
        log.iter().any(|request| request.rule.as_deref() == Some(RESOLVER_WAITS))
    });
    let first = orca.events();
    let run = first.run_id();
    // Only the resolver's agent is still running.
    let running: Vec<_> = agent_pids(&project, &run)
        .into_iter()
        .filter(|&(pid, start)| crate::harness::is_running(pid, start))
        .collect();
    assert_eq!(running.len(), 1, "{}", orca.story(&server));
    let resolver = running[0];
    orca.signal(signal);
    let status = orca.wait(RUN_PATIENCE, &server);
    if signal == Signal::SIGINT {
        assert_eq!(status.code(), Some(130), "{}", orca.story(&server));
        assert!(group_members(resolver.0).is_empty(), "Ctrl-C stops the resolver");
    }

    let resume = project.run(&server, "resume", &["resume"]);
    resume.assert_exit(0, &server);
    let events = resume.events();
    let story = || format!("first run:\n{}\nresume:\n{}", orca.events(), resume.story(&server));
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", story());
    let integration = events.integration_branch();
    let order = merge_order(&project, &integration);
    assert_eq!(order.len(), 2, "each task merged once: {order:?}");
    assert_ne!(order[0], order[1]);
    let second = order[1].as_str();
    assert_eq!(events.of("merged", second).len(), 1, "{}", story());
    assert_eq!(events.of("merged", second)[0]["resolved_conflict"], true, "{}", story());
    assert_eq!(project.show(&integration, "colors.txt").as_deref(), Some(RESOLVED));
    assert_eq!(project.show(&integration, "red.txt").as_deref(), Some("red is a color\n"));
    assert_eq!(project.show(&integration, "blue.txt").as_deref(), Some("blue is a color\n"));
    // The first resolver is gone, and the task's verified work was merged,
    // not redone.
    wait_until("the first resolver to be gone", Duration::from_secs(10), || {
        group_members(resolver.0).is_empty()
    });
    assert!(events.of("task_started", second).is_empty(), "{}", story());
    assert_tidy(&project, &integration);
    assert_only_model_traffic(&server);
}

#[test]
fn heavy_kill_9_while_resolving_then_resume_resolves() {
    stop_while_resolving_then_resume(Signal::SIGKILL);
}

#[test]
fn heavy_ctrl_c_while_resolving_then_resume_resolves() {
    stop_while_resolving_then_resume(Signal::SIGINT);
}
