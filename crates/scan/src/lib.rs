//! orca's security scanner: the `security` stage's gate and `orca scan`.
//!
//! - **Secrets**: rules in gitleaks' TOML format ([`RuleSet`]); orca's own
//!   default set is embedded ([`rules::DEFAULT_SECRET_RULES`]) and a user's
//!   file can extend it (`[extend] useDefault = true`). Keywords gate the
//!   regexes (one Aho-Corasick pass), then entropy and allowlists.
//! - **Dangerous patterns** for Rust, Python, JavaScript/TypeScript, Go and
//!   shell ([`rules::DEFAULT_PATTERN_RULES`]): command and SQL injection
//!   shapes, disabled TLS verification, unsafe deserialization, hard-coded
//!   credentials, world-writable permissions; each with a severity and
//!   what to do instead.
//! - **External tools** when installed: semgrep (local rules only), bandit,
//!   gitleaks ([`ExternalTools`]); merged and de-duplicated.
//! - **What is scanned** ([`ScanTarget`]): the lines added between two
//!   revisions (`git diff -U0`), or whole files and directories.
//! - **`orca:allow <rule> <reason>`** in a comment on the line suppresses
//!   a finding; the report lists every suppression, and one without a
//!   reason suppresses nothing and is reported itself.
//! - **Output** ([`Report`]): findings, a gate ([`Report::passes`],
//!   [`Report::exit_code`]), a readable summary, JSON and SARIF 2.1.0.
//!   Secrets are redacted in every text a report gives out; [`redact`] and
//!   [`Report::redact`] do the same for any other text orca writes.
//!
//! ```no_run
//! use orca_scan::{ScanTarget, Scanner, Severity};
//! # fn main() -> anyhow::Result<()> {
//! let report = Scanner::builtin().scan(&ScanTarget::diff(".", "main", "HEAD"))?;
//! std::fs::write("scan.sarif", report.sarif_json())?;
//! print!("{}", report.summary(Severity::Warning));
//! std::process::exit(report.exit_code(Severity::Warning));
//! # }
//! ```

mod collect;
mod engine;
pub mod entropy;
mod external;
mod finding;
mod git_diff;
mod language;
mod redact;
mod report;
pub mod rules;
mod sarif;
mod scanner;
mod severity;
mod suppression;

use std::io;
use std::path::PathBuf;

pub use collect::ALLOW_WITHOUT_REASON;
pub use external::ExternalTools;
pub use finding::{BUILTIN_TOOL, Finding, Suppression};
pub use language::{Language, UnknownLanguage};
pub use redact::{MIN_KNOWN_SECRET_BYTES, REDACTED, Redactor, redact};
pub use report::{Report, RuleDescriptor, ScanStats, ToolRun, ToolStatus};
pub use rules::{Rule, RuleError, RuleKind, RuleSet, RuleSetBuilder};
pub use sarif::{FINGERPRINT_KEY, SARIF_SCHEMA_URI};
pub use scanner::{ScanOptions, ScanTarget, Scanner};
pub use severity::{Severity, UnknownSeverity};
pub use suppression::ALLOW_MARKER;

/// A scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot run `{command}` (is git installed and on PATH?)")]
    GitSpawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed in {repo}: {stderr}")]
    Git { command: String, repo: PathBuf, stderr: String },
    #[error("`{command}` printed output orca cannot read: {detail}")]
    GitOutput { command: String, detail: String },
    #[error("cannot list files to scan")]
    Walk {
        #[source]
        source: ignore::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
