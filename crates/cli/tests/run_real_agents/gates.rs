//! Every quality gate's loop with the real Claude Code CLI, on a small
//! Rust crate: the agent plants a secret and a shell command built with
//! `format!` (security finds both; a fix task removes them), breaks a test
//! (the test gate fails; a fix task repairs it) and leaves code
//! unformatted (cleanup formats it with the real cargo fmt); the reviewer
//! requests one change (a fix task makes it) and approves the result. The
//! run completes and the report shows each loop.

use orca_model_server::{ModelServer, Script, ToolCall};
use serde_json::Value;

use crate::harness::{Cli, Project, Steps, overwrite_existing};

/// The planted secret, in pieces so that this file holds none.
fn secret() -> String {
    ["Zt7Qm2Lp9Xw4", "Rb8Nc3Vd6Hk1", "Jf5Gs0Ty2Ue9Oa"].concat()
}

const CARGO_TOML: &str =
    "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
const LIB: &str = "/// Adds two numbers.\npub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}\n";
const TEST: &str = "#[test]\nfn adds() {\n    assert_eq!(calc::add(2, 2), 4);\n}\n";

/// T1's lib.rs: `add` off by one, `double` unformatted.
const LIB_BROKEN: &str = "/// Adds two numbers.\npub fn add(a: u64, b: u64) -> u64 {\n    a + b + 1\n}\n\npub mod shell;\npub fn double(x:u64)->u64{x*2}\n";
/// The test fix: `add` right again, `double` still unformatted.
const LIB_ADDS: &str = "/// Adds two numbers.\npub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}\n\npub mod shell;\npub fn double(x:u64)->u64{x*2}\n";
/// The review fix: `double` documented.
const LIB_REVIEWED: &str = "/// Adds two numbers.\npub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}\n\npub mod shell;\n\n/// Twice `x`.\npub fn double(x: u64) -> u64 {\n    x * 2\n}\n";
const SHELL_SAFE: &str = "use std::process::{Command, Output};\n\n/// The key, from the environment.\npub fn credentials() -> String {\n    std::env::var(\"AWS_SECRET_ACCESS_KEY\").unwrap_or_default()\n}\n\n/// Greets `name` with echo.\npub fn greet(name: &str) -> std::io::Result<Output> {\n    Command::new(\"echo\").arg(\"hello\").arg(name).output()\n}\n";

fn shell_planted() -> String {
    format!(
        "use std::process::{{Command, Output}};\n\n/// The key.\npub fn credentials() -> String {{\n    let aws_secret_access_key = \"{}\";\n    aws_secret_access_key.to_owned()\n}}\n\n/// Greets `name` through a shell.\npub fn greet(name: &str) -> std::io::Result<Output> {{\n    Command::new(\"sh\").arg(\"-c\").arg(format!(\"echo hello {{name}}\")).output()\n}}\n",
        secret()
    )
}

const PLAN: &str = "# Plan: Calc helpers

### T1: Add double and a shell greeting
- deps: none
- role: backend
- files: src/lib.rs, src/shell.rs
- verify: cargo build
- accept:
  - [ ] `double` returns twice its input
  - [ ] `shell::greet` greets by name

Add `double(x)` to the crate and a `shell` module with `greet(name)`.
";

const REVIEW_CHANGES: &str = r#"{"verdict": "changes", "changes": [{"file": "src/lib.rs", "line": 9, "severity": "error", "reason": "`double` is public and undocumented: add a doc comment"}], "acceptance": [{"task": "T1", "item": "`double` returns twice its input", "addressed": true}, {"task": "T1", "item": "`shell::greet` greets by name", "addressed": true}]}"#;
const REVIEW_APPROVE: &str = r#"{"verdict": "approve", "changes": [], "acceptance": [{"task": "T1", "item": "`double` returns twice its input", "addressed": true}, {"task": "T1", "item": "`shell::greet` greets by name", "addressed": true}]}"#;

fn script() -> Script {
    let cli = Cli::Claude;
    let mut steps = vec![
        // The reviewer of the result with the review's fix approves; the
        // first reviewer asks for a change.
        Steps {
            marker: "### fix-review-1-1: Address the review".into(),
            calls: vec![ToolCall::write_file("review.json", REVIEW_APPROVE)],
            done: "Approved.".into(),
        },
        Steps {
            marker: "You are the reviewer of an orca run".into(),
            calls: vec![ToolCall::write_file("review.json", REVIEW_CHANGES)],
            done: "One change: document double.".into(),
        },
    ];
    let mut t1 = overwrite_existing(cli, "src/lib.rs", LIB_BROKEN);
    t1.push(ToolCall::write_file("src/shell.rs", shell_planted()));
    steps.push(Steps {
        marker: "# Task T1:".into(),
        calls: t1,
        done: "double and greet added.".into(),
    });
    steps.push(Steps {
        marker: "# Task fix-security-1-1:".into(),
        calls: overwrite_existing(cli, "src/shell.rs", SHELL_SAFE),
        done: "The key comes from the environment; no shell.".into(),
    });
    steps.push(Steps {
        marker: "# Task fix-test-1-1:".into(),
        calls: overwrite_existing(cli, "src/lib.rs", LIB_ADDS),
        done: "add is right again.".into(),
    });
    steps.push(Steps {
        marker: "# Task fix-review-1-1:".into(),
        calls: overwrite_existing(cli, "src/lib.rs", LIB_REVIEWED),
        done: "double is documented.".into(),
    });
    steps.iter().flat_map(Steps::rules).fold(Script::new(), Script::rule)
}

fn gate<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["gates"].as_array().unwrap().iter().find(|g| g["gate"] == name).unwrap()
}

#[test]
fn heavy_every_gate_loops_once_with_claude_and_the_run_completes() {
    let server = ModelServer::start(script()).unwrap();
    let project = Project::new(&[
        ("Cargo.toml", CARGO_TOML),
        (".gitignore", "target/\nCargo.lock\n"),
        ("src/lib.rs", LIB),
        ("tests/calc.rs", TEST),
    ]);
    project.configure(Cli::Claude, &server, "");
    // Claude reviews too (the harness's approving command agent does not).
    let config = project.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[review]\nagent = \"approver\"", "[review]\nagent = \"claude\""),
    )
    .unwrap();
    let plan = project.plan(PLAN);

    let orca = project.run(&server, "run", &["run", "--plan", plan.to_str().unwrap()]);
    orca.assert_exit(0, &server);
    let events = orca.events();
    let story = || orca.story(&server);
    assert_eq!(events.outcome().as_deref(), Some("completed"), "{}", story());
    for task in ["T1", "fix-security-1-1", "fix-test-1-1", "fix-review-1-1"] {
        assert_eq!(events.of("merged", task).len(), 1, "{task} merged once\n{}", story());
    }
    let integration = events.integration_branch();
    let shell = project.show(&integration, "src/shell.rs").unwrap();
    assert!(!shell.contains(&secret()) && !shell.contains("\"sh\""), "{shell}");
    assert_eq!(project.show(&integration, "src/lib.rs").as_deref(), Some(LIB_REVIEWED));
    let subjects = project.git(&["log", "--format=%s", &integration]);
    assert!(subjects.lines().any(|s| s.starts_with("orca cleanup: cargo fmt --all")), "{subjects}");

    // The report shows each loop.
    let run = events.run_id();
    let dir = project.repo.join(".orca/runs").join(&run);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for (name, fix) in
        [("security", "fix-security-1-1"), ("test", "fix-test-1-1"), ("review", "fix-review-1-1")]
    {
        let gate = gate(&report, name);
        assert_eq!(
            (gate["state"].as_str(), gate["rounds"].as_i64()),
            (Some("passed"), Some(1)),
            "{gate}"
        );
        assert_eq!(gate["fix_tasks"], serde_json::json!([fix]), "{gate}");
    }
    let cleanup = gate(&report, "cleanup");
    assert_eq!(cleanup["state"], "passed");
    let rounds: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cleanup.json")).unwrap()).unwrap();
    let kept: Vec<&Value> =
        rounds["rounds"].as_array().unwrap().iter().filter(|r| r["kept"] == true).collect();
    assert_eq!(kept.len(), 1, "{rounds}");
    assert!(kept[0]["fixers"][0]["command"] == "cargo fmt --all", "{rounds}");
    // The secret reached nothing orca wrote.
    for file in ["report.json", "report.md", "report.html", "security.json", "security.sarif"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains(&secret()), "the secret leaked into {file}");
    }
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("fix-security-1-1") && page.contains("fix-review-1-1"));
}
