//! Findings and suppressions: what a scan reports.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::severity::Severity;

/// The name of orca's built-in scanner in findings and SARIF.
pub const BUILTIN_TOOL: &str = "orca";

/// One problem found. Nothing in it holds a secret: the snippet is
/// redacted and the fingerprint is a hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id (for external tools, the tool's own id: `B602`, a semgrep
    /// check id, a gitleaks rule id).
    pub rule: String,
    /// The tool that reported it: `orca`, `semgrep`, `bandit` or `gitleaks`.
    pub tool: String,
    /// Other tools that reported the same problem at the same place.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_reported_by: Vec<String>,
    pub severity: Severity,
    /// Coarse class used to merge reports of the same problem (`secret`,
    /// `command-injection`, ...).
    pub category: String,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// 1-based line in the new version of the file.
    pub line: u32,
    /// 1-based column, in characters (Unicode code points).
    pub column: u32,
    pub end_line: u32,
    /// 1-based column just past the match, in characters.
    pub end_column: u32,
    /// What is wrong (the rule's description, or the tool's message).
    pub message: String,
    /// What to do instead.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// The line, with every secret on it replaced by [`crate::REDACTED`].
    pub snippet: String,
    /// Stable across line moves: a hash of rule, path and the matched text.
    pub fingerprint: String,
}

/// A finding an `orca:allow` comment suppressed; the report lists each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    /// The finding that was suppressed.
    pub finding: Finding,
    /// The reason the comment gives.
    pub reason: String,
}

/// A hex fingerprint of a finding: the hash of its rule, path and matched
/// text (so it survives the line moving, and never reveals the text).
pub(crate) fn fingerprint(rule: &str, path: &str, matched: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(trim_ascii(matched));
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &bytes[start..end]
}
