//! Turning matcher hits in one fragment into findings: positions,
//! redacted snippets, fingerprints, duplicate removal and `orca:allow`.

use crate::engine::Hit;
use crate::finding::{BUILTIN_TOOL, Finding, Suppression, fingerprint};
use crate::redact::REDACTED;
use crate::rules::RuleSet;
use crate::severity::Severity;
use crate::suppression::parse_allow;

/// Rule id of the finding reported for an `orca:allow` without a reason.
pub const ALLOW_WITHOUT_REASON: &str = "orca-allow-without-reason";

/// Longest snippet kept, in characters.
const MAX_SNIPPET_CHARS: usize = 240;

/// What one fragment produced.
#[derive(Debug, Default)]
pub(crate) struct FragmentResult {
    pub(crate) findings: Vec<Finding>,
    pub(crate) suppressions: Vec<Suppression>,
    /// Every secret matched, suppressed or not, for the report's redactor.
    pub(crate) secrets: Vec<Vec<u8>>,
}

/// Where lines start in a fragment, computed on first use.
struct LineIndex<'a> {
    text: &'a [u8],
    starts: Option<Vec<usize>>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineIndex { text, starts: None }
    }

    /// 0-based line of `offset` and that line's start offset.
    fn locate(&mut self, offset: usize) -> (usize, usize) {
        let text = self.text;
        let starts = self.starts.get_or_insert_with(|| {
            std::iter::once(0).chain(memchr::memchr_iter(b'\n', text).map(|p| p + 1)).collect()
        });
        let line = starts.partition_point(|&s| s <= offset) - 1;
        (line, starts[line])
    }

    fn line_bytes(&self, start: usize) -> &'a [u8] {
        let end = memchr::memchr(b'\n', &self.text[start..]).map_or(self.text.len(), |p| start + p);
        let line = &self.text[start..end];
        line.strip_suffix(b"\r").unwrap_or(line)
    }
}

/// Characters in `bytes` (UTF-8 lead bytes; invalid bytes count as one).
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Builds the findings of one fragment from its `hits` (consumed).
pub(crate) fn collect_fragment(
    rules: &RuleSet,
    path: &str,
    text: &[u8],
    first_line: u32,
    hits: &mut Vec<Hit>,
    out: &mut FragmentResult,
) {
    if hits.is_empty() {
        return;
    }
    let all = rules.rules();
    // Duplicates: the same secret caught by several rules, or the same
    // problem on one line caught by a general and a specific rule. Rules
    // earlier in the set (specific ones) win; a pattern with the higher
    // severity wins within its category.
    hits.sort_by_key(|h| (std::cmp::Reverse(all[h.rule].severity()), h.rule, h.start));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    let mut index = LineIndex::new(text);
    for hit in hits.drain(..) {
        let duplicate = kept.iter().any(|k| match (k.secret, hit.secret) {
            _ if k.whole_file || hit.whole_file => k.rule == hit.rule,
            (Some((ks, ke)), Some((hs, he))) => hs < ke && ks < he,
            (None, None) => {
                all[k.rule].category() == all[hit.rule].category()
                    && index.locate(k.start).0 == index.locate(hit.start).0
            }
            _ => false,
        });
        if !duplicate {
            kept.push(hit);
        }
    }
    kept.sort_by_key(|h| (h.start, h.rule));

    let mut unreasoned_lines: Vec<usize> = Vec::new();
    for hit in &kept {
        let rule = &all[hit.rule];
        let matched = match hit.secret {
            Some((s, e)) => &text[s..e],
            None => &text[hit.start..hit.end],
        };
        if let Some((s, e)) = hit.secret {
            out.secrets.push(text[s..e].to_vec());
        }
        let (finding, line_start) = if hit.whole_file {
            let finding = Finding {
                rule: rule.id().to_string(),
                tool: BUILTIN_TOOL.to_string(),
                also_reported_by: Vec::new(),
                severity: rule.severity(),
                category: rule.category().to_string(),
                path: path.to_string(),
                line: first_line,
                column: 1,
                end_line: first_line,
                end_column: 1,
                message: rule.description().to_string(),
                help: rule.help().to_string(),
                snippet: String::new(),
                fingerprint: fingerprint(rule.id(), path, b""),
            };
            (finding, None)
        } else {
            // The region is the secret when there is one (what to remove),
            // else the whole match.
            let (start, end) = hit.secret.unwrap_or((hit.start, hit.end));
            let (line0, line_start) = index.locate(start);
            let (end_line0, end_line_start) = index.locate(end.saturating_sub(1).max(start));
            let column = char_count(&text[line_start..start]) + 1;
            let end_column = char_count(&text[end_line_start..end.max(end_line_start)]) + 1;
            let line_bytes = index.line_bytes(line_start);
            let snippet = snippet(line_bytes, line_start, &kept, column);
            let finding = Finding {
                rule: rule.id().to_string(),
                tool: BUILTIN_TOOL.to_string(),
                also_reported_by: Vec::new(),
                severity: rule.severity(),
                category: rule.category().to_string(),
                path: path.to_string(),
                line: first_line + line0 as u32,
                column: column as u32,
                end_line: first_line + end_line0 as u32,
                end_column: end_column as u32,
                message: rule.description().to_string(),
                help: rule.help().to_string(),
                snippet,
                fingerprint: fingerprint(rule.id(), path, matched),
            };
            (finding, Some(line_start))
        };
        let allow = line_start.and_then(|s| parse_allow(index.line_bytes(s)));
        match allow {
            Some(allow) if allow.covers(rule.id()) => match allow.reason {
                Some(reason) => out.suppressions.push(Suppression { finding, reason }),
                None => {
                    let line_start = line_start.expect("a suppression is on a line");
                    if !unreasoned_lines.contains(&line_start) {
                        unreasoned_lines.push(line_start);
                        out.findings.push(Finding {
                            rule: ALLOW_WITHOUT_REASON.to_string(),
                            severity: Severity::Warning,
                            category: "suppression".to_string(),
                            message: format!(
                                "`orca:allow {}` gives no reason, so it suppresses nothing",
                                rule.id()
                            ),
                            help: "Write why the finding is acceptable after the rule id: \
                                   `# orca:allow <rule> <reason>`."
                                .to_string(),
                            fingerprint: fingerprint(
                                ALLOW_WITHOUT_REASON,
                                path,
                                index.line_bytes(line_start),
                            ),
                            ..finding.clone()
                        });
                    }
                    out.findings.push(finding);
                }
            },
            _ => out.findings.push(finding),
        }
    }
}

/// The line at `line_start` with every secret span of `hits` on it masked,
/// cut to [`MAX_SNIPPET_CHARS`] around `column`.
fn snippet(line: &[u8], line_start: usize, hits: &[Hit], column: usize) -> String {
    let line_end = line_start + line.len();
    let mut masked: Vec<u8> = Vec::with_capacity(line.len());
    let mut spans: Vec<(usize, usize)> = hits
        .iter()
        .filter_map(|h| h.secret)
        .filter(|&(s, e)| s < line_end && e > line_start)
        .map(|(s, e)| (s.max(line_start) - line_start, e.min(line_end) - line_start))
        .collect();
    spans.sort_unstable();
    let mut at = 0;
    for (s, e) in spans {
        if s < at {
            at = at.max(e);
            continue;
        }
        masked.extend_from_slice(&line[at..s]);
        masked.extend_from_slice(REDACTED.as_bytes());
        at = e;
    }
    masked.extend_from_slice(&line[at.min(line.len())..]);
    let text = String::from_utf8_lossy(&masked);
    let chars = text.chars().count();
    if chars <= MAX_SNIPPET_CHARS {
        return text.trim_end().to_string();
    }
    let skip = column.saturating_sub(MAX_SNIPPET_CHARS / 4).min(chars - MAX_SNIPPET_CHARS);
    let mut cut: String = text.chars().skip(skip).take(MAX_SNIPPET_CHARS).collect();
    if skip > 0 {
        cut.insert(0, '…');
    }
    if skip + MAX_SNIPPET_CHARS < chars {
        cut.push('…');
    }
    cut
}
