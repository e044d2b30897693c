//! A scan's result: findings, suppressions, what each tool did; the gate
//! decision, a readable summary, JSON and SARIF. Every text a report hands
//! out has been through its [`Redactor`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::collect::ALLOW_WITHOUT_REASON;
use crate::finding::{BUILTIN_TOOL, Finding, Suppression};
use crate::redact::Redactor;
use crate::rules::RuleSet;
use crate::severity::Severity;

/// How much was scanned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanStats {
    /// Files (or changed files) looked at.
    pub files: usize,
    /// Bytes scanned (whole files, or the added lines of a diff).
    pub bytes: u64,
    /// Binary files (only path rules apply to them).
    pub binary: usize,
    /// Files over the size limit, not scanned.
    pub skipped_large: usize,
    /// Files that could not be read.
    pub unreadable: usize,
    /// Wall time of the whole scan, external tools included.
    pub seconds: f64,
}

/// What happened to one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ToolStatus {
    Ran {
        findings: usize,
    },
    /// Not run: not installed, nothing for it to scan, or turned off.
    Skipped {
        reason: String,
    },
    /// Run, and it failed: its findings (if any) are missing.
    Failed {
        reason: String,
    },
}

/// One tool's part in a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolRun {
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub status: ToolStatus,
}

/// A rule as the report describes it (SARIF's `reportingDescriptor`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleDescriptor {
    pub id: String,
    pub tool: String,
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub help: String,
    pub severity: Severity,
    pub category: String,
}

/// The result of a scan. Every string it exposes is redacted.
#[derive(Debug, Clone)]
pub struct Report {
    target: String,
    findings: Vec<Finding>,
    suppressions: Vec<Suppression>,
    tools: Vec<ToolRun>,
    stats: ScanStats,
    rules: Vec<RuleDescriptor>,
    redactor: Redactor,
}

impl Report {
    pub(crate) fn new(
        target: String,
        findings: Vec<Finding>,
        suppressions: Vec<Suppression>,
        tools: Vec<ToolRun>,
        stats: ScanStats,
        rule_set: &RuleSet,
        redactor: Redactor,
    ) -> Report {
        let mut rules: Vec<RuleDescriptor> = rule_set
            .rules()
            .iter()
            .map(|r| RuleDescriptor {
                id: r.id().to_string(),
                tool: BUILTIN_TOOL.to_string(),
                description: r.description().to_string(),
                help: r.help().to_string(),
                severity: r.severity(),
                category: r.category().to_string(),
            })
            .collect();
        rules.push(RuleDescriptor {
            id: ALLOW_WITHOUT_REASON.to_string(),
            tool: BUILTIN_TOOL.to_string(),
            description: "orca:allow comment without a reason".to_string(),
            help: "Write why the finding is acceptable: `# orca:allow <rule> <reason>`."
                .to_string(),
            severity: Severity::Warning,
            category: "suppression".to_string(),
        });
        // External tools' rules, as their findings name them.
        for finding in findings.iter().chain(suppressions.iter().map(|s| &s.finding)) {
            if finding.tool != BUILTIN_TOOL
                && !rules.iter().any(|r| r.tool == finding.tool && r.id == finding.rule)
            {
                rules.push(RuleDescriptor {
                    id: finding.rule.clone(),
                    tool: finding.tool.clone(),
                    description: finding.message.clone(),
                    help: finding.help.clone(),
                    severity: finding.severity,
                    category: finding.category.clone(),
                });
            }
        }
        let mut report = Report { target, findings, suppressions, tools, stats, rules, redactor };
        report.redact_all();
        report
    }

    /// Runs every stored text through the redactor once, so nothing read
    /// from a report can hold a secret (snippets are masked already; this
    /// also covers external tools' messages).
    fn redact_all(&mut self) {
        let redactor = self.redactor.clone();
        let fix = |text: &mut String| {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(text) {
                *text = clean;
            }
        };
        for finding in
            self.findings.iter_mut().chain(self.suppressions.iter_mut().map(|s| &mut s.finding))
        {
            fix(&mut finding.snippet);
            fix(&mut finding.message);
            fix(&mut finding.help);
        }
        for suppression in &mut self.suppressions {
            fix(&mut suppression.reason);
        }
        for tool in &mut self.tools {
            if let ToolStatus::Failed { reason } | ToolStatus::Skipped { reason } = &mut tool.status
            {
                fix(reason);
            }
        }
        for rule in &mut self.rules {
            fix(&mut rule.description);
        }
        fix(&mut self.target);
    }

    /// What was scanned, in words.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Unsuppressed findings, by path, line and column.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Findings an `orca:allow` comment suppressed, with its reason.
    pub fn suppressions(&self) -> &[Suppression] {
        &self.suppressions
    }

    /// Each tool: ran (with its finding count), skipped, or failed.
    pub fn tools(&self) -> &[ToolRun] {
        &self.tools
    }

    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Every rule the report can refer to.
    pub fn rules(&self) -> &[RuleDescriptor] {
        &self.rules
    }

    /// The findings at or above `threshold`: the ones that fail the gate.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= threshold)
    }

    /// No finding at or above `threshold`.
    pub fn passes(&self, threshold: Severity) -> bool {
        self.failing(threshold).next().is_none()
    }

    /// 0 when the gate passes, 1 when there are findings at or above
    /// `threshold` (`orca scan`'s exit status).
    pub fn exit_code(&self, threshold: Severity) -> i32 {
        if self.passes(threshold) { 0 } else { 1 }
    }

    /// The redactor that knows this scan's secrets: apply it to any text
    /// derived from the scanned change (fix-task prompts, logs, events).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// `text` redacted with this scan's secrets and the secret rules.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    /// The report as JSON (for `--json`): target, stats, tools, findings,
    /// suppressions, and whether the gate passes at `threshold`.
    pub fn to_json(&self, threshold: Severity) -> serde_json::Value {
        serde_json::json!({
            "target": self.target,
            "threshold": threshold,
            "passed": self.passes(threshold),
            "stats": self.stats,
            "tools": self.tools,
            "findings": self.findings,
            "suppressions": self.suppressions,
        })
    }

    /// A readable summary for the terminal and reports.
    pub fn summary(&self, threshold: Severity) -> String {
        let mut out = String::new();
        let failing = self.failing(threshold).count();
        let _ = writeln!(
            out,
            "security scan: {} — {} file(s), {:.1} KiB in {:.2} s",
            self.target,
            self.stats.files,
            self.stats.bytes as f64 / 1024.0,
            self.stats.seconds
        );
        let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
        for finding in &self.findings {
            *counts.entry(finding.severity).or_default() += 1;
        }
        let count = |s: Severity| counts.get(&s).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "{} finding(s): {} error, {} warning, {} note; {} suppressed",
            self.findings.len(),
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note),
            self.suppressions.len()
        );
        for tool in &self.tools {
            let version = tool.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            let status = match &tool.status {
                ToolStatus::Ran { findings } => format!("ran, {findings} finding(s)"),
                ToolStatus::Skipped { reason } => format!("skipped: {reason}"),
                ToolStatus::Failed { reason } => format!("FAILED: {reason}"),
            };
            let _ = writeln!(out, "  {}{version}: {status}", tool.tool);
        }
        if !self.findings.is_empty() {
            out.push('\n');
        }
        for f in &self.findings {
            let tools = std::iter::once(f.tool.as_str())
                .chain(f.also_reported_by.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "{}:{}:{}: {} [{}] {} ({tools})",
                f.path, f.line, f.column, f.severity, f.rule, f.message
            );
            if !f.snippet.is_empty() {
                let _ = writeln!(out, "    {}", f.snippet.trim());
            }
            if !f.help.is_empty() {
                let _ = writeln!(out, "    fix: {}", f.help);
            }
        }
        if !self.suppressions.is_empty() {
            let _ = writeln!(out, "\nsuppressed by orca:allow:");
            for s in &self.suppressions {
                let f = &s.finding;
                let _ = writeln!(
                    out,
                    "{}:{}: [{}] {} — reason: {}",
                    f.path, f.line, f.rule, f.message, s.reason
                );
            }
        }
        let verdict = if failing == 0 {
            format!("\npassed: no finding at or above {threshold}")
        } else {
            format!("\nFAILED: {failing} finding(s) at or above {threshold}")
        };
        let _ = writeln!(out, "{verdict}");
        self.redactor.redact(&out).into_owned()
    }
}
