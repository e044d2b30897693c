//! `orca status` against real stores: the default `.orca/orca.db` of a git
//! repository, `--store`/`ORCA_STORE`, and PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use orca_store::{AttemptInfo, NewRun, NewTask, RetryPolicy, RunId, Stage, StageState, Store};

fn orca(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orca"));
    command.current_dir(dir).env_remove("ORCA_STORE");
    command
}

fn git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("git").arg("init").arg("-q").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success());
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn task(key: &str, deps: &[&str], max_attempts: i64) -> NewTask {
    NewTask {
        key: key.to_owned(),
        deps: deps.iter().map(|d| (*d).to_owned()).collect(),
        priority: 0,
        max_attempts,
        spec_json: "{}".to_owned(),
        done: false,
    }
}

/// A run with a task in most states: done, leased, failed with a blocked
/// dependent, and waiting.
async fn populate(url: &str) -> RunId {
    let store = Store::open(url).await.unwrap();
    let run = store
        .create_run(&NewRun {
            title: "demo run".to_owned(),
            plan_path: Some("plan.md".to_owned()),
            plan_json: "{}".to_owned(),
            mode: "orca".to_owned(),
            tasks: vec![
                task("build", &[], 3),
                task("docs", &[], 2),
                task("lint", &[], 1),
                task("release", &["build", "lint"], 3),
                task("test", &["build"], 3),
            ],
            ..NewRun::default()
        })
        .await
        .unwrap();
    store.set_stage(&run, Stage::Analyze, StageState::Passed).await.unwrap();
    store.set_stage(&run, Stage::Implement, StageState::Running).await.unwrap();
    let ttl = Duration::from_secs(600);
    let build = store.claim_task(&run, "build", "worker-1", ttl).await.unwrap().unwrap();
    let usage = |agent: &str, details: &str| AttemptInfo {
        agent: Some(agent.to_owned()),
        details_json: Some(details.to_owned()),
        ..AttemptInfo::default()
    };
    let build_usage = r#"{"input_tokens":12000,"output_tokens":3400,"cost_usd":0.42}"#;
    store.record_attempt(&build, &usage("claude", build_usage)).await.unwrap();
    store.complete(&build, "{}").await.unwrap();
    let lint = store.claim_task(&run, "lint", "worker-2", ttl).await.unwrap().unwrap();
    let lint_usage = r#"{"input_tokens":800,"output_tokens":150}"#;
    store.record_attempt(&lint, &usage("codex", lint_usage)).await.unwrap();
    store.fail(&lint, "clippy found 3 warnings\nsee log", &RetryPolicy::immediate()).await.unwrap();
    store.claim_task(&run, "test", "worker-3", ttl).await.unwrap().unwrap();
    store.close().await;
    run
}

/// Ages and run ids change from run to run, and with them column widths.
fn normalize(output: &str, run: &RunId) -> String {
    let durations = regex::Regex::new(r"\b\d+(ms|s|m\d\ds|h\d\dm)\b").unwrap();
    let padding = regex::Regex::new(r"  +").unwrap();
    let output = output.replace(run.as_str(), "<RUN>");
    let text = durations.replace_all(&output, "<DUR>");
    padding.replace_all(&text, "  ").into_owned()
}

/// Every row of the task table starts each column where the header does.
fn assert_columns_align(output: &str) {
    let lines: Vec<&str> = output.lines().skip_while(|l| !l.starts_with("TASK")).collect();
    let header = lines[0];
    let columns: Vec<usize> = ["STATE", "ATTEMPT", "TRIES", "LEASE"]
        .iter()
        .map(|name| header.find(name).unwrap())
        .collect();
    for line in lines.iter().skip(1).filter(|l| !l.starts_with("  ")) {
        for &column in &columns {
            let before = &line[..column];
            assert!(
                before.ends_with("  ") && !line[column..].starts_with(' '),
                "misaligned: {line:?}"
            );
        }
    }
}

#[test]
fn status_shows_the_latest_run_of_the_repository() {
    let repo = git_repo();
    let layout = orca_config::Layout::new(repo.path());
    layout.ensure().unwrap();
    let url = layout.database().display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let run = rt.block_on(populate(&url));
    // From a subdirectory: the store is found at the repository's top.
    let sub = repo.path().join("src");
    std::fs::create_dir(&sub).unwrap();
    let out = orca(&sub).arg("status").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_columns_align(&text(&out.stdout));
    insta::assert_snapshot!(normalize(&text(&out.stdout), &run));
}

#[test]
fn status_json_carries_every_task_with_its_lease() {
    let repo = git_repo();
    let url = repo.path().join("elsewhere.db").display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let run = rt.block_on(populate(&url));
    let out =
        orca(repo.path()).args(["status", "--json"]).env("ORCA_STORE", &url).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["run"]["id"], run.as_str());
    assert_eq!(value["run"]["stage"], "implement");
    assert_eq!(value["stages"].as_array().unwrap().len(), 9);
    let tasks = value["tasks"].as_array().unwrap();
    let by_key = |key: &str| tasks.iter().find(|t| t["key"] == key).unwrap();
    assert_eq!(by_key("build")["state"], "succeeded");
    assert_eq!(by_key("test")["state"], "leased");
    assert_eq!(by_key("test")["lease"]["worker"], "worker-3");
    assert!(by_key("test")["lease"]["age_ms"].as_i64().unwrap() >= 0);
    assert_eq!(by_key("lint")["state"], "failed");
    assert_eq!(by_key("lint")["last_error"], "clippy found 3 warnings\nsee log");
    assert_eq!(by_key("release")["state"], "blocked");
    assert_eq!(by_key("release")["deps"], serde_json::json!(["build", "lint"]));
    // Tokens and cost per task, per agent and for the run.
    let usage = &value["usage"];
    assert_eq!(usage["run"]["input_tokens"], 12800);
    assert_eq!(usage["run"]["output_tokens"], 3550);
    assert_eq!(usage["agents"]["claude"]["cost_usd"], 0.42);
    assert_eq!(usage["agents"]["codex"]["input_tokens"], 800);
    assert_eq!(usage["tasks"]["build"]["output_tokens"], 3400);
    assert!(usage["tasks"].get("docs").is_none(), "{usage}");
}

#[test]
fn status_reads_a_postgres_store_and_a_chosen_run() {
    let url = orca_test_postgres::shared().create_database();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let first = rt.block_on(populate(&url));
    let _second = rt.block_on(populate(&url));
    let dir = tempfile::tempdir().unwrap();
    let out = orca(dir.path())
        .args(["status", "--json", "--store", &url, "--run", first.as_str()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["run"]["id"], first.as_str());
}

#[test]
fn status_before_the_first_run_says_how_to_start_one_and_changes_nothing() {
    let repo = git_repo();
    let out = orca(repo.path()).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("no runs yet in this repository"), "{stdout}");
    assert!(stdout.contains("orca run"), "{stdout}");
    assert!(!repo.path().join(".orca/orca.db").exists(), "status must not create the store");
    let json = orca(repo.path()).args(["status", "--json"]).output().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["run"], serde_json::Value::Null);
}

#[test]
fn status_reads_the_store_the_config_names() {
    let repo = git_repo();
    std::fs::create_dir_all(repo.path().join(".orca")).unwrap();
    std::fs::write(repo.path().join(".orca/config.toml"), "[store]\nurl = \"state/runs.db\"\n")
        .unwrap();
    std::fs::create_dir_all(repo.path().join("state")).unwrap();
    let url = repo.path().join("state/runs.db").display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let run = rt.block_on(populate(&url));
    let out = orca(repo.path()).args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["run"]["id"], run.as_str());
}

#[test]
fn status_outside_a_repository_asks_for_a_store() {
    let dir = tempfile::tempdir().unwrap();
    // The search must not move up into the temp dir's parent, whatever is there.
    let ceiling = dir.path().parent().unwrap();
    let out =
        orca(dir.path()).arg("status").env("GIT_CEILING_DIRECTORIES", ceiling).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not inside a git repository"), "{stderr}");
    assert!(stderr.contains("--store"), "{stderr}");
}

#[test]
fn status_of_an_unknown_run_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("orca.db").display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(populate(&url));
    let out = orca(dir.path())
        .args(["status", "--store", &url, "--run", "nope", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["kind"], "usage");
    assert_eq!(value["error"]["message"], "no run nope in the store");
}

#[test]
fn status_of_an_empty_store_says_there_is_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("orca.db").display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { Store::open(&url).await.unwrap().close().await });
    let out = orca(dir.path()).args(["status", "--store", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("no runs yet in this store"), "{}", text(&out.stdout));
}

#[test]
fn a_postgres_password_never_reaches_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out: Output = orca(dir.path())
        .args(["status", "--store", "postgres://orca:s3cr3t-pw@127.0.0.1:1/orca"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("s3cr3t-pw"), "{stderr}");
}
