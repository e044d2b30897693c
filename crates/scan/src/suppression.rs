//! `orca:allow <rule> <reason>` comments.

use memchr::memmem;

/// The marker that starts a suppression.
pub const ALLOW_MARKER: &str = "orca:allow";

/// Comment openers a suppression may follow on its line.
const COMMENT_OPENERS: &[&str] = &["#", "//", "--", "/*", "<!--", ";", "%"];

/// A parsed `orca:allow` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowComment {
    /// Rule ids (comma-separated in the comment); `*` allows every rule.
    pub(crate) rules: Vec<String>,
    /// `None` when the comment gives no reason.
    pub(crate) reason: Option<String>,
}

impl AllowComment {
    pub(crate) fn covers(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r == "*" || r == rule)
    }
}

/// The `orca:allow` comment on `line`, if any: the marker must follow a
/// comment opener (`#`, `//`, `--`, `/*`, ...) on the same line.
pub(crate) fn parse_allow(line: &[u8]) -> Option<AllowComment> {
    let at = memmem::find(line, ALLOW_MARKER.as_bytes())?;
    let before = String::from_utf8_lossy(&line[..at]);
    if !COMMENT_OPENERS.iter().any(|opener| before.contains(opener)) {
        return None;
    }
    let rest = String::from_utf8_lossy(&line[at + ALLOW_MARKER.len()..]);
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim();
    // Closing comment syntax is not part of the reason.
    let rest = rest.strip_suffix("-->").or_else(|| rest.strip_suffix("*/")).unwrap_or(rest).trim();
    let (rules, reason) = match rest.split_once(char::is_whitespace) {
        Some((rules, reason)) => (rules, reason.trim()),
        None => (rest, ""),
    };
    if rules.is_empty() {
        return None;
    }
    Some(AllowComment {
        rules: rules.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect(),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::{AllowComment, parse_allow};

    fn allow(rules: &[&str], reason: Option<&str>) -> Option<AllowComment> {
        Some(AllowComment {
            rules: rules.iter().map(|r| r.to_string()).collect(),
            reason: reason.map(str::to_string),
        })
    }

    #[test]
    fn every_comment_syntax() {
        assert_eq!(
            parse_allow(b"x = 1  # orca:allow jwt test fixture"),
            allow(&["jwt"], Some("test fixture"))
        );
        assert_eq!(
            parse_allow(b"let x = 1; // orca:allow a,b why not"),
            allow(&["a", "b"], Some("why not"))
        );
        assert_eq!(
            parse_allow(b"SELECT 1 -- orca:allow sql ok here"),
            allow(&["sql"], Some("ok here"))
        );
        assert_eq!(parse_allow(b"f(); /* orca:allow r reason */"), allow(&["r"], Some("reason")));
        assert_eq!(
            parse_allow(b"<a/> <!-- orca:allow r html reason -->"),
            allow(&["r"], Some("html reason"))
        );
        assert_eq!(parse_allow(b"x # orca:allow r"), allow(&["r"], None));
        assert_eq!(parse_allow(b"x # orca:allow r   "), allow(&["r"], None));
    }

    #[test]
    fn not_a_suppression() {
        assert_eq!(parse_allow(b"x = \"orca:allow r reason\""), None);
        assert_eq!(parse_allow(b"# orca:allowed r reason"), None);
        assert_eq!(parse_allow(b"# orca:allow"), None);
        assert_eq!(parse_allow(b"nothing here"), None);
    }
}
