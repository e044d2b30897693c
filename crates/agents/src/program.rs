//! Finding the program an adapter runs.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The executable `program` names: itself when it contains a `/`, else the
/// first match on `path` (a `PATH`-style list).
pub fn locate(program: &Path, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return is_executable(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_path() {
        let sh = locate(Path::new("sh"), Some(OsStr::new("/nonexistent:/bin:/usr/bin"))).unwrap();
        assert!(sh.ends_with("sh"));
        assert_eq!(locate(&sh, None), Some(sh.clone()));
        assert_eq!(locate(Path::new("no-such-program-orca"), Some(OsStr::new("/bin"))), None);
        assert_eq!(locate(Path::new("sh"), None), None);
    }
}
