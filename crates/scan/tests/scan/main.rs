//! Integration tests of orca-scan: every default rule's cases, the rule
//! format, suppressions, redaction on every output, diff scans of real git
//! repositories, SARIF schema validation, external tools.

mod cases;
mod diff;
mod external;
mod redaction;
mod rule_format;
mod sarif;
mod support;
mod suppression;
