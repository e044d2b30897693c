//! Diff scans over real git repositories: only added lines, positions in
//! the new file, binary files, the working tree and untracked files.

use orca_scan::{ScanError, ScanTarget};

use crate::support::{default_scanner, git, rule_ids, write};

const OLD_KEY: &str = "ghp_Old8sXk2Lq9Vz4Tb7Nm1Pc5Wd3Hf6Jg0Ya2Q";
const NEW_KEY: &str = "ghp_New8sXk2Lq9Vz4Tb7Nm1Pc5Wd3Hf6Jg0Ya2Q";

fn repo_with_history() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(&root.join("app/config.py"), &format!("A = 1\nOLD = \"{OLD_KEY}\"\nB = 2\n"));
    write(&root.join("README.md"), "hello\n");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "base"]);
    let base = git(root, &["rev-parse", "HEAD"]);
    // Insert two lines after line 1; the old secret moves to line 4 but
    // is not added, so it is not reported.
    write(
        &root.join("app/config.py"),
        &format!("A = 1\nX = 0\n    NEW = \"{NEW_KEY}\"\nOLD = \"{OLD_KEY}\"\nB = 2\n"),
    );
    write(&root.join("scripts/run.sh"), "#!/bin/sh\nchmod 777 /srv/data\n");
    write(&root.join("config/master.key"), "0123456789abcdef0123456789abcdef\n");
    std::fs::write(root.join("logo.png"), [0u8, 1, 2, 3, 0, 9]).unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "change"]);
    (dir, base)
}

#[test]
fn only_added_lines_are_reported_at_their_new_positions() {
    let (dir, base) = repo_with_history();
    let report = default_scanner().scan(&ScanTarget::diff(dir.path(), &base, "HEAD")).unwrap();
    let found: Vec<_> = report
        .findings()
        .iter()
        .map(|f| (f.path.as_str(), f.rule.as_str(), f.line, f.column))
        .collect();
    assert_eq!(
        found,
        [
            ("app/config.py", "github-token", 3, 12),
            ("config/master.key", "rails-master-key", 1, 1),
            ("scripts/run.sh", "shell-world-writable", 2, 1),
        ],
        "{:#?}",
        report.findings()
    );
    assert!(report.stats().binary >= 1, "the png is counted as binary");
    assert!(!report.summary(orca_scan::Severity::Note).contains(NEW_KEY));
}

#[test]
fn the_working_tree_and_untracked_files_when_there_is_no_head() {
    let (dir, _) = repo_with_history();
    let root = dir.path();
    write(&root.join("README.md"), "hello\nrequests.get(u, verify=False)\n");
    write(&root.join("new_tool.py"), "import pickle\nobj = pickle.loads(data)\n");
    let target = ScanTarget::GitDiff { repo: root.to_path_buf(), base: "HEAD".into(), head: None };
    let report = default_scanner().scan(&target).unwrap();
    // README.md is not Python: the verify=False rule does not apply there.
    assert_eq!(rule_ids(&report), ["python-pickle-load"]);
    assert_eq!(report.findings()[0].path, "new_tool.py");
    assert_eq!(report.findings()[0].line, 2);
}

#[test]
fn a_scan_from_a_subdirectory_reports_repository_paths() {
    let (dir, base) = repo_with_history();
    let report =
        default_scanner().scan(&ScanTarget::diff(dir.path().join("app"), &base, "HEAD")).unwrap();
    assert!(report.findings().iter().any(|f| f.path == "app/config.py"));
}

#[test]
fn an_unknown_base_is_an_error() {
    let (dir, _) = repo_with_history();
    let err =
        default_scanner().scan(&ScanTarget::diff(dir.path(), "no-such-rev", "HEAD")).unwrap_err();
    assert!(matches!(err, ScanError::Git { .. }), "{err}");
}
