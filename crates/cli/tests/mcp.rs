//! `orca mcp` against rmcp's own client: the handshake, the tool list as it
//! goes over the wire, and a task claimed and completed through the tools.

use std::path::Path;
use std::process::Command;

use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, JsonObject,
};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

const PLAN: &str = "\
# Plan: MCP demo

### T01: First
- deps: none
- role: backend
- files: a.txt
- verify: test -f a.txt
- accept:
  - [ ] a.txt exists

### T02: Second
- deps: T01
- role: backend
- files: b.txt
- verify: test -f b.txt
- accept:
  - [ ] b.txt exists
";

fn repo_with_plan() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).status().unwrap();
    assert!(git.success());
    std::fs::write(dir.path().join("plan.md"), PLAN).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["task", "load", "plan.md"])
        .current_dir(dir.path())
        .env_remove("ORCA_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

fn arguments(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

async fn client(
    repo: &Path,
    args: &[&str],
) -> rmcp::service::RunningService<rmcp::RoleClient, ClientConfig> {
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orca")).configure(|c| {
        c.arg("mcp").args(args).current_dir(repo).env_remove("ORCA_STORE").env_remove("ORCA_AS");
    });
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("orca-test-client", "1.0"),
    );
    info.serve(TokioChildProcess::new(command).unwrap()).await.unwrap()
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_rmcp_client_lists_the_tools_and_completes_a_task() {
    let repo = repo_with_plan();
    let client = client(repo.path(), &["--as", "c1"]).await;
    let server = client.peer_info().unwrap();
    assert_eq!(server.server_info.as_ref().map(|i| i.name.as_str()), Some("orca"));

    let listed = client.list_tools(None).await.unwrap();
    let names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "next_task",
            "claim_task",
            "heartbeat",
            "complete_task",
            "fail_task",
            "plan_status",
            "validate_plan"
        ]
    );
    // The budget, measured on what crossed the wire (see docs/cli.md), at
    // one token per 3.5 bytes, as the server's own unit test counts.
    let wire = serde_json::to_string(&listed).unwrap();
    let tokens = (wire.len() * 2).div_ceil(7);
    eprintln!("tools/list: {} bytes, about {tokens} tokens", wire.len());
    assert!(tokens < 2000, "{tokens} tokens");

    let claimed = client
        .call_tool(CallToolRequestParams::new("claim_task").with_arguments(arguments(json!({}))))
        .await
        .unwrap();
    assert_eq!(claimed.is_error, Some(false));
    assert!(
        text(&claimed).starts_with("claimed T01 (attempt 1)\nT01: First"),
        "{}",
        text(&claimed)
    );

    let stolen = client
        .call_tool(
            CallToolRequestParams::new("complete_task")
                .with_arguments(arguments(json!({"id": "T02"}))),
        )
        .await
        .unwrap();
    assert_eq!(stolen.is_error, Some(true));
    assert!(text(&stolen).starts_with("error: T02 is not leased to you"), "{}", text(&stolen));

    let done = client
        .call_tool(
            CallToolRequestParams::new("complete_task")
                .with_arguments(arguments(json!({"id": "T01", "summary": "over rmcp"}))),
        )
        .await
        .unwrap();
    assert_eq!(text(&done), "T01 done (attempt 1); 1 task is ready");

    let status = client
        .call_tool(CallToolRequestParams::new("plan_status").with_arguments(arguments(json!({}))))
        .await
        .unwrap();
    assert!(text(&status).contains("tasks: 2 total: 1 ready, 1 succeeded"), "{}", text(&status));
    let bad = client
        .call_tool(CallToolRequestParams::new("heartbeat").with_arguments(arguments(json!({}))))
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).contains("missing field `id`"), "{}", text(&bad));
    client.cancel().await.unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["status", "--json"])
        .current_dir(repo.path())
        .env_remove("ORCA_STORE")
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t01 = status["tasks"].as_array().unwrap().iter().find(|t| t["key"] == "T01").unwrap();
    assert_eq!(t01["state"], "succeeded");
    assert_eq!(status["workers"][0]["id"], "c1");
}

#[tokio::test]
async fn without_a_name_the_session_is_named_after_the_client() {
    let repo = repo_with_plan();
    let client = client(repo.path(), &[]).await;
    let claimed = client
        .call_tool(
            CallToolRequestParams::new("claim_task")
                .with_arguments(arguments(json!({"id": "T01"}))),
        )
        .await
        .unwrap();
    let text = text(&claimed);
    assert!(text.contains("leased to orca-test-client-"), "{text}");
    let checked = client
        .call_tool(
            CallToolRequestParams::new("validate_plan")
                .with_arguments(arguments(json!({"path": "plan.md"}))),
        )
        .await
        .unwrap();
    let checked = self::text(&checked);
    assert!(checked.starts_with("plan.md: valid (2 tasks, 0 errors, 0 warnings)"), "{checked}");
    client.cancel().await.unwrap();
}
