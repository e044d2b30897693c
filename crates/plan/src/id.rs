//! Task IDs: syntax and the natural order used to break ties.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest task ID orca accepts.
pub const MAX_ID_LEN: usize = 64;

/// A task's ID, e.g. `T07` or `T12.3`: an ASCII letter, then ASCII letters,
/// digits, `_`, `-` or `.` (no `..`, no trailing `.`), at most
/// [`MAX_ID_LEN`] characters. IDs are case-sensitive. Cloning is cheap
/// (shared text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(Arc<str>);

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Why a string is not a task ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty.
    #[error("a task ID cannot be empty")]
    Empty,
    /// Longer than [`MAX_ID_LEN`].
    #[error("a task ID has at most {MAX_ID_LEN} characters")]
    TooLong,
    /// Does not start with an ASCII letter.
    #[error("a task ID starts with a letter (like `T01`)")]
    BadStart,
    /// Contains a character outside `A-Z a-z 0-9 _ - .`.
    #[error("`{0}` is not allowed in a task ID (use letters, digits, `_`, `-`, `.`)")]
    BadChar(char),
    /// Contains `..` or ends with `.`.
    #[error("a task ID cannot end with `.` or contain `..`")]
    BadDot,
}

impl TaskId {
    /// Checks `text` against the ID syntax.
    pub fn parse(text: &str) -> Result<TaskId, IdError> {
        let first = text.chars().next().ok_or(IdError::Empty)?;
        if text.len() > MAX_ID_LEN {
            return Err(IdError::TooLong);
        }
        if !first.is_ascii_alphabetic() {
            return Err(IdError::BadStart);
        }
        // Bytes, not characters: every allowed character is ASCII, and the
        // first byte that is not allowed starts a character (all before it
        // are ASCII).
        let bytes = text.as_bytes();
        if let Some(bad) = bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        {
            return Err(IdError::BadChar(text[bad..].chars().next().unwrap_or('\u{fffd}')));
        }
        if bytes.last() == Some(&b'.') || bytes.windows(2).any(|pair| pair == b"..") {
            return Err(IdError::BadDot);
        }
        Ok(TaskId(text.into()))
    }

    /// Where the shared text lives: equal addresses mean equal IDs (not
    /// the other way round).
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<u8>() as usize
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Natural order: digit runs compare as numbers, so `T2 < T10`; equal
    /// numbers with different zero padding fall back to plain byte order.
    pub fn natural_cmp(&self, other: &TaskId) -> Ordering {
        natural_cmp(&self.0, &other.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TaskId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TaskId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Compares strings with digit runs as numbers.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let run_x = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let run_y = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let significant = |s: &'_ [u8]| {
                    let zeros = s.iter().take_while(|&&c| c == b'0').count();
                    s.len() - zeros
                };
                let (len_x, len_y) = (significant(&x[..run_x]), significant(&y[..run_y]));
                let nx = &x[run_x - len_x..run_x];
                let ny = &y[run_y - len_y..run_y];
                let order = len_x.cmp(&len_y).then_with(|| nx.cmp(ny));
                if order != Ordering::Equal {
                    return order;
                }
                x = &x[run_x..];
                y = &y[run_y..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_documented_syntax() {
        for good in ["T01", "T12.3", "api-setup", "a_b", "X"] {
            assert!(TaskId::parse(good).is_ok(), "{good}");
        }
        assert_eq!(TaskId::parse(""), Err(IdError::Empty));
        assert_eq!(TaskId::parse("1"), Err(IdError::BadStart));
        assert_eq!(TaskId::parse("T 1"), Err(IdError::BadChar(' ')));
        assert_eq!(TaskId::parse("`T1`"), Err(IdError::BadStart));
        assert_eq!(TaskId::parse("T1."), Err(IdError::BadDot));
        assert_eq!(TaskId::parse(&"T".repeat(65)), Err(IdError::TooLong));
        assert_eq!(TaskId::parse("Té1"), Err(IdError::BadChar('é')));
        assert_eq!(TaskId::parse("T1..2"), Err(IdError::BadDot));
        assert_eq!(TaskId::parse("T1.é."), Err(IdError::BadChar('é')), "the character first");
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        let mut ids = vec!["T10", "T2", "T1.10", "T1.2", "T02", "A9"];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(ids, ["A9", "T1.2", "T1.10", "T02", "T2", "T10"]);
    }
}
