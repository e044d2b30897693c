//! Stage 5, security: scans the lines the run added (its integration
//! branch against the commit it started from) for secrets and dangerous
//! code patterns with orca's own rules (and semgrep, bandit, gitleaks when
//! installed), writes `security.sarif` and `security.json` into the run's
//! directory, and turns each file's findings at or above `[security]
//! threshold` into a fix task. Everything it writes is redacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orca_config::SecurityConfig;
use orca_scan::{
    ExternalTools, Finding, Report, RuleSet, ScanOptions, ScanTarget, Scanner, Severity,
};
use orca_store::Stage;

use crate::error::EngineError;
use crate::events::RunEvent;
use crate::fix_tasks::{self, FixTask};
use crate::pipeline::Pipeline;
use crate::pipeline::transition::Outcome;

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("`[security] threshold` is not a severity")]
    Threshold(#[source] orca_scan::UnknownSeverity),
    #[error("cannot load the rules of `[security] rules` ({path})")]
    Rules {
        path: PathBuf,
        #[source]
        source: Box<orca_scan::RuleError>,
    },
    #[error("the scan failed")]
    Scan(#[from] orca_scan::ScanError),
}

/// The scanner `[security]` asks for: orca's rules, extended or replaced
/// by the repository's rule file.
pub fn scanner(root: &Path, config: &SecurityConfig) -> Result<Scanner, SecurityError> {
    let rules = match &config.rules {
        Some(file) => {
            let path = root.join(file);
            let text = std::fs::read_to_string(&path).map_err(|source| SecurityError::Rules {
                path: path.clone(),
                source: Box::new(orca_scan::RuleError::Read { path: path.clone(), source }),
            })?;
            RuleSet::with_user_secrets(&text, file)
                .map_err(|source| SecurityError::Rules { path, source: Box::new(source) })?
        }
        None => RuleSet::builtin().clone(),
    };
    let external =
        if config.external { ExternalTools::default() } else { ExternalTools::disabled() };
    Ok(Scanner::new(rules, ScanOptions { external, ..ScanOptions::default() }))
}

/// The threshold `[security]` sets.
pub fn threshold(config: &SecurityConfig) -> Result<Severity, SecurityError> {
    config.threshold.parse().map_err(SecurityError::Threshold)
}

pub(crate) async fn run(p: &mut Pipeline) -> Result<Outcome, EngineError> {
    let base = p.record.base.clone().ok_or(EngineError::NoCommit)?;
    let head = p.integration();
    let root = p.ws.layout.root().to_owned();
    let config = p.ws.config.security.clone();
    let scanned =
        tokio::task::spawn_blocking(move || -> Result<(Report, Severity), SecurityError> {
            let threshold = threshold(&config)?;
            let report = scanner(&root, &config)?.scan(&ScanTarget::diff(&root, &base, &head))?;
            Ok((report, threshold))
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    let (report, threshold) = match scanned {
        Ok(scanned) => scanned,
        Err(error) => {
            return Ok(Outcome::Failed { reason: crate::excerpt::error_chain(&error) });
        }
    };
    let dir = p.run_dir();
    let sarif = dir.join("security.sarif");
    std::fs::write(&sarif, report.sarif_json()).map_err(EngineError::io(&sarif))?;
    let json = dir.join("security.json");
    let document = serde_json::to_string_pretty(&report.to_json(threshold)).unwrap_or_default();
    std::fs::write(&json, document).map_err(EngineError::io(&json))?;

    let failing: Vec<&Finding> = report.failing(threshold).collect();
    let suppressed = report.suppressions().len();
    p.emit(RunEvent::GateChecked {
        gate: Stage::Security,
        findings: report.findings().len(),
        failing: failing.len(),
        suppressed,
    });
    if failing.is_empty() {
        let note = format!(
            "no finding at or above {threshold} ({} below, {suppressed} suppressed); see security.sarif",
            report.findings().len()
        );
        return Ok(Outcome::Passed { note: Some(note) });
    }
    let by_file = group_by_file(&failing);
    let note = format!(
        "{} finding(s) at or above {threshold} in {} file(s); see security.sarif",
        failing.len(),
        by_file.len()
    );
    let fixes: Vec<FixTask> = by_file
        .iter()
        .map(|(path, findings)| fix_task(path, findings, &report, threshold))
        .collect();
    let added = match p.fix_round(Stage::Security).await? {
        Some(round) => fix_tasks::add(p, Stage::Security, round, fixes).await?,
        // Out of rounds: the driver decides (fail, or pass if advisory).
        None => fixes.len(),
    };
    Ok(Outcome::FixTasks { added, note })
}

fn group_by_file<'a>(findings: &[&'a Finding]) -> BTreeMap<String, Vec<&'a Finding>> {
    let mut by_file: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        by_file.entry(finding.path.clone()).or_default().push(finding);
    }
    by_file
}

/// One file's findings as a task: where, what, what to do, and a `verify`
/// that scans that file for those rules again.
fn fix_task(path: &str, findings: &[&Finding], report: &Report, threshold: Severity) -> FixTask {
    let mut description = format!(
        "orca's security scan found these problems in `{path}`, in lines this run added. Fix \
         each one at its cause:\n\n"
    );
    let mut rules: Vec<&str> = Vec::new();
    for finding in findings {
        description.push_str(&format!(
            "- line {}, {} ({}, {}): {}\n  `{}`\n",
            finding.line,
            finding.rule,
            finding.severity,
            finding.tool,
            finding.message,
            finding.snippet.trim()
        ));
        if !finding.help.is_empty() {
            description.push_str(&format!("  What to do: {}\n", finding.help));
        }
        if !rules.contains(&finding.rule.as_str()) {
            rules.push(&finding.rule);
        }
    }
    description.push_str(
        "\nA secret does not belong in the code: read it from the environment or a secret \
         store, and never write its value anywhere. If a finding is a false alarm, say why in a \
         comment on its line: `orca:allow <rule> <reason>`.\n",
    );
    let mut verify = vec![
        crate::process::orca_program(),
        "scan".to_owned(),
        "--path".to_owned(),
        path.to_owned(),
        "--threshold".to_owned(),
        threshold.to_string(),
    ];
    for rule in &rules {
        verify.push("--rule".to_owned());
        verify.push((*rule).to_owned());
    }
    FixTask {
        title: format!("Fix the security findings in {path}"),
        role: "security".to_owned(),
        files: vec![path.to_owned()],
        description: report.redact(&description),
        verify: Some(verify),
        accept: findings
            .iter()
            .map(|f| format!("{} at {path}:{} no longer reported", f.rule, f.line))
            .collect(),
    }
}
