//! The gitleaks rule format: keywords, entropy, secretGroup, path rules,
//! allowlists (regexes, paths, stopwords, regexTarget, condition), the
//! global allowlist, `[extend]`, and the errors for what is wrong or
//! unsupported.

use orca_scan::{RuleError, RuleKind, RuleSet};

use crate::support::{rule_ids, scanner};

fn rules(toml: &str) -> RuleSet {
    RuleSet::builder().add_toml(RuleKind::Secret, toml, "test.toml").unwrap().build()
}

fn finds(rules: &RuleSet, path: &str, text: &str) -> Vec<String> {
    scanner(rules.clone()).scan_text(path, text).findings().iter().map(|f| f.rule.clone()).collect()
}

#[test]
fn keywords_gate_the_regex_case_insensitively() {
    let set = rules(
        r#"
[[rules]]
id = "tok"
regex = '''tok_[0-9]{6}'''
keywords = ["TOK_"]
"#,
    );
    assert_eq!(finds(&set, "a.txt", "x = tok_123456"), ["tok"]);
    assert!(finds(&set, "a.txt", "x = tok123456").is_empty());
    // The keyword on another line does not run the regex on this one.
    let gated = rules(
        r#"
[[rules]]
id = "gated"
regex = '''[0-9]{6}'''
keywords = ["zzz"]
"#,
    );
    assert!(finds(&gated, "a.txt", "zzz\n123456").is_empty());
    assert_eq!(finds(&gated, "a.txt", "zzz 123456"), ["gated"]);
}

#[test]
fn rules_without_keywords_and_multiline_regexes_run_on_the_whole_text() {
    let set = rules(
        r#"
[[rules]]
id = "anywhere"
regex = '''\bQQ[0-9]{4}\b'''

[[rules]]
id = "block"
regex = '''BEGIN\n[a-z]+\nEND'''
keywords = ["begin"]
"#,
    );
    assert_eq!(finds(&set, "a.txt", "one\nQQ1234"), ["anywhere"]);
    let report = scanner(set.clone()).scan_text("a.txt", "x\nBEGIN\nabc\nEND\n");
    assert_eq!(rule_ids(&report), ["block"]);
    let f = &report.findings()[0];
    assert_eq!((f.line, f.end_line), (2, 4));
}

#[test]
fn entropy_threshold_applies_to_the_secret() {
    let set = rules(
        r#"
[[rules]]
id = "ent"
regex = '''key=([A-Za-z0-9]{16})'''
entropy = 3.5
keywords = ["key="]
"#,
    );
    assert_eq!(finds(&set, "a.txt", "key=q8Xz2Lm4Vt7Rb1Nc"), ["ent"]);
    assert!(finds(&set, "a.txt", "key=aaaaaaaabbbbbbbb").is_empty());
}

#[test]
fn secret_group_picks_what_is_redacted_and_measured() {
    let set = rules(
        r#"
[[rules]]
id = "grp"
regex = '''(user)=([a-z]+):([A-Za-z0-9]{12})'''
secretGroup = 3
entropy = 3.0
keywords = ["user="]
"#,
    );
    let report = scanner(set).scan_text("a.txt", "user=bob:Zx81Lq03Vr5T");
    let f = &report.findings()[0];
    assert_eq!(f.snippet, "user=bob:[REDACTED]");
    assert_eq!(f.column, 10);
    assert!(
        RuleSet::builder()
            .add_toml(RuleKind::Secret, "[[rules]]\nid='x'\nregex='(a)'\nsecretGroup=2\n", "t")
            .is_err()
    );
}

#[test]
fn path_rules_restrict_and_path_only_rules_report_the_file() {
    let set = rules(
        r#"
[[rules]]
id = "env-only"
path = '''\.env$'''
regex = '''SECRET=[0-9]{4}'''
keywords = ["secret="]

[[rules]]
id = "keystore"
path = '''\.(?:p12|jks)$'''
"#,
    );
    assert_eq!(finds(&set, "prod.env", "SECRET=1234"), ["env-only"]);
    assert!(finds(&set, "main.rs", "SECRET=1234").is_empty());
    assert_eq!(finds(&set, "certs/store.p12", "binary-ish"), ["keystore"]);
    assert!(finds(&set, "certs/store.pem", "text").is_empty());
}

#[test]
fn allowlist_regexes_by_target_and_stopwords() {
    let set = rules(
        r#"
[[rules]]
id = "r"
regex = '''token: ([a-z0-9]{10})'''
keywords = ["token"]
[[rules.allowlists]]
regexes = ['''^0+$''']
[[rules.allowlists]]
regexTarget = "match"
regexes = ['''^token: test''']
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''# fixture''']
[[rules.allowlists]]
stopwords = ["dummy"]
"#,
    );
    assert_eq!(finds(&set, "a.txt", "token: a1b2c3d4e5"), ["r"]);
    assert!(finds(&set, "a.txt", "token: 0000000000").is_empty(), "secret target");
    assert!(finds(&set, "a.txt", "token: test9x8y7z").is_empty(), "match target");
    assert!(finds(&set, "a.txt", "token: a1b2c3d4e5 # fixture").is_empty(), "line target");
    assert!(finds(&set, "a.txt", "token: xdummy1234").is_empty(), "stopword");
}

#[test]
fn allowlist_condition_and_requires_every_criterion() {
    let set = rules(
        r#"
[[rules]]
id = "r"
regex = '''pw=([a-z0-9]{8})'''
keywords = ["pw="]
[[rules.allowlists]]
condition = "AND"
paths = ['''^tests/''']
regexes = ['''^test''']
"#,
    );
    assert!(finds(&set, "tests/a.txt", "pw=test1234").is_empty());
    assert_eq!(finds(&set, "src/a.txt", "pw=test1234"), ["r"], "path fails");
    assert_eq!(finds(&set, "tests/a.txt", "pw=prod1234"), ["r"], "regex fails");
}

#[test]
fn global_allowlist_paths_skip_files_and_target_rules_narrow() {
    let set = rules(
        r#"
[allowlist]
paths = ['''^vendor/''']

[[allowlists]]
targetRules = ["a"]
regexes = ['''^ignored''']

[[rules]]
id = "a"
regex = '''a=([a-z0-9]{8})'''
keywords = ["a="]

[[rules]]
id = "b"
regex = '''b=([a-z0-9]{8})'''
keywords = ["b="]
"#,
    );
    assert!(finds(&set, "vendor/x.txt", "a=abcd1234").is_empty());
    assert_eq!(finds(&set, "src/x.txt", "a=abcd1234"), ["a"]);
    assert!(finds(&set, "src/x.txt", "a=ignored1").is_empty());
    assert_eq!(finds(&set, "src/x.txt", "b=ignored1"), ["b"]);
}

#[test]
fn extend_use_default_adds_overrides_and_disables() {
    let defaults =
        RuleSet::builtin().rules().iter().filter(|r| r.kind() == RuleKind::Secret).count();
    let set = RuleSet::with_user_secrets(
        r#"
[extend]
useDefault = true
disabledRules = ["jwt"]

[[rules]]
id = "github-token"
description = "overridden"
regex = '''ghp_[0-9]{4}'''
keywords = ["ghp_"]

[[rules]]
id = "internal-token"
regex = '''itk_[a-z0-9]{12}'''
keywords = ["itk_"]
"#,
        "user.toml",
    )
    .unwrap();
    let secrets: Vec<_> = set.rules().iter().filter(|r| r.kind() == RuleKind::Secret).collect();
    assert_eq!(secrets.len(), defaults, "one added, one disabled");
    assert!(set.rule("jwt").is_none());
    assert_eq!(set.rule("github-token").unwrap().description(), "overridden");
    assert!(set.rule("internal-token").is_some());
    assert!(set.rule("python-pickle-load").is_some(), "patterns stay");

    let replaced = RuleSet::with_user_secrets(
        "[[rules]]\nid = 'only'\nregex = 'only_[0-9]+'\nkeywords = ['only_']\n",
        "user.toml",
    )
    .unwrap();
    assert!(replaced.rule("aws-access-key-id").is_none(), "no [extend]: replaces the defaults");
    assert!(replaced.rule("only").is_some());
}

#[test]
fn errors_name_the_rule_and_reject_what_is_unsupported() {
    let err =
        |toml: &str| RuleSet::builder().add_toml(RuleKind::Secret, toml, "user.toml").unwrap_err();
    let e = err("[[rules]]\nid = 'bad'\nregex = '(unclosed'\n");
    assert!(matches!(e, RuleError::Regex { ref id, .. } if id == "bad"), "{e}");
    assert!(e.to_string().contains("user.toml") && e.to_string().contains("bad"));
    let e = err("[[rules]]\nid = 'comp'\nregex = 'x'\n[[rules.required]]\nid = 'other'\n");
    assert!(matches!(e, RuleError::Unsupported { .. }), "{e}");
    let e = err("[[rules]]\nid = 'typo'\nregexx = 'x'\n");
    assert!(matches!(e, RuleError::Toml { .. }), "{e}");
    let e = err("[[rules]]\nid = 'empty'\n");
    assert!(matches!(e, RuleError::Invalid { .. }), "{e}");
    let e = err("[[rules]]\nid = 'c'\nregex = 'x'\n[[rules.allowlists]]\ncondition = 'XOR'\n");
    assert!(matches!(e, RuleError::Invalid { .. }), "{e}");
    let e = err("[[rules]]\nid = 'l'\nregex = 'x'\nlanguages = ['cobol']\n");
    assert!(matches!(e, RuleError::Invalid { .. }), "{e}");
}

#[test]
fn a_gitleaks_style_config_loads() {
    // The shape of a typical gitleaks config, written here for the test.
    let set = rules(
        r#"
title = "team config"

[allowlist]
description = "global"
paths = ['''(?:^|/)testdata/''']
regexTarget = "match"
regexes = ['''EXAMPLE''']
commits = ["0123456789abcdef0123456789abcdef01234567"]
stopwords = ["placeholder"]

[[rules]]
id = "team-token"
description = "Team token"
regex = '''(?i)\b(team_[a-z0-9]{20})(?:['|\"|\n|\r|\s|\x60|;]|$)'''
secretGroup = 1
entropy = 3.0
keywords = ["team_"]
tags = ["team", "token"]
[rules.allowlist]
regexes = ['''team_0{20}''']
"#,
    );
    assert_eq!(finds(&set, "a.txt", "t = team_a8x2k9q4z7m1v5b3n6c0\n"), ["team-token"]);
    assert!(finds(&set, "testdata/a.txt", "t = team_a8x2k9q4z7m1v5b3n6c0").is_empty());
    assert!(finds(&set, "a.txt", "t = team_00000000000000000000").is_empty());
    assert_eq!(set.rule("team-token").unwrap().tags(), ["team", "token"]);
}
