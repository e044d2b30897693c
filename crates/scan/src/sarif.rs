//! SARIF 2.1.0: one run per tool (orca's own, then semgrep, bandit and
//! gitleaks as they took part), suppressed results included with their
//! `inSource` justification, every snippet and message redacted.

use serde_json::{Value, json};

use crate::finding::{BUILTIN_TOOL, Finding};
use crate::report::{Report, ToolStatus};

/// The schema a SARIF document names.
pub const SARIF_SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The name of the partial fingerprint orca writes.
pub const FINGERPRINT_KEY: &str = "orcaFingerprint/v1";

impl Report {
    /// The report as a SARIF 2.1.0 log.
    pub fn sarif(&self) -> Value {
        let runs: Vec<Value> = self.tools().iter().map(|tool| self.sarif_run(&tool.tool)).collect();
        json!({
            "$schema": SARIF_SCHEMA_URI,
            "version": "2.1.0",
            "runs": runs,
        })
    }

    /// [`Report::sarif`], pretty-printed.
    pub fn sarif_json(&self) -> String {
        serde_json::to_string_pretty(&self.sarif()).expect("a JSON value serializes")
    }

    fn sarif_run(&self, tool_name: &str) -> Value {
        let tool =
            self.tools().iter().find(|t| t.tool == tool_name).expect("a tool of this report");
        let rules: Vec<_> = self.rules().iter().filter(|r| r.tool == tool_name).collect();
        let descriptors: Vec<Value> = rules
            .iter()
            .map(|r| {
                let mut descriptor = json!({
                    "id": r.id,
                    "shortDescription": { "text": r.description },
                    "defaultConfiguration": { "level": r.severity.as_str() },
                    "properties": { "category": r.category },
                });
                if !r.help.is_empty() {
                    descriptor["help"] = json!({ "text": r.help });
                }
                descriptor
            })
            .collect();
        let rule_index = |id: &str| rules.iter().position(|r| r.id == id);
        let mut results: Vec<Value> = self
            .findings()
            .iter()
            .filter(|f| f.tool == tool_name)
            .map(|f| sarif_result(f, rule_index(&f.rule), None))
            .collect();
        results.extend(
            self.suppressions()
                .iter()
                .filter(|s| s.finding.tool == tool_name)
                .map(|s| sarif_result(&s.finding, rule_index(&s.finding.rule), Some(&s.reason))),
        );
        let (successful, notification) = match &tool.status {
            ToolStatus::Ran { .. } => (true, None),
            ToolStatus::Skipped { reason } => (true, Some(("note", format!("skipped: {reason}")))),
            ToolStatus::Failed { reason } => (false, Some(("error", format!("failed: {reason}")))),
        };
        let mut invocation = json!({ "executionSuccessful": successful });
        if let Some((level, text)) = notification {
            invocation["toolExecutionNotifications"] =
                json!([{ "level": level, "message": { "text": text } }]);
        }
        let mut driver = json!({ "name": tool_name, "rules": descriptors });
        if let Some(version) = &tool.version {
            driver["version"] = json!(version);
        }
        if tool_name == BUILTIN_TOOL {
            driver["informationUri"] = json!("https://github.com/orca-build/orca");
        }
        json!({
            "tool": { "driver": driver },
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
        })
    }
}

fn sarif_result(f: &Finding, rule_index: Option<usize>, suppressed_because: Option<&str>) -> Value {
    let mut region = json!({
        "startLine": f.line.max(1),
        "startColumn": f.column.max(1),
        "endLine": f.end_line.max(f.line).max(1),
        "endColumn": f.end_column.max(1),
    });
    if !f.snippet.is_empty() {
        region["snippet"] = json!({ "text": f.snippet });
    }
    let mut result = json!({
        "ruleId": f.rule,
        "level": f.severity.as_str(),
        "message": { "text": f.message },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri_reference(&f.path), "uriBaseId": "%SRCROOT%" },
                "region": region,
            }
        }],
        "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
        "properties": { "category": f.category },
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if !f.also_reported_by.is_empty() {
        result["properties"]["alsoReportedBy"] = json!(f.also_reported_by);
    }
    if let Some(reason) = suppressed_because {
        result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
    }
    result
}

/// A relative path as a URI reference: `/` kept, everything outside the
/// unreserved set percent-encoded.
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uri_reference;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri_reference("src/a b/ü.py"), "src/a%20b/%C3%BC.py");
        assert_eq!(uri_reference(".env"), ".env");
    }
}
