//! The analysis as agents read it (`analysis.md`), within a token budget,
//! and a few lines for the terminal. Tokens are estimated as bytes / 4
//! (rounded up), close to what LLM tokenizers make of code and English.

use std::fmt::Write as _;

use crate::{Analysis, CommandKind, FileEntry};

/// Symbols listed per file at most.
const SYMBOLS_PER_FILE: usize = 12;

/// Estimated tokens of `text`.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

pub(crate) fn render(analysis: &Analysis, budget_tokens: usize) -> String {
    let mut out = String::from("# Repository map\n\n");
    let _ = writeln!(out, "{}", languages_line(analysis));
    for kind in [CommandKind::Build, CommandKind::Test, CommandKind::Format, CommandKind::Lint] {
        let commands: Vec<String> = analysis
            .commands_of(kind)
            .map(|c| {
                if c.dir.is_empty() {
                    format!("`{}`", c.argv.join(" "))
                } else {
                    format!("`{}` (in {})", c.argv.join(" "), c.dir)
                }
            })
            .collect();
        if !commands.is_empty() {
            let _ = writeln!(out, "- {}: {}", kind_name(kind), commands.join(", "));
        }
    }
    if !analysis.instructions.is_empty() {
        let _ = writeln!(out, "- agent instructions: {}", analysis.instructions.join(", "));
    }
    out.push_str("\n## The most central files, most central first\n");
    let by_path: std::collections::HashMap<&str, &FileEntry> =
        analysis.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut shown = 0;
    for path in &analysis.central {
        let Some(file) = by_path.get(path.as_str()) else { continue };
        let entry = file_entry(file);
        if estimate_tokens(&out) + estimate_tokens(&entry) + 16 > budget_tokens {
            break;
        }
        out.push_str(&entry);
        shown += 1;
    }
    let rest = analysis.central.len() - shown;
    if rest > 0 {
        let _ = writeln!(out, "\n({rest} more file(s) in analysis.json)");
    }
    out
}

fn file_entry(file: &FileEntry) -> String {
    let mut entry = format!("\n### {} ({}, {} lines)\n", file.path, file.language, file.code);
    if !file.symbols.is_empty() {
        let names: Vec<String> = file
            .symbols
            .iter()
            .take(SYMBOLS_PER_FILE)
            .map(|s| format!("{} {}", s.kind, s.name))
            .collect();
        let more = file.symbols.len().saturating_sub(SYMBOLS_PER_FILE);
        let _ = write!(entry, "{}", names.join(", "));
        if more > 0 {
            let _ = write!(entry, ", … {more} more");
        }
        entry.push('\n');
    }
    entry
}

fn kind_name(kind: CommandKind) -> &'static str {
    match kind {
        CommandKind::Build => "build",
        CommandKind::Test => "test",
        CommandKind::Format => "format",
        CommandKind::Lint => "lint",
    }
}

fn languages_line(analysis: &Analysis) -> String {
    let total = analysis.code_lines().max(1);
    let parts: Vec<String> = analysis
        .languages
        .iter()
        .filter(|l| l.code > 0)
        .take(6)
        .map(|l| {
            format!("{} {} lines ({}%, {} files)", l.name, l.code, l.code * 100 / total, l.files)
        })
        .collect();
    format!(
        "{} files, {} lines of code: {}",
        analysis.files.len(),
        analysis.code_lines(),
        parts.join(", ")
    )
}

pub(crate) fn summary(analysis: &Analysis) -> String {
    let mut lines = vec![languages_line(analysis)];
    let central: Vec<&str> = analysis.central.iter().take(5).map(String::as_str).collect();
    if !central.is_empty() {
        lines.push(format!("most central: {}", central.join(", ")));
    }
    let tests: Vec<String> =
        analysis.commands_of(CommandKind::Test).map(|c| c.argv.join(" ")).collect();
    if !tests.is_empty() {
        lines.push(format!("tests: {}", tests.join("; ")));
    }
    if !analysis.instructions.is_empty() {
        lines.push(format!("agent instructions: {}", analysis.instructions.join(", ")));
    }
    lines.join("\n")
}
