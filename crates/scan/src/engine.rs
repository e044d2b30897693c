//! The matcher: runs a [`RuleSet`] over one fragment of text.
//!
//! A fragment is a whole file (directory scans) or one block of
//! consecutive added lines (diff scans). Keywords are found with one
//! Aho-Corasick pass over the fragment; each rule's regex then runs only
//! on the lines holding one of its keywords (or on the whole fragment when
//! the regex can match a line break, or when the rule has no keywords).

use crate::entropy::shannon_entropy;
use crate::language::Language;
use crate::rules::{Candidate, RuleKind, RuleSet};

/// Text to scan and where it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fragment<'a> {
    /// Repository-relative path with `/` separators.
    pub(crate) path: &'a str,
    pub(crate) text: &'a [u8],
    pub(crate) language: Option<Language>,
}

/// One rule matched: byte offsets into the fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) rule: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The part to redact, if any.
    pub(crate) secret: Option<(usize, usize)>,
    /// A path-only rule: the finding is about the file, not a line.
    pub(crate) whole_file: bool,
}

/// Per-thread working memory, reused across fragments.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    applicable: Vec<bool>,
    /// `marks[rule] == generation`: the rule is queued for the current line.
    marks: Vec<u32>,
    generation: u32,
    line_rules: Vec<usize>,
    whole: Vec<bool>,
}

impl RuleSet {
    /// Appends every match of the rule set in `fragment` to `out`, after
    /// entropy and allowlist checks.
    pub(crate) fn detect(&self, fragment: Fragment<'_>, scratch: &mut Scratch, out: &mut Vec<Hit>) {
        if self.path_allowed(fragment.path) {
            return;
        }
        let rules = self.rules();
        let n = rules.len();
        scratch.applicable.clear();
        scratch
            .applicable
            .extend(rules.iter().map(|r| r.applies_to(fragment.path, fragment.language)));
        scratch.whole.clear();
        scratch.whole.resize(n, false);
        if scratch.marks.len() != n {
            scratch.marks = vec![0; n];
            scratch.generation = 0;
        }

        for (index, rule) in rules.iter().enumerate() {
            if rule.regex.is_none() && scratch.applicable[index] {
                out.push(Hit { rule: index, start: 0, end: 0, secret: None, whole_file: true });
            }
        }
        for &index in &self.unkeyed {
            scratch.whole[index] = true;
        }

        let text = fragment.text;
        if let Some(automaton) = &self.keywords {
            let mut line: Option<(usize, usize)> = None;
            for hit in automaton.find_overlapping_iter(text) {
                let at = hit.start();
                match line {
                    Some((s, e)) if at >= s && at < e => {}
                    _ => {
                        if let Some((s, e)) = line.take() {
                            self.run_line_rules(fragment, s, e, scratch, out);
                        }
                        scratch.generation = scratch.generation.wrapping_add(1);
                        if scratch.generation == 0 {
                            scratch.marks.iter_mut().for_each(|m| *m = u32::MAX);
                            scratch.generation = 1;
                        }
                        let s = memchr::memrchr(b'\n', &text[..at]).map_or(0, |p| p + 1);
                        let e = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |p| at + p);
                        line = Some((s, e));
                    }
                }
                for &rule in &self.rules_by_keyword[hit.pattern().as_usize()] {
                    if !scratch.applicable[rule] {
                        continue;
                    }
                    if rules[rule].spans_lines {
                        scratch.whole[rule] = true;
                    } else if scratch.marks[rule] != scratch.generation {
                        scratch.marks[rule] = scratch.generation;
                        scratch.line_rules.push(rule);
                    }
                }
            }
            if let Some((s, e)) = line {
                self.run_line_rules(fragment, s, e, scratch, out);
            }
        }
        for index in 0..n {
            if scratch.whole[index] && scratch.applicable[index] {
                self.run_rule(index, fragment, 0, text.len(), out);
            }
        }
    }

    fn run_line_rules(
        &self,
        fragment: Fragment<'_>,
        start: usize,
        end: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) {
        for rule in scratch.line_rules.drain(..) {
            self.run_rule(rule, fragment, start, end, out);
        }
    }

    /// Runs one rule's regex over `fragment.text[start..end]`.
    fn run_rule(
        &self,
        index: usize,
        fragment: Fragment<'_>,
        start: usize,
        end: usize,
        out: &mut Vec<Hit>,
    ) {
        let rule = &self.rules()[index];
        let Some(regex) = &rule.regex else { return };
        let text = fragment.text;
        let region = &text[start..end];
        let mut locations = regex.capture_locations();
        let mut at = 0;
        while at <= region.len() {
            let Some(whole) = regex.captures_read_at(&mut locations, region, at) else { break };
            let (m_start, m_end) = (whole.start(), whole.end());
            at = if m_end > m_start { m_end } else { m_end + 1 };
            let group = |g: usize| locations.get(g).filter(|(s, e)| e > s);
            let secret = match (rule.kind(), rule.secret_group) {
                (_, Some(g)) => match group(g) {
                    Some(span) => Some(span),
                    None => continue,
                },
                (RuleKind::Secret, None) => {
                    Some((1..locations.len()).find_map(group).unwrap_or((m_start, m_end)))
                }
                (RuleKind::Pattern, None) => None,
            };
            let measured = secret.map_or(&region[m_start..m_end], |(s, e)| &region[s..e]);
            if measured.is_empty() {
                continue;
            }
            if let Some(threshold) = rule.entropy
                && shannon_entropy(measured) < threshold
            {
                continue;
            }
            let (abs_start, abs_end) = (start + m_start, start + m_end);
            let line_start = memchr::memrchr(b'\n', &text[..abs_start]).map_or(0, |p| p + 1);
            let line_end = memchr::memchr(b'\n', &text[abs_end.min(text.len())..])
                .map_or(text.len(), |p| abs_end + p);
            let candidate = Candidate {
                path: fragment.path,
                secret: measured,
                matched: &region[m_start..m_end],
                line: &text[line_start..line_end.max(abs_end)],
            };
            if self.allowed(rule, &candidate) {
                continue;
            }
            out.push(Hit {
                rule: index,
                start: abs_start,
                end: abs_end,
                secret: secret.map(|(s, e)| (start + s, start + e)),
                whole_file: false,
            });
        }
    }
}
