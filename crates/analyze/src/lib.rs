//! The analyze stage's map of a repository: what the planner reads before
//! it plans (`analysis.md`, within a token budget, the most central files
//! first) and what the later stages read (`analysis.json`: the test and
//! cleanup gates take the build, test, format and lint commands from it).
//!
//! - Files as git sees them (`.gitignore` respected; `.git/` and `.orca/`
//!   never), languages and line counts (tokei).
//! - Symbols (definitions) and references per file, and imports, for Rust,
//!   Python, JavaScript, TypeScript and Go (tree-sitter).
//! - A file-level graph: an edge from each file to the files defining the
//!   names it uses, and to the files it imports; the files ranked by
//!   PageRank over it, the way Aider's repo map ranks them.
//! - The commands the repository builds, tests, formats and lints with
//!   (Cargo, npm scripts, Python/pytest/ruff, Go, Makefile), as argv.
//! - The agent instruction files present (CLAUDE.md, AGENTS.md, ...).

mod commands;
mod files;
mod graph;
mod markdown;
mod syntax;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use commands::{Command, CommandKind};
pub use markdown::estimate_tokens;

/// The build, test, format and lint commands of the repository at
/// `root` (its top and one directory down), without the rest of the
/// analysis: what the gates run when no analysis was stored.
pub fn detect_commands(root: &Path) -> Vec<Command> {
    commands::detect(root)
}

/// What [`analyze`] looks at.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Files larger than this are counted but not parsed for symbols
    /// (generated or vendored code says little about the design).
    pub max_parse_bytes: u64,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions { max_parse_bytes: 512 * 1024 }
    }
}

/// Why a repository could not be analyzed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{0} is not a directory")]
    NotADirectory(std::path::PathBuf),
}

/// The map of one repository. Stable: it is written as `analysis.json`
/// and read back by later stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Every file with a known language, by path (repository-relative, `/`).
    pub files: Vec<FileEntry>,
    /// Totals per language, most code first.
    pub languages: Vec<LanguageTotal>,
    /// The file graph: who uses whom.
    pub edges: Vec<Edge>,
    /// Paths in rank order, most central first.
    pub central: Vec<String>,
    /// How the repository is built, tested, formatted and linted.
    pub commands: Vec<Command>,
    /// Agent instruction files found (CLAUDE.md, AGENTS.md, .cursor/rules, ...).
    pub instructions: Vec<String>,
}

/// One file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub language: String,
    pub code: u64,
    pub comments: u64,
    pub blanks: u64,
    /// Definitions, in source order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<Symbol>,
    /// What it imports, as written (module paths, package names, files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    /// Its PageRank over the file graph (all ranks sum to 1).
    pub rank: f64,
}

/// A definition in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    /// function, method, class, interface, module, macro, constant, type.
    pub kind: String,
    /// 1-based.
    pub line: u32,
}

/// Lines of one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageTotal {
    pub name: String,
    pub files: u64,
    pub code: u64,
    pub comments: u64,
    pub blanks: u64,
}

/// `from` uses `to`: names defined there, or an import of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub weight: f64,
}

impl Analysis {
    /// Total lines of code.
    pub fn code_lines(&self) -> u64 {
        self.files.iter().map(|file| file.code).sum()
    }

    /// The commands of one kind.
    pub fn commands_of(&self, kind: CommandKind) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(move |command| command.kind == kind)
    }

    /// The text for agents, within `budget_tokens` (see [`estimate_tokens`]).
    pub fn to_markdown(&self, budget_tokens: usize) -> String {
        markdown::render(self, budget_tokens)
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        markdown::summary(self)
    }
}

/// Maps the repository whose top directory is `root`.
pub fn analyze(root: &Path, options: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    if !root.is_dir() {
        return Err(AnalyzeError::NotADirectory(root.to_owned()));
    }
    let listed = files::list(root);
    let parsed = syntax::parse_all(root, &listed, options.max_parse_bytes);
    let mut references = Vec::with_capacity(parsed.len());
    let mut entries: Vec<FileEntry> = listed
        .into_iter()
        .zip(parsed)
        .map(|(file, parsed)| {
            references.push(parsed.references);
            FileEntry {
                path: file.path,
                language: file.language,
                code: file.code,
                comments: file.comments,
                blanks: file.blanks,
                symbols: parsed.symbols,
                imports: parsed.imports,
                rank: 0.0,
            }
        })
        .collect();
    let (edges, ranks) = graph::rank(&entries, &references);
    for (entry, rank) in entries.iter_mut().zip(&ranks) {
        entry.rank = *rank;
    }
    // Only code orca parses takes part: a Markdown file or an agent
    // definition gets rank from the dangling spread alone, and would
    // otherwise crowd the code out of analysis.md. A repository with no
    // such code lists every file.
    let code = |entry: &&FileEntry| syntax::has_grammar(&entry.language);
    let ranked: Vec<&FileEntry> = if entries.iter().any(|entry| code(&entry)) {
        entries.iter().filter(code).collect()
    } else {
        entries.iter().collect()
    };
    let mut central: Vec<(f64, &str)> =
        ranked.iter().map(|entry| (entry.rank, entry.path.as_str())).collect();
    central.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let central = central.into_iter().map(|(_, path)| path.to_owned()).collect();
    Ok(Analysis {
        languages: files::totals(&entries),
        files: entries,
        edges,
        central,
        commands: commands::detect(root),
        instructions: files::instruction_files(root),
    })
}
