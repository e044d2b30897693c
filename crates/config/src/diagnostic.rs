//! Problems found in a config file, each pointing at file:line:column with
//! a hint saying what to write instead.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where in the file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte range in the file.
    pub span: Range<usize>,
}

impl Location {
    /// The line and column of byte offset `span.start` in `text`.
    pub(crate) fn of(text: &str, span: Range<usize>) -> Location {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = text[line_start..start].chars().count() + 1;
        Location { line, column, span }
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDiagnostic {
    pub message: String,
    /// None when the problem is not at one place (e.g. a default clashing with an environment value).
    pub location: Option<Location>,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A config file with one or more problems. Its `Display` renders them all
/// with the offending source line underlined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    path: PathBuf,
    text: String,
    diagnostics: Vec<ConfigDiagnostic>,
}

impl InvalidConfig {
    pub(crate) fn new(path: &Path, text: &str, mut diagnostics: Vec<ConfigDiagnostic>) -> Self {
        diagnostics.sort_by_key(|diagnostic| {
            diagnostic.location.as_ref().map_or((usize::MAX, 0), |at| (at.span.start, at.span.end))
        });
        InvalidConfig { path: path.to_owned(), text: text.to_owned(), diagnostics }
    }

    /// The file, as the user would name it (relative to the repository root when loaded from a layout).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every problem, in file order.
    pub fn diagnostics(&self) -> &[ConfigDiagnostic] {
        &self.diagnostics
    }
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            match &diagnostic.location {
                Some(at) => {
                    writeln!(f, "{path}:{}:{}: {}", at.line, at.column, diagnostic.message)?;
                    self.excerpt(f, at)?;
                }
                None => writeln!(f, "{path}: {}", diagnostic.message)?,
            }
            if let Some(hint) = &diagnostic.hint {
                let gutter = diagnostic.location.as_ref().map_or(1, |at| at.line.to_string().len());
                writeln!(f, "{:gutter$} = hint: {hint}", "")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for InvalidConfig {}

impl InvalidConfig {
    /// The source line with the span underlined.
    fn excerpt(&self, f: &mut fmt::Formatter<'_>, at: &Location) -> fmt::Result {
        let Some(line) = self.text.split('\n').nth(at.line - 1) else { return Ok(()) };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let gutter = at.line.to_string().len();
        let width = self
            .text
            .get(at.span.clone())
            .map_or(1, |spanned| spanned.lines().next().unwrap_or("").chars().count())
            .clamp(1, line.chars().count().saturating_sub(at.column - 1).max(1));
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {line}", at.line)?;
        writeln!(f, "{:gutter$} | {}{}", "", " ".repeat(at.column - 1), "^".repeat(width))
    }
}

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, candidate)| {
            *distance <= 2 && *distance < word.len().max(candidate.len()) / 2 + 1
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// "did you mean `x`?" when a candidate is close, else the list of choices.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    match suggest(word, candidates.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            let list: Vec<String> =
                candidates.into_iter().map(|candidate| format!("`{candidate}`")).collect();
            format!("{what}: {}", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let text = "a = 1\n# é\nbé = 2\n";
        let at = Location::of(text, 12..14);
        assert_eq!((at.line, at.column), (3, 2));
    }

    #[test]
    fn suggestions_catch_typos_but_not_strangers() {
        let keys = ["agents", "agent", "max_attempts", "keep_branches", "resolver"];
        assert_eq!(suggest("agnets", keys), Some("agents"));
        assert_eq!(suggest("max_attempt", keys), Some("max_attempts"));
        assert_eq!(suggest("Resolver", keys), Some("resolver"));
        assert_eq!(suggest("colour", keys), None);
        assert_eq!(suggest("x", keys), None);
    }
}
