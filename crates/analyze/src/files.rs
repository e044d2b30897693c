//! The files as git sees them, with their language and line counts
//! (tokei, which walks with `.gitignore` respected), and the agent
//! instruction files.

use std::collections::BTreeMap;
use std::path::Path;

use tokei::{Config, Languages};

use crate::{FileEntry, LanguageTotal};

/// One file tokei counted.
#[derive(Debug, Clone)]
pub(crate) struct ListedFile {
    /// Repository-relative, `/`-separated.
    pub path: String,
    pub language: String,
    pub code: u64,
    pub comments: u64,
    pub blanks: u64,
}

/// Never part of the map: git's own directory and orca's state.
const EXCLUDED: [&str; 2] = [".git", ".orca"];

/// Every file with a known language, sorted by path.
pub(crate) fn list(root: &Path) -> Vec<ListedFile> {
    let mut languages = Languages::new();
    let config = Config { hidden: Some(true), ..Config::default() };
    languages.get_statistics(&[root], &EXCLUDED, &config);
    let mut files = Vec::new();
    for (language, stats) in languages.iter() {
        for report in &stats.reports {
            let Ok(relative) = report.name.strip_prefix(root) else { continue };
            let path = relative.to_string_lossy().replace('\\', "/");
            let summary = report.stats.summarise();
            files.push(ListedFile {
                path,
                language: language.name().to_owned(),
                code: summary.code as u64,
                comments: summary.comments as u64,
                blanks: summary.blanks as u64,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Totals per language, most code first.
pub(crate) fn totals(files: &[FileEntry]) -> Vec<LanguageTotal> {
    let mut by_language: BTreeMap<&str, LanguageTotal> = BTreeMap::new();
    for file in files {
        let total = by_language.entry(&file.language).or_insert_with(|| LanguageTotal {
            name: file.language.clone(),
            files: 0,
            code: 0,
            comments: 0,
            blanks: 0,
        });
        total.files += 1;
        total.code += file.code;
        total.comments += file.comments;
        total.blanks += file.blanks;
    }
    let mut totals: Vec<LanguageTotal> = by_language.into_values().collect();
    totals.sort_by(|a, b| b.code.cmp(&a.code).then_with(|| a.name.cmp(&b.name)));
    totals
}

/// Files that tell agents how to work in this repository.
const INSTRUCTION_FILES: [&str; 9] = [
    "CLAUDE.md",
    "AGENTS.md",
    "GEMINI.md",
    ".cursorrules",
    ".windsurfrules",
    ".clinerules",
    ".github/copilot-instructions.md",
    "CONVENTIONS.md",
    "CONTRIBUTING.md",
];

/// Directories of such files.
const INSTRUCTION_DIRS: [&str; 3] = [".cursor/rules", ".claude/agents", ".claude/commands"];

/// The agent instruction files present, sorted.
pub(crate) fn instruction_files(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = INSTRUCTION_FILES
        .iter()
        .filter(|f| root.join(f).is_file())
        .map(|f| (*f).to_owned())
        .collect();
    for dir in INSTRUCTION_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut inside: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .collect();
        inside.sort();
        found.extend(inside);
    }
    found.sort();
    found
}
