//! The name an agent session works under: the lease holder of the tasks it
//! claims, and its worker id in the store.

use std::fmt;

/// A validated session name (`--as NAME`, `ORCA_AS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SessionName(String);

/// Why a text is not a usable session name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the session name is empty")]
    Empty,
    #[error("the session name `{0}` is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error(
        "the session name `{name}` contains `{ch}`; use letters, digits and `-`, `_`, `.`, `@`, `:`, `+`"
    )]
    BadChar { name: String, ch: char },
}

const MAX_LEN: usize = 64;

impl SessionName {
    /// Checks `text`: 1 to 64 characters, letters, digits and `-_.@:+`
    /// (names show up in commands, logs and tables, so no spaces or quotes).
    pub fn new(text: &str) -> Result<SessionName, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text.chars().count() > MAX_LEN {
            return Err(NameError::TooLong(text.to_owned()));
        }
        if let Some(ch) = text
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '+')))
        {
            return Err(NameError::BadChar { name: text.to_owned(), ch });
        }
        Ok(SessionName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_words_without_spaces() {
        assert!(SessionName::new("alice-1").is_ok());
        assert!(SessionName::new("claude-code@4242").is_ok());
        assert_eq!(SessionName::new(""), Err(NameError::Empty));
        assert!(matches!(SessionName::new("a b"), Err(NameError::BadChar { ch: ' ', .. })));
        assert!(matches!(SessionName::new("x'y"), Err(NameError::BadChar { ch: '\'', .. })));
        assert!(matches!(SessionName::new(&"n".repeat(65)), Err(NameError::TooLong(_))));
    }
}
