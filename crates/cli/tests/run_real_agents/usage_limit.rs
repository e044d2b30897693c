//! A usage-limit reply to one agent pauses all dispatch until the reset
//! time (plus the configured margin); then the run goes on, and the
//! limited task continues in its own session.

use std::time::Duration;

use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{
    Cli, Project, assert_only_model_traffic, assert_tidy, prompt_text, requests_for,
};

const PLAN: &str = "# Plan: Three notes

### T01: Write the first note
- deps: none
- role: docs
- files: one.txt

### T02: Write the second note
- deps: none
- role: docs
- files: two.txt

### T03: Write the third note
- deps: none
- role: docs
- files: three.txt

### T04: Write the fourth note
- deps: none
- role: docs
- files: four.txt
";

const NOTES: [(&str, &str, &str); 4] = [
    ("T01", "Write the first note", "one.txt"),
    ("T02", "Write the second note", "two.txt"),
    ("T03", "Write the third note", "three.txt"),
    ("T04", "Write the fourth note", "four.txt"),
];

fn script() -> Script {
    let mut rules = vec![
        Rule::fault(Fault::UsageLimit { resets_at: None, resets_in: Some(2) })
            .marker("Task T01: Write the first note")
            .times(1)
            .named("T01 hits the usage limit"),
    ];
    for (id, title, file) in NOTES {
        let marker = format!("Task {id}: {title}");
        // T02 thinks a while: it is most likely still at work when T01
        // hits the limit, and running agents go on during a pause.
        let thinking = if id == "T02" { Duration::from_secs(2) } else { Duration::ZERO };
        rules.push(
            Rule::tool(ToolCall::write_file(file, format!("{id} was here\n")))
                .marker(marker.clone())
                .tool_result(false)
                .delay(thinking)
                .named(format!("{id} writes")),
        );
        rules.push(
            Rule::text(format!("{id} done."))
                .marker(marker)
                .tool_result(true)
                .named(format!("{id} done")),
        );
    }
    rules.into_iter().fold(Script::new(), Script::rule)
}

#[test]
fn heavy_usage_limit_pauses_dispatch_then_the_run_completes() {
    let server = ModelServer::start(script()).unwrap();
    let project = Project::new(&[("README.md", "# notes\n")]);
    project.configure(Cli::Claude, &server, "");
    let plan = project.plan(PLAN);

    let orca =
        project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap(), "--agents", "2"]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);

    let position = |name: &str| events.0.iter().position(|e| e["event"] == name);
    let paused = position("paused").unwrap_or_else(|| panic!("no pause\n{}", story()));
    let unpaused = position("unpaused").unwrap_or_else(|| panic!("no unpause\n{}", story()));
    assert_eq!(events.named("paused").len(), 1, "{}", story());
    let pause = &events.0[paused];
    assert!(pause["reason"].as_str().unwrap().contains("usage limit"), "{pause}");
    assert!(paused < unpaused);
    // Not before the time the pause named.
    assert!(events.0[unpaused]["at_ms"].as_u64() >= pause["until_ms"].as_u64(), "{}", story());
    // T04 (at least) was waiting for a slot, and T01's was free during the
    // pause: still nothing started until the pause ended.
    for (at, event) in events.0.iter().enumerate() {
        if event["event"] == "task_started" {
            assert!(
                !(paused..unpaused).contains(&at),
                "{event} started during the pause\n{}",
                story()
            );
        }
    }
    assert!(events.position("task_started", "T04").unwrap() > unpaused, "{}", story());

    // T01 continued its own session after the pause.
    let starts = events.of("task_started", "T01");
    assert_eq!(starts.len(), 2, "{}", story());
    assert!(events.position("task_started", "T01").unwrap() < paused);
    assert_eq!(starts[1]["resumed_session"], true, "{}", story());
    let log = server.model_requests();
    let t01 = requests_for(&log, "Task T01: Write the first note");
    assert_eq!(t01[0].outcome, "fault usage_limit");
    let header = Cli::Claude.session_header();
    let session = t01[0].header(header).unwrap();
    let continued: Vec<_> = t01.iter().filter(|r| prompt_text(r).contains("(continued)")).collect();
    assert!(!continued.is_empty(), "{}", story());
    assert!(continued.iter().all(|r| r.header(header) == Some(session)));
    assert!(continued[0].unix_ms >= pause["until_ms"].as_u64().unwrap());

    let integration = events.integration_branch();
    for (id, _, file) in NOTES {
        assert_eq!(project.show(&integration, file), Some(format!("{id} was here\n")));
        assert_eq!(events.of("merged", id).len(), 1);
    }
    assert_eq!(events.of("task_started", "T02").len(), 1, "a pause stops no running agent");
    assert_tidy(&project, &integration);
    assert_only_model_traffic(&server);
}

/// A rate limit (429 with `retry-after: 1`) that outlasts the CLI's own
/// retries: dispatch pauses about as long as the server asked, not the
/// five minutes of an unknown usage limit, and with no usage-limit margin.
#[test]
fn heavy_a_rate_limit_pauses_for_the_servers_retry_after() {
    let script = Script::new()
        .rule(
            // The first request and the one retry Claude Code is allowed
            // (CLAUDE_CODE_MAX_RETRIES below), after the `retry-after` second.
            Rule::fault(Fault::RateLimit { retry_after: Some(1), message: None })
                .marker("Task T01: Write the first note")
                .times(2)
                .named("T01 is rate limited"),
        )
        .rule(
            Rule::tool(ToolCall::write_file("one.txt", "T01 was here\n"))
                .marker("Task T01: Write the first note")
                .tool_result(false)
                .named("T01 writes"),
        )
        .rule(
            Rule::text("T01 done.")
                .marker("Task T01: Write the first note")
                .tool_result(true)
                .named("T01 done"),
        );
    let server = ModelServer::start(script).unwrap();
    let project = Project::new(&[("README.md", "# notes\n")]);
    project.configure(Cli::Claude, &server, "");
    // A margin that would show if it were (wrongly) added to a rate limit.
    let config = project.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("usage_limit_margin = \"1s\"", "usage_limit_margin = \"10m\""),
    )
    .unwrap();
    let plan = project.plan(
        "# Plan: One note\n\n### T01: Write the first note\n- deps: none\n- role: docs\n- files: one.txt\n",
    );
    // Claude Code retries a 429 ten times over minutes by default.
    let mut orca = project.spawn_with(
        &server,
        "run",
        &["run", "--plan", plan.to_str().unwrap()],
        &[("CLAUDE_CODE_MAX_RETRIES", "1")],
    );
    orca.wait(std::time::Duration::from_secs(120), &server);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);
    let paused = events.named("paused");
    assert_eq!(paused.len(), 1, "{}", story());
    let pause = paused[0];
    assert!(pause["reason"].as_str().unwrap().starts_with("rate limit"), "{pause}");
    // On a busy machine the retry time may have passed before the event is
    // stamped: then the pause ends at once.
    let waits_ms =
        pause["until_ms"].as_u64().unwrap().saturating_sub(pause["at_ms"].as_u64().unwrap());
    assert!(waits_ms <= 5_000, "paused {waits_ms} ms for a 1 s retry-after\n{}", story());
    assert_eq!(
        project.show(&events.integration_branch(), "one.txt"),
        Some("T01 was here\n".into())
    );
}
