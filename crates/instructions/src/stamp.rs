//! How orca tells its own generated files from files the user changed,
//! in a way that survives a fresh clone: the last line of a generated file
//! carries a hash of everything above it. If the text no longer matches its
//! hash (or the line is gone), someone edited the file.

/// How the footer line is commented in a file's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentStyle {
    /// `<!-- ... -->`, for Markdown.
    Html,
    /// `# ...`, for TOML.
    Hash,
}

const TAG: &str = "orca:generated fnv1a64:";
const NOTE: &str =
    "edit freely: orca init then keeps your version (orca init --force regenerates it)";

/// Whether a file is still exactly as orca generated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// The text matches the hash in its footer.
    Generated,
    /// No footer, or the text changed since it was generated.
    Edited,
}

/// `body` (which should end with a newline) followed by the footer line.
pub fn stamp(body: &str, style: CommentStyle) -> String {
    let mut text = body.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let hash = fnv1a64(&normalize(&text));
    let footer = match style {
        CommentStyle::Html => format!("<!-- {TAG}{hash:016x}; {NOTE} -->"),
        CommentStyle::Hash => format!("# {TAG}{hash:016x}; {NOTE}"),
    };
    text.push_str(&footer);
    text.push('\n');
    text
}

/// Reads the footer of `text` and checks the text above it against its hash.
/// Line endings do not count, so a checkout with CRLF line endings is still
/// recognised as generated.
pub fn provenance(text: &str) -> Provenance {
    let text = normalize(text);
    let Some(without_newline) = text.strip_suffix('\n') else { return Provenance::Edited };
    let footer_start = without_newline.rfind('\n').map_or(0, |newline| newline + 1);
    let footer = &without_newline[footer_start..];
    let Some(after_tag) = footer.split_once(TAG).map(|(_, rest)| rest) else {
        return Provenance::Edited;
    };
    let digits: String = after_tag.chars().take(16).collect();
    match u64::from_str_radix(&digits, 16) {
        Ok(hash) if digits.len() == 16 && hash == fnv1a64(&text[..footer_start]) => {
            Provenance::Generated
        }
        _ => Provenance::Edited,
    }
}

/// Whether two texts are the same apart from CRLF versus LF line endings.
pub fn same_text(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// FNV-1a, 64 bit: stable across platforms and versions, which is all an
/// edit check needs (it guards against accidents, not attackers).
fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_file_is_generated_until_edited() {
        for style in [CommentStyle::Html, CommentStyle::Hash] {
            let text = stamp("---\nname: x\n---\nbody\n", style);
            assert_eq!(provenance(&text), Provenance::Generated, "{text}");
            assert_eq!(provenance(&text.replace("body", "bdoy")), Provenance::Edited);
            assert_eq!(provenance(&format!("{text}more\n")), Provenance::Edited);
            assert_eq!(provenance(&format!("mine\n{text}")), Provenance::Edited);
            assert_eq!(provenance(text.trim_end()), Provenance::Edited);
        }
    }

    #[test]
    fn crlf_checkouts_still_count_as_generated() {
        let text = stamp("a\nb\n", CommentStyle::Html);
        assert_eq!(provenance(&text.replace('\n', "\r\n")), Provenance::Generated);
        assert!(same_text(&text, &text.replace('\n', "\r\n")));
    }

    #[test]
    fn files_without_a_footer_are_the_users() {
        assert_eq!(provenance("hand written\n"), Provenance::Edited);
        assert_eq!(provenance(""), Provenance::Edited);
        assert_eq!(provenance("<!-- orca:generated fnv1a64:zz -->\n"), Provenance::Edited);
    }

    #[test]
    fn fnv_matches_the_reference_values() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
    }
}
