//! Allowlists: what makes a match not a finding.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use super::format::AllowlistSpec;
use super::{RuleError, compile_bytes_regex};

/// How an allowlist's criteria combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Any one criterion allows the match (gitleaks' default).
    Or,
    /// Every criterion the allowlist sets must hold.
    And,
}

/// What an allowlist's `regexes` are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegexTarget {
    Secret,
    Match,
    Line,
}

/// A candidate finding, as an allowlist sees it.
pub(crate) struct Candidate<'a> {
    pub(crate) path: &'a str,
    pub(crate) secret: &'a [u8],
    pub(crate) matched: &'a [u8],
    pub(crate) line: &'a [u8],
}

#[derive(Debug, Clone)]
pub(crate) struct Allowlist {
    condition: Condition,
    target: RegexTarget,
    regexes: Vec<BytesRegex>,
    paths: Vec<Regex>,
    /// Lowercased; a secret containing one is allowed.
    stopwords: Vec<String>,
    /// Commit criteria: a diff scan covers a range, not single commits, so
    /// a commit never matches (an AND allowlist with commits never allows).
    has_commits: bool,
    /// Empty: every rule (only global allowlists name rules).
    pub(crate) target_rules: Vec<String>,
}

impl Allowlist {
    pub(crate) fn compile(
        spec: &AllowlistSpec,
        origin: &str,
        owner: &str,
    ) -> Result<Allowlist, RuleError> {
        let condition = match spec.condition.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("OR") | Some("") => Condition::Or,
            Some("AND") => Condition::And,
            Some(other) => {
                return Err(RuleError::Invalid {
                    origin: origin.to_string(),
                    id: owner.to_string(),
                    detail: format!("allowlist condition {other:?} is neither OR nor AND"),
                });
            }
        };
        let target = match spec.regex_target.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("secret") | Some("") => RegexTarget::Secret,
            Some("match") => RegexTarget::Match,
            Some("line") => RegexTarget::Line,
            Some(other) => {
                return Err(RuleError::Invalid {
                    origin: origin.to_string(),
                    id: owner.to_string(),
                    detail: format!("allowlist regexTarget {other:?} is not secret, match or line"),
                });
            }
        };
        let regexes = spec
            .regexes
            .iter()
            .map(|r| compile_bytes_regex(r, origin, owner))
            .collect::<Result<_, _>>()?;
        let paths = spec
            .paths
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|source| RuleError::Regex {
                    origin: origin.to_string(),
                    id: owner.to_string(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Allowlist {
            condition,
            target,
            regexes,
            paths,
            stopwords: spec.stopwords.iter().map(|w| w.to_ascii_lowercase()).collect(),
            has_commits: !spec.commits.is_empty(),
            target_rules: spec.target_rules.clone(),
        })
    }

    /// Whether this allowlist, by its paths alone, allows every match in
    /// the file at `path` (so the file need not be scanned for its rules).
    pub(crate) fn allows_whole_path(&self, path: &str) -> bool {
        let path_hit = self.paths.iter().any(|p| p.is_match(path));
        match self.condition {
            Condition::Or => path_hit,
            Condition::And => {
                path_hit
                    && !self.has_commits
                    && self.regexes.is_empty()
                    && self.stopwords.is_empty()
            }
        }
    }

    pub(crate) fn allows(&self, candidate: &Candidate<'_>) -> bool {
        let target = match self.target {
            RegexTarget::Secret => candidate.secret,
            RegexTarget::Match => candidate.matched,
            RegexTarget::Line => candidate.line,
        };
        let checks = [
            (!self.paths.is_empty()).then(|| self.paths.iter().any(|p| p.is_match(candidate.path))),
            (!self.regexes.is_empty()).then(|| self.regexes.iter().any(|r| r.is_match(target))),
            (!self.stopwords.is_empty()).then(|| {
                let secret = candidate.secret.to_ascii_lowercase();
                self.stopwords.iter().any(|w| contains(&secret, w.as_bytes()))
            }),
            self.has_commits.then_some(false),
        ];
        let mut set = checks.into_iter().flatten().peekable();
        if set.peek().is_none() {
            return false;
        }
        match self.condition {
            Condition::Or => set.any(|hit| hit),
            Condition::And => set.all(|hit| hit),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
