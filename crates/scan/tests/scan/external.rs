//! External tools: absent ones are skipped, failing ones reported, and
//! their findings kept on added lines only, merged with orca's, and
//! redacted. The tools here are small scripts standing in for semgrep,
//! bandit and gitleaks, found through the scanner's search path.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use orca_scan::{ExternalTools, RuleSet, ScanOptions, ScanTarget, Scanner, ToolStatus};

use crate::support::{every_output, git, write};

fn tool(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn scanner_with_tools(bin: &Path) -> Scanner {
    let options = ScanOptions {
        external: ExternalTools {
            search_path: Some(bin.as_os_str().to_owned()),
            ..ExternalTools::default()
        },
        ..ScanOptions::default()
    };
    Scanner::new(RuleSet::builtin().clone(), options)
}

fn status<'a>(report: &'a orca_scan::Report, name: &str) -> &'a ToolStatus {
    &report.tools().iter().find(|t| t.tool == name).unwrap().status
}

const LEAK: &str = "Zq7Lx2Vr9Tz4Kb8Nc1Pw";

#[test]
fn tools_run_on_the_changed_files_and_their_findings_merge() {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    git(root, &["init", "-q"]);
    write(&root.join("app.py"), "import subprocess\n");
    write(&root.join(".semgrep.yml"), "rules: []\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "base"]);
    let base = git(root, &["rev-parse", "HEAD"]);
    write(
        &root.join("app.py"),
        &format!("import subprocess\nsubprocess.run(cmd, shell=True)\nX = '{LEAK}'\n"),
    );
    git(root, &["commit", "-qam", "change"]);

    let bin = tempfile::tempdir().unwrap();
    // bandit: a B602 on line 2 (orca finds it too), a B101 on line 1 (not
    // an added line: dropped). Prints JSON paths as given, like bandit.
    tool(
        bin.path(),
        "bandit",
        r#"cat <<'JSON'
{"errors": [], "results": [
 {"filename": "app.py", "line_number": 2, "col_offset": 0, "test_id": "B602", "issue_severity": "HIGH", "issue_text": "subprocess call with shell=True identified"},
 {"filename": "app.py", "line_number": 1, "col_offset": 0, "test_id": "B404", "issue_severity": "LOW", "issue_text": "Consider possible security implications"},
 {"filename": "app.py", "line_number": 3, "col_offset": 0, "test_id": "B999", "issue_severity": "MEDIUM", "issue_text": "made-up check"}
]}
JSON
exit 1
"#,
    );
    // gitleaks: writes its (redacted) report where --report-path says.
    tool(
        bin.path(),
        "gitleaks",
        r#"while [ $# -gt 0 ]; do
  if [ "$1" = "--report-path" ]; then out="$2"; fi
  shift
done
cat > "$out" <<'JSON'
[{"RuleID": "generic-api-key", "Description": "Generic API Key", "StartLine": 3, "EndLine": 3, "StartColumn": 6, "EndColumn": 25, "Match": "REDACTED", "Secret": "REDACTED", "File": "app.py"}]
JSON
"#,
    );
    // semgrep: fails.
    tool(bin.path(), "semgrep", "echo 'fatal: rules could not be parsed' >&2\nexit 7\n");

    let report =
        scanner_with_tools(bin.path()).scan(&ScanTarget::diff(root, &base, "HEAD")).unwrap();
    match status(&report, "semgrep") {
        ToolStatus::Failed { reason } => {
            assert!(
                reason.contains("status 7") && reason.contains("rules could not be parsed"),
                "{reason}"
            )
        }
        other => panic!("semgrep should have failed: {other:?}"),
    }
    assert_eq!(status(&report, "bandit"), &ToolStatus::Ran { findings: 2 });
    assert_eq!(status(&report, "gitleaks"), &ToolStatus::Ran { findings: 1 });

    let shell = report
        .findings()
        .iter()
        .find(|f| f.line == 2 && f.category == "command-injection")
        .unwrap();
    assert_eq!(shell.tool, "orca");
    assert_eq!(shell.also_reported_by, ["bandit"]);
    assert!(report.findings().iter().any(|f| f.tool == "bandit" && f.rule == "B999"));
    assert!(!report.findings().iter().any(|f| f.rule == "B404"), "line 1 was not added");
    let leak = report.findings().iter().find(|f| f.tool == "gitleaks").unwrap();
    assert_eq!(leak.snippet, "X = '[REDACTED]'");
    assert!(!every_output(&report).contains(LEAK));
    // The redactor knows what gitleaks found.
    assert_eq!(report.redact(&format!("see {LEAK}")), "see [REDACTED]");
    let summary = report.summary(orca_scan::Severity::Warning);
    assert!(summary.contains("semgrep: FAILED"), "{summary}");
}

#[test]
fn absent_tools_are_skipped_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.txt"), "nothing\n");
    let empty = tempfile::tempdir().unwrap();
    let report = scanner_with_tools(empty.path()).scan(&ScanTarget::directory(dir.path())).unwrap();
    for name in ["semgrep", "bandit", "gitleaks"] {
        match status(&report, name) {
            ToolStatus::Skipped { reason } => assert!(reason.contains("not installed"), "{reason}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn semgrep_without_local_rules_is_skipped_not_run() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.py"), "x = 1\n");
    let bin = tempfile::tempdir().unwrap();
    let marker = bin.path().join("ran");
    tool(bin.path(), "semgrep", &format!("touch {}\n", marker.display()));
    let report = scanner_with_tools(bin.path()).scan(&ScanTarget::directory(dir.path())).unwrap();
    match status(&report, "semgrep") {
        ToolStatus::Skipped { reason } => assert!(reason.contains("no local rules"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(!marker.exists());
}
