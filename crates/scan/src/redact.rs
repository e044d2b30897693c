//! Redaction: secrets never leave orca in anything it writes.
//!
//! Two passes over any text: the secret rules themselves (so a secret no
//! scan has reported yet, in an agent's log say, is still caught), and the
//! exact secrets a scan found (so a secret is caught out of the context
//! its rule needs, quoted alone in a fix prompt say).

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::engine::{Fragment, Scratch};
use crate::rules::{RuleKind, RuleSet};

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Known secrets shorter than this are common words ("admin", "pass1"):
/// they are redacted where a rule sees them in context, not everywhere.
pub const MIN_KNOWN_SECRET_BYTES: usize = 6;

/// Replaces secrets in text. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: RuleSet,
    known: Option<AhoCorasick>,
    known_count: usize,
}

impl Redactor {
    /// A redactor that applies the secret rules of `rules`.
    pub fn new(rules: &RuleSet) -> Redactor {
        Redactor {
            rules: rules.filtered(|r| r.kind() == RuleKind::Secret && !r.is_path_only()),
            known: None,
            known_count: 0,
        }
    }

    /// The same redactor that also replaces each of `secrets` wherever it
    /// occurs (those of at least [`MIN_KNOWN_SECRET_BYTES`]).
    pub fn with_known_secrets<I, S>(mut self, secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut known: Vec<Vec<u8>> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_vec())
            .filter(|s| s.len() >= MIN_KNOWN_SECRET_BYTES)
            .collect();
        known.sort();
        known.dedup();
        self.known_count = known.len();
        self.known = (!known.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&known)
                .expect("known secrets are plain strings")
        });
        self
    }

    /// How many exact secrets this redactor replaces wherever they occur.
    pub fn known_secret_count(&self) -> usize {
        self.known_count
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let spans = self.secret_spans(text.as_bytes());
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            // Widen to character boundaries: never leave half a character.
            let start = floor_char_boundary(text, start);
            let end = ceil_char_boundary(text, end);
            if start < at {
                continue;
            }
            out.push_str(&text[at..start]);
            out.push_str(REDACTED);
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Sorted, merged byte spans of the secrets in `text`.
    fn secret_spans(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut hits = Vec::new();
        let mut scratch = Scratch::default();
        self.rules.detect(Fragment { path: "", text, language: None }, &mut scratch, &mut hits);
        spans.extend(hits.iter().map(|h| h.secret.unwrap_or((h.start, h.end))));
        if let Some(known) = &self.known {
            spans.extend(known.find_iter(text).map(|m| (m.start(), m.end())));
        }
        spans.retain(|(s, e)| e > s);
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

/// Redacts `text` with orca's default secret rules: for any text orca
/// writes that no scan report is at hand for (logs, events, prompts).
/// Prefer [`crate::Report::redact`] when there is a report: it also knows
/// the exact secrets the scan found.
pub fn redact(text: &str) -> Cow<'_, str> {
    static DEFAULT: OnceLock<Redactor> = OnceLock::new();
    DEFAULT.get_or_init(|| Redactor::new(RuleSet::builtin())).redact(text)
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}
