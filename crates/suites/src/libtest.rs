//! libtest's text report, as `cargo test` prints it: a `test NAME ...
//! STATUS` line per test, a `---- NAME stdout ----` section per failure
//! with what it printed and where it panicked, and a `test result:` line
//! per test binary.

use std::collections::HashMap;
use std::path::Path;

use crate::{SuiteResult, TestFailure, relative_file};

pub(crate) fn read(output: &str, root: &Path) -> Option<SuiteResult> {
    let mut result = SuiteResult { parsed: true, ..SuiteResult::default() };
    let mut failed: Vec<String> = Vec::new();
    let mut sections: HashMap<String, String> = HashMap::new();
    let mut section: Option<String> = None;
    let mut binaries = 0;
    for line in output.lines() {
        if let Some(name) =
            line.strip_prefix("---- ").and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            section = Some(name.to_owned());
            continue;
        }
        if line == "failures:" || line.starts_with("test result:") {
            section = None;
        }
        if let Some(name) = &section {
            let text = sections.entry(name.clone()).or_default();
            text.push_str(line);
            text.push('\n');
            continue;
        }
        if let Some(totals) = line.strip_prefix("test result: ") {
            binaries += 1;
            result.passed += count(totals, "passed");
            result.failed += count(totals, "failed");
            result.skipped += count(totals, "ignored");
        } else if let Some((name, status)) =
            line.strip_prefix("test ").and_then(|rest| rest.rsplit_once(" ... "))
            && status.trim_end() == "FAILED"
        {
            let name = name.strip_suffix(" - should panic").unwrap_or(name);
            failed.push(name.to_owned());
        }
    }
    if binaries == 0 {
        return None;
    }
    result.failures = failed
        .into_iter()
        .map(|name| {
            let printed = sections.remove(&name).unwrap_or_default();
            // The backtrace says little the panic's line does not.
            let printed = match printed.find("stack backtrace:") {
                Some(at) => printed[..at].to_owned(),
                None => printed,
            };
            let file = panic_file(&printed, root).or_else(|| doctest_file(&name, root));
            TestFailure { output: printed.trim().to_owned(), file, name }
        })
        .collect();
    Some(result)
}

/// `N word` in `1 passed; 2 failed; 1 ignored; ...`.
fn count(totals: &str, word: &str) -> usize {
    totals
        .split(';')
        .filter_map(|part| {
            let part = part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ");
            let (n, what) = part.split_once(' ')?;
            (what.trim() == word).then(|| n.parse::<usize>().ok()).flatten()
        })
        .sum()
}

/// The file of `panicked at FILE:LINE:COL`.
fn panic_file(printed: &str, root: &Path) -> Option<String> {
    let at = printed.find("panicked at ")?;
    let location = printed[at + "panicked at ".len()..].lines().next()?;
    let path = location.split(':').next()?;
    relative_file(root, path)
}

/// A doc test's name starts with its file: `src/lib.rs - add (line 3)`.
fn doctest_file(name: &str, root: &Path) -> Option<String> {
    let (path, _) = name.split_once(" - ")?;
    relative_file(root, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_cargo_test_report_is_read_test_by_test() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        std::fs::create_dir_all(root.path().join("tests")).unwrap();
        std::fs::write(root.path().join("src/lib.rs"), "").unwrap();
        std::fs::write(root.path().join("tests/it.rs"), "").unwrap();
        let output = include_str!("../tests/outputs/cargo-test.txt");
        let result = read(output, root.path()).unwrap();
        assert_eq!((result.passed, result.failed, result.skipped), (2, 3, 1));
        let names: Vec<&str> = result.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["tests::adds", "tests::zero", "integration_bad"]);
        assert_eq!(result.failures[0].file.as_deref(), Some("src/lib.rs"));
        assert_eq!(result.failures[2].file.as_deref(), Some("tests/it.rs"));
        let zero = &result.failures[1].output;
        assert!(zero.starts_with("checking zero") && zero.contains("zero plus zero"), "{zero}");
        assert!(!zero.contains("stack backtrace"), "{zero}");
    }

    #[test]
    fn a_build_that_fails_has_no_report() {
        let output = "   Compiling x v0.1.0\nerror[E0425]: cannot find value `y`\nerror: could not compile `x`\n";
        assert_eq!(read(output, Path::new(".")), None);
    }

    #[test]
    fn totals_add_up_over_binaries() {
        assert_eq!(count("ok. 3 passed; 0 failed; 2 ignored; 0 measured", "passed"), 3);
        assert_eq!(count("FAILED. 1 passed; 2 failed; 1 ignored", "failed"), 2);
        assert_eq!(count("FAILED. 1 passed; 2 failed; 1 ignored", "ignored"), 1);
    }
}
