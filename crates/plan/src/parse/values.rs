//! Field values that are not lists: durations, estimates, names.

use crate::model::Estimate;

/// Parses a duration such as `45m`, `2h`, `1h30m`, `90s` or `1h 30m` into
/// seconds. Units are `h`, `m`, `s`, each at most once, largest first.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut rest = trim(text);
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut last_unit = 0; // 3 = h, 2 = m, 1 = s; units must descend.
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (rank, factor) = match rest.bytes().next()? {
            b'h' => (3, 3600),
            b'm' => (2, 60),
            b's' => (1, 1),
            _ => return None,
        };
        if last_unit != 0 && rank >= last_unit {
            return None;
        }
        last_unit = rank;
        total = total.checked_add(number.checked_mul(factor)?)?;
        rest = rest[1..].trim_start();
    }
    Some(total)
}

/// Parses an estimate: a duration (see [`parse_duration`]) or points:
/// `3pt`, `3pts`, `3 points`, `1 point`.
pub fn parse_estimate(text: &str) -> Option<Estimate> {
    if let Some(seconds) = parse_duration(text) {
        return Some(Estimate::Seconds(seconds));
    }
    let text = trim(text);
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number: u64 = text[..digits].parse().ok()?;
    match text[digits..].trim_start() {
        "pt" | "pts" | "point" | "points" => Some(Estimate::Points(number)),
        _ => None,
    }
}

/// Whether `text` is a simple name: an ASCII letter or digit, then
/// letters, digits, `_`, `-` or `.`.
pub fn is_name(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether an ASCII byte is white space as [`char::is_whitespace`] sees it
/// (which, unlike [`u8::is_ascii_whitespace`], includes the vertical tab).
fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// [`str::trim`], with the usual ASCII ends handled a byte at a time: the
/// parser trims every line and value, and the general version decodes
/// characters. Anything else at an end (a byte of a multi-byte
/// character) is left to [`str::trim`], so the result is always the same.
pub(crate) fn trim(text: &str) -> &str {
    trim_end(trim_start(text))
}

/// [`str::trim_start`] with an ASCII fast path (see [`trim`]).
pub(crate) fn trim_start(text: &str) -> &str {
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|&b| !is_ascii_space(b)).unwrap_or(bytes.len());
    let rest = &text[start..];
    if rest.as_bytes().first().is_some_and(|b| !b.is_ascii()) { rest.trim_start() } else { rest }
}

/// [`str::trim_end`] with an ASCII fast path (see [`trim`]).
pub(crate) fn trim_end(text: &str) -> &str {
    let bytes = text.as_bytes();
    let end = bytes.iter().rposition(|&b| !is_ascii_space(b)).map_or(0, |i| i + 1);
    let rest = &text[..end];
    if rest.as_bytes().last().is_some_and(|b| !b.is_ascii()) { rest.trim_end() } else { rest }
}

/// Removes one pair of enclosing backticks (a Markdown code span).
pub fn strip_code_span(text: &str) -> &str {
    match text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(inner) if !inner.contains('`') => trim(inner),
        _ => text,
    }
}

/// Splits a comma-separated list, keeping commas inside `{...}` (glob
/// alternatives) together.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let mut depth = 0usize;
        // Bytes are fine here: `,`, `{` and `}` never occur inside a
        // multi-byte UTF-8 character.
        for (i, &b) in current.as_bytes().iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => {
                    rest = Some(&current[i + 1..]);
                    return Some(&current[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_estimates() {
        assert_eq!(parse_duration("45m"), Some(2700));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("1h 30m"), Some(5400));
        assert_eq!(parse_duration("90s"), Some(90));
        for bad in ["", "30", "m", "1d", "30m1h", "1h1h", "-1h", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_estimate("2h"), Some(Estimate::Seconds(7200)));
        assert_eq!(parse_estimate("3pt"), Some(Estimate::Points(3)));
        assert_eq!(parse_estimate("5 points"), Some(Estimate::Points(5)));
        assert_eq!(parse_estimate("large"), None);
    }

    #[test]
    fn lists_keep_brace_commas_together() {
        let entries: Vec<&str> = split_list("a, src/{x,y}.rs ,b").collect();
        assert_eq!(entries, ["a", " src/{x,y}.rs ", "b"]);
        assert_eq!(strip_code_span("`cargo test`"), "cargo test");
        assert_eq!(strip_code_span("`a` and `b`"), "`a` and `b`");
    }

    #[test]
    fn trimming_agrees_with_the_standard_library() {
        let samples = [
            "",
            " ",
            "a",
            " a ",
            "\t a b \r",
            "\u{b}x\u{c}",
            "\u{a0}x\u{2003}",
            " \u{85}y\u{3000} ",
            "é",
            " é ",
            "\u{2028}",
            "x\u{a0} ",
            " \u{feff}z",
            "\r\n",
        ];
        for text in samples {
            assert_eq!(trim(text), text.trim(), "{text:?}");
            assert_eq!(trim_start(text), text.trim_start(), "{text:?}");
            assert_eq!(trim_end(text), text.trim_end(), "{text:?}");
        }
    }
}
