//! The lock files git leaves when it is killed in the middle of a ref
//! update (`refs/heads/<name>.lock`, `packed-refs.lock`): until removed,
//! every later update of that ref fails. A lock older than any update
//! takes, while no git process works in the repository, is stale.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::repo::Repo;

/// What [`Repo::clear_stale_ref_locks`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaleLocks {
    /// Lock files removed.
    pub removed: Vec<PathBuf>,
    /// Lock files left, with why: too recent, or a git process is at work.
    pub kept: Vec<(PathBuf, String)>,
}

impl Repo {
    /// Removes the ref lock files below `refs/heads/<prefix>` (and
    /// `packed-refs.lock`) that are older than `older_than`, unless a git
    /// process is working in this repository.
    pub fn clear_stale_ref_locks(&self, prefix: &str, older_than: Duration) -> StaleLocks {
        let mut found = StaleLocks::default();
        let mut locks = Vec::new();
        let heads = self.common_dir().join("refs/heads").join(prefix);
        collect_locks(&heads, &mut locks);
        let packed = self.common_dir().join("packed-refs.lock");
        if packed.is_file() {
            locks.push(packed);
        }
        if locks.is_empty() {
            return found;
        }
        let busy = git_at_work(&[self.root(), self.common_dir()]);
        for lock in locks {
            let age = std::fs::metadata(&lock)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .unwrap_or(Duration::ZERO);
            if age < older_than {
                found.kept.push((lock, format!("only {}s old", age.as_secs())));
            } else if let Some(pid) = busy {
                found.kept.push((lock, format!("git process {pid} works in the repository")));
            } else if std::fs::remove_file(&lock).is_ok() {
                tracing::warn!(lock = %lock.display(), age_s = age.as_secs(), "removed a stale git ref lock");
                found.removed.push(lock);
            } else {
                found.kept.push((lock, "cannot remove it".to_owned()));
            }
        }
        found
    }
}

fn collect_locks(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_locks(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "lock") {
            out.push(path);
        }
    }
}

/// The pid of a git process whose working directory is inside one of
/// `dirs`, if any (Linux: from /proc; elsewhere none is seen). The
/// long-running git processes orca keeps (this process and any other) do
/// not count: a `git cat-file` only reads (crate::batch_check), and a
/// `git update-ref --stdin` holds a lock only within one transaction,
/// written whole, so for milliseconds (crate::ref_session).
fn git_at_work(dirs: &[&Path]) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        if pid == std::process::id() {
            return None;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        if comm.trim() != "git" {
            return None;
        }
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
        if !dirs.iter().any(|dir| cwd.starts_with(dir)) {
            return None;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        (!kept_running(&cmdline)).then_some(pid)
    })
}

/// Whether a `/proc/<pid>/cmdline` is one of the long-running git
/// processes orca keeps.
fn kept_running(cmdline: &[u8]) -> bool {
    match subcommand(cmdline) {
        Some((b"cat-file", _)) => true,
        Some((b"update-ref", rest)) => rest.iter().any(|arg| *arg == b"--stdin"),
        _ => false,
    }
}

/// The git subcommand in a `/proc/<pid>/cmdline` (NUL-separated argv):
/// the first argument after the global options; and the arguments after it.
fn subcommand(cmdline: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    // Each argument ends in a NUL: the empty piece after the last is none.
    let mut args = cmdline.split(|&byte| byte == 0).skip(1).filter(|arg| !arg.is_empty());
    while let Some(arg) = args.next() {
        match arg {
            b"-c" | b"-C" => {
                args.next();
            }
            _ if arg.starts_with(b"-") => {}
            _ => return Some((arg, args.collect())),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{kept_running, subcommand};

    #[test]
    fn the_subcommand_comes_after_the_global_options() {
        let argv = b"git\0-c\0gc.auto=0\0-C\0/r\0--no-pager\0cat-file\0--batch-check\0";
        assert_eq!(subcommand(argv).unwrap().0, b"cat-file");
        let (name, rest) = subcommand(b"git\0commit\0-m\0cat-file\0").unwrap();
        assert_eq!((name, rest), (b"commit".as_slice(), vec![b"-m".as_slice(), b"cat-file"]));
        assert_eq!(subcommand(b"git\0"), None);
    }

    #[test]
    fn only_the_sessions_orca_keeps_running_are_not_git_at_work() {
        assert!(kept_running(b"git\0cat-file\0--batch-check=%(objectname)\0"));
        assert!(kept_running(b"git\0-c\0a=b\0update-ref\0-m\0orca: merge\0--stdin\0"));
        assert!(!kept_running(b"git\0update-ref\0refs/heads/a\0abc\0"));
        assert!(!kept_running(b"git\0commit\0-m\0--stdin\0"));
    }
}
