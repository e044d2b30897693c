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

/// Directories named after a command before the rest are only counted.
const DIRS_NAMED: usize = 3;

/// The commands of `kind`, each once, with the directories it runs in
/// (`` for the top) in the order found: a workspace of many packages
/// repeats `cargo test` in each.
fn grouped(analysis: &Analysis, kind: CommandKind) -> Vec<(String, Vec<&str>)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for command in analysis.commands_of(kind) {
        let text = command.argv.join(" ");
        match groups.iter_mut().find(|(known, _)| *known == text) {
            Some((_, dirs)) => dirs.push(&command.dir),
            None => groups.push((text, vec![&command.dir])),
        }
    }
    groups
}

/// ` (in a, b)`, ` (at the top and in a)`, ` (in a, b, c and 9 more)`, or
/// nothing for the top alone.
fn where_run(dirs: &[&str]) -> String {
    let top = dirs.contains(&"");
    let named: Vec<&str> = dirs.iter().copied().filter(|dir| !dir.is_empty()).collect();
    if named.is_empty() {
        return String::new();
    }
    let mut list = named.iter().take(DIRS_NAMED).copied().collect::<Vec<_>>().join(", ");
    if named.len() > DIRS_NAMED {
        list.push_str(&format!(" and {} more", named.len() - DIRS_NAMED));
    }
    if top { format!(" (at the top and in {list})") } else { format!(" (in {list})") }
}

pub(crate) fn render(analysis: &Analysis, budget_tokens: usize) -> String {
    let mut out = String::from("# Repository map\n\n");
    let _ = writeln!(out, "{}", languages_line(analysis));
    for kind in [CommandKind::Build, CommandKind::Test, CommandKind::Format, CommandKind::Lint] {
        let commands: Vec<String> = grouped(analysis, kind)
            .into_iter()
            .map(|(command, dirs)| format!("`{command}`{}", where_run(&dirs)))
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
    let tests: Vec<String> = grouped(analysis, CommandKind::Test)
        .into_iter()
        .map(|(command, dirs)| format!("{command}{}", where_run(&dirs)))
        .collect();
    if !tests.is_empty() {
        lines.push(format!("tests: {}", tests.join("; ")));
    }
    if !analysis.instructions.is_empty() {
        lines.push(format!("agent instructions: {}", analysis.instructions.join(", ")));
    }
    lines.join("\n")
}
