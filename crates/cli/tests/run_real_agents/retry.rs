//! A task whose `verify` fails on the first attempt: the retry resumes
//! the agent's session with the failure output, and the agent (scripted to
//! answer only when it sees that output) fixes it.

use orca_model_server::{ModelServer, Rule, Script, ToolCall};

use crate::harness::{
    Cli, Project, Steps, assert_only_model_traffic, assert_tidy, overwrite_existing, prompt_text,
    requests_for,
};

const CHECK: &str = "#!/bin/sh\nvalue=$(cat value.txt 2>/dev/null)\n\
                     if [ \"$value\" != 42 ]; then echo \"check: value.txt holds ${value:-nothing}, want 42\"; exit 1; fi\n\
                     echo 'check: ok'\n";

const PLAN: &str = "# Plan: The answer

### T01: Set the answer
- deps: none
- role: backend
- files: value.txt
- verify: sh check.sh

Write the answer to `value.txt`.
";

/// What only the verify output says.
const FEEDBACK: &str = "check: value.txt holds 41, want 42";

fn script(cli: Cli) -> Script {
    // Answered only when the prompt carries the verify output, one call
    // per turn (each rule once), then the final answer.
    let calls = overwrite_existing(cli, "value.txt", "42\n");
    let fix = calls.into_iter().enumerate().map(|(step, call)| {
        Rule::tool(call)
            .marker(FEEDBACK)
            .tool_result(step > 0)
            .times(1)
            .named(format!("fix after feedback, step {}", step + 1))
    });
    let fixed = Rule::text("Fixed: value.txt holds 42 now.")
        .marker(FEEDBACK)
        .tool_result(true)
        .named("fixed");
    let first = Steps {
        marker: "Task T01: Set the answer".into(),
        calls: vec![ToolCall::write_file("value.txt", "41\n")],
        done: "value.txt holds the answer.".into(),
    };
    fix.chain([fixed]).chain(first.rules()).fold(Script::new(), Script::rule)
}

fn failing_verify_fixed_on_retry(cli: Cli) {
    let server = ModelServer::start(script(cli)).unwrap();
    let project = Project::new(&[("README.md", "# answer\n"), ("check.sh", CHECK)]);
    project.configure(cli, &server, "");
    let plan = project.plan(PLAN);

    let orca = project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);

    let verified: Vec<_> =
        events.of("verify_finished", "T01").iter().map(|e| e["passed"].clone()).collect();
    assert_eq!(verified, [false, true], "{}", story());
    let first = events.of("verify_finished", "T01")[0]["summary"].as_str().unwrap().to_owned();
    assert!(first.contains("sh check.sh"), "{first}");
    let retrying = events.of("retrying", "T01");
    assert_eq!(retrying.len(), 1, "{}", story());
    let started = events.of("task_started", "T01");
    assert_eq!(started.len(), 2);
    assert_eq!(started[1]["attempt"], 2);
    assert_eq!(events.of("merged", "T01")[0]["attempt"], 2);
    assert_eq!(project.show(&events.integration_branch(), "value.txt").as_deref(), Some("42\n"));

    // The second attempt's first request carries the failure and verify's
    // output, in the session the first attempt left.
    let log = server.model_requests();
    let all = requests_for(&log, "Task T01");
    let retry = requests_for(&log, FEEDBACK);
    let fix_turns = overwrite_existing(cli, "value.txt", "").len() + 1;
    assert_eq!(retry.len(), fix_turns, "{}", story());
    let first_retry = retry[0];
    let prompt = prompt_text(first_retry);
    assert!(prompt.contains("## Attempt 1 did not pass"), "{prompt}");
    assert!(prompt.contains("````text\ncheck: value.txt holds 41, want 42\n````"), "{prompt}");
    assert!(started[1]["resumed_session"] == true, "the retry resumes the session\n{}", story());
    let header = cli.session_header();
    let session = all[0].header(header).expect("the CLI names its session");
    assert_eq!(first_retry.header(header), Some(session));
    // A resumed session sends its history: the first attempt's turns and
    // only the short retry message, not the whole task prompt again.
    assert_eq!(first_retry.turn, Some(3), "two earlier assistant turns");
    assert!(first_retry.body_contains("41\\n"), "the first attempt's write is in the history");
    assert_eq!(prompt.matches("## How orca checks it").count(), 1, "{prompt}");

    assert_tidy(&project, &events.integration_branch());
    assert_only_model_traffic(&server);
}

#[test]
fn heavy_failing_verify_fixed_on_retry_with_claude() {
    failing_verify_fixed_on_retry(Cli::Claude);
}

#[test]
fn heavy_failing_verify_fixed_on_retry_with_codex() {
    failing_verify_fixed_on_retry(Cli::Codex);
}

/// Like [`CHECK`], and the failing check also deletes Claude Code's
/// session files from the task's isolated HOME, so the retry cannot resume.
const CHECK_AND_FORGET: &str = "#!/bin/sh\nvalue=$(cat value.txt 2>/dev/null)\n\
    if [ \"$value\" != 42 ]; then\n\
      run=$(basename \"$(dirname \"$PWD\")\")\n\
      rm -rf \"../../../runs/$run/tasks/T01/isolated/home/.claude/projects\"\n\
      echo \"check: value.txt holds ${value:-nothing}, want 42\"; exit 1\n\
    fi\n\
    echo 'check: ok'\n";

#[test]
fn heavy_a_session_that_cannot_be_resumed_is_restarted_with_the_full_prompt() {
    let cli = Cli::Claude;
    let server = ModelServer::start(script(cli)).unwrap();
    let project = Project::new(&[("README.md", "# answer\n"), ("check.sh", CHECK_AND_FORGET)]);
    project.configure(cli, &server, "");
    let plan = project.plan(PLAN);

    let orca = project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);
    assert_eq!(events.of("task_started", "T01")[1]["resumed_session"], true, "{}", story());
    let restarted = events.of("session_restarted", "T01");
    assert_eq!(restarted.len(), 1, "{}", story());
    assert_eq!(restarted[0]["attempt"], 2);
    assert_eq!(events.of("merged", "T01")[0]["attempt"], 2, "{}", story());
    assert_eq!(project.show(&events.integration_branch(), "value.txt").as_deref(), Some("42\n"));

    // The new session starts from the whole task prompt plus the failure.
    let log = server.model_requests();
    let header = cli.session_header();
    let first_session = requests_for(&log, "Task T01")[0].header(header).map(str::to_owned);
    let fresh = requests_for(&log, FEEDBACK)
        .into_iter()
        .find(|request| request.header(header).map(str::to_owned) != first_session)
        .unwrap_or_else(|| panic!("no request in a new session\n{}", story()));
    assert_eq!(fresh.turn, Some(1), "{}", story());
    let prompt = prompt_text(fresh);
    assert!(prompt.contains("## How orca checks it"), "{prompt}");
    assert!(prompt.contains("## Attempt 1 did not pass"), "{prompt}");
    assert_tidy(&project, &events.integration_branch());
}
