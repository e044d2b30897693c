//! `orca:allow <rule> <reason>` on the line suppresses and is listed; one
//! without a reason suppresses nothing and is reported itself.

use orca_scan::{ALLOW_WITHOUT_REASON, Severity};

use crate::support::{default_scanner, every_output, rule_ids};

const KEY: &str = "ghp_R8sXk2Lq9Vz4Tb7Nm1Pc5Wd3Hf6Jg0Ya2Ue4";

#[test]
fn a_reasoned_allow_suppresses_and_is_listed() {
    let text = format!(
        "token = \"{KEY}\"  # orca:allow github-token revoked on 2026-11-01, kept as a fixture\n"
    );
    let report = default_scanner().scan_text("fixtures/tokens.py", &text);
    assert!(report.findings().is_empty(), "{:?}", report.findings());
    assert_eq!(report.suppressions().len(), 1);
    let s = &report.suppressions()[0];
    assert_eq!(s.finding.rule, "github-token");
    assert_eq!(s.reason, "revoked on 2026-11-01, kept as a fixture");
    assert!(report.passes(Severity::Note));
    assert_eq!(report.exit_code(Severity::Note), 0);
    let summary = report.summary(Severity::Warning);
    assert!(summary.contains("suppressed by orca:allow"), "{summary}");
    assert!(summary.contains("revoked on 2026-11-01"), "{summary}");
    // Listed in SARIF as a suppressed result.
    let sarif = report.sarif();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results[0]["suppressions"][0]["kind"], "inSource");
    assert!(!every_output(&report).contains(KEY));
}

#[test]
fn every_comment_syntax_works_and_only_for_the_named_rule() {
    for (path, line) in [
        ("a.rs", format!("let t = \"{KEY}\"; // orca:allow github-token test value")),
        ("a.sql", format!("SELECT '{KEY}'; -- orca:allow github-token test value")),
        ("a.c", format!("char *t = \"{KEY}\"; /* orca:allow github-token test value */")),
        ("a.sh", format!("T={KEY} # orca:allow * test value")),
    ] {
        let report = default_scanner().scan_text(path, &line);
        assert!(report.findings().is_empty(), "{path}: {:?}", report.findings());
        assert_eq!(report.suppressions().len(), 1, "{path}");
    }
    let other = format!("t = \"{KEY}\"  # orca:allow jwt not this rule\n");
    let report = default_scanner().scan_text("a.py", &other);
    assert_eq!(rule_ids(&report), ["github-token"]);
    // On another line it does not count.
    let above = format!("# orca:allow github-token reason\nt = \"{KEY}\"\n");
    assert_eq!(rule_ids(&default_scanner().scan_text("a.py", &above)), ["github-token"]);
}

#[test]
fn an_allow_without_reason_suppresses_nothing_and_is_reported() {
    let text = format!("token = \"{KEY}\"  # orca:allow github-token\n");
    let report = default_scanner().scan_text("a.py", &text);
    let mut ids = rule_ids(&report);
    ids.sort();
    assert_eq!(ids, ["github-token", ALLOW_WITHOUT_REASON]);
    assert!(report.suppressions().is_empty());
    assert_eq!(report.exit_code(Severity::Error), 1);
    let meta = report.findings().iter().find(|f| f.rule == ALLOW_WITHOUT_REASON).unwrap();
    assert_eq!(meta.severity, Severity::Warning);
    assert!(!every_output(&report).contains(KEY));
}

#[test]
fn pattern_findings_are_suppressible_too() {
    let report = default_scanner()
        .scan_text("c.py", "requests.get(url, verify=False)  # orca:allow python-tls-verify-disabled local test server\n");
    assert!(report.findings().is_empty());
    assert_eq!(report.suppressions()[0].reason, "local test server");
}
