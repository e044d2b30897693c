//! Rules: loading gitleaks-format TOML into a compiled [`RuleSet`].
//!
//! Two kinds of rule share one format and one matcher: **secret** rules
//! (orca's default set in `secrets.toml`, or a user's gitleaks config) and
//! **dangerous-pattern** rules (`patterns.toml`: command and SQL injection
//! shapes, disabled TLS verification and so on, per language). A secret
//! rule's secret is redacted wherever orca writes the finding; a pattern
//! rule redacts only what its `secretGroup` names (a hard-coded password
//! argument, say).
//!
//! Matching is keyword-first: one Aho-Corasick automaton holds every rule's
//! keywords, and a rule's regex runs only on the lines where one of its
//! keywords occurs (or, for a regex that can match a line break, on the
//! whole fragment). A rule's match is expected to contain one of its
//! keywords, as every default rule's does; a user rule whose keyword is on
//! another line than its match is a rule to give no keywords.

mod allowlist;
pub(crate) mod format;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use regex::bytes::{Regex as BytesRegex, RegexBuilder};
use regex_syntax::hir::{Class, Hir, HirKind};

pub(crate) use allowlist::{Allowlist, Candidate};
use format::{RuleFile, RuleSpec};

use crate::language::Language;
use crate::severity::Severity;

/// orca's default secret rules, written for orca.
pub const DEFAULT_SECRET_RULES: &str = include_str!("secrets.toml");
/// orca's default dangerous-pattern rules.
pub const DEFAULT_PATTERN_RULES: &str = include_str!("patterns.toml");

/// What a rule looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// A credential: its secret is redacted everywhere.
    Secret,
    /// A dangerous code shape; only its `secretGroup`, if any, is redacted.
    Pattern,
}

/// Loading or compiling rules failed.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rule file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{origin}: not a valid rule file: {source}")]
    Toml {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{origin}: rule {id:?}: invalid regex: {source}")]
    Regex {
        origin: String,
        id: String,
        #[source]
        source: regex::Error,
    },
    #[error("{origin}: rule {id:?}: {detail}")]
    Invalid { origin: String, id: String, detail: String },
    #[error("{origin}: rule {id:?}: {feature} is not supported by orca's scanner")]
    Unsupported { origin: String, id: String, feature: &'static str },
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    id: String,
    description: String,
    kind: RuleKind,
    severity: Severity,
    help: String,
    category: String,
    tags: Vec<String>,
    pub(crate) regex: Option<BytesRegex>,
    /// The regex can match a line break, so it runs on whole fragments.
    pub(crate) spans_lines: bool,
    pub(crate) secret_group: Option<usize>,
    pub(crate) entropy: Option<f64>,
    /// Lowercased.
    pub(crate) keywords: Vec<String>,
    pub(crate) path: Option<Regex>,
    pub(crate) languages: Vec<Language>,
    pub(crate) allowlists: Vec<Allowlist>,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// What to do instead.
    pub fn help(&self) -> &str {
        &self.help
    }

    /// A coarse class (`secret`, `command-injection`, `sql-injection`,
    /// `tls-verification-disabled`, ...) used to merge the same problem
    /// reported by several tools.
    pub fn category(&self) -> &str {
        &self.category
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Languages the rule applies to; empty means every file.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// A rule with a path and no regex reports the file itself.
    pub fn is_path_only(&self) -> bool {
        self.regex.is_none()
    }

    /// Whether the rule looks at a file at `path` in `language` at all.
    pub(crate) fn applies_to(&self, path: &str, language: Option<Language>) -> bool {
        if !self.languages.is_empty() && !language.is_some_and(|l| self.languages.contains(&l)) {
            return false;
        }
        self.path.as_ref().is_none_or(|p| p.is_match(path))
    }
}

/// A compiled set of rules with their keyword index and global allowlists.
/// Build one with [`RuleSet::builder`], or use [`RuleSet::builtin`].
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    pub(crate) global: Vec<Allowlist>,
    pub(crate) keywords: Option<AhoCorasick>,
    /// For each keyword (the automaton's pattern id), the rules using it.
    pub(crate) rules_by_keyword: Vec<Vec<usize>>,
    /// Rules without keywords: they run on every fragment they apply to.
    pub(crate) unkeyed: Vec<usize>,
}

impl RuleSet {
    /// orca's default secret and dangerous-pattern rules, compiled once.
    pub fn builtin() -> &'static RuleSet {
        static BUILTIN: OnceLock<RuleSet> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            RuleSetBuilder::new().with_default_secrets().with_default_patterns().build()
        })
    }

    /// An empty builder.
    pub fn builder() -> RuleSetBuilder {
        RuleSetBuilder::new()
    }

    /// The default patterns plus the secret rules of a user's gitleaks
    /// configuration: with `[extend] useDefault = true` it adds to (and
    /// may override, by rule id) orca's default secret rules; without, it
    /// replaces them, as in gitleaks.
    pub fn with_user_secrets(text: &str, origin: &str) -> Result<RuleSet, RuleError> {
        Ok(RuleSetBuilder::new()
            .add_toml(RuleKind::Secret, text, origin)?
            .with_default_patterns()
            .build())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The same rules and global allowlists, keeping only the rules `keep`
    /// accepts.
    pub fn filtered(&self, keep: impl Fn(&Rule) -> bool) -> RuleSet {
        RuleSetBuilder { rules: self.rules.clone(), global: self.global.clone(), defaults: true }
            .retain(keep)
            .build()
    }

    /// Whether a global allowlist skips the file at `path` entirely.
    pub(crate) fn path_allowed(&self, path: &str) -> bool {
        self.global.iter().any(|a| a.target_rules.is_empty() && a.allows_whole_path(path))
    }

    pub(crate) fn allowed(&self, rule: &Rule, candidate: &Candidate<'_>) -> bool {
        self.global
            .iter()
            .filter(|a| a.target_rules.is_empty() || a.target_rules.iter().any(|t| t == &rule.id))
            .chain(rule.allowlists.iter())
            .any(|a| a.allows(candidate))
    }
}

/// Collects rules from TOML sources; [`RuleSetBuilder::build`] compiles
/// the keyword index.
#[derive(Debug, Default)]
pub struct RuleSetBuilder {
    rules: Vec<Rule>,
    global: Vec<Allowlist>,
    /// The default secret rules are already in.
    defaults: bool,
}

impl RuleSetBuilder {
    pub fn new() -> RuleSetBuilder {
        RuleSetBuilder::default()
    }

    /// Adds orca's default secret rules (and their global allowlist).
    pub fn with_default_secrets(mut self) -> RuleSetBuilder {
        if !self.defaults {
            self = self
                .add_toml(RuleKind::Secret, DEFAULT_SECRET_RULES, "orca default secret rules")
                .expect("the default secret rules compile (tested)");
            self.defaults = true;
        }
        self
    }

    /// Adds orca's default dangerous-pattern rules.
    pub fn with_default_patterns(self) -> RuleSetBuilder {
        self.add_toml(RuleKind::Pattern, DEFAULT_PATTERN_RULES, "orca default pattern rules")
            .expect("the default pattern rules compile (tested)")
    }

    /// Adds the rules of a TOML file read from `path`.
    pub fn add_file(self, kind: RuleKind, path: &Path) -> Result<RuleSetBuilder, RuleError> {
        let text = fs::read_to_string(path)
            .map_err(|source| RuleError::Read { path: path.to_path_buf(), source })?;
        self.add_toml(kind, &text, &path.display().to_string())
    }

    /// Adds the rules of a TOML document; `origin` names it in errors. A
    /// rule whose id is already present replaces the earlier one.
    pub fn add_toml(
        mut self,
        kind: RuleKind,
        text: &str,
        origin: &str,
    ) -> Result<RuleSetBuilder, RuleError> {
        let file: RuleFile = toml::from_str(text)
            .map_err(|source| RuleError::Toml { origin: origin.to_string(), source })?;
        if let Some(extend) = &file.extend {
            if extend.path.is_some() {
                return Err(RuleError::Unsupported {
                    origin: origin.to_string(),
                    id: "[extend]".to_string(),
                    feature: "[extend] path (load the other file yourself and add it)",
                });
            }
            if extend.use_default {
                self = self.with_default_secrets();
            }
            self.rules.retain(|r| !extend.disabled_rules.contains(&r.id));
        }
        for spec in file.allowlist.iter().chain(&file.allowlists) {
            self.global.push(Allowlist::compile(spec, origin, "[allowlist]")?);
        }
        for spec in &file.rules {
            let rule = compile_rule(spec, kind, origin)?;
            match self.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(existing) => *existing = rule,
                None => self.rules.push(rule),
            }
        }
        Ok(self)
    }

    /// Keeps only the rules `keep` accepts.
    pub fn retain(mut self, keep: impl Fn(&Rule) -> bool) -> RuleSetBuilder {
        self.rules.retain(|r| keep(r));
        self
    }

    pub fn build(self) -> RuleSet {
        let mut keywords: Vec<String> = Vec::new();
        let mut rules_by_keyword: Vec<Vec<usize>> = Vec::new();
        let mut unkeyed = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                unkeyed.push(index);
            }
            for keyword in &rule.keywords {
                let slot = match keywords.iter().position(|k| k == keyword) {
                    Some(slot) => slot,
                    None => {
                        keywords.push(keyword.clone());
                        rules_by_keyword.push(Vec::new());
                        keywords.len() - 1
                    }
                };
                if !rules_by_keyword[slot].contains(&index) {
                    rules_by_keyword[slot].push(index);
                }
            }
        }
        let automaton = (!keywords.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&keywords)
                .expect("keywords are plain strings")
        });
        RuleSet {
            rules: self.rules,
            global: self.global,
            keywords: automaton,
            rules_by_keyword,
            unkeyed,
        }
    }
}

const SECRET_HELP: &str = "Remove the secret from the change, treat it as leaked (rotate or \
revoke it), and load it at run time from the environment or a secret store.";

fn compile_rule(spec: &RuleSpec, kind: RuleKind, origin: &str) -> Result<Rule, RuleError> {
    let id = spec.id.trim().to_string();
    let invalid =
        |detail: String| RuleError::Invalid { origin: origin.to_string(), id: id.clone(), detail };
    if id.is_empty() {
        return Err(invalid("a rule needs an id".to_string()));
    }
    if spec.required.is_some() {
        return Err(RuleError::Unsupported {
            origin: origin.to_string(),
            id,
            feature: "[[rules.required]] (composite rules)",
        });
    }
    if spec.skip_report == Some(true) {
        return Err(RuleError::Unsupported {
            origin: origin.to_string(),
            id,
            feature: "skipReport",
        });
    }
    if spec.regex.is_none() && spec.path.is_none() {
        return Err(invalid("a rule needs a regex, a path, or both".to_string()));
    }
    let (regex, spans_lines) = match &spec.regex {
        Some(pattern) => {
            let regex = compile_bytes_regex(pattern, origin, &id)?;
            let spans = regex_can_match_newline(pattern);
            (Some(regex), spans)
        }
        None => (None, false),
    };
    if let (Some(group), Some(regex)) = (spec.secret_group, &regex) {
        let groups = regex.captures_len() - 1;
        if group > groups {
            return Err(invalid(format!("secretGroup {group} but the regex has {groups} groups")));
        }
    }
    if let Some(entropy) = spec.entropy
        && !(0.0..=8.0).contains(&entropy)
    {
        return Err(invalid(format!("entropy {entropy} is outside 0..=8 bits per byte")));
    }
    let path = spec.path.as_deref().map(Regex::new).transpose().map_err(|source| {
        RuleError::Regex { origin: origin.to_string(), id: id.clone(), source }
    })?;
    let severity = match &spec.severity {
        Some(text) => text.parse().map_err(|e| invalid(format!("{e}")))?,
        None if kind == RuleKind::Secret => Severity::Error,
        None => Severity::Warning,
    };
    let languages = spec
        .languages
        .iter()
        .map(|l| l.parse::<Language>().map_err(|e| invalid(format!("{e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut allowlists = Vec::new();
    for allow in spec.allowlist.iter().chain(&spec.allowlists) {
        if !allow.target_rules.is_empty() {
            return Err(invalid("targetRules belongs on a global [[allowlists]]".to_string()));
        }
        allowlists.push(Allowlist::compile(allow, origin, &id)?);
    }
    let mut keywords: Vec<String> = Vec::new();
    for keyword in &spec.keywords {
        let keyword = keyword.to_ascii_lowercase();
        if keyword.is_empty() || keyword.contains('\n') {
            return Err(invalid(format!("keyword {keyword:?} is empty or spans lines")));
        }
        if !keywords.contains(&keyword) {
            keywords.push(keyword);
        }
    }
    Ok(Rule {
        description: if spec.description.trim().is_empty() {
            id.clone()
        } else {
            spec.description.trim().to_string()
        },
        kind,
        severity,
        help: spec.help.clone().unwrap_or_else(|| match kind {
            RuleKind::Secret => SECRET_HELP.to_string(),
            RuleKind::Pattern => String::new(),
        }),
        category: spec.category.clone().unwrap_or_else(|| match kind {
            RuleKind::Secret => "secret".to_string(),
            RuleKind::Pattern => "dangerous-pattern".to_string(),
        }),
        tags: spec.tags.clone(),
        regex,
        spans_lines,
        secret_group: spec.secret_group,
        entropy: spec.entropy,
        keywords,
        path,
        languages,
        allowlists,
        id,
    })
}

/// Compiles a rule regex for byte haystacks. gitleaks' regexes are RE2,
/// where `\w`, `\d` and `\s` are ASCII: compile without Unicode classes
/// (also much faster), falling back to Unicode mode for a regex that needs
/// it (`\p{L}`, say).
pub(crate) fn compile_bytes_regex(
    pattern: &str,
    origin: &str,
    id: &str,
) -> Result<BytesRegex, RuleError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(1 << 24)
        .build()
        .or_else(|_| RegexBuilder::new(pattern).size_limit(1 << 24).build())
        .map_err(|source| RuleError::Regex {
            origin: origin.to_string(),
            id: id.to_string(),
            source,
        })
}

/// Whether the regex can match a `\n` anywhere (a class, a literal, `(?s).`).
fn regex_can_match_newline(pattern: &str) -> bool {
    let parse = |unicode: bool| {
        regex_syntax::ParserBuilder::new().unicode(unicode).utf8(false).build().parse(pattern).ok()
    };
    match parse(false).or_else(|| parse(true)) {
        Some(hir) => hir_can_match_newline(&hir),
        // It compiled, so this does not happen; scanning whole fragments is
        // always correct, only slower.
        None => true,
    }
}

fn hir_can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(literal) => literal.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().any(|r| r.start() <= '\n' && '\n' <= r.end())
        }
        HirKind::Class(Class::Bytes(class)) => {
            class.ranges().iter().any(|r| r.start() <= b'\n' && b'\n' <= r.end())
        }
        HirKind::Repetition(rep) => hir_can_match_newline(&rep.sub),
        HirKind::Capture(cap) => hir_can_match_newline(&cap.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().any(hir_can_match_newline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RuleKind, RuleSet, regex_can_match_newline};

    /// What keeps the default rules fast: every rule is keyword- or
    /// path-gated, and only rules meant to span lines can.
    #[test]
    fn default_rules_are_gated_and_line_local() {
        let rules = RuleSet::builtin();
        let secrets = rules.rules().iter().filter(|r| r.kind() == RuleKind::Secret).count();
        assert!(secrets >= 50 && rules.rules().len() - secrets >= 30, "{secrets}");
        let spanning: Vec<&str> =
            rules.rules().iter().filter(|r| r.spans_lines).map(|r| r.id()).collect();
        assert_eq!(
            spanning,
            [
                "private-key",
                "putty-private-key",
                "rails-master-key",
                "rust-shell-command-format",
                "rust-shell-command"
            ]
        );
        for rule in rules.rules() {
            assert!(
                !rule.keywords.is_empty() || rule.path.is_some(),
                "{} has neither keywords nor a path",
                rule.id()
            );
            assert!(rule.kind() == RuleKind::Secret || !rule.help().is_empty(), "{}", rule.id());
        }
    }

    #[test]
    fn newline_analysis() {
        assert!(!regex_can_match_newline(r"AKIA[0-9A-Z]{16}"));
        assert!(!regex_can_match_newline(r"(?i)key[ \t]*=[ \t]*[^\s'\x22]{8,}"));
        assert!(regex_can_match_newline(r"key\s*=\s*x"));
        assert!(regex_can_match_newline(r"a[^b]c"));
        assert!(regex_can_match_newline(r"(?s)a.b"));
        assert!(!regex_can_match_newline(r"a.b"));
        assert!(regex_can_match_newline(r"BEGIN[\s\S]*END"));
    }
}
