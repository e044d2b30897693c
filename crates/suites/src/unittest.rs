//! unittest's report (on stderr): a block per failure or error, headed
//! `FAIL: test_x (package.module.Class.test_x)` between lines of `=` and
//! `-`, then `Ran N tests` and `FAILED (failures=F, errors=E, skipped=S)`
//! or `OK (skipped=S)`.

use std::path::Path;

use crate::{SuiteResult, TestFailure, relative_file};

const HEAVY_RULE: &str = "======================================================================";
const LIGHT_RULE: &str = "----------------------------------------------------------------------";

pub(crate) fn read(output: &str, at: &Path) -> Option<SuiteResult> {
    let lines: Vec<&str> = output.lines().collect();
    let ran = lines
        .iter()
        .find_map(|line| line.strip_prefix("Ran ")?.split(' ').next()?.parse::<usize>().ok())?;
    let mut result = SuiteResult { parsed: true, ..SuiteResult::default() };
    let verdict = lines
        .iter()
        .rev()
        .find(|line| line.starts_with("OK") || line.starts_with("FAILED"))
        .copied()
        .unwrap_or("");
    let field = |name: &str| -> usize {
        verdict
            .split(['(', ')', ','])
            .filter_map(|part| {
                part.trim().strip_prefix(name)?.strip_prefix('=')?.parse::<usize>().ok()
            })
            .sum()
    };
    result.failed = field("failures") + field("errors") + field("unexpected successes");
    result.skipped = field("skipped") + field("expected failures");
    result.passed = ran.saturating_sub(result.failed + result.skipped);

    let mut at_line = 0;
    while at_line < lines.len() {
        let heading = lines[at_line];
        let is_block = (heading.starts_with("FAIL: ") || heading.starts_with("ERROR: "))
            && at_line > 0
            && lines[at_line - 1] == HEAVY_RULE;
        if !is_block {
            at_line += 1;
            continue;
        }
        let mut body = Vec::new();
        let mut next = at_line + 2; // past the light rule
        while next < lines.len() && lines[next] != HEAVY_RULE && lines[next] != LIGHT_RULE {
            body.push(lines[next]);
            next += 1;
        }
        let name = test_id(heading);
        let output = body.join("\n").trim().to_owned();
        let file = module_file(&name, at).or_else(|| traceback_file(&output, at));
        result.failures.push(TestFailure { name, file, output });
        at_line = next;
    }
    Some(result)
}

/// `FAIL: test_x (pkg.mod.Class.test_x)` → `pkg.mod.Class.test_x`; a
/// module that failed to import → its name.
fn test_id(heading: &str) -> String {
    let rest = heading.split_once(": ").map_or(heading, |(_, rest)| rest);
    let (short, id) = match rest.split_once(" (") {
        Some((short, id)) => (short, id.trim_end_matches(')')),
        None => return rest.to_owned(),
    };
    if id.starts_with("unittest.loader._FailedTest") {
        return short.to_owned();
    }
    // Before Python 3.11 the parenthesis holds the class, not the method.
    if id.ends_with(&format!(".{short}")) { id.to_owned() } else { format!("{id}.{short}") }
}

/// The file of the longest prefix of the dotted ID that is a module.
fn module_file(id: &str, at: &Path) -> Option<String> {
    let parts: Vec<&str> = id.split('.').collect();
    (1..=parts.len()).rev().find_map(|n| relative_file(at, &format!("{}.py", parts[..n].join("/"))))
}

/// The last traceback frame inside the checkout.
fn traceback_file(output: &str, at: &Path) -> Option<String> {
    output
        .lines()
        .rev()
        .filter_map(|line| line.trim_start().strip_prefix("File \"")?.split('"').next())
        .find_map(|path| relative_file(at, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_unittest_report_is_read_test_by_test() {
        let at = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(at.path().join("tests")).unwrap();
        std::fs::write(at.path().join("tests/test_math.py"), "").unwrap();
        std::fs::write(at.path().join("tests/test_broken.py"), "").unwrap();
        let output = include_str!("../tests/outputs/unittest.txt");
        let result = read(output, at.path()).unwrap();
        assert_eq!((result.passed, result.failed, result.skipped), (1, 3, 1));
        let names: Vec<&str> = result.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tests.test_broken",
                "tests.test_math.Math.test_crashes",
                "tests.test_math.Math.test_adds"
            ]
        );
        let files: Vec<Option<&str>> = result.failures.iter().map(|f| f.file.as_deref()).collect();
        assert_eq!(
            files,
            [Some("tests/test_broken.py"), Some("tests/test_math.py"), Some("tests/test_math.py")]
        );
        assert!(
            result.failures[2].output.ends_with("AssertionError: 2 != 3"),
            "{}",
            result.failures[2].output
        );
        assert!(result.failures[0].output.contains("No module named 'missing_module'"));
    }

    #[test]
    fn a_passing_run_has_no_failures() {
        let output = "...\n----------------------------------------------------------------------\nRan 3 tests in 0.001s\n\nOK (skipped=1)\n";
        let result = read(output, Path::new(".")).unwrap();
        assert_eq!(
            (result.passed, result.failed, result.skipped, result.failures.len()),
            (2, 0, 1, 0)
        );
    }

    #[test]
    fn older_pythons_name_the_class_only() {
        assert_eq!(
            test_id("FAIL: test_adds (tests.test_math.Math)"),
            "tests.test_math.Math.test_adds"
        );
        assert_eq!(
            test_id("FAIL: test_adds (tests.test_math.Math.test_adds)"),
            "tests.test_math.Math.test_adds"
        );
    }

    #[test]
    fn output_that_is_not_unittest_is_not_read() {
        assert_eq!(read("npm ERR! missing script: test\n", Path::new(".")), None);
    }
}
