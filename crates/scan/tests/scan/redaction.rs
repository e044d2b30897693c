//! Secrets never appear in any output: findings, summary, JSON, SARIF,
//! the free `redact` function, a report's redactor.

use orca_scan::{REDACTED, Redactor, RuleSet, ScanTarget, Severity, redact};

use crate::support::{default_scanner, every_output};

const AWS_ID: &str = "AKIAQ3EGRJ7WVZP5XK2M";
const SLACK: &str = "xoxb-482915730264-1938475620193-Qm7Lx2Vr9Tz4Kb8Nc1Pw5Hd3";
const PASSWORD: &str = "Xk2!vQz9#Lm4";

fn leaky_text() -> String {
    format!(
        "aws_access_key_id = {AWS_ID}\nSLACK_TOKEN={SLACK}\ndb_password = \"{PASSWORD}\"\n\
         url = \"postgres://app:{PASSWORD}@db:5432/app\"\n"
    )
}

#[test]
fn no_output_of_a_report_holds_a_secret() {
    let report = default_scanner().scan_text("settings.py", &leaky_text());
    assert!(report.findings().len() >= 4, "{:?}", report.findings());
    let out = every_output(&report);
    for secret in [AWS_ID, SLACK, PASSWORD] {
        assert!(!out.contains(secret), "{secret} leaked");
    }
    for f in report.findings() {
        assert!(f.snippet.contains(REDACTED), "{f:?}");
    }
}

#[test]
fn redact_catches_secrets_in_free_text() {
    let log = format!("agent said: use {AWS_ID} and {SLACK} to deploy; done");
    let clean = redact(&log);
    assert!(!clean.contains(AWS_ID) && !clean.contains(SLACK), "{clean}");
    assert!(clean.starts_with("agent said: use ") && clean.ends_with(" to deploy; done"));
    let plain = "nothing secret here, just prose about passwords and keys";
    assert!(matches!(redact(plain), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn a_reports_redactor_knows_the_secrets_it_found_out_of_context() {
    let report = default_scanner().scan_text("settings.py", &leaky_text());
    // The password alone, in a fix-task prompt, has no rule context; the
    // report's redactor still knows it.
    let prompt = format!("The old value {PASSWORD} must be rotated.");
    assert!(redact(&prompt).contains(PASSWORD), "no rule sees it alone");
    let clean = report.redact(&prompt);
    assert_eq!(clean, format!("The old value {REDACTED} must be rotated."));
    assert!(report.redactor().known_secret_count() >= 3);
}

#[test]
fn short_known_secrets_are_only_redacted_in_context() {
    let redactor =
        Redactor::new(RuleSet::builtin()).with_known_secrets(["admin", "longer-secret-9"]);
    assert_eq!(redactor.redact("the admin page"), "the admin page");
    assert_eq!(redactor.redact("x longer-secret-9 y"), format!("x {REDACTED} y"));
    assert_eq!(redactor.redact("password = \"admin1\""), format!("password = \"{REDACTED}\""));
}

#[test]
fn redaction_keeps_multibyte_text_intact() {
    let text = format!("ключ: {AWS_ID} — готово ✓");
    let clean = redact(&text);
    assert_eq!(clean, format!("ключ: {REDACTED} — готово ✓"));
}

#[test]
fn a_directory_scan_redacts_every_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), leaky_text()).unwrap();
    let report = default_scanner().scan(&ScanTarget::directory(dir.path())).unwrap();
    assert!(!report.passes(Severity::Error));
    let out = every_output(&report);
    for secret in [AWS_ID, SLACK, PASSWORD] {
        assert!(!out.contains(secret), "{secret} leaked");
    }
}
