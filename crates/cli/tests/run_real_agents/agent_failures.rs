//! Agents that fail on the way: one whose model stops answering (orca's
//! stall watchdog stops it), one whose model API answers with a server
//! error. Both are retried and the run completes.

use orca_model_server::{Fault, ModelServer, Rule, Script, ToolCall};

use crate::harness::{Cli, Project, assert_only_model_traffic, assert_tidy, requests_for};

const PLAN: &str = "# Plan: Two notes

### T01: Write the patient note
- deps: none
- role: docs
- files: patient.txt

### T02: Write the unlucky note
- deps: none
- role: docs
- files: unlucky.txt
";

fn script() -> Script {
    let mut rules = vec![
        Rule::fault(Fault::Stall { seconds: None, mid_stream: false })
            .marker("Task T01: Write the patient note")
            .times(1)
            .named("T01's model stops answering"),
        Rule::fault(Fault::ServerError { message: Some("the model broke".into()) })
            .marker("Task T02: Write the unlucky note")
            .times(1)
            .named("T02's model fails"),
    ];
    for (id, title, file) in [
        ("T01", "Write the patient note", "patient.txt"),
        ("T02", "Write the unlucky note", "unlucky.txt"),
    ] {
        let marker = format!("Task {id}: {title}");
        rules.push(
            Rule::tool(ToolCall::write_file(file, format!("{id} got there\n")))
                .marker(marker.clone())
                .tool_result(false),
        );
        rules.push(Rule::text(format!("{id} done.")).marker(marker).tool_result(true));
    }
    rules.into_iter().fold(Script::new(), Script::rule)
}

#[test]
fn heavy_stalled_and_failed_agents_are_retried() {
    let server = ModelServer::start(script()).unwrap();
    let project = Project::new(&[("README.md", "# notes\n")]);
    project.configure(Cli::Claude, &server, "stall_timeout = \"5s\"");
    let plan = project.plan(PLAN);

    let orca = project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);
    for id in ["T01", "T02"] {
        assert_eq!(events.of("task_started", id).len(), 2, "{id}\n{}", story());
        assert_eq!(events.of("retrying", id).len(), 1, "{id}\n{}", story());
        assert_eq!(events.of("merged", id)[0]["attempt"], 2);
    }
    let stalled = &events.of("agent_finished", "T01")[0];
    assert_eq!(stalled["status"], "stalled", "{stalled}");
    let failed = events.of("agent_finished", "T02")[0];
    assert_eq!(failed["status"], "transient_api", "{failed}");
    assert!(failed["message"].as_str().unwrap().contains("the model broke"), "{failed}");

    // The stalled agent was stopped by the watchdog, not by the server.
    let log = server.model_requests();
    assert_eq!(requests_for(&log, "Task T01")[0].outcome, "fault stall");
    let integration = events.integration_branch();
    assert_eq!(project.show(&integration, "patient.txt").as_deref(), Some("T01 got there\n"));
    assert_eq!(project.show(&integration, "unlucky.txt").as_deref(), Some("T02 got there\n"));
    assert_tidy(&project, &integration);
    assert_only_model_traffic(&server);
}
