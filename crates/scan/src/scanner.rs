//! The scanner: what to scan, in parallel, with the built-in rules and
//! then the external tools, into one [`Report`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use crate::ScanError;
use crate::collect::{FragmentResult, collect_fragment};
use crate::engine::{Fragment, Hit, Scratch};
use crate::external::{ExternalTools, ToolInput};
use crate::finding::BUILTIN_TOOL;
use crate::git_diff::{self, AddedLines, ChangedFile};
use crate::language::Language;
use crate::redact::Redactor;
use crate::report::{Report, ScanStats, ToolRun, ToolStatus};
use crate::rules::RuleSet;

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTarget {
    /// The lines added between two revisions of the repository at `repo`:
    /// `git diff base head`. With `head: None`, the lines added from `base`
    /// to the working tree, plus every untracked (not ignored) file whole.
    GitDiff { repo: PathBuf, base: String, head: Option<String> },
    /// Every file under each path (files or directories), whole. Paths in
    /// findings are relative to `root`.
    Files { root: PathBuf, paths: Vec<PathBuf> },
}

impl ScanTarget {
    /// The lines added from `base` to `head` in `repo`.
    pub fn diff(repo: impl Into<PathBuf>, base: &str, head: &str) -> ScanTarget {
        ScanTarget::GitDiff {
            repo: repo.into(),
            base: base.to_string(),
            head: Some(head.to_string()),
        }
    }

    /// Everything under `root`.
    pub fn directory(root: impl Into<PathBuf>) -> ScanTarget {
        let root = root.into();
        ScanTarget::Files { paths: vec![root.clone()], root }
    }

    fn describe(&self) -> String {
        match self {
            ScanTarget::GitDiff { repo, base, head } => format!(
                "lines added in {} from {base} to {}",
                repo.display(),
                head.as_deref().unwrap_or("the working tree")
            ),
            ScanTarget::Files { root, paths } if paths.len() == 1 && &paths[0] == root => {
                format!("files under {}", root.display())
            }
            ScanTarget::Files { root, paths } => {
                format!("{} path(s) under {}", paths.len(), root.display())
            }
        }
    }
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files larger than this are skipped (and counted in the stats).
    pub max_file_bytes: u64,
    /// Directory scans skip what `.gitignore` files ignore.
    pub respect_gitignore: bool,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// semgrep, bandit and gitleaks, when on PATH.
    pub external: ExternalTools,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            max_file_bytes: 25 * 1024 * 1024,
            respect_gitignore: true,
            threads: 0,
            external: ExternalTools::default(),
        }
    }
}

/// Scans targets with a rule set. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Scanner {
    rules: Arc<RuleSet>,
    options: ScanOptions,
}

/// One unit of work for a scanning thread.
enum WorkItem {
    /// A whole file on disk.
    File { path: String, on_disk: PathBuf },
    /// Added lines of a changed file.
    Added(ChangedFile),
}

impl Scanner {
    pub fn new(rules: RuleSet, options: ScanOptions) -> Scanner {
        Scanner { rules: Arc::new(rules), options }
    }

    /// orca's default rules, default options.
    pub fn builtin() -> Scanner {
        Scanner::new(RuleSet::builtin().clone(), ScanOptions::default())
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// Scans `target` with the built-in rules and, when enabled, the
    /// external tools; every text in the report is redacted.
    pub fn scan(&self, target: &ScanTarget) -> Result<Report, ScanError> {
        let started = Instant::now();
        let (items, input) = self.work_items(target)?;
        let mut result = self.run_builtin(items);
        let mut tools = vec![ToolRun {
            tool: BUILTIN_TOOL.to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            status: ToolStatus::Ran { findings: result.findings.len() },
        }];
        if self.options.external.enabled {
            let outcome = self.options.external.run(&input)?;
            tools.extend(outcome.runs);
            result.secrets.extend(outcome.secrets);
            result.findings = crate::external::merge(result.findings, outcome.findings);
        }
        result.findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule).cmp(&(&b.path, b.line, b.column, &b.rule))
        });
        result.suppressions.sort_by(|a, b| {
            (&a.finding.path, a.finding.line, &a.finding.rule).cmp(&(
                &b.finding.path,
                b.finding.line,
                &b.finding.rule,
            ))
        });
        let redactor = Redactor::new(&self.rules).with_known_secrets(&result.secrets);
        result.stats.seconds = started.elapsed().as_secs_f64();
        Ok(Report::new(
            target.describe(),
            result.findings,
            result.suppressions,
            tools,
            result.stats,
            &self.rules,
            redactor,
        ))
    }

    /// Scans one text as if it were the file at `path` (built-in rules
    /// only): for tests, and for checking a text before orca writes it.
    pub fn scan_text(&self, path: &str, text: &str) -> Report {
        let item = WorkItem::Added(ChangedFile {
            path: path.to_string(),
            hunks: vec![AddedLines { first_line: 1, text: text.as_bytes().to_vec() }],
            binary: false,
        });
        let result = self.run_builtin(vec![item]);
        let redactor = Redactor::new(&self.rules).with_known_secrets(&result.secrets);
        Report::new(
            format!("text as {path}"),
            result.findings,
            result.suppressions,
            vec![ToolRun {
                tool: BUILTIN_TOOL.to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
                status: ToolStatus::Ran { findings: 0 },
            }],
            result.stats,
            &self.rules,
            redactor,
        )
    }

    fn work_items(&self, target: &ScanTarget) -> Result<(Vec<WorkItem>, ToolInput), ScanError> {
        match target {
            ScanTarget::GitDiff { repo, base, head } => {
                let root = git_diff::work_tree_root(repo)?;
                let changed = git_diff::added_lines(&root, base, head.as_deref())?;
                let mut items: Vec<WorkItem> = Vec::new();
                let mut files: Vec<ChangedFile> = changed.clone();
                if head.is_none() {
                    for path in git_diff::untracked_files(&root)? {
                        let on_disk = root.join(&path);
                        files.push(ChangedFile {
                            path: path.clone(),
                            hunks: Vec::new(),
                            binary: false,
                        });
                        items.push(WorkItem::File { path, on_disk });
                    }
                }
                items.extend(changed.into_iter().map(WorkItem::Added));
                let input = ToolInput::Changes { repo: root, head: head.clone(), files };
                Ok((items, input))
            }
            ScanTarget::Files { root, paths } => {
                let items = self.walk(root, paths)?;
                let input = ToolInput::Files { root: root.clone(), paths: paths.clone() };
                Ok((items, input))
            }
        }
    }

    fn walk(&self, root: &Path, paths: &[PathBuf]) -> Result<Vec<WorkItem>, ScanError> {
        let mut items = Vec::new();
        for path in paths {
            let start = if path.is_absolute() { path.clone() } else { root.join(path) };
            let mut walker = ignore::WalkBuilder::new(&start);
            walker
                .hidden(false)
                .ignore(false)
                .git_global(false)
                .git_ignore(self.options.respect_gitignore)
                .git_exclude(self.options.respect_gitignore)
                .parents(self.options.respect_gitignore)
                .require_git(false)
                .filter_entry(|e| e.file_name() != ".git");
            for entry in walker.build() {
                let entry = entry.map_err(|source| ScanError::Walk { source })?;
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    continue;
                }
                let on_disk = entry.into_path();
                let relative = on_disk.strip_prefix(root).unwrap_or(&on_disk);
                let path = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                items.push(WorkItem::File { path, on_disk });
            }
        }
        Ok(items)
    }

    fn run_builtin(&self, items: Vec<WorkItem>) -> ScanResult {
        let threads = match self.options.threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(items.len().max(1));
        let next = AtomicUsize::new(0);
        let merged = Mutex::new(ScanResult::default());
        thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut local = ScanResult::default();
                    let mut scratch = Scratch::default();
                    let mut hits = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        self.scan_item(item, &mut scratch, &mut hits, &mut local);
                    }
                    merged.lock().expect("no scanning thread panics").absorb(local);
                });
            }
        });
        merged.into_inner().expect("no scanning thread panics")
    }

    fn scan_item(
        &self,
        item: &WorkItem,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
        result: &mut ScanResult,
    ) {
        let rules = &*self.rules;
        let mut out = FragmentResult::default();
        match item {
            WorkItem::File { path, on_disk } => {
                let size = std::fs::metadata(on_disk).map(|m| m.len()).unwrap_or(0);
                if size > self.options.max_file_bytes {
                    result.stats.skipped_large += 1;
                    return;
                }
                let text = match std::fs::read(on_disk) {
                    Ok(text) => text,
                    Err(error) => {
                        tracing::warn!(path = %on_disk.display(), %error, "cannot read file");
                        result.stats.unreadable += 1;
                        return;
                    }
                };
                result.stats.files += 1;
                result.stats.bytes += text.len() as u64;
                let binary = is_binary(&text);
                let first = text.split(|&b| b == b'\n').next();
                let language = Language::detect(path, first);
                let scanned: &[u8] = if binary {
                    result.stats.binary += 1;
                    b""
                } else {
                    &text
                };
                rules.detect(Fragment { path, text: scanned, language }, scratch, hits);
                collect_fragment(rules, path, scanned, 1, hits, &mut out);
            }
            WorkItem::Added(file) => {
                result.stats.files += 1;
                let first = file
                    .hunks
                    .first()
                    .filter(|h| h.first_line == 1)
                    .and_then(|h| h.text.split(|&b| b == b'\n').next());
                let language = Language::detect(&file.path, first);
                if file.binary || file.hunks.is_empty() {
                    result.stats.binary += usize::from(file.binary);
                    rules.detect(Fragment { path: &file.path, text: b"", language }, scratch, hits);
                    collect_fragment(rules, &file.path, b"", 1, hits, &mut out);
                }
                for (n, hunk) in file.hunks.iter().enumerate() {
                    result.stats.bytes += hunk.text.len() as u64;
                    rules.detect(
                        Fragment { path: &file.path, text: &hunk.text, language },
                        scratch,
                        hits,
                    );
                    // A path-only rule reports a file once, not once per hunk.
                    if n > 0 {
                        hits.retain(|h| !h.whole_file);
                    }
                    collect_fragment(
                        rules,
                        &file.path,
                        &hunk.text,
                        hunk.first_line,
                        hits,
                        &mut out,
                    );
                }
            }
        }
        result.findings.append(&mut out.findings);
        result.suppressions.append(&mut out.suppressions);
        result.secrets.append(&mut out.secrets);
    }
}

/// What the built-in scan gathered.
#[derive(Debug, Default)]
struct ScanResult {
    findings: Vec<crate::Finding>,
    suppressions: Vec<crate::Suppression>,
    secrets: Vec<Vec<u8>>,
    stats: ScanStats,
}

impl ScanResult {
    fn absorb(&mut self, other: ScanResult) {
        self.findings.extend(other.findings);
        self.suppressions.extend(other.suppressions);
        self.secrets.extend(other.secrets);
        self.stats.files += other.stats.files;
        self.stats.bytes += other.stats.bytes;
        self.stats.binary += other.stats.binary;
        self.stats.skipped_large += other.stats.skipped_large;
        self.stats.unreadable += other.stats.unreadable;
    }
}

/// A NUL byte in the first 8000 bytes, as git decides.
fn is_binary(text: &[u8]) -> bool {
    memchr::memchr(0, &text[..text.len().min(8000)]).is_some()
}
