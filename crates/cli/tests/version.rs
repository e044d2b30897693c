//! `orca version` and the shared error/exit-code contract.

use std::process::Command;

fn orca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orca"))
}

#[test]
fn version_prints_name_and_version() {
    let out = orca().arg("version").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim(), format!("orca {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn version_json_is_one_json_object() {
    let out = orca().args(["version", "--json"]).output().unwrap();
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["name"], "orca");
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn unknown_subcommand_is_a_usage_error_with_exit_code_2() {
    let out = orca().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no-such-command"), "stderr: {stderr}");
}

/// The completion script offers what a user types: no test-only command,
/// and stage names (not file names) after `--from`.
#[test]
fn completions_offer_visible_commands_and_stage_names() {
    for shell in ["bash", "zsh", "fish"] {
        let out = orca().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("resume"), "{shell}");
        assert!(script.contains("implement"), "{shell}: no stage names");
        for hidden in ["debug-worker", "debug-create-run"] {
            assert!(!script.contains(hidden), "{shell} offers {hidden}");
        }
    }
    let out = orca().args(["run", "--from", "nope", "goal"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("'nope'") && stderr.contains("analyze, plan, parallel"), "{stderr}");
}
