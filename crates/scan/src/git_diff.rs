//! What a range of history added, read from `git diff -U0`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ScanError;

/// Variables an enclosing git process (a hook) may export that would point
/// our git calls at another repository, index or configuration.
const INHERITED_GIT_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_PREFIX",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
];

/// One file with added content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedFile {
    /// Path in the new version, repository-relative.
    pub(crate) path: String,
    /// Blocks of consecutive added lines.
    pub(crate) hunks: Vec<AddedLines>,
    /// git reported the file as binary (no lines to scan).
    pub(crate) binary: bool,
}

/// Consecutive added lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddedLines {
    /// 1-based line number of the first line in the new file.
    pub(crate) first_line: u32,
    /// The lines, each ending in `\n`.
    pub(crate) text: Vec<u8>,
}

impl ChangedFile {
    /// Whether `line` (1-based, new file) is an added line.
    pub(crate) fn adds_line(&self, line: u32) -> bool {
        self.hunks.iter().any(|h| {
            let count = h.text.iter().filter(|&&b| b == b'\n').count() as u32;
            line >= h.first_line && line < h.first_line + count
        })
    }
}

/// A git command in `repo` with a clean environment and stable output.
pub(crate) fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(repo);
    for var in INHERITED_GIT_VARS {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C").env("GIT_OPTIONAL_LOCKS", "0").env("GIT_TERMINAL_PROMPT", "0").args([
        "-c",
        "core.quotePath=false",
        "-c",
        "color.ui=false",
        "-c",
        "core.fsmonitor=false",
    ]);
    cmd
}

pub(crate) fn run_git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, ScanError> {
    let command = format!("git {}", args.join(" "));
    let output = git(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ScanError::GitSpawn { command: command.clone(), source })?;
    if !output.status.success() {
        return Err(ScanError::Git {
            command,
            repo: repo.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// The lines added from `base` to `head` (a commit), or from `base` to the
/// working tree when `head` is `None`.
pub(crate) fn added_lines(
    repo: &Path,
    base: &str,
    head: Option<&str>,
) -> Result<Vec<ChangedFile>, ScanError> {
    let mut args = vec![
        "diff",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--find-renames",
        "--ignore-submodules",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--diff-filter=ACMRT",
        base,
    ];
    if let Some(head) = head {
        args.push(head);
    }
    args.push("--");
    let out = run_git(repo, &args)?;
    parse_unified_zero(&out).map_err(|detail| ScanError::GitOutput {
        command: format!("git {}", args.join(" ")),
        detail,
    })
}

/// Untracked, not ignored files of the working tree, repository-relative.
pub(crate) fn untracked_files(repo: &Path) -> Result<Vec<String>, ScanError> {
    let out = run_git(repo, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    Ok(out
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// The root of the work tree containing `dir`.
pub(crate) fn work_tree_root(dir: &Path) -> Result<PathBuf, ScanError> {
    let out = run_git(dir, &["rev-parse", "--show-toplevel"])?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out).trim_end()))
}

/// The contents of `paths` at commit `rev`, written under `into` (for the
/// external tools, which read files). One `git cat-file --batch` process.
pub(crate) fn write_files_at(
    repo: &Path,
    rev: &str,
    paths: &[&str],
    into: &Path,
) -> Result<(), ScanError> {
    let command = "git cat-file --batch".to_string();
    let mut child = git(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ScanError::GitSpawn { command: command.clone(), source })?;
    let mut request = Vec::new();
    for path in paths {
        writeln!(request, "{rev}:{path}").expect("writing to a Vec");
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&request));
    let output = child
        .wait_with_output()
        .map_err(|source| ScanError::GitSpawn { command: command.clone(), source })?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(ScanError::Git {
            command,
            repo: repo.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let mut rest: &[u8] = &output.stdout;
    for path in paths {
        let header_end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| {
            ScanError::GitOutput { command: command.clone(), detail: "truncated output".into() }
        })?;
        let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
        rest = &rest[header_end + 1..];
        if header.ends_with(" missing") {
            continue;
        }
        let size: usize =
            header.rsplit(' ').next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                ScanError::GitOutput {
                    command: command.clone(),
                    detail: format!("bad header {header:?}"),
                }
            })?;
        if rest.len() < size + 1 {
            return Err(ScanError::GitOutput { command, detail: "truncated object".into() });
        }
        let target = into.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| ScanError::Write { path: parent.to_path_buf(), source })?;
        }
        std::fs::write(&target, &rest[..size])
            .map_err(|source| ScanError::Write { path: target.clone(), source })?;
        rest = &rest[size + 1..];
    }
    Ok(())
}

/// Parses `git diff -U0` output into the added lines of each file.
pub(crate) fn parse_unified_zero(diff: &[u8]) -> Result<Vec<ChangedFile>, String> {
    let mut files: Vec<ChangedFile> = Vec::new();
    // Inside a hunk: the next new line number, and how many removed and
    // added lines the header announced are still to come. Counting them is
    // what tells an added line "++ x" (printed "+++ x") from a header.
    let mut next_line = 0u32;
    let (mut old_left, mut new_left) = (0u32, 0u32);
    for raw in diff.split_inclusive(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        if old_left > 0 || new_left > 0 {
            if let Some(added) = raw.strip_prefix(b"+") {
                new_left = new_left.saturating_sub(1);
                let file = files.last_mut().ok_or("added line before diff --git")?;
                let contiguous = file.hunks.last().is_some_and(|h| {
                    h.first_line + h.text.iter().filter(|&&b| b == b'\n').count() as u32
                        == next_line
                });
                if !contiguous {
                    file.hunks.push(AddedLines { first_line: next_line, text: Vec::new() });
                }
                let hunk = file.hunks.last_mut().expect("just pushed");
                hunk.text.extend_from_slice(added);
                if !added.ends_with(b"\n") {
                    hunk.text.push(b'\n');
                }
                next_line += 1;
            } else if line.starts_with(b"-") {
                old_left = old_left.saturating_sub(1);
            }
            continue;
        }
        if line.starts_with(b"diff --git ") {
            files.push(ChangedFile { path: String::new(), hunks: Vec::new(), binary: false });
        } else if let Some(path) = line.strip_prefix(b"+++ ") {
            let file = files.last_mut().ok_or("+++ before diff --git")?;
            if path != b"/dev/null" {
                let path = unquote_path(path);
                file.path = path.strip_prefix("b/").unwrap_or(&path).to_string();
            }
        } else if line.starts_with(b"Binary files ") && line.ends_with(b" differ") {
            let file = files.last_mut().ok_or("Binary before diff --git")?;
            file.binary = true;
            if file.path.is_empty() {
                // "Binary files a/x and b/y differ": the new path follows " and ".
                let text = String::from_utf8_lossy(line);
                if let Some((_, new)) = text.rsplit_once(" and ") {
                    let new = unquote_path(new.trim_end_matches(" differ").as_bytes());
                    file.path = new.strip_prefix("b/").unwrap_or(&new).to_string();
                }
            }
        } else if let Some(rest) = line.strip_prefix(b"@@ ") {
            let header = HunkHeader::parse(rest).ok_or_else(|| {
                format!("cannot read hunk header {:?}", String::from_utf8_lossy(line))
            })?;
            next_line = header.new_start;
            old_left = header.old_count;
            new_left = header.new_count;
        }
    }
    files.retain(|f| !f.path.is_empty() && (f.binary || !f.hunks.is_empty()));
    Ok(files)
}

/// `@@ -a,b +c,d @@`.
struct HunkHeader {
    old_count: u32,
    new_start: u32,
    new_count: u32,
}

impl HunkHeader {
    fn parse(rest: &[u8]) -> Option<HunkHeader> {
        let text = std::str::from_utf8(rest).ok()?;
        let mut words = text.split(' ');
        let range = |word: &str| -> Option<(u32, u32)> {
            let mut parts = word.split(',');
            let start = parts.next()?.parse().ok()?;
            let count = match parts.next() {
                Some(count) => count.parse().ok()?,
                None => 1,
            };
            Some((start, count))
        };
        let (_, old_count) = range(words.next()?.strip_prefix('-')?)?;
        let (new_start, new_count) = range(words.next()?.strip_prefix('+')?)?;
        Some(HunkHeader { old_count, new_start, new_count })
    }
}

/// A path as git prints it: C-quoted (`"a\tb"`) when it has special bytes.
fn unquote_path(raw: &[u8]) -> String {
    let Some(inner) = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) else {
        return String::from_utf8_lossy(raw).into_owned();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'a') => out.push(7),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(b'v') => out.push(11),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&n @ b'0'..=b'7') = bytes.peek() {
                        value = value * 8 + u32::from(n - b'0');
                        bytes.next();
                    }
                }
                out.push(value as u8);
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{AddedLines, ChangedFile, parse_unified_zero};

    #[test]
    fn parses_added_lines_and_binaries() {
        let diff = b"diff --git a/src/a.py b/src/a.py
index 1..2 100644
--- a/src/a.py
+++ b/src/a.py
@@ -3,0 +4,2 @@ def f():
+x = 1
+y = 2
@@ -10 +12,2 @@
-old
+new
+++ looks like a header
diff --git a/img.png b/img.png
new file mode 100644
index 0..1
Binary files /dev/null and b/img.png differ
diff --git \"a/sp ace\\303\\251\" \"b/sp ace\\303\\251\"
--- \"a/sp ace\\303\\251\"
+++ \"b/sp ace\\303\\251\"
@@ -0,0 +1 @@
+t
\\ No newline at end of file
";
        let files = parse_unified_zero(diff).unwrap();
        assert_eq!(
            files,
            vec![
                ChangedFile {
                    path: "src/a.py".into(),
                    hunks: vec![
                        AddedLines { first_line: 4, text: b"x = 1\ny = 2\n".to_vec() },
                        AddedLines {
                            first_line: 12,
                            text: b"new\n++ looks like a header\n".to_vec(),
                        },
                    ],
                    binary: false,
                },
                ChangedFile { path: "img.png".into(), hunks: vec![], binary: true },
                ChangedFile {
                    path: "sp ace\u{e9}".into(),
                    hunks: vec![AddedLines { first_line: 1, text: b"t\n".to_vec() }],
                    binary: false,
                },
            ]
        );
        assert!(files[0].adds_line(5) && files[0].adds_line(13));
        assert!(!files[0].adds_line(6) && !files[0].adds_line(14));
    }
}
