//! External scanners, run when they are on PATH: semgrep (local rules
//! only, no metrics), bandit and gitleaks. Their findings are merged with
//! orca's own (the same problem at the same line is reported once, naming
//! every tool that saw it); a tool that is absent is listed as skipped,
//! one that fails is listed as failed, never silently dropped.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::ScanError;
use crate::finding::{Finding, fingerprint};
use crate::git_diff::{self, ChangedFile};
use crate::redact::REDACTED;
use crate::report::{ToolRun, ToolStatus};
use crate::severity::Severity;

/// Which external tools to run, and how.
#[derive(Debug, Clone)]
pub struct ExternalTools {
    /// Run the tools that are installed (default true).
    pub enabled: bool,
    /// semgrep rules (a file or directory). Default: `.semgrep.yml`,
    /// `.semgrep.yaml` or `.semgrep/` at the top of the scanned tree; with
    /// none, semgrep is skipped (orca never fetches registry rules).
    pub semgrep_config: Option<PathBuf>,
    /// Longest a tool may run before it is killed and reported as failed.
    pub timeout: Duration,
    /// Where to look for the tools; default: this process's PATH.
    pub search_path: Option<OsString>,
}

impl Default for ExternalTools {
    fn default() -> Self {
        ExternalTools {
            enabled: true,
            semgrep_config: None,
            timeout: Duration::from_secs(600),
            search_path: None,
        }
    }
}

impl ExternalTools {
    /// No external tools.
    pub fn disabled() -> ExternalTools {
        ExternalTools { enabled: false, ..ExternalTools::default() }
    }
}

/// What the external tools are given.
#[derive(Debug, Clone)]
pub(crate) enum ToolInput {
    /// Changed files of a repository; findings are kept only on added
    /// lines (a file with no hunks and not binary is new as a whole).
    Changes { repo: PathBuf, head: Option<String>, files: Vec<ChangedFile> },
    /// Whole files and directories under a root.
    Files { root: PathBuf, paths: Vec<PathBuf> },
}

/// A tree to hand to the tools, and how to read their paths back.
struct Staged {
    /// Directory the tools run in and report paths under.
    dir: PathBuf,
    /// Arguments naming what to scan, relative to `dir`.
    targets: Vec<String>,
    /// Keeps a temporary copy alive while the tools run.
    _temp: Option<tempfile::TempDir>,
    /// For a diff: the changed files, to keep findings on added lines only.
    changes: Option<Vec<ChangedFile>>,
}

impl Staged {
    fn prepare(input: &ToolInput) -> Result<Staged, ScanError> {
        match input {
            ToolInput::Files { root, paths } => Ok(Staged {
                dir: root.clone(),
                targets: paths
                    .iter()
                    .map(|p| {
                        let relative = p.strip_prefix(root).unwrap_or(p);
                        let text = relative.to_string_lossy().into_owned();
                        if text.is_empty() { ".".to_string() } else { text }
                    })
                    .collect(),
                _temp: None,
                changes: None,
            }),
            ToolInput::Changes { repo, head, files } => {
                let temp = tempfile::Builder::new()
                    .prefix("orca-scan-")
                    .tempdir()
                    .map_err(|source| ScanError::Write { path: std::env::temp_dir(), source })?;
                let text_files: Vec<&ChangedFile> = files.iter().filter(|f| !f.binary).collect();
                let paths: Vec<&str> = text_files.iter().map(|f| f.path.as_str()).collect();
                match head {
                    Some(head) => git_diff::write_files_at(repo, head, &paths, temp.path())?,
                    None => {
                        for path in &paths {
                            let target = temp.path().join(path);
                            if let Some(parent) = target.parent() {
                                std::fs::create_dir_all(parent).map_err(|source| {
                                    ScanError::Write { path: parent.to_path_buf(), source }
                                })?;
                            }
                            // A file deleted since the diff was read is simply absent.
                            let _ = std::fs::copy(repo.join(path), &target);
                        }
                    }
                }
                // Local semgrep rules travel with the copy.
                for name in [".semgrep.yml", ".semgrep.yaml", ".semgrep"] {
                    let from = repo.join(name);
                    if from.exists() {
                        copy_tree(&from, &temp.path().join(name))?;
                    }
                }
                Ok(Staged {
                    dir: temp.path().to_path_buf(),
                    targets: paths.iter().map(|p| p.to_string()).collect(),
                    _temp: Some(temp),
                    changes: Some(files.clone()),
                })
            }
        }
    }

    /// Whether a tool's finding at `path`:`line` is part of what was scanned.
    fn keeps(&self, path: &str, line: u32) -> bool {
        match &self.changes {
            None => true,
            Some(files) => files.iter().any(|f| {
                f.path == path && ((f.hunks.is_empty() && !f.binary) || f.adds_line(line))
            }),
        }
    }

    /// A tool's path (absolute, or relative to `dir`) as a repository path.
    fn relative(&self, reported: &str) -> String {
        let path = Path::new(reported);
        let relative = path.strip_prefix(&self.dir).unwrap_or(path);
        let text = relative.to_string_lossy().replace('\\', "/");
        text.trim_start_matches("./").to_string()
    }

    /// Line `line` (1-based) of the staged file at `path`.
    fn line_text(&self, path: &str, line: u32) -> Option<String> {
        let text = std::fs::read(self.dir.join(path)).ok()?;
        let raw = text.split(|&b| b == b'\n').nth(line.checked_sub(1)? as usize)?;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        Some(String::from_utf8_lossy(raw).into_owned())
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ScanError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScanError::Write { path, source }
    };
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(write_err(to))?;
        for entry in std::fs::read_dir(from).map_err(write_err(from))? {
            let entry = entry.map_err(write_err(from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to).map_err(write_err(to))?;
    }
    Ok(())
}

/// What the external tools produced.
pub(crate) struct ExternalOutcome {
    pub(crate) runs: Vec<ToolRun>,
    pub(crate) findings: Vec<Finding>,
    /// Secrets gitleaks matched, for the report's redactor.
    pub(crate) secrets: Vec<Vec<u8>>,
}

/// How one tool run ended.
struct ToolOutput {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl ExternalTools {
    pub(crate) fn run(&self, input: &ToolInput) -> Result<ExternalOutcome, ScanError> {
        let mut outcome =
            ExternalOutcome { runs: Vec::new(), findings: Vec::new(), secrets: Vec::new() };
        let staged = Staged::prepare(input)?;
        let semgrep = self.run_semgrep(&staged, input);
        let bandit = self.run_bandit(&staged);
        let gitleaks = self.run_gitleaks(&staged);
        for (name, result) in [("semgrep", semgrep), ("bandit", bandit), ("gitleaks", gitleaks)] {
            let status = match result {
                Ok(ToolResult::Skipped(reason)) => ToolStatus::Skipped { reason },
                Ok(ToolResult::Findings(findings, secrets)) => {
                    let kept: Vec<Finding> =
                        findings.into_iter().filter(|f| staged.keeps(&f.path, f.line)).collect();
                    let status = ToolStatus::Ran { findings: kept.len() };
                    outcome.findings.extend(kept);
                    outcome.secrets.extend(secrets);
                    status
                }
                Err(reason) => {
                    tracing::warn!(tool = name, %reason, "external scanner failed");
                    ToolStatus::Failed { reason }
                }
            };
            outcome.runs.push(ToolRun { tool: name.to_string(), version: None, status });
        }
        Ok(outcome)
    }

    fn find(&self, program: &str) -> Option<PathBuf> {
        let path = self.search_path.clone().or_else(|| std::env::var_os("PATH"))?;
        std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    }

    /// Runs `program` in `dir` with a deadline.
    fn execute(&self, program: &Path, args: &[&OsStr], dir: &Path) -> Result<ToolOutput, String> {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(self.timeout) {
            Ok(status) => status.map_err(|e| format!("waiting for {}: {e}", program.display()))?,
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = rx.recv();
                return Err(format!("timed out after {} s and was killed", self.timeout.as_secs()));
            }
        };
        Ok(ToolOutput {
            code: status.code(),
            stdout: out_reader.join().unwrap_or_default(),
            stderr: err_reader.join().unwrap_or_default(),
        })
    }

    fn run_semgrep(&self, staged: &Staged, input: &ToolInput) -> Result<ToolResult, String> {
        let Some(program) = self.find("semgrep") else {
            return Ok(ToolResult::Skipped("not installed (not on PATH)".into()));
        };
        let config = match &self.semgrep_config {
            Some(config) => Some(config.clone()),
            None => {
                let root = match input {
                    ToolInput::Files { root, .. } => root.clone(),
                    ToolInput::Changes { .. } => staged.dir.clone(),
                };
                [".semgrep.yml", ".semgrep.yaml", ".semgrep"]
                    .iter()
                    .map(|name| root.join(name))
                    .find(|p| p.exists())
            }
        };
        let Some(config) = config else {
            return Ok(ToolResult::Skipped(
                "no local rules (.semgrep.yml, .semgrep.yaml or .semgrep/); registry rules are never fetched"
                    .into(),
            ));
        };
        if staged.targets.is_empty() {
            return Ok(ToolResult::Skipped("no text files to scan".into()));
        }
        let mut args: Vec<OsString> = ["scan", "--config"].iter().map(OsString::from).collect();
        args.push(config.into_os_string());
        args.extend(
            ["--metrics=off", "--disable-version-check", "--json", "--quiet", "--"]
                .iter()
                .map(OsString::from),
        );
        args.extend(staged.targets.iter().map(OsString::from));
        let argv: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        let out = self.execute(&program, &argv, &staged.dir)?;
        if out.code != Some(0) && out.code != Some(1) {
            return Err(exit_failure("semgrep", &out));
        }
        let doc: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("semgrep printed output orca cannot read: {e}"))?;
        let mut findings = Vec::new();
        for r in doc["results"].as_array().into_iter().flatten() {
            let path = staged.relative(r["path"].as_str().unwrap_or_default());
            let line = r["start"]["line"].as_u64().unwrap_or(1) as u32;
            let rule = r["check_id"].as_str().unwrap_or("semgrep").to_string();
            let severity = match r["extra"]["severity"].as_str().unwrap_or("WARNING") {
                "ERROR" | "HIGH" | "CRITICAL" => Severity::Error,
                "INFO" | "LOW" => Severity::Note,
                _ => Severity::Warning,
            };
            let snippet = staged.line_text(&path, line).unwrap_or_default();
            findings.push(external_finding(ExternalFindingParts {
                tool: "semgrep",
                category: format!("semgrep:{rule}"),
                rule,
                severity,
                path,
                line,
                column: r["start"]["col"].as_u64().unwrap_or(1) as u32,
                end_line: r["end"]["line"].as_u64().unwrap_or(u64::from(line)) as u32,
                end_column: r["end"]["col"].as_u64().unwrap_or(1) as u32,
                message: r["extra"]["message"].as_str().unwrap_or_default().to_string(),
                snippet,
            }));
        }
        Ok(ToolResult::Findings(findings, Vec::new()))
    }

    fn run_bandit(&self, staged: &Staged) -> Result<ToolResult, String> {
        let Some(program) = self.find("bandit") else {
            return Ok(ToolResult::Skipped("not installed (not on PATH)".into()));
        };
        let python: Vec<&String> = match &staged.changes {
            Some(_) => staged.targets.iter().filter(|t| t.ends_with(".py")).collect(),
            None => staged.targets.iter().collect(),
        };
        if python.is_empty() {
            return Ok(ToolResult::Skipped("no Python files to scan".into()));
        }
        let mut args: Vec<&OsStr> = ["-f", "json", "-q", "-r"].iter().map(OsStr::new).collect();
        args.extend(python.iter().map(|t| OsStr::new(t.as_str())));
        let out = self.execute(&program, &args, &staged.dir)?;
        if out.code != Some(0) && out.code != Some(1) {
            return Err(exit_failure("bandit", &out));
        }
        let doc: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("bandit printed output orca cannot read: {e}"))?;
        let mut findings = Vec::new();
        for r in doc["results"].as_array().into_iter().flatten() {
            let path = staged.relative(r["filename"].as_str().unwrap_or_default());
            let line = r["line_number"].as_u64().unwrap_or(1) as u32;
            let rule = r["test_id"].as_str().unwrap_or("bandit").to_string();
            let severity = match r["issue_severity"].as_str().unwrap_or("MEDIUM") {
                "HIGH" => Severity::Error,
                "LOW" => Severity::Note,
                _ => Severity::Warning,
            };
            let column = r["col_offset"].as_u64().unwrap_or(0) as u32 + 1;
            let snippet = staged.line_text(&path, line).unwrap_or_default();
            findings.push(external_finding(ExternalFindingParts {
                tool: "bandit",
                category: bandit_category(&rule),
                severity,
                path,
                line,
                column,
                end_line: line,
                end_column: r["end_col_offset"].as_u64().map_or(column, |c| c as u32 + 1),
                message: r["issue_text"].as_str().unwrap_or_default().to_string(),
                snippet,
                rule,
            }));
        }
        Ok(ToolResult::Findings(findings, Vec::new()))
    }

    fn run_gitleaks(&self, staged: &Staged) -> Result<ToolResult, String> {
        let Some(program) = self.find("gitleaks") else {
            return Ok(ToolResult::Skipped("not installed (not on PATH)".into()));
        };
        if staged.targets.is_empty() {
            return Ok(ToolResult::Skipped("no text files to scan".into()));
        }
        let report = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
        let mut findings = Vec::new();
        let mut secrets = Vec::new();
        // `gitleaks dir` takes one path: the staged tree (a diff's copy
        // holds only changed files) or each target of a file scan.
        let targets: Vec<String> = match &staged.changes {
            Some(_) => vec![".".to_string()],
            None => staged.targets.clone(),
        };
        for target in &targets {
            let args: Vec<&OsStr> = vec![
                OsStr::new("dir"),
                OsStr::new(target.as_str()),
                OsStr::new("--no-banner"),
                OsStr::new("--redact"),
                OsStr::new("--report-format"),
                OsStr::new("json"),
                OsStr::new("--report-path"),
                report.path().as_os_str(),
                OsStr::new("--exit-code"),
                OsStr::new("0"),
                OsStr::new("--log-level"),
                OsStr::new("error"),
            ];
            let out = self.execute(&program, &args, &staged.dir)?;
            if out.code != Some(0) {
                return Err(exit_failure("gitleaks", &out));
            }
            let text = std::fs::read(report.path())
                .map_err(|e| format!("reading gitleaks report: {e}"))?;
            let doc: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("gitleaks wrote a report orca cannot read: {e}"))?;
            for r in doc.as_array().into_iter().flatten() {
                let path = staged.relative(r["File"].as_str().unwrap_or_default());
                let line = r["StartLine"].as_u64().unwrap_or(1) as u32;
                let end_line = r["EndLine"].as_u64().unwrap_or(u64::from(line)) as u32;
                let column = r["StartColumn"].as_u64().unwrap_or(1).max(1) as u32;
                let end_column = r["EndColumn"].as_u64().unwrap_or(u64::from(column)) as u32;
                let full = staged.line_text(&path, line).unwrap_or_default();
                // gitleaks redacts its own output; the secret is found again
                // in the file from its columns, masked in the snippet and
                // handed to the report's redactor.
                let chars: Vec<char> = full.chars().collect();
                let from = (column as usize).saturating_sub(1).min(chars.len());
                let to = if end_line > line {
                    chars.len()
                } else {
                    (end_column as usize).min(chars.len())
                };
                let to = to.max(from);
                let secret: String = chars[from..to].iter().collect();
                if !secret.is_empty() {
                    secrets.push(secret.clone().into_bytes());
                }
                let snippet: String = chars[..from].iter().collect::<String>()
                    + if secret.is_empty() { "" } else { REDACTED }
                    + &chars[to..].iter().collect::<String>();
                let rule = r["RuleID"].as_str().unwrap_or("gitleaks").to_string();
                let mut finding = external_finding(ExternalFindingParts {
                    tool: "gitleaks",
                    category: "secret".to_string(),
                    rule: rule.clone(),
                    severity: Severity::Error,
                    path: path.clone(),
                    line,
                    column,
                    end_line,
                    end_column,
                    message: r["Description"].as_str().unwrap_or_default().to_string(),
                    snippet,
                });
                finding.fingerprint = fingerprint(&rule, &path, secret.as_bytes());
                findings.push(finding);
            }
        }
        Ok(ToolResult::Findings(findings, secrets))
    }
}

enum ToolResult {
    Skipped(String),
    /// Findings, and secrets to redact.
    Findings(Vec<Finding>, Vec<Vec<u8>>),
}

fn exit_failure(tool: &str, out: &ToolOutput) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).rev().take(3).collect();
    let detail = last.into_iter().rev().collect::<Vec<_>>().join(" / ");
    match out.code {
        Some(code) => format!("{tool} exited with status {code}: {detail}"),
        None => format!("{tool} was killed by a signal: {detail}"),
    }
}

struct ExternalFindingParts {
    tool: &'static str,
    rule: String,
    category: String,
    severity: Severity,
    path: String,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    message: String,
    snippet: String,
}

fn external_finding(p: ExternalFindingParts) -> Finding {
    let print = fingerprint(&p.rule, &p.path, p.snippet.trim().as_bytes());
    Finding {
        fingerprint: print,
        rule: p.rule,
        tool: p.tool.to_string(),
        also_reported_by: Vec::new(),
        severity: p.severity,
        category: p.category,
        line: p.line.max(1),
        column: p.column.max(1),
        end_line: p.end_line.max(p.line).max(1),
        end_column: p.end_column.max(1),
        path: p.path,
        message: p.message,
        help: String::new(),
        snippet: p.snippet.trim_end().to_string(),
    }
}

/// bandit test ids in orca's categories, so the same problem found by
/// bandit and by orca's rules is reported once.
fn bandit_category(test_id: &str) -> String {
    match test_id {
        "B602" | "B604" | "B605" | "B609" => "command-injection",
        "B608" => "sql-injection",
        "B323" | "B501" | "B502" | "B503" | "B504" => "tls-verification-disabled",
        "B301" | "B302" | "B506" => "unsafe-deserialization",
        "B105" | "B106" | "B107" => "secret",
        "B103" => "world-writable-permissions",
        other => return format!("bandit:{other}"),
    }
    .to_string()
}

/// Adds `external` findings to `builtin`: one reporting the same category
/// at the same path and line as a finding already kept is folded into it
/// (its tool named in `also_reported_by`).
pub(crate) fn merge(mut kept: Vec<Finding>, external: Vec<Finding>) -> Vec<Finding> {
    for finding in external {
        let same = kept.iter_mut().find(|k| {
            k.path == finding.path
                && k.line == finding.line
                && k.category == finding.category
                && (k.tool != finding.tool || k.rule == finding.rule)
        });
        match same {
            Some(existing) => {
                if existing.tool != finding.tool
                    && !existing.also_reported_by.contains(&finding.tool)
                {
                    existing.also_reported_by.push(finding.tool);
                }
            }
            None => kept.push(finding),
        }
    }
    kept
}
