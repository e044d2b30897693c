//! Which language a file is in, for the dangerous-pattern rules.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The languages orca's dangerous-pattern rules know. JavaScript and
/// TypeScript share one: the shapes the rules look for are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    Go,
    Shell,
}

impl Language {
    /// The language of a file, from its extension, or for an extensionless
    /// script from its first line (`#!/bin/sh`, `#!/usr/bin/env python3`).
    /// `first_line` is `None` when the file's first line is not known (a
    /// diff that did not touch it).
    pub fn detect(path: &str, first_line: Option<&[u8]>) -> Option<Language> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some((_, ext)) = name.rsplit_once('.') {
            let by_ext = match ext.to_ascii_lowercase().as_str() {
                "rs" => Some(Language::Rust),
                "py" | "pyw" | "pyi" => Some(Language::Python),
                "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => {
                    Some(Language::JavaScript)
                }
                "go" => Some(Language::Go),
                "sh" | "bash" | "zsh" | "ksh" | "dash" => Some(Language::Shell),
                _ => None,
            };
            if by_ext.is_some() {
                return by_ext;
            }
        }
        let shebang = first_line?.strip_prefix(b"#!")?;
        let shebang = String::from_utf8_lossy(shebang);
        let mut words = shebang.split_whitespace();
        let mut program = words.next()?.rsplit('/').next()?;
        if program == "env" {
            program = words.find(|w| !w.starts_with('-'))?;
        }
        match program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.') {
            "sh" | "bash" | "zsh" | "ksh" | "dash" => Some(Language::Shell),
            "python" => Some(Language::Python),
            "node" | "deno" | "bun" => Some(Language::JavaScript),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Go => "go",
            Language::Shell => "shell",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a language name a rule may use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?} (expected rust, python, javascript, typescript, go or shell)")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "rust" => Ok(Language::Rust),
            "python" => Ok(Language::Python),
            "javascript" | "typescript" | "js" | "ts" => Ok(Language::JavaScript),
            "go" => Ok(Language::Go),
            "shell" | "sh" | "bash" => Ok(Language::Shell),
            _ => Err(UnknownLanguage(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Language;

    #[test]
    fn detects_by_extension_then_shebang() {
        assert_eq!(Language::detect("src/main.rs", None), Some(Language::Rust));
        assert_eq!(Language::detect("a/b.TSX", None), Some(Language::JavaScript));
        assert_eq!(Language::detect("x.go", None), Some(Language::Go));
        assert_eq!(Language::detect("deploy.sh", None), Some(Language::Shell));
        assert_eq!(Language::detect("README.md", None), None);
        assert_eq!(Language::detect("bin/run", Some(b"#!/bin/bash -e")), Some(Language::Shell));
        assert_eq!(
            Language::detect("tool", Some(b"#!/usr/bin/env -S python3.11")),
            Some(Language::Python)
        );
        assert_eq!(Language::detect("tool", Some(b"#!/usr/bin/perl")), None);
        assert_eq!(Language::detect("tool", None), None);
    }
}
