//! Short excerpts of long text (agent messages, verify output) for events,
//! prompts and the store.

/// `text` trimmed and cut to at most `max` bytes (at a character
/// boundary), with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// An error and its causes as one line (`outer: cause: root cause`), for
/// the reasons an attempt or a stage records. A cause already quoted by
/// the message before it is not repeated.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_cuts_at_a_character_boundary() {
        assert_eq!(shorten("  short  ", 10), "short");
        assert_eq!(shorten("héllo wörld", 2), "h…");
        assert_eq!(shorten("abcdef", 3), "abc…");
    }

    #[test]
    fn an_error_chain_reads_as_one_line_without_repeats() {
        let inner = std::io::Error::other("disk full");
        let outer = crate::error::EngineError::Io { path: "x/y".into(), source: inner };
        assert_eq!(error_chain(&outer), "cannot write x/y: disk full");
    }
}
