//! Codex's `apply_patch` text for the file shorthands.

/// Lines of `text`, each with `prefix` (a trailing newline ends the last line).
fn prefixed(prefix: char, text: &str) -> String {
    text.lines().map(|line| format!("{prefix}{line}\n")).collect()
}

/// A patch that creates `path` holding `content`.
pub(super) fn add_file(path: &str, content: &str) -> String {
    format!("*** Begin Patch\n*** Add File: {path}\n{}*** End Patch\n", prefixed('+', content))
}

/// A patch that replaces the lines `old` with `new` in `path`.
pub(super) fn update_file(path: &str, old: &str, new: &str) -> String {
    format!(
        "*** Begin Patch\n*** Update File: {path}\n@@\n{}{}*** End Patch\n",
        prefixed('-', old),
        prefixed('+', new)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_update_patches() {
        assert_eq!(
            add_file("a/b.txt", "one\ntwo\n"),
            "*** Begin Patch\n*** Add File: a/b.txt\n+one\n+two\n*** End Patch\n"
        );
        assert_eq!(
            update_file("b.txt", "two\n", "2\n"),
            "*** Begin Patch\n*** Update File: b.txt\n@@\n-two\n+2\n*** End Patch\n"
        );
    }
}
