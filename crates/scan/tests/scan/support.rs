//! Helpers shared by the tests.

use std::path::Path;
use std::process::Command;

use orca_scan::{ExternalTools, Report, RuleSet, ScanOptions, Scanner};

/// A scanner with `rules` and no external tools.
pub(crate) fn scanner(rules: RuleSet) -> Scanner {
    Scanner::new(
        rules,
        ScanOptions { external: ExternalTools::disabled(), ..ScanOptions::default() },
    )
}

/// The default rules, no external tools.
pub(crate) fn default_scanner() -> Scanner {
    scanner(RuleSet::builtin().clone())
}

/// Rule ids of a report's findings.
pub(crate) fn rule_ids(report: &Report) -> Vec<&str> {
    report.findings().iter().map(|f| f.rule.as_str()).collect()
}

/// Every text a report hands out, concatenated: summary, JSON, SARIF, and
/// each finding's and suppression's fields.
pub(crate) fn every_output(report: &Report) -> String {
    let threshold = orca_scan::Severity::Note;
    let mut all = String::new();
    all.push_str(&report.summary(threshold));
    all.push_str(&report.to_json(threshold).to_string());
    all.push_str(&report.sarif_json());
    all.push_str(&format!("{report:?}"));
    for f in report.findings().iter().chain(report.suppressions().iter().map(|s| &s.finding)) {
        all.push_str(&serde_json::to_string(f).unwrap());
    }
    all
}

/// A plain git command in `dir` for setting up test repositories.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "commit.gpgSign=false", "-c", "core.hooksPath=/dev/null"])
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args);
    for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_PARAMETERS"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
