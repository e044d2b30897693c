//! The TOML rule format: gitleaks' configuration schema, read as written,
//! plus a few optional orca fields on a rule (`severity`, `help`,
//! `category`, `languages`). Field names are gitleaks' camelCase.

use serde::Deserialize;

/// One rule file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleFile {
    #[serde(default)]
    #[expect(dead_code, reason = "gitleaks' field: accepted, not used")]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) extend: Option<ExtendSpec>,
    #[serde(default)]
    pub(crate) rules: Vec<RuleSpec>,
    /// The global allowlist (gitleaks' `[allowlist]`).
    #[serde(default)]
    pub(crate) allowlist: Option<AllowlistSpec>,
    /// More global allowlists (gitleaks' newer `[[allowlists]]`).
    #[serde(default)]
    pub(crate) allowlists: Vec<AllowlistSpec>,
}

/// `[extend]`: build on the default rule set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExtendSpec {
    #[serde(default)]
    pub(crate) use_default: bool,
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) disabled_rules: Vec<String>,
}

/// `[[rules]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleSpec {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) regex: Option<String>,
    #[serde(default)]
    pub(crate) secret_group: Option<usize>,
    #[serde(default)]
    pub(crate) entropy: Option<f64>,
    #[serde(default)]
    pub(crate) keywords: Vec<String>,
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// gitleaks' older single allowlist, `[rules.allowlist]`.
    #[serde(default)]
    pub(crate) allowlist: Option<AllowlistSpec>,
    #[serde(default)]
    pub(crate) allowlists: Vec<AllowlistSpec>,
    /// Composite rules; read only to say they are not supported.
    #[serde(default)]
    pub(crate) required: Option<toml::Value>,
    #[serde(default)]
    pub(crate) skip_report: Option<bool>,
    // orca's fields.
    #[serde(default)]
    pub(crate) severity: Option<String>,
    #[serde(default)]
    pub(crate) help: Option<String>,
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) languages: Vec<String>,
}

/// An allowlist, global or a rule's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AllowlistSpec {
    #[serde(default)]
    #[expect(dead_code, reason = "gitleaks' field: accepted, not used")]
    pub(crate) description: Option<String>,
    /// `OR` (the default) or `AND`.
    #[serde(default)]
    pub(crate) condition: Option<String>,
    #[serde(default)]
    pub(crate) commits: Vec<String>,
    #[serde(default)]
    pub(crate) paths: Vec<String>,
    /// `secret` (the default), `match` or `line`.
    #[serde(default)]
    pub(crate) regex_target: Option<String>,
    #[serde(default)]
    pub(crate) regexes: Vec<String>,
    #[serde(default)]
    pub(crate) stopwords: Vec<String>,
    /// Only on a global `[[allowlists]]`: the rules it applies to.
    #[serde(default)]
    pub(crate) target_rules: Vec<String>,
}
