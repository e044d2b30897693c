//! Several real CLIs share one server at once; markers keep their
//! conversations apart.

use orca_model_server::{Api, ModelServer, Rule, Script, ToolCall};

use crate::agent_run::{
    ClaudeAuth, RUN_TIMEOUT, Running, Sandbox, assert_only_loopback, claude, codex,
};

#[test]
fn heavy_three_claude_and_three_codex_runs_share_one_server() {
    let tasks: Vec<(String, Api)> = (1..=6)
        .map(|n| (format!("TASK-{n}"), if n % 2 == 0 { Api::OpenAi } else { Api::Anthropic }))
        .collect();
    let mut script = Script::new();
    for (task, api) in &tasks {
        script = script
            .rule(
                Rule::tool(ToolCall::write_file(format!("{task}.txt"), format!("{task}\n")))
                    .api(*api)
                    .marker(task.clone())
                    .tool_result(false),
            )
            .rule(Rule::text(format!("{task} done.")).marker(task.clone()).tool_result(true));
    }
    let server = ModelServer::start(script).unwrap();
    let runs: Vec<(String, Sandbox, Running)> = tasks
        .iter()
        .map(|(task, api)| {
            let sandbox = Sandbox::new();
            let prompt = format!("{task}: write the file");
            let command = match api {
                Api::Anthropic => claude(&server, &sandbox, &prompt, ClaudeAuth::ApiKey),
                _ => codex(&server, &sandbox, &prompt),
            };
            (task.clone(), sandbox, Running::start(command))
        })
        .collect();
    for (task, sandbox, running) in runs {
        let finished = running.wait(RUN_TIMEOUT);
        assert!(finished.status.success(), "{task}: {finished}");
        assert_eq!(sandbox.read(&format!("{task}.txt")), format!("{task}\n"));
        assert!(finished.stdout.contains(&format!("{task} done.")), "{task}: {finished}");
    }
    let requests = server.model_requests();
    assert_eq!(requests.len(), 12, "two turns per run");
    assert!(requests.iter().all(|r| r.status == Some(200)), "{requests:#?}");
    assert_only_loopback(&server);
}
