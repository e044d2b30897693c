//! Unused code in the files a run changed: the compiler's own unused
//! warnings for Rust (`cargo check`: proven), and vulture for Python when
//! it is installed (its confidence is a guess unless 100%).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// One unused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unused {
    pub file: String,
    pub line: u64,
    /// What is unused, in the tool's words.
    pub what: String,
    /// `cargo check` or `vulture`.
    pub tool: String,
    /// Whether the tool proves it (the compiler does; vulture only at 100%).
    pub proven: bool,
}

/// The lints of rustc that prove an item unused.
const RUST_UNUSED: [&str; 6] = [
    "dead_code",
    "unused_imports",
    "unused_variables",
    "unused_mut",
    "unused_macros",
    "unused_assignments",
];

/// The unused items in `changed` (repository-relative paths) of the
/// checkout at `root`.
pub fn find(root: &Path, changed: &BTreeSet<String>) -> Vec<Unused> {
    let mut found = Vec::new();
    if root.join("Cargo.toml").is_file() && changed.iter().any(|f| f.ends_with(".rs")) {
        found.extend(rust(root));
    }
    let python: Vec<&String> = changed.iter().filter(|f| f.ends_with(".py")).collect();
    if !python.is_empty() {
        found.extend(vulture(root, &python));
    }
    found.retain(|unused| changed.contains(&unused.file));
    found.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    found.dedup();
    found
}

/// `cargo check --message-format=json`: each unused-lint warning.
fn rust(root: &Path) -> Vec<Unused> {
    let Ok(out) = Command::new("cargo")
        .args(["check", "--all-targets", "--message-format=json", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout).lines().filter_map(rust_warning).collect()
}

fn rust_warning(line: &str) -> Option<Unused> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if event["reason"] != "compiler-message" {
        return None;
    }
    let message = &event["message"];
    let code = message["code"]["code"].as_str()?;
    if !RUST_UNUSED.contains(&code) {
        return None;
    }
    let span = message["spans"].as_array()?.iter().find(|span| span["is_primary"] == true)?;
    Some(Unused {
        file: span["file_name"].as_str()?.to_owned(),
        line: span["line_start"].as_u64()?,
        what: message["message"].as_str()?.to_owned(),
        tool: "cargo check".to_owned(),
        proven: true,
    })
}

/// `vulture FILES`: `path:line: unused function 'x' (60% confidence)`.
fn vulture(root: &Path, files: &[&String]) -> Vec<Unused> {
    let Ok(out) = Command::new("vulture")
        .args(files.iter().map(|f| f.as_str()))
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout).lines().filter_map(vulture_line).collect()
}

fn vulture_line(line: &str) -> Option<Unused> {
    let (file, rest) = line.split_once(':')?;
    let (number, what) = rest.split_once(':')?;
    let what = what.trim();
    let confidence =
        what.rsplit_once('(')?.1.trim_end_matches(')').trim_end_matches("% confidence");
    Some(Unused {
        file: file.trim_start_matches("./").to_owned(),
        line: number.trim().parse().ok()?,
        what: what.rsplit_once(" (").map_or(what, |(text, _)| text).to_owned(),
        tool: "vulture".to_owned(),
        proven: confidence.trim() == "100",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compilers_unused_warnings_are_read() {
        let line = r#"{"reason":"compiler-message","message":{"code":{"code":"dead_code"},"level":"warning","message":"function `helper` is never used","spans":[{"file_name":"src/lib.rs","line_start":7,"is_primary":true}]}}"#;
        assert_eq!(
            rust_warning(line),
            Some(Unused {
                file: "src/lib.rs".into(),
                line: 7,
                what: "function `helper` is never used".into(),
                tool: "cargo check".into(),
                proven: true
            })
        );
        let other = r#"{"reason":"compiler-message","message":{"code":{"code":"non_snake_case"},"message":"x","spans":[]}}"#;
        assert_eq!(rust_warning(other), None);
    }

    #[test]
    fn vultures_guesses_are_not_proof() {
        let guess =
            vulture_line("app/util.py:12: unused function 'helper' (60% confidence)").unwrap();
        assert_eq!((guess.file.as_str(), guess.line, guess.proven), ("app/util.py", 12, false));
        assert_eq!(guess.what, "unused function 'helper'");
        assert!(
            vulture_line("app/util.py:3: unused import 'os' (100% confidence)").unwrap().proven
        );
    }

    #[test]
    fn a_real_crate_s_unused_function_is_found_in_the_changed_file_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"deadish\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "mod extra;\npub fn used() {}\n").unwrap();
        std::fs::write(dir.path().join("src/extra.rs"), "fn helper() -> u32 {\n    1\n}\n")
            .unwrap();
        let changed: BTreeSet<String> = ["src/extra.rs".to_owned()].into();
        let found = find(dir.path(), &changed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_str(), found[0].line, found[0].proven),
            ("src/extra.rs", 1, true)
        );
        assert!(found[0].what.contains("helper"), "{found:?}");
        let elsewhere: BTreeSet<String> = ["src/lib.rs".to_owned()].into();
        assert!(find(dir.path(), &elsewhere).is_empty());
    }
}
