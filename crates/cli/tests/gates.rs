//! The quality gates over real processes, with `command` agents: a gate's
//! findings become fix tasks that go through implement and the merge
//! queue, the gate runs again, and a gate out of fix rounds stops the run
//! until a human fix, after which `orca resume` completes it.

mod support;

use serde_json::Value;
use support::*;

/// A secret and its fix: the secret the agent plants, in pieces so that
/// this file holds no secret itself.
fn secret() -> String {
    ["q8Ld2Vn4Rz7Y", "t1Kp9Wb3Xc6J", "h0Mf5Sg2Ae8Uo4Ni"].concat()
}

/// The agent plants the secret in `creds.py`; a fix task removes it, and
/// with `leak_again` plants it anew in `other.py`.
fn agent(leak_again: bool) -> String {
    let leak =
        |file: &str| format!("printf 'aws_secret_access_key = \"{}\"\\n' > {file}", secret());
    let mut fix =
        "printf 'import os\\nkey = os.environ[\"AWS_SECRET_ACCESS_KEY\"]\\n' > creds.py".to_owned();
    if leak_again {
        fix = format!("{fix}; {}", leak("other.py"));
    }
    format!("case \"$task\" in\n  fix-security-*) {fix} ;;\n  *) {} ;;\nesac", leak("creds.py"))
}

fn plan(fixture: &Fixture) -> std::path::PathBuf {
    fixture.plan(&format!("# Plan: Credentials\n\n{}", task("T1", "none", "creds.py", None)))
}

fn secure_config(fixture: &Fixture, extra: &str) {
    fixture.config(extra);
    let config = fixture.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + "\n[security]\nexternal = false\n").unwrap();
}

fn stage<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
}

/// Every file orca wrote for the run, and everything it printed.
fn everything_written(fixture: &Fixture, printed: &[&str]) -> String {
    let mut all = printed.join("\n");
    let mut stack = vec![fixture.repo.join(".orca/runs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                all.push_str(&text);
            }
        }
    }
    all
}

#[test]
fn a_planted_secret_becomes_a_fix_task_and_the_gate_passes_after_it() {
    let fixture = Fixture::new(&agent(false));
    secure_config(&fixture, "");
    let plan = plan(&fixture);
    let out =
        fixture.orca().args(["run", "--plan", plan.to_str().unwrap(), "--json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    let events = events(&out);
    let checks: Vec<&Value> =
        of_kind(&events, "gate_checked").into_iter().filter(|e| e["gate"] == "security").collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert_eq!((checks[0]["failing"].as_u64(), checks[1]["failing"].as_u64()), (Some(1), Some(0)));
    assert_eq!(of_kind(&events, "merged").len(), 2, "T1 and its fix task");
    assert!(events.iter().any(|e| e["event"] == "merged" && e["task"] == "fix-security-1-1"));
    let integration = fixture.integration(&events);
    let creds = fixture.show(&integration, "creds.py");
    assert!(creds.contains("os.environ") && !creds.contains(&secret()), "{creds}");

    let (_, status, _) = fixture.json(&["status"]);
    // Before and after the fix round, in status and the report.
    let failing: Vec<u64> = status["gates"]["security"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["failing"].as_u64().unwrap())
        .collect();
    assert_eq!(failing, [1, 0]);
    let (_, text, _) = fixture.text(&["status"]);
    assert!(text.contains("[failing: 1 → 0]"), "{text}");
    let (_, markdown, _) = fixture.text(&["report", "--format", "md"]);
    assert!(markdown.contains("failing 1 → 0"), "{markdown}");
    let security = stage(&status, "security");
    assert_eq!(
        (security["state"].as_str(), security["rounds"].as_i64()),
        (Some("passed"), Some(1))
    );
    // The secret never reaches anything orca writes or prints.
    let written = everything_written(&fixture, &[&stdout, &stderr]);
    assert!(!written.contains(&secret()), "the secret leaked into orca's output or files");
    assert!(written.contains("[REDACTED]"), "the finding is shown, redacted");
}

#[test]
fn a_gate_out_of_fix_rounds_stops_the_run_and_resume_continues_after_a_human_fix() {
    let fixture = Fixture::new(&agent(true));
    secure_config(&fixture, "");
    let config = fixture.repo.join(".orca/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + "\n[gates]\nmax_fix_rounds = 1\n").unwrap();
    let plan = plan(&fixture);
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let finished = events.iter().rev().find(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(
        (finished["outcome"].as_str(), finished["stage"].as_str()),
        (Some("failed"), Some("security"))
    );
    assert!(finished["reason"].as_str().unwrap().contains("1 fix round"), "{finished}");
    let run = finished["run"].as_str().unwrap().to_owned();
    let integration = fixture.integration(&events);

    // A human fixes it on the integration branch.
    fixture.commit_on(
        &integration,
        "other.py",
        "import os\nkey = os.environ[\"KEY\"]\n",
        "read the key from the environment",
    );

    let (code, events, stderr) = fixture.run_json(&["resume", "--run", &run]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let (_, status, _) = fixture.json(&["status"]);
    assert_eq!(stage(&status, "security")["state"], "passed");
    assert_eq!(status["run"]["state"], "succeeded");
}
