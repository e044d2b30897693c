//! `orca demo`, the README's main command: the whole pipeline with the
//! real, pinned Claude Code CLI against orca's scripted model server, on
//! the bundled Python project. The planner's first plan is refused and the
//! second, fixed from orca's diagnostics, runs; the test gate and the final
//! validation run the project's tests; the reviewer approves; the report
//! renders in headless Chromium.

#[path = "../../report/tests/browser/mod.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn demo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orca"))
        .arg("demo")
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("ORCA_AGENT_CLIS", orca_model_server::test_tools_dir())
        .env_remove("ORCA_STORE")
        .output()
        .unwrap()
}

fn orca_json(repo: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(args)
        .arg("--json")
        .current_dir(repo)
        .env_remove("ORCA_STORE")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_dir(repo: &Path) -> PathBuf {
    let runs: Vec<PathBuf> =
        std::fs::read_dir(repo.join(".orca/runs")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn heavy_orca_demo_runs_the_whole_pipeline_with_the_real_claude_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path(), &["--keep"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "orca demo failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("completed — 5 merged, 0 failed, 0 blocked"), "{stdout}");
    assert!(stderr.contains("plan round 1: 1 error(s); sent back to the planner"), "{stderr}");

    let repo = tmp.path().join("greet");
    let status = orca_json(&repo, &["status"]);
    let stage = |name: &str| -> &Value {
        status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
    };
    for name in
        ["analyze", "plan", "parallel", "implement", "security", "test", "review", "complete"]
    {
        assert_eq!(stage(name)["state"], "passed", "{name}: {}", stage(name));
    }
    assert!(stage("plan")["note"].as_str().unwrap().contains("accepted in round 2"));
    let review = stage("review")["note"].as_str().unwrap();
    assert!(review.starts_with("approved with 1 suggestion(s) below error"), "{review}");
    assert!(!review.contains("not met") && !review.contains("unanswered"), "{review}");
    assert!(stage("test")["note"].as_str().unwrap().starts_with("4 passed"), "{}", stage("test"));
    let dir = run_dir(&repo);
    let diagnostics = std::fs::read_to_string(dir.join("plan/r1/diagnostics.txt")).unwrap();
    assert!(diagnostics.contains("T6"), "{diagnostics}");

    // The report holds what the store holds.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let tasks = status["tasks"].as_array().unwrap();
    assert_eq!(report["tasks"].as_array().unwrap().len(), tasks.len());
    for stored in tasks {
        let reported = report["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == stored["key"])
            .unwrap_or_else(|| panic!("{} is in the report", stored["key"]));
        assert_eq!(reported["state"], stored["state"]);
        assert_eq!(
            reported["attempts"].as_array().unwrap().len() as i64,
            stored["attempt"].as_i64().unwrap()
        );
        assert!(reported["attempts"][0]["input_tokens"].as_u64().unwrap() > 0, "{reported}");
    }
    assert_eq!(report["validation"][0]["command"], "python3 -m unittest discover -s tests -t .");
    assert_eq!(report["validation"][0]["passed"], true);

    // The program the agents built, run from the integration branch.
    let integration = format!("orca/{}/integration", status["run"]["id"].as_str().unwrap());
    let result = tmp.path().join("result");
    let added = Command::new("git")
        .args(["worktree", "add", "-q"])
        .arg(&result)
        .arg(&integration)
        .current_dir(&repo)
        .status()
        .unwrap();
    assert!(added.success());
    let greeted = Command::new("python3")
        .args(["-m", "greet", "--formal", "Ada"])
        .current_dir(&result)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&greeted.stdout), "Good day, Ada.\n");

    // The page, in a real browser: no console error, every task drawn.
    let page = dir.join("report.html");
    let dom = browser::chromium_dom(&page);
    for task in ["T1", "T2", "T3", "T4", "T5"] {
        assert!(dom.contains(&format!("id=\"node-{task}\"")), "{task} in the graph");
        assert!(dom.contains(&format!("id=\"task-{task}\"")), "{task} in the table");
    }
    let shot = browser::artifact("demo-report.png");
    browser::chromium_screenshot(&page, &shot, (1400, 1100));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}

#[test]
fn heavy_orca_demo_removes_its_repository_and_keeps_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!tmp.path().join("greet").exists(), "the repository is removed");
    let report = tmp.path().join("report/report.html");
    assert!(report.is_file());
    assert!(stderr.contains(&format!("report: {}", report.display())), "{stderr}");
}

#[test]
fn without_npm_the_demo_says_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-clis");
    // git and python3 are found; node and npm are not.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for program in ["git", "python3"] {
        let found =
            Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
        let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        std::os::unix::fs::symlink(path, bin.join(program)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["demo", "--dir"])
        .arg(tmp.path().join("demo"))
        .env("ORCA_AGENT_CLIS", &empty)
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs `node`") && stderr.contains("install Node.js"), "{stderr}");
    assert!(!tmp.path().join("demo").exists(), "nothing is created before the CLI is there");
}
