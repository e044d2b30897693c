//! How bad a finding is, and the threshold at which the gate fails.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A finding's severity; ordered `Note < Warning < Error`, so a gate with
/// threshold `t` fails on every finding with `severity >= t`. The names are
/// SARIF's `level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    /// SARIF's name for it (`note`, `warning`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of `note`, `warning`, `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected note, warning or error)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "note" | "info" | "low" => Ok(Severity::Note),
            "warning" | "warn" | "medium" => Ok(Severity::Warning),
            "error" | "high" | "critical" => Ok(Severity::Error),
            _ => Err(UnknownSeverity(text.to_string())),
        }
    }
}
