//! Turning the bytes of a plan file into text, with the limits that keep a
//! wrong file from taking orca down.

/// The largest plan or import file orca reads: 32 MiB. A 100 000-task plan
/// in the usual style is well under this; anything bigger is almost
/// certainly not a plan. Callers should read at most this many bytes plus
/// one, so a huge file is refused without being read in full.
pub const MAX_SOURCE_BYTES: usize = 32 * 1024 * 1024;

/// Why bytes are not usable as a plan's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Over [`MAX_SOURCE_BYTES`].
    #[error("the file is larger than the {limit_mib} MiB limit for plans (it has at least {size} bytes)", limit_mib = MAX_SOURCE_BYTES / (1024 * 1024))]
    TooLarge {
        /// Bytes seen (at least).
        size: usize,
    },
    /// Contains a NUL byte: a binary file, not text.
    #[error("the file is binary, not text (NUL byte at offset {offset})")]
    Binary {
        /// Offset of the first NUL byte.
        offset: usize,
    },
    /// Not valid UTF-8.
    #[error("the file is not valid UTF-8 (invalid byte at line {line}, column {column})")]
    InvalidUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based column (in characters) of the first invalid byte.
        column: usize,
    },
}

/// Checks size, binary content and encoding, and returns the text. A leading
/// UTF-8 byte-order mark is kept so byte offsets match the file; the parsers
/// skip it.
pub fn decode(bytes: &[u8]) -> Result<&str, SourceError> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(SourceError::TooLarge { size: bytes.len() });
    }
    // `contains` on bytes searches a word at a time; the position is only
    // wanted when there is one.
    if bytes.contains(&0) {
        let offset = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(SourceError::Binary { offset });
    }
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // `valid` is valid UTF-8 by construction.
        let column = std::str::from_utf8(&valid[line_start..]).map_or(0, |s| s.chars().count()) + 1;
        SourceError::InvalidUtf8 { line, column }
    })
}

/// Length of a leading UTF-8 byte-order mark, if any.
pub(crate) fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reports_binary_encoding_and_size_problems() {
        assert_eq!(decode(b"# Plan: x\n"), Ok("# Plan: x\n"));
        assert_eq!(decode(b"ab\0cd"), Err(SourceError::Binary { offset: 2 }));
        assert_eq!(
            decode(b"line one\nab\xffcd"),
            Err(SourceError::InvalidUtf8 { line: 2, column: 3 })
        );
        let big = vec![b'a'; MAX_SOURCE_BYTES + 1];
        assert!(matches!(decode(&big), Err(SourceError::TooLarge { .. })));
    }
}
