//! Budgets over the real Claude Code CLI: the scripted server reports
//! 1,000 input and 50 output tokens per task turn; Claude Code prints each
//! message's input as the message starts, and orca counts it as it reads.
//! A task over its budget is stopped at the message that crosses it; a run
//! over its budget stops dispatching and a resume with a higher one
//! completes it.

use orca_model_server::{ModelServer, Rule, Script, ToolCall, Usage};

use crate::harness::{Cli, Project, assert_only_model_traffic};

/// What the server reports for a task's turn.
const TURN: Usage = Usage { input: 1_000, output: 50, cached: 0 };

/// What Claude Code reports of a turn as its message starts: the input,
/// and the server's first output token.
const TURN_AT_START: u64 = 1_000 + 1;

/// A task's turns: each tool call in turn, then its final answer; every
/// reply reports [`TURN`]. Anything else Claude Code asks reports little.
fn turns(marker: &str, calls: Vec<ToolCall>, done: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (turn, call) in calls.iter().enumerate() {
        rules.push(
            Rule::tool(call.clone())
                .marker(marker)
                .turn(u32::try_from(turn).unwrap() + 1)
                .usage(TURN)
                .named(format!("{marker} step {}", turn + 1)),
        );
    }
    rules.push(
        Rule::text(done)
            .marker(marker)
            .turn(u32::try_from(calls.len()).unwrap() + 1)
            .usage(TURN)
            .named(format!("{marker} done")),
    );
    rules
}

fn script(rules: impl IntoIterator<Item = Rule>) -> Script {
    rules
        .into_iter()
        .fold(Script::new().usage(Usage { input: 10, output: 2, cached: 0 }), Script::rule)
}

/// `1,234 tokens of 1,000` → (1234, 1000).
fn tokens_of(spent: &str) -> (u64, u64) {
    let number = |text: &str| text.trim().replace(',', "").parse::<u64>().unwrap();
    let (over, limit) = spent.split_once(" tokens of ").unwrap_or_else(|| panic!("{spent}"));
    (number(over), number(limit))
}

#[test]
fn heavy_claude_task_over_its_budget_is_stopped_at_the_message_that_crosses_it() {
    // Three turns would take 3,003 tokens as they start; the task may
    // spend 1,500: the second message crosses it.
    let server = ModelServer::start(script(turns(
        "Task T01: Write three notes",
        vec![ToolCall::write_file("one.txt", "one\n"), ToolCall::write_file("two.txt", "two\n")],
        "Three notes written.",
    )))
    .unwrap();
    let project = Project::new(&[("README.md", "# notes\n")]);
    project.configure(Cli::Claude, &server, "");
    let plan = project.plan(
        "# Plan: Notes\n\n### T01: Write three notes\n- deps: none\n- role: docs\n\
         - files: one.txt, two.txt\n- budget: 1500 tokens\n",
    );
    let orca = project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    let events = orca.events();
    let story = || orca.story(&server);
    assert_ne!(orca.code(), Some(0), "{}", story());

    let over = events.of("over_budget", "T01");
    assert_eq!(over.len(), 1, "{}", story());
    let (spent, limit) = tokens_of(over[0]["spent"].as_str().unwrap());
    assert_eq!(limit, 1_500);
    // At the first event past the limit: the second message's start.
    assert_eq!(spent, 2 * TURN_AT_START, "{}", story());
    let failed = events.of("task_failed", "T01");
    assert_eq!(failed.len(), 1, "{}", story());
    assert!(failed[0]["reason"].as_str().unwrap().contains("over its budget"), "{}", story());
    assert_eq!(events.of("task_started", "T01").len(), 1, "one attempt: {}", story());
    // The first turn's work is kept on the attempt's branch.
    let branch = format!("orca/{}/T01/a1", events.run_id());
    assert_eq!(project.show(&branch, "one.txt").as_deref(), Some("one\n"), "{}", story());
    assert_only_model_traffic(&server);
}

#[test]
fn heavy_claude_run_over_its_budget_stops_dispatching_and_resumes_with_a_higher_one() {
    const NOTES: [(&str, &str, &str); 3] = [
        ("T01", "Write the first note", "one.txt"),
        ("T02", "Write the second note", "two.txt"),
        ("T03", "Write the third note", "three.txt"),
    ];
    let server = ModelServer::start(script(NOTES.iter().flat_map(|(id, title, file)| {
        turns(
            &format!("Task {id}: {title}"),
            vec![ToolCall::write_file(*file, format!("{id} was here\n"))],
            &format!("{id} done."),
        )
    })))
    .unwrap();
    let project = Project::new(&[("README.md", "# notes\n")]);
    project.configure(Cli::Claude, &server, "");
    let mut plan = String::from("# Plan: Three notes\n\n");
    for (id, title, file) in NOTES {
        plan += &format!("### {id}: {title}\n- deps: none\n- role: docs\n- files: {file}\n\n");
    }
    let plan = project.plan(&plan);

    // One agent at a time; a task takes two turns (about 2,100 tokens):
    // T02's first message crosses 3,000. T02 finishes, T03 never starts.
    let orca = project.run(
        &server,
        "run",
        &["run", "--plan", plan.to_str().unwrap(), "--agents", "1", "--budget-tokens", "3000"],
    );
    let events = orca.events();
    let story = || orca.story(&server);
    assert_ne!(orca.code(), Some(0), "{}", story());
    assert_eq!(events.outcome().as_deref(), Some("halted"), "{}", story());
    let over = events.named("over_budget");
    assert_eq!(over.len(), 1, "{}", story());
    assert!(over[0].get("task").is_none(), "the run's budget: {}", story());
    let (spent, limit) = tokens_of(over[0]["spent"].as_str().unwrap());
    assert_eq!(limit, 3_000);
    assert!(spent > limit && spent <= limit + TURN_AT_START, "{spent}\n{}", story());
    // It tripped while T02's agent worked, as T02's usage arrived.
    let at = events.0.iter().position(|e| e["event"] == "over_budget").unwrap();
    assert!(events.position("task_started", "T02").unwrap() < at, "{}", story());
    assert!(at < events.position("agent_finished", "T02").unwrap(), "{}", story());
    assert!(events.position("merged", "T02").is_some(), "T02 finished: {}", story());
    assert!(events.position("task_started", "T03").is_none(), "{}", story());

    let resumed = project.run(&server, "resume", &["resume", "--budget-tokens", "20000"]);
    resumed.assert_exit(0, &server);
    let events = resumed.events();
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", resumed.story(&server));
    let started: Vec<&str> =
        events.named("task_started").iter().map(|e| e["task"].as_str().unwrap()).collect();
    assert_eq!(started, ["T03"], "{}", resumed.story(&server));
    let integration = events.integration_branch();
    for (id, _, file) in NOTES {
        assert_eq!(project.show(&integration, file), Some(format!("{id} was here\n")));
    }
    assert_only_model_traffic(&server);
}
