//! The managed block: orca's text between two marker lines inside a file the
//! user owns (CLAUDE.md, AGENTS.md). Only the bytes from the begin marker to
//! the end marker are ever replaced; everything around them is kept as it is.

/// How a begin marker line starts; the version and ` -->` follow.
const BEGIN_PREFIX: &str = "<!-- orca:begin";
/// The end marker line.
pub const END_MARKER: &str = "<!-- orca:end -->";

/// The begin marker line for `version`.
pub fn begin_marker(version: &str) -> String {
    format!("{BEGIN_PREFIX} v{version} -->")
}

/// Why the markers in a file cannot be trusted; nothing is written then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("line {begin}: `{BEGIN_PREFIX} ...` has no `{END_MARKER}` after it")]
    MissingEnd { begin: usize },
    #[error("line {second}: a second `{BEGIN_PREFIX} ...` (the first is on line {first})")]
    SecondBegin { first: usize, second: usize },
    #[error("line {end}: `{END_MARKER}` without a `{BEGIN_PREFIX} ...` before it")]
    EndWithoutBegin { end: usize },
}

/// What the file's block looks like compared with the one this orca writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    /// No file, or a file without a block.
    Missing,
    /// The block is exactly what this orca writes.
    Current,
    /// A block from another orca version, or with different text.
    Stale {
        /// The version in the begin marker, if it carries one.
        version: Option<String>,
    },
}

/// The outcome of fitting the block into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced {
    pub state: BlockState,
    /// The whole new file; equal to the input when the block is current.
    pub text: String,
}

/// A located block: byte range from the begin marker to the end of the end marker.
struct Found {
    start: usize,
    end: usize,
    version: Option<String>,
}

/// Puts the block (`body` between markers for `version`) into `existing`
/// (None: no file yet). A stale block is replaced in place, a missing one
/// appended after a blank line. The block takes the file's line ending.
pub fn splice(existing: Option<&str>, version: &str, body: &str) -> Result<Spliced, MarkerError> {
    let Some(text) = existing else {
        return Ok(Spliced {
            state: BlockState::Missing,
            text: render(version, body, "\n") + "\n",
        });
    };
    let eol = line_ending(text);
    let block = render(version, body, eol);
    match find(text)? {
        Some(found) => {
            let current = &text[found.start..found.end];
            let state = if current == block {
                BlockState::Current
            } else {
                BlockState::Stale { version: found.version }
            };
            let mut spliced = String::with_capacity(text.len() + block.len());
            spliced.push_str(&text[..found.start]);
            spliced.push_str(&block);
            spliced.push_str(&text[found.end..]);
            Ok(Spliced { state, text: spliced })
        }
        None => {
            let mut appended = text.to_owned();
            let content = appended.trim_start_matches('\u{feff}');
            if !content.is_empty() {
                if !appended.ends_with('\n') {
                    appended.push_str(eol);
                }
                let blank_line_before = appended.ends_with("\n\n") || appended.ends_with("\n\r\n");
                if !blank_line_before {
                    appended.push_str(eol);
                }
            }
            appended.push_str(&block);
            appended.push_str(eol);
            Ok(Spliced { state: BlockState::Missing, text: appended })
        }
    }
}

/// The begin marker, `body` and the end marker, joined with `eol`, with no
/// line ending after the end marker (the file's own one is kept).
pub fn render(version: &str, body: &str, eol: &str) -> String {
    let mut block = begin_marker(version);
    block.push_str(eol);
    for line in body.lines() {
        block.push_str(line);
        block.push_str(eol);
    }
    block.push_str(END_MARKER);
    block
}

/// `\r\n` when the file's first line ends that way, else `\n`.
fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(newline) if text[..newline].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

/// Finds the one well-formed block, if any.
fn find(text: &str) -> Result<Option<Found>, MarkerError> {
    let mut begin: Option<(usize, usize, Option<String>)> = None;
    let mut found: Option<Found> = None;
    let mut offset = 0;
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        // A byte-order mark belongs to the file, not to the marker on its first line.
        let (line, bom) = match line.strip_prefix('\u{feff}') {
            Some(rest) if index == 0 => (rest, '\u{feff}'.len_utf8()),
            _ => (line, 0),
        };
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if trimmed.starts_with(BEGIN_PREFIX) && trimmed.ends_with("-->") {
            if let Some((first, _, _)) = begin {
                return Err(MarkerError::SecondBegin { first, second: number });
            }
            if let Some(done) = &found {
                let first = text[..done.start].matches('\n').count() + 1;
                return Err(MarkerError::SecondBegin { first, second: number });
            }
            let version = trimmed[BEGIN_PREFIX.len()..trimmed.len() - 3]
                .trim()
                .strip_prefix('v')
                .map(str::to_owned);
            begin = Some((number, line_start + bom + indent, version));
        } else if trimmed == END_MARKER {
            let Some((_, start, version)) = begin.take() else {
                return Err(MarkerError::EndWithoutBegin { end: number });
            };
            let end = line_start + bom + indent + END_MARKER.len();
            found = Some(Found { start, end, version });
        }
    }
    if let Some((line, _, _)) = begin {
        return Err(MarkerError::MissingEnd { begin: line });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "## orca\nrules\n";

    fn splice_ok(existing: Option<&str>) -> Spliced {
        splice(existing, "1.0.0", BODY).unwrap()
    }

    #[test]
    fn a_missing_file_gets_just_the_block() {
        let spliced = splice_ok(None);
        assert_eq!(spliced.state, BlockState::Missing);
        assert_eq!(spliced.text, "<!-- orca:begin v1.0.0 -->\n## orca\nrules\n<!-- orca:end -->\n");
    }

    #[test]
    fn appending_leaves_one_blank_line_and_keeps_the_line_ending() {
        let block = "<!-- orca:begin v1.0.0 -->\n## orca\nrules\n<!-- orca:end -->\n";
        assert_eq!(splice_ok(Some("# Notes\n")).text, format!("# Notes\n\n{block}"));
        assert_eq!(splice_ok(Some("# Notes")).text, format!("# Notes\n\n{block}"));
        assert_eq!(splice_ok(Some("# Notes\n\n")).text, format!("# Notes\n\n{block}"));
        assert_eq!(splice_ok(Some("")).text, block);
        assert_eq!(
            splice_ok(Some("# Notes\r\n")).text,
            "# Notes\r\n\r\n<!-- orca:begin v1.0.0 -->\r\n## orca\r\nrules\r\n<!-- orca:end -->\r\n"
        );
    }

    #[test]
    fn replacing_touches_only_the_block() {
        let file =
            "\u{feff}above\r\n<!-- orca:begin v0.9.0 -->\r\nold\r\n<!-- orca:end -->\r\nbelow";
        let spliced = splice_ok(Some(file));
        assert_eq!(spliced.state, BlockState::Stale { version: Some("0.9.0".to_owned()) });
        assert_eq!(
            spliced.text,
            "\u{feff}above\r\n<!-- orca:begin v1.0.0 -->\r\n## orca\r\nrules\r\n<!-- orca:end -->\r\nbelow"
        );
        let again = splice_ok(Some(&spliced.text));
        assert_eq!(again.state, BlockState::Current);
        assert_eq!(again.text, spliced.text);
    }

    #[test]
    fn a_block_on_the_first_line_after_a_bom_is_found() {
        let file = format!("\u{feff}{}\n", render("1.0.0", BODY, "\n"));
        assert_eq!(splice_ok(Some(&file)).state, BlockState::Current);
    }

    #[test]
    fn edited_text_inside_the_markers_is_stale_even_at_the_same_version() {
        let file = "<!-- orca:begin v1.0.0 -->\n## orca\nmy edit\n<!-- orca:end -->\n";
        let spliced = splice_ok(Some(file));
        assert_eq!(spliced.state, BlockState::Stale { version: Some("1.0.0".to_owned()) });
    }

    #[test]
    fn malformed_markers_are_errors_with_line_numbers() {
        let err = |text: &str| splice(Some(text), "1.0.0", BODY).unwrap_err();
        assert_eq!(err("a\n<!-- orca:begin v1 -->\nb\n"), MarkerError::MissingEnd { begin: 2 });
        assert_eq!(
            err("<!-- orca:begin v1 -->\n<!-- orca:begin v1 -->\n<!-- orca:end -->\n"),
            MarkerError::SecondBegin { first: 1, second: 2 }
        );
        assert_eq!(
            err(
                "<!-- orca:begin v1 -->\n<!-- orca:end -->\n<!-- orca:begin v1 -->\n<!-- orca:end -->\n"
            ),
            MarkerError::SecondBegin { first: 1, second: 3 }
        );
        assert_eq!(err("x\n<!-- orca:end -->\n"), MarkerError::EndWithoutBegin { end: 2 });
    }
}
