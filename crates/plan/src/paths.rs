//! `files` entries: repository-relative paths and globs, and whether two
//! of them can name the same file.
//!
//! Glob syntax: `*` (any characters within a segment), `?` (one
//! character), `**` (a whole segment: any number of segments), `[...]` /
//! `[!...]` (a character class), `{a,b}` (alternatives, nestable, at most
//! [`MAX_ALTERNATIVES`] in total). There is no escape character.
//!
//! Overlap: a glob covers exactly the paths it matches (write `src/**` for
//! a whole directory). A literal path covers itself and, when it may be a
//! directory, everything below it: a literal whose last segment has a `.`
//! after its first character (`main.rs`, `Cargo.toml`) is taken to be a
//! file; any other (`src/api`, `.github`, `Makefile`) may be a directory.
//! So `src` overlaps `src/a.rs` and `src/**/*.rs`, while `src/*` does not
//! overlap `src/a/b.rs`. Two patterns overlap when some path is covered by
//! both. The check is exact except that a character class is treated as
//! "any one character", which can only make it report an overlap that is
//! not there — the safe direction for a scheduler that keeps overlapping
//! tasks apart.

use std::borrow::Cow;
use std::sync::Arc;

/// The most alternatives one pattern may expand to through `{...}`.
pub const MAX_ALTERNATIVES: usize = 64;

/// Why a `files` entry is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Empty entry.
    #[error("the path is empty")]
    Empty,
    /// Starts with `/`, `~` or a drive letter.
    #[error("`{0}` is absolute; paths are relative to the repository root")]
    Absolute(String),
    /// Contains a `..` segment.
    #[error("`{0}` climbs out of the repository with `..`")]
    ParentDir(String),
    /// Contains a backslash.
    #[error("`{0}` contains a backslash; separate directories with `/`")]
    Backslash(String),
    /// Contains `//`.
    #[error("`{0}` contains an empty segment (`//`)")]
    EmptySegment(String),
    /// A glob that does not parse.
    #[error("`{pattern}` is not a valid glob: {reason}")]
    Glob {
        /// The entry.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Checks a `files` entry and returns it normalized: leading `./`, `.`
/// segments and a trailing `/` removed.
pub fn check_pattern(text: &str) -> Result<Cow<'_, str>, PatternError> {
    if text.is_empty() {
        return Err(PatternError::Empty);
    }
    if text.starts_with('/') || text.starts_with('~') || has_drive_letter(text) {
        return Err(PatternError::Absolute(text.to_owned()));
    }
    let trimmed = text.strip_suffix('/').unwrap_or(text);
    // One pass over the bytes: segment shapes and glob syntax.
    let mut dots = false;
    let mut segments = 0;
    let mut glob = false;
    let bytes = trimmed.as_bytes();
    let mut segment_start = 0;
    loop {
        // Each segment's bytes are looked at once; the checks and their
        // order (shape first, then a backslash) are per segment.
        let mut end = segment_start;
        let mut backslash = false;
        while let Some(&b) = bytes.get(end) {
            match b {
                b'/' => break,
                b'\\' => backslash = true,
                b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b',' => glob = true,
                _ => {}
            }
            end += 1;
        }
        match &bytes[segment_start..end] {
            b"" => return Err(PatternError::EmptySegment(text.to_owned())),
            b"." => dots = true,
            b".." => return Err(PatternError::ParentDir(text.to_owned())),
            _ => segments += 1,
        }
        if backslash {
            return Err(PatternError::Backslash(text.to_owned()));
        }
        if end == bytes.len() {
            break;
        }
        segment_start = end + 1;
    }
    if segments == 0 {
        return Err(PatternError::Empty);
    }
    let normal: Cow<'_, str> = if dots {
        Cow::Owned(trimmed.split('/').filter(|s| *s != ".").collect::<Vec<_>>().join("/"))
    } else {
        Cow::Borrowed(trimmed)
    };
    if !glob {
        return Ok(normal);
    }
    let glob = |reason| PatternError::Glob { pattern: text.to_owned(), reason };
    let alternatives = expand_braces(&normal).map_err(glob)?;
    for alternative in &alternatives {
        for segment in alternative.split('/') {
            if segment == ".." {
                return Err(PatternError::ParentDir(text.to_owned()));
            }
            if segment.is_empty() {
                return Err(PatternError::EmptySegment(text.to_owned()));
            }
            if segment != "**" && segment.contains("**") {
                return Err(glob("`**` must be a whole path segment, as in `src/**/x.rs`"));
            }
            check_classes(segment).map_err(glob)?;
        }
    }
    Ok(normal)
}

fn has_drive_letter(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

fn check_classes(segment: &str) -> Result<(), &'static str> {
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '[' {
            let mut empty = true;
            loop {
                match chars.next() {
                    None => return Err("a `[` character class is never closed"),
                    Some(']') if !empty => break,
                    Some('!' | '^') if empty => {}
                    Some(_) => empty = false,
                }
            }
        } else if c == ']' {
            return Err("`]` without a matching `[`");
        }
    }
    Ok(())
}

/// Expands `{a,b}` alternatives (nested allowed).
fn expand_braces(text: &str) -> Result<Vec<String>, &'static str> {
    let Some(open) = text.find('{') else {
        if text.contains('}') {
            return Err("`}` without a matching `{`");
        }
        if text.contains(',') {
            return Err("`,` outside `{...}`");
        }
        return Ok(vec![text.to_owned()]);
    };
    let mut depth = 0;
    let mut close = None;
    let mut splits = Vec::new();
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => splits.push(open + i),
            _ => {}
        }
    }
    let close = close.ok_or("a `{` is never closed")?;
    let (head, tail) = (&text[..open], &text[close + 1..]);
    if head.contains('}') {
        return Err("`}` without a matching `{`");
    }
    let mut bounds = vec![open];
    bounds.extend(&splits);
    bounds.push(close);
    let tails = expand_braces(tail)?;
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let choice = &text[pair[0] + 1..pair[1]];
        for middle in expand_braces(choice)? {
            for rest in &tails {
                if out.len() >= MAX_ALTERNATIVES {
                    return Err("too many `{...}` alternatives (at most 64)");
                }
                out.push(format!("{head}{middle}{rest}"));
            }
        }
    }
    Ok(out)
}

/// A checked pattern prepared for overlap tests. Literal paths (the common
/// case) need no allocation beyond sharing their text.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPattern {
    text: Arc<str>,
    /// A literal that may name a directory, so covers what is below it.
    directory: bool,
    /// Present for globs.
    glob: Option<Box<Glob>>,
}

#[derive(Debug, Clone)]
struct Glob {
    /// Each brace alternative as segments.
    alternatives: Vec<Vec<Segment>>,
    /// The longest run of leading literal segments shared by every
    /// alternative, joined with `/` ("" when the pattern starts with a glob).
    prefix: Box<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments.
    Any,
    Literal(Box<str>),
    Wild(Vec<Token>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?` or a character class.
    One,
    /// `*`.
    Star,
}

fn is_glob(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'{'))
}

impl CompiledPattern {
    /// Compiles a pattern that passed [`check_pattern`]. A pattern that does
    /// not (only possible through a hand-built model) is compiled as
    /// covering everything, which is the safe choice for a scheduler.
    pub(crate) fn new(text: Arc<str>) -> CompiledPattern {
        if !is_glob(&text) {
            let bytes = text.as_bytes();
            let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
            let directory = !last.iter().skip(1).any(|&b| b == b'.');
            return CompiledPattern { text, directory, glob: None };
        }
        let expanded = expand_braces(&text).unwrap_or_else(|_| vec!["**".to_owned()]);
        let alternatives: Vec<Vec<Segment>> =
            expanded.iter().map(|alt| alt.split('/').map(compile_segment).collect()).collect();
        let first = &alternatives[0];
        let mut shared = 0;
        'outer: while let Some(Segment::Literal(name)) = first.get(shared) {
            for other in &alternatives[1..] {
                if other.get(shared) != Some(&Segment::Literal(name.clone())) {
                    break 'outer;
                }
            }
            shared += 1;
        }
        let prefix = first[..shared]
            .iter()
            .map(|s| match s {
                Segment::Literal(name) => &**name,
                _ => "",
            })
            .collect::<Vec<_>>()
            .join("/");
        CompiledPattern {
            text,
            directory: false,
            glob: Some(Box::new(Glob { alternatives, prefix: prefix.into() })),
        }
    }

    /// Compiles pattern text (see [`CompiledPattern::new`]).
    #[cfg(test)]
    pub(crate) fn from_text(text: &str) -> CompiledPattern {
        CompiledPattern::new(Arc::from(text))
    }

    /// The literal directory prefix used to index patterns.
    pub(crate) fn prefix(&self) -> &str {
        self.glob.as_ref().map_or(&self.text, |g| &g.prefix)
    }

    /// Whether the pattern has glob syntax.
    pub(crate) fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// Whether the pattern is a literal path that may be a directory (and
    /// so covers everything below it).
    pub(crate) fn is_directory(&self) -> bool {
        self.directory
    }

    /// A literal as segments, ending in `**` when it may be a directory.
    fn literal_segments(&self) -> Vec<Segment> {
        self.text
            .split('/')
            .map(|s| Segment::Literal(s.into()))
            .chain(self.directory.then_some(Segment::Any))
            .collect()
    }

    /// Whether some path is covered by both patterns.
    pub(crate) fn overlaps(&self, other: &CompiledPattern) -> bool {
        match (&self.glob, &other.glob) {
            (None, None) => {
                let (a, b) = (&*self.text, &*other.text);
                a == b
                    || (self.directory && path_covers(a, b))
                    || (other.directory && path_covers(b, a))
            }
            (Some(glob), None) => {
                let literal = other.literal_segments();
                glob.alternatives.iter().any(|alt| segments_intersect(alt, &literal))
            }
            (None, Some(glob)) => {
                let literal = self.literal_segments();
                glob.alternatives.iter().any(|alt| segments_intersect(&literal, alt))
            }
            (Some(a), Some(b)) => a
                .alternatives
                .iter()
                .any(|x| b.alternatives.iter().any(|y| segments_intersect(x, y))),
        }
    }
}

/// Whether `dir` is `path` or one of its ancestors.
fn path_covers(dir: &str, path: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn compile_segment(text: &str) -> Segment {
    if text == "**" {
        return Segment::Any;
    }
    if !is_glob(text) {
        return Segment::Literal(text.into());
    }
    let mut tokens = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::One),
            '[' => {
                // Approximated as any one character (see the module docs).
                let mut empty = true;
                for c in chars.by_ref() {
                    if c == ']' && !empty {
                        break;
                    }
                    if !(empty && matches!(c, '!' | '^')) {
                        empty = false;
                    }
                }
                tokens.push(Token::One);
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    Segment::Wild(tokens)
}

/// Whether two segment sequences (each may contain `**`) match a common
/// path: a search over pairs of positions in the two patterns.
fn segments_intersect(a: &[Segment], b: &[Segment]) -> bool {
    product_search(a.len(), b.len(), |i, j, push| {
        let (sa, sb) = (a.get(i), b.get(j));
        if sa == Some(&Segment::Any) {
            push(i + 1, j);
            if j < b.len() {
                push(i, j + 1);
            }
        }
        if sb == Some(&Segment::Any) {
            push(i, j + 1);
            if i < a.len() {
                push(i + 1, j);
            }
        }
        if let (Some(x), Some(y)) = (sa, sb)
            && x != &Segment::Any
            && y != &Segment::Any
            && segment_intersects(x, y)
        {
            push(i + 1, j + 1);
        }
    })
}

fn segment_intersects(a: &Segment, b: &Segment) -> bool {
    match (a, b) {
        (Segment::Literal(x), Segment::Literal(y)) => x == y,
        (Segment::Literal(x), Segment::Wild(w)) | (Segment::Wild(w), Segment::Literal(x)) => {
            let literal: Vec<Token> = x.chars().map(Token::Char).collect();
            tokens_intersect(&literal, w)
        }
        (Segment::Wild(x), Segment::Wild(y)) => tokens_intersect(x, y),
        _ => true,
    }
}

/// Whether two token sequences match a common string.
fn tokens_intersect(a: &[Token], b: &[Token]) -> bool {
    product_search(a.len(), b.len(), |i, j, push| {
        let (ta, tb) = (a.get(i).copied(), b.get(j).copied());
        if ta == Some(Token::Star) {
            push(i + 1, j);
        }
        if tb == Some(Token::Star) {
            push(i, j + 1);
        }
        let (Some(x), Some(y)) = (ta, tb) else { return };
        if let (Token::Char(p), Token::Char(q)) = (x, y)
            && p != q
        {
            return;
        }
        // Both consume one character; a star stays where it is.
        let next_i = if x == Token::Star { i } else { i + 1 };
        let next_j = if y == Token::Star { j } else { j + 1 };
        if (next_i, next_j) != (i, j) {
            push(next_i, next_j);
        }
    })
}

/// Depth-first search over position pairs `(i, j)` from `(0, 0)` to
/// `(len_a, len_b)`; `step` pushes the successors of a pair.
fn product_search(
    len_a: usize,
    len_b: usize,
    step: impl Fn(usize, usize, &mut dyn FnMut(usize, usize)),
) -> bool {
    let width = len_b + 1;
    let mut seen = vec![false; (len_a + 1) * width];
    let mut stack = vec![(0, 0)];
    seen[0] = true;
    while let Some((i, j)) = stack.pop() {
        if i == len_a && j == len_b {
            return true;
        }
        step(i, j, &mut |x, y| {
            if x <= len_a && y <= len_b && !seen[x * width + y] {
                seen[x * width + y] = true;
                stack.push((x, y));
            }
        });
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &str, b: &str) -> bool {
        let (a, b) = (check_pattern(a).unwrap(), check_pattern(b).unwrap());
        let (x, y) = (CompiledPattern::from_text(&a), CompiledPattern::from_text(&b));
        let forward = x.overlaps(&y);
        assert_eq!(forward, y.overlaps(&x), "overlap must be symmetric: {a} {b}");
        forward
    }

    #[test]
    fn checks_and_normalizes_entries() {
        assert_eq!(check_pattern("./src/a.rs").as_deref(), Ok("src/a.rs"));
        assert_eq!(check_pattern("src/").as_deref(), Ok("src"));
        assert_eq!(check_pattern("a/./b").as_deref(), Ok("a/b"));
        assert!(matches!(check_pattern("/etc/passwd"), Err(PatternError::Absolute(_))));
        assert!(matches!(check_pattern("~/x"), Err(PatternError::Absolute(_))));
        assert!(matches!(check_pattern("C:/x"), Err(PatternError::Absolute(_))));
        assert!(matches!(check_pattern("src/../x"), Err(PatternError::ParentDir(_))));
        assert!(matches!(check_pattern("{..,a}/x"), Err(PatternError::ParentDir(_))));
        assert!(matches!(check_pattern("a\\b"), Err(PatternError::Backslash(_))));
        // Segments are checked in order, shape before backslash.
        assert!(matches!(check_pattern("a\\b/../c"), Err(PatternError::Backslash(_))));
        assert!(matches!(check_pattern("../a\\b"), Err(PatternError::ParentDir(_))));
        assert!(matches!(check_pattern("a//b\\"), Err(PatternError::EmptySegment(_))));
        assert!(matches!(check_pattern("x/..\\"), Err(PatternError::Backslash(_))));
        assert_eq!(check_pattern("./a/./b/").map(|p| p.into_owned()), Ok("a/b".to_owned()));
        assert!(matches!(check_pattern("a//b"), Err(PatternError::EmptySegment(_))));
        for bad in ["src/[ab", "src/{a,b", "a**/x", "x}", "a]"] {
            assert!(matches!(check_pattern(bad), Err(PatternError::Glob { .. })), "{bad}");
        }
        assert_eq!(check_pattern("src/{a,b}/*.rs").as_deref(), Ok("src/{a,b}/*.rs"));
    }

    #[test]
    fn literal_paths_overlap_when_equal_or_nested() {
        assert!(overlap("src/a.rs", "src/a.rs"));
        assert!(overlap("src", "src/a.rs"));
        assert!(!overlap("src/a.rs", "src/b.rs"));
        assert!(!overlap("src/a", "src/ab"));
        assert!(!overlap("src/a.rs", "src/a.rs/x"), "a file name covers nothing below it");
    }

    #[test]
    fn globs_overlap_when_some_path_matches_both() {
        assert!(overlap("src/**", "src/a.rs"));
        assert!(overlap("src/**/*.rs", "src/x/y/z.rs"));
        assert!(overlap("**/*.rs", "crates/a/src/lib.rs"));
        assert!(!overlap("src/**/*.rs", "src/x/y/z.md"));
        assert!(overlap("src/*.rs", "src/a.*"));
        assert!(!overlap("src/*.rs", "src/*.md"));
        assert!(!overlap("src/*", "src/a/b.rs"));
        assert!(overlap("src/*", "src/a"));
        assert!(overlap("src/**/*.rs", "src"));
        assert!(!overlap("**/*.rs", "docs/guide.md"));
        assert!(overlap("**/*.rs", "Makefile"), "an extension-less literal may be a directory");
        assert!(!overlap("docs/*", "src/a.rs"));
        assert!(overlap("src/{a,b}.rs", "src/b.rs"));
        assert!(!overlap("src/{a,b}.rs", "src/c.rs"));
        assert!(overlap("src/a?.rs", "src/ab.rs"));
        assert!(!overlap("src/a?.rs", "src/abc.rs"));
        assert!(overlap("src/[ab].rs", "src/a.rs"));
        assert!(overlap("**", "anything/at/all"));
        assert!(overlap("**", "x.md"));
        assert!(overlap("a/**/b", "a/b"));
        assert!(!overlap("a/**/b/c.rs", "a/x/c.rs"));
        assert!(overlap("a/**/b/c", "a/x/c"), "a/x/c may be a directory holding b/c");
    }

    #[test]
    fn prefixes_stop_at_the_first_glob() {
        let prefix = |p: &str| CompiledPattern::from_text(p).prefix().to_owned();
        assert_eq!(prefix("src/a.rs"), "src/a.rs");
        assert_eq!(prefix("src/**/x.rs"), "src");
        assert_eq!(prefix("src/{a,b}/x"), "src");
        assert_eq!(prefix("src/{a/x,a/y}"), "src/a");
        assert_eq!(prefix("*.md"), "");
    }
}
