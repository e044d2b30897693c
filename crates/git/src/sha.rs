//! Object names.

use std::fmt;
use std::str::FromStr;

/// A full git object name (commit or tree): 40 hex digits, or 64 in a
/// SHA-256 repository. Always lower case, never abbreviated.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha(String);

/// Text that is not a full object name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a full git object name (40 or 64 hex digits)")]
pub struct InvalidSha(pub String);

impl Sha {
    /// Parses a full object name, as stored by a caller earlier.
    pub fn parse(text: &str) -> Result<Sha, InvalidSha> {
        let ok = matches!(text.len(), 40 | 64)
            && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok { Ok(Sha(text.to_string())) } else { Err(InvalidSha(text.to_string())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, for messages meant for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl FromStr for Sha {
    type Err = InvalidSha;
    fn from_str(text: &str) -> Result<Sha, InvalidSha> {
        Sha::parse(text)
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha({})", self.short())
    }
}

impl AsRef<str> for Sha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Sha {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sha1_and_sha256_names_only() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(Sha::parse(sha1).unwrap().as_str(), sha1);
        assert_eq!(Sha::parse(sha1).unwrap().short(), "0123456789ab");
        assert!(Sha::parse(&"a".repeat(64)).is_ok());
        assert!(Sha::parse(&sha1[..39]).is_err());
        assert!(Sha::parse(&sha1.to_uppercase()).is_err());
        assert!(Sha::parse("HEAD").is_err());
        assert!("x".parse::<Sha>().unwrap_err().to_string().contains("\"x\""));
    }
}
