//! The cleanup gate over real processes: unformatted Rust an agent wrote
//! is formatted by the real `cargo fmt` in one commit the integration
//! branch moves to once the build and tests pass on it; a cleanup that
//! breaks the tests is dropped and the run says why.

mod support;

use serde_json::Value;
use support::*;

const UNFORMATTED: &str = "pub fn add(a:u64,b:u64)->u64{a+b}\n\n#[cfg(test)]\nmod tests{\n    #[test]\n    fn adds(){assert_eq!(super::add(2,2),4);}\n}\n";

fn stage<'a>(value: &'a Value, name: &str) -> &'a Value {
    value["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap()
}

fn commit_all(fixture: &Fixture, message: &str) {
    fixture.git(&["add", "."]);
    fixture.git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message]);
}

/// The repository becomes the one-file Rust crate `adder` with `lib`
/// as its src/lib.rs, committed.
fn commit_crate(fixture: &Fixture, lib: &str, message: &str) {
    std::fs::create_dir_all(fixture.repo.join("src")).unwrap();
    std::fs::write(
        fixture.repo.join("Cargo.toml"),
        "[package]\nname = \"adder\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(fixture.repo.join("src/lib.rs"), lib).unwrap();
    std::fs::write(fixture.repo.join(".gitignore"), "target/\nCargo.lock\n").unwrap();
    commit_all(fixture, message);
}

#[test]
fn unformatted_code_is_formatted_in_one_commit_the_run_keeps() {
    let fixture = Fixture::new(&format!("cat > src/lib.rs <<'RUST'\n{UNFORMATTED}RUST"));
    commit_crate(&fixture, "", "an empty crate");
    let plan =
        fixture.plan(&format!("# Plan: Adder\n\n{}", task("T1", "none", "src/lib.rs", None)));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let integration = fixture.integration(&events);

    let formatted = fixture.show(&integration, "src/lib.rs");
    assert!(formatted.contains("pub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}"), "{formatted}");
    let log = fixture.git(&["log", "--format=%s", &integration]);
    let subjects: Vec<&str> = log.lines().collect();
    assert!(subjects[0].starts_with("orca cleanup: cargo fmt --all"), "{subjects:?}");

    let (_, status, _) = fixture.json(&["status"]);
    let note = stage(&status, "cleanup")["note"].as_str().unwrap().to_owned();
    assert_eq!(stage(&status, "cleanup")["state"], "passed");
    assert!(note.contains("1 file(s) cleaned"), "{note}");
    assert_eq!(stage(&status, "complete")["state"], "passed");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.repo.join(".orca/runs").join(&run).join("cleanup.json"))
            .unwrap(),
    )
    .unwrap();
    let round = &report["rounds"][0];
    assert_eq!(round["kept"], true, "{report}");
    let checks: Vec<&str> = round["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert!(
        checks.iter().any(|c| c.starts_with("cargo build"))
            && checks.iter().any(|c| c.starts_with("cargo test")),
        "{checks:?}"
    );
}

#[test]
fn a_cleanup_that_breaks_the_tests_is_dropped_and_the_run_says_why() {
    let fixture = Fixture::new("printf 'hello\\n' > greeting.txt");
    // A "formatter" that breaks what the tests check.
    std::fs::write(
        fixture.repo.join("Makefile"),
        "fmt:\n\tprintf 'hullo\\n' > greeting.txt\n\ntest:\n\tgrep -q hello greeting.txt\n",
    )
    .unwrap();
    std::fs::write(fixture.repo.join("greeting.txt"), "hello\n").unwrap();
    commit_all(&fixture, "make fmt and make test");
    let plan =
        fixture.plan(&format!("# Plan: Greeting\n\n{}", task("T1", "none", "greeting.txt", None)));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    let integration = fixture.integration(&events);
    assert_eq!(
        fixture.show(&integration, "greeting.txt"),
        "hello\n",
        "the cleanup is not on the branch"
    );
    let (_, status, _) = fixture.json(&["status"]);
    let note = stage(&status, "cleanup")["note"].as_str().unwrap().to_owned();
    assert!(note.starts_with("cleanup commit dropped: `make test` exited with status"), "{note}");
    assert_eq!(status["run"]["state"], "succeeded");
}

#[test]
fn orca_cleanup_formats_the_checkout_in_place_and_lists_what_changed() {
    let fixture = Fixture::new("true");
    commit_crate(&fixture, UNFORMATTED, "an unformatted crate");
    let (code, report, stderr) = fixture.json(&["cleanup"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["changed"], serde_json::json!(["src/lib.rs"]), "{report}");
    let ran: Vec<&str> =
        report["ran"].as_array().unwrap().iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(ran[0], "cargo fmt --all");
    let text = std::fs::read_to_string(fixture.repo.join("src/lib.rs")).unwrap();
    assert!(text.contains("pub fn add(a: u64, b: u64) -> u64 {"), "{text}");
    assert_eq!(
        fixture.git(&["log", "--format=%s", "-1"]).trim(),
        "an unformatted crate",
        "nothing committed"
    );
}

#[test]
fn code_the_run_added_that_nothing_uses_is_removed_by_a_cleanup_task() {
    let with_helper =
        "pub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}\n\nfn helper() -> u64 {\n    1\n}\n";
    let without = "pub fn add(a: u64, b: u64) -> u64 {\n    a + b\n}\n";
    let fixture = Fixture::new(&format!(
        "case \"$task\" in\n  fix-cleanup-*) printf '{}' > src/lib.rs ;;\n  *) printf '{}' > src/lib.rs ;;\nesac",
        without.replace('\n', "\\n"),
        with_helper.replace('\n', "\\n")
    ));
    commit_crate(&fixture, "", "an empty crate");
    let plan =
        fixture.plan(&format!("# Plan: Adder\n\n{}", task("T1", "none", "src/lib.rs", None)));
    let (code, events, stderr) = fixture.run_json(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(
        events.iter().any(|e| e["event"] == "merged" && e["task"] == "fix-cleanup-1-1"),
        "{events:?}"
    );
    let integration = fixture.integration(&events);
    assert_eq!(fixture.show(&integration, "src/lib.rs"), without);
    let run = events[0]["run"].as_str().unwrap().to_owned();
    let (_, task, _) = fixture.json(&["task", "show", "fix-cleanup-1-1", "--run", &run]);
    let text = task.to_string();
    assert!(text.contains("line 5: function `helper` is never used (cargo check)"), "{text}");
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.repo.join(".orca/runs").join(&run).join("cleanup.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(kept["unused"], serde_json::json!([]), "nothing unused is left: {kept}");
}
