//! Every default rule has a positive and a negative case, and each holds:
//! the rule alone finds the positive (its secret redacted in every
//! output) and finds nothing in the negative.

use std::collections::BTreeMap;

use orca_scan::{RuleKind, RuleSet};
use serde::Deserialize;

use crate::support::{every_output, scanner};

#[derive(Deserialize)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    rule: String,
    path: Option<String>,
    positive: Vec<String>,
    negative: Vec<String>,
}

fn cases() -> BTreeMap<String, Case> {
    let mut all = BTreeMap::new();
    for text in [include_str!("../cases/secrets.toml"), include_str!("../cases/patterns.toml")] {
        let file: CaseFile = toml::from_str(text).expect("case files parse");
        for case in file.case {
            let previous = all.insert(case.rule.clone(), case);
            assert!(previous.is_none(), "two case blocks for one rule");
        }
    }
    all
}

#[test]
fn every_default_rule_has_a_positive_and_a_negative_case() {
    let cases = cases();
    let rules = RuleSet::builtin();
    let mut missing = Vec::new();
    for rule in rules.rules() {
        match cases.get(rule.id()) {
            Some(case) if !case.positive.is_empty() && !case.negative.is_empty() => {}
            _ => missing.push(rule.id().to_string()),
        }
    }
    assert!(missing.is_empty(), "rules without a positive and a negative case: {missing:?}");
    let unknown: Vec<_> = cases.keys().filter(|id| rules.rule(id).is_none()).collect();
    assert!(unknown.is_empty(), "cases for rules that do not exist: {unknown:?}");
}

#[test]
fn every_case_holds() {
    let mut failures = Vec::new();
    for (id, case) in cases() {
        let rule = RuleSet::builtin().rule(&id).expect("checked above");
        let scanner = scanner(RuleSet::builtin().filtered(|r| r.id() == id));
        let path = case.path.as_deref().unwrap_or("settings.conf");
        for text in &case.positive {
            let report = scanner.scan_text(path, text);
            if !report.findings().iter().any(|f| f.rule == id) {
                failures.push(format!("{id}: positive not found: {text:?}"));
                continue;
            }
            // A secret rule's secret never reaches any output. Redaction
            // replaces the secret group, so check the longest run of the
            // case that the scanner must have hidden: the part after the
            // rule's keyword that is not in the snippet.
            if rule.kind() == RuleKind::Secret {
                let out = every_output(&report);
                assert!(out.contains(orca_scan::REDACTED), "{id}: nothing redacted for {text:?}");
                for token in secret_like_tokens(text) {
                    assert!(!out.contains(&token), "{id}: {token:?} leaked from {text:?}");
                }
            }
        }
        for text in &case.negative {
            let report = scanner.scan_text(path, text);
            if !report.findings().is_empty() {
                failures.push(format!("{id}: negative matched: {text:?}: {:?}", report.findings()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}

/// Runs of 16+ characters of a token alphabet in `text`: the random
/// secrets of the cases (names and prose are shorter or contain spaces).
fn secret_like_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-.~".contains(c)))
        .filter(|t| t.len() >= 16 && t.chars().any(|c| c.is_ascii_digit()))
        .filter(|t| !t.starts_with("https") && !t.contains("example.com"))
        .map(|t| t.trim_matches(|c: char| "=.-_".contains(c)).to_string())
        .filter(|t| t.len() >= 16)
        .collect()
}
