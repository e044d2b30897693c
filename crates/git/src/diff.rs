//! What a range of history changed: files, line counts, and a bounded
//! summary for telling a dependent task's agent what its dependencies did.

use crate::invocation::{GitError, Invocation, nul_fields};
use crate::repo::{RefError, Repo};
use crate::sha::Sha;

/// How a file changed between two commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    /// File became a symlink or the like.
    TypeChanged,
}

impl ChangeKind {
    fn from_status(status: &str) -> Option<ChangeKind> {
        Some(match status.chars().next()? {
            'A' => ChangeKind::Added,
            'M' => ChangeKind::Modified,
            'D' => ChangeKind::Deleted,
            'R' => ChangeKind::Renamed,
            'C' => ChangeKind::Copied,
            'T' => ChangeKind::TypeChanged,
            _ => return None,
        })
    }

    /// The one-letter code git uses (`A`, `M`, ...).
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
            ChangeKind::Renamed => 'R',
            ChangeKind::Copied => 'C',
            ChangeKind::TypeChanged => 'T',
        }
    }
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub kind: ChangeKind,
    /// Path after the change (for deletions: the deleted path).
    pub path: String,
    /// Path before a rename or copy.
    pub old_path: Option<String>,
}

/// Lines added and deleted in one file; `None` for binary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: String,
    pub old_path: Option<String>,
    pub added: Option<u64>,
    pub deleted: Option<u64>,
}

/// Per-file line counts of a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub files: Vec<FileStat>,
}

impl DiffStat {
    pub fn insertions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.added).sum()
    }

    pub fn deletions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.deleted).sum()
    }
}

/// A range of history summarised: files with line counts and the subjects
/// of the commits. Render it with [`RangeSummary::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSummary {
    pub files: Vec<FileSummary>,
    /// Commit subjects, newest first (at most [`MAX_SUMMARY_COMMITS`]).
    pub commits: Vec<String>,
    /// How many commits the range holds in total.
    pub commit_count: usize,
}

/// One file in a [`RangeSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub change: FileChange,
    pub added: Option<u64>,
    pub deleted: Option<u64>,
}

/// Commit subjects read for a summary; more would never fit in one.
pub const MAX_SUMMARY_COMMITS: usize = 50;

/// Longest commit subject shown in a summary.
const MAX_SUBJECT_CHARS: usize = 100;

impl Repo {
    /// Files that differ between the trees of commits `from` and `to`
    /// (renames detected), in path order.
    pub fn changed_files(&self, from: &str, to: &str) -> Result<Vec<FileChange>, RefError> {
        let (from, to) = (self.rev_parse(from)?, self.rev_parse(to)?);
        Ok(self.changed_between(&from, &to)?)
    }

    fn changed_between(&self, from: &Sha, to: &Sha) -> Result<Vec<FileChange>, GitError> {
        let inv = self.diff(from, to, &["--name-status"]);
        let out = inv.run()?;
        let mut fields = nul_fields(&out);
        let mut changes = Vec::new();
        while let Some(status) = fields.next() {
            let kind = ChangeKind::from_status(&status)
                .ok_or_else(|| inv.unexpected(format!("unknown change status {status:?}")))?;
            let first = fields.next().ok_or_else(|| inv.unexpected("path missing"))?;
            let change = if matches!(kind, ChangeKind::Renamed | ChangeKind::Copied) {
                let path = fields.next().ok_or_else(|| inv.unexpected("new path missing"))?;
                FileChange { kind, path, old_path: Some(first) }
            } else {
                FileChange { kind, path: first, old_path: None }
            };
            changes.push(change);
        }
        Ok(changes)
    }

    /// Lines added and deleted per file between the trees of `from` and `to`.
    pub fn diff_stat(&self, from: &str, to: &str) -> Result<DiffStat, RefError> {
        let (from, to) = (self.rev_parse(from)?, self.rev_parse(to)?);
        Ok(self.stat_between(&from, &to)?)
    }

    fn stat_between(&self, from: &Sha, to: &Sha) -> Result<DiffStat, GitError> {
        let inv = self.diff(from, to, &["--numstat"]);
        let out = inv.run()?;
        let mut fields = nul_fields(&out);
        let mut files = Vec::new();
        while let Some(field) = fields.next() {
            files.push(numstat_record(&field, &mut fields, &inv)?);
        }
        Ok(DiffStat { files })
    }

    /// [`Repo::changed_between`] and [`Repo::stat_between`] from one git
    /// process.
    fn changes_and_stat(
        &self,
        from: &Sha,
        to: &Sha,
    ) -> Result<(Vec<FileChange>, DiffStat), GitError> {
        let inv = self.diff(from, to, &["--raw", "--numstat"]);
        let out = inv.run()?;
        raw_and_numstat(&out, &inv)
    }

    /// What `to` changed, with its subject, when it is the one commit of
    /// `from..to` (its only parent is `from`): one `git diff-tree` instead
    /// of a diff and a log. `None` when it is not.
    fn single_commit_changes(
        &self,
        from: &Sha,
        to: &Sha,
    ) -> Result<Option<(Vec<FileChange>, DiffStat, String)>, GitError> {
        let inv = self
            .git
            .at(self.root())
            .args(["diff-tree", "--always", "-r", "-z", "--no-color", "--no-ext-diff"])
            .args(["--no-textconv", "--find-renames", "--raw", "--numstat", "--format=%P%x00%s"])
            .arg(to)
            .arg("--");
        let out = inv.run()?;
        // "<parents>\0<subject>\0", then (unless the commit changed
        // nothing) a line break and the records `git diff` would print.
        let mut header = out.splitn(3, |&byte| byte == 0);
        let (Some(parents), Some(subject)) = (header.next(), header.next()) else {
            return Err(inv.unexpected("no commit header"));
        };
        if parents != from.as_str().as_bytes() {
            return Ok(None);
        }
        let records = header.next().unwrap_or_default();
        let records = records.strip_prefix(b"\n").unwrap_or(records);
        let (changes, stat) = raw_and_numstat(records, &inv)?;
        Ok(Some((changes, stat, String::from_utf8_lossy(subject).into_owned())))
    }

    /// The unified diff of `from..to` as text (no color, no external diff
    /// drivers, renames detected).
    pub fn diff_text(&self, from: &str, to: &str) -> Result<String, RefError> {
        let from = self.rev_parse(from)?;
        let to = self.rev_parse(to)?;
        let out = self
            .git
            .at(self.root())
            .args(["diff", "--no-color", "--no-ext-diff", "-M"])
            .arg(&from)
            .arg(&to)
            .run()?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// What the range `from..to` changed: the tree difference with line
    /// counts, and the subjects of the commits reachable from `to` but not
    /// from `from`. For a task merged as commit `M`, use `M^1` and `M`.
    pub fn summarize_range(&self, from: &str, to: &str) -> Result<RangeSummary, RefError> {
        // Full object names (as orca records them) go to git as they are:
        // the diff reports one that does not exist.
        let (from, to) = match (Sha::parse(from), Sha::parse(to)) {
            (Ok(from), Ok(to)) => (from, to),
            _ => {
                let [from_sha, to_sha] = self
                    .resolve_objects(&[format!("{from}^{{commit}}"), format!("{to}^{{commit}}")])?
                    .try_into()
                    .expect("two names, two answers");
                let unknown = |rev: &str| RefError::UnknownRevision { rev: rev.to_string() };
                (from_sha.ok_or_else(|| unknown(from))?, to_sha.ok_or_else(|| unknown(to))?)
            }
        };
        if let Some((changes, stat, subject)) = self.single_commit_changes(&from, &to)? {
            let commits = if subject.is_empty() { Vec::new() } else { vec![subject] };
            return Ok(RangeSummary {
                files: with_counts(changes, &stat),
                commits,
                commit_count: 1,
            });
        }
        let (changes, stat) = self.changes_and_stat(&from, &to)?;
        let files = with_counts(changes, &stat);
        let range = format!("{from}..{to}");
        let subjects = self
            .git
            .at(self.root())
            .args(["log", "--no-color", "--format=%s%x00"])
            .arg(format!("--max-count={MAX_SUMMARY_COMMITS}"))
            .args([&range, "--"])
            .run()?;
        let commits: Vec<String> = String::from_utf8_lossy(&subjects)
            .split('\0')
            .map(|s| s.trim_start_matches('\n').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        // Fewer commits listed than asked for are all of them: no need to
        // count (each ends in a NUL; empty subjects are listed too).
        let listed = subjects.iter().filter(|&&byte| byte == 0).count();
        let commit_count = if listed < MAX_SUMMARY_COMMITS {
            listed
        } else {
            let count = self.git.at(self.root()).args(["rev-list", "--count", &range]);
            count.run_text()?.parse().map_err(|_| count.unexpected("not a number"))?
        };
        Ok(RangeSummary { files, commits, commit_count })
    }

    fn diff(&self, from: &Sha, to: &Sha, formats: &[&str]) -> Invocation<'_> {
        self.git
            .at(self.root())
            .args(["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames", "-z"])
            .args(formats)
            .arg(from)
            .arg(to)
            .arg("--")
    }
}

/// Each changed file with its line counts.
fn with_counts(changes: Vec<FileChange>, stat: &DiffStat) -> Vec<FileSummary> {
    changes
        .into_iter()
        .map(|change| {
            let counts = stat.files.iter().find(|s| s.path == change.path);
            FileSummary {
                added: counts.and_then(|s| s.added),
                deleted: counts.and_then(|s| s.deleted),
                change,
            }
        })
        .collect()
}

/// The output of a diff with `-z --raw --numstat`: the `--raw` records
/// (each starts with `:`) come first, then the `--numstat` ones.
fn raw_and_numstat(
    out: &[u8],
    inv: &Invocation<'_>,
) -> Result<(Vec<FileChange>, DiffStat), GitError> {
    let mut fields = nul_fields(out).peekable();
    let mut changes = Vec::new();
    // ":<old mode> <new mode> <old sha> <new sha> <status>", then the
    // path, or for a rename or copy the old and the new path.
    while let Some(raw) = fields.next_if(|field| field.starts_with(':')) {
        let status = raw.rsplit(' ').next().unwrap_or_default();
        let kind = ChangeKind::from_status(status)
            .ok_or_else(|| inv.unexpected(format!("unknown change status {status:?}")))?;
        let first = fields.next().ok_or_else(|| inv.unexpected("path missing"))?;
        changes.push(if matches!(kind, ChangeKind::Renamed | ChangeKind::Copied) {
            let path = fields.next().ok_or_else(|| inv.unexpected("new path missing"))?;
            FileChange { kind, path, old_path: Some(first) }
        } else {
            FileChange { kind, path: first, old_path: None }
        });
    }
    let mut files = Vec::new();
    while let Some(field) = fields.next() {
        files.push(numstat_record(&field, &mut fields, inv)?);
    }
    Ok((changes, DiffStat { files }))
}

/// One `--numstat -z` record: "<added>\t<deleted>\t<path>", or for a
/// rename "<added>\t<deleted>\t" followed by two more fields, old and new.
fn numstat_record(
    field: &str,
    fields: &mut impl Iterator<Item = String>,
    inv: &Invocation<'_>,
) -> Result<FileStat, GitError> {
    let mut parts = field.splitn(3, '\t');
    let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(inv.unexpected(format!("bad numstat field {field:?}")));
    };
    let (path, old_path) = if path.is_empty() {
        let old = fields.next().ok_or_else(|| inv.unexpected("old path missing"))?;
        let new = fields.next().ok_or_else(|| inv.unexpected("new path missing"))?;
        (new, Some(old))
    } else {
        (path.to_string(), None)
    };
    Ok(FileStat { path, old_path, added: added.parse().ok(), deleted: deleted.parse().ok() })
}

impl RangeSummary {
    /// The summary as plain text of at most `max_chars` characters: a
    /// header line, one line per file, then commit subjects; what does not
    /// fit is counted ("... and 7 more files") instead of shown.
    pub fn render(&self, max_chars: usize) -> String {
        let insertions: u64 = self.files.iter().filter_map(|f| f.added).sum();
        let deletions: u64 = self.files.iter().filter_map(|f| f.deleted).sum();
        let mut out = Budget::new(max_chars);
        out.line(&format!(
            "{} {} changed, +{insertions} -{deletions}, {} {}",
            self.files.len(),
            plural(self.files.len(), "file", "files"),
            self.commit_count,
            plural(self.commit_count, "commit", "commits"),
        ));
        let file_lines: Vec<String> = self.files.iter().map(file_line).collect();
        out.section(None, &file_lines, self.files.len(), "files");
        let commit_lines: Vec<String> =
            self.commits.iter().map(|s| format!("  {}", shorten(s, MAX_SUBJECT_CHARS))).collect();
        out.section(Some("Commits:"), &commit_lines, self.commit_count, "commits");
        out.finish()
    }
}

fn file_line(file: &FileSummary) -> String {
    let c = &file.change;
    let name = match &c.old_path {
        Some(old) => format!("{old} -> {}", c.path),
        None => c.path.clone(),
    };
    let counts = match (file.added, file.deleted) {
        (Some(a), Some(d)) => format!(" (+{a} -{d})"),
        _ => " (binary)".to_string(),
    };
    format!("  {} {name}{counts}", c.kind.letter())
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Text that grows line by line and never beyond its budget.
struct Budget {
    text: String,
    used: usize,
    max: usize,
}

impl Budget {
    fn new(max: usize) -> Self {
        Budget { text: String::new(), used: 0, max }
    }

    /// Appends `line` if it fits; returns whether it did.
    fn line(&mut self, line: &str) -> bool {
        let cost = line.chars().count() + 1;
        if self.used + cost > self.max {
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        self.used += cost;
        true
    }

    /// Shows as many of `lines` as fit while keeping room for a line that
    /// counts the rest (of `total` items, some of which may not be in
    /// `lines` at all).
    fn section(&mut self, title: Option<&str>, lines: &[String], total: usize, noun: &str) {
        if total == 0 {
            return;
        }
        let rest_line = |shown: usize| format!("  ... and {} more {noun}", total - shown);
        if let Some(title) = title {
            // A title is only worth its line if something can follow it.
            let needed = title.chars().count() + 1 + rest_line(0).chars().count() + 1;
            if self.used + needed > self.max || !self.line(title) {
                return;
            }
        }
        let mut shown = 0;
        for line in lines {
            let reserve =
                if shown + 1 < total { rest_line(shown + 1).chars().count() + 1 } else { 0 };
            if self.used + line.chars().count() + 1 + reserve > self.max {
                break;
            }
            self.line(line);
            shown += 1;
        }
        if shown < total {
            self.line(&rest_line(shown));
        }
    }

    fn finish(mut self) -> String {
        while self.text.ends_with('\n') {
            self.text.pop();
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(files: usize, commits: usize) -> RangeSummary {
        RangeSummary {
            files: (0..files)
                .map(|i| FileSummary {
                    change: FileChange {
                        kind: if i % 3 == 0 { ChangeKind::Added } else { ChangeKind::Modified },
                        path: format!("src/module_{i}.rs"),
                        old_path: None,
                    },
                    added: Some(i as u64 * 3),
                    deleted: (i % 4 != 0).then_some(i as u64),
                })
                .collect(),
            commits: (0..commits.min(MAX_SUMMARY_COMMITS)).map(|i| format!("Step {i}")).collect(),
            commit_count: commits,
        }
    }

    #[test]
    fn everything_is_listed_when_it_fits() {
        let text = sample(2, 1).render(1000);
        assert_eq!(
            text,
            "2 files changed, +3 -1, 1 commit\n  A src/module_0.rs (binary)\n  M src/module_1.rs (+3 -1)\nCommits:\n  Step 0"
        );
    }

    #[test]
    fn what_does_not_fit_is_counted() {
        let text = sample(40, 70).render(300);
        assert!(text.chars().count() <= 300, "{text}");
        assert!(text.contains("more files"), "{text}");
        assert!(text.starts_with("40 files changed"), "{text}");
    }

    #[test]
    fn the_budget_is_never_exceeded() {
        let summary = sample(30, 80);
        for max in 0..800 {
            let text = summary.render(max);
            assert!(text.chars().count() <= max, "budget {max}: {} chars", text.chars().count());
            assert!(!text.ends_with("Commits:"), "budget {max}: a title with nothing under it");
        }
    }

    #[test]
    fn long_subjects_are_shortened() {
        let long = "x".repeat(500);
        assert_eq!(shorten(&long, 10).chars().count(), 10);
        assert_eq!(shorten("short", 10), "short");
    }
}
