//! The SARIF output validates against the official SARIF 2.1.0 JSON
//! schema. The schema comes from the serde-sarif crate (a dev-dependency),
//! which ships the OASIS schema file in its package as `src/schema.json`;
//! `cargo metadata` says where that package is unpacked.

use std::path::PathBuf;
use std::process::Command;

use orca_scan::{ExternalTools, RuleSet, ScanOptions, ScanTarget, Scanner, Severity};
use serde_json::Value;

use crate::support::{default_scanner, write};

fn sarif_schema_path() -> PathBuf {
    // Only this platform's packages: the others need not be downloaded.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc).arg("-vV").output().expect("run rustc -vV");
    let version = String::from_utf8_lossy(&version.stdout);
    let host =
        version.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc names its host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .expect("serde-sarif is a dev-dependency");
    let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
    manifest.parent().unwrap().join("src/schema.json")
}

fn validate(document: &Value) {
    let path = sarif_schema_path();
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("sarif-schema-2.1.0.json", schema).unwrap();
    let index = compiler.compile("sarif-schema-2.1.0.json", &mut schemas).unwrap();
    if let Err(error) = schemas.validate(document, index) {
        panic!(
            "SARIF does not validate: {error:#}\n{}",
            serde_json::to_string_pretty(document).unwrap()
        );
    }
}

#[test]
fn sarif_of_findings_suppressions_and_tools_validates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("a b/app.py"),
        "import yaml\ncfg = yaml.load(fh)\nrequests.get(u, verify=False)  # orca:allow python-tls-verify-disabled test server\n",
    );
    write(
        &root.join("deploy.sh"),
        "chmod 777 /srv\nexport GITHUB_TOKEN=ghp_Q8sXk2Lq9Vz4Tb7Nm1Pc5Wd3Hf6Jg0Ya2Ue0\n",
    );
    write(
        &root.join("k.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n",
    );
    // External tools enabled but none on this PATH: three skipped runs.
    let empty_path = tempfile::tempdir().unwrap();
    let options = ScanOptions {
        external: ExternalTools {
            search_path: Some(empty_path.path().as_os_str().to_owned()),
            ..ExternalTools::default()
        },
        ..ScanOptions::default()
    };
    let report = Scanner::new(RuleSet::builtin().clone(), options)
        .scan(&ScanTarget::directory(root))
        .unwrap();
    assert!(report.findings().len() >= 4, "{:?}", report.findings());
    let sarif = report.sarif();
    validate(&sarif);
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    let names: Vec<_> =
        runs.iter().map(|r| r["tool"]["driver"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orca", "semgrep", "bandit", "gitleaks"]);
    let orca = &runs[0];
    let result = &orca["results"][0];
    for key in ["ruleId", "ruleIndex", "level", "message", "locations", "partialFingerprints"] {
        assert!(!result[key].is_null(), "{key} missing in {result}");
    }
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert!(region["startLine"].as_u64().unwrap() >= 1 && !region["snippet"]["text"].is_null());
    let rule_index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(orca["tool"]["driver"]["rules"][rule_index]["id"], result["ruleId"]);
    assert!(
        runs[1]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("skipped")
    );
    assert!(!report.sarif_json().contains("ghp_Q8sXk2Lq9Vz4Tb7Nm1Pc5Wd3Hf6Jg0Ya2Ue0"));
    assert!(!report.sarif_json().contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"));
    assert_eq!(report.exit_code(Severity::Warning), 1);
}

#[test]
fn sarif_of_a_clean_scan_validates() {
    let report = default_scanner().scan_text("clean.rs", "fn main() {}\n");
    assert!(report.findings().is_empty());
    validate(&report.sarif());
}
