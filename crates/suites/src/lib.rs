//! Test suites as orca's test gate runs them. A suite is a command (`cargo
//! test`, `python3 -m pytest`, `python3 -m unittest ...`, `go test ./...`,
//! or anything else); [`Suite::invocation`] adds what makes its results
//! machine-readable (`--no-fail-fast`, `--junitxml`, `-json`), and
//! [`Suite::read`] reads them back: totals, each failing test's name, the
//! file it lives in when that can be told, and its own output. A command
//! orca has no reader for is judged by its exit status alone.
//!
//! Readers: libtest's text (the format `cargo test` prints without nightly
//! flags), unittest's report, JUnit XML (pytest `--junitxml`, and any tool
//! that writes it), and `go test -json` events.

mod gotest;
mod junit;
mod libtest;
mod unittest;

use std::path::Path;

use serde::Serialize;

/// Which reader a suite's output gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    Cargo,
    Unittest,
    Pytest,
    Go,
    /// No reader: the exit status says pass or fail.
    Other,
}

/// One suite: the command as configured or detected, and where it runs
/// (relative to the repository's root, `""` for the top).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suite {
    pub argv: Vec<String>,
    pub dir: String,
    pub runner: Runner,
}

/// What one run of a suite showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SuiteResult {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<TestFailure>,
    /// Whether the output could be read test by test; when not, a failed
    /// suite is one failure holding the end of its output.
    pub parsed: bool,
}

/// One failing test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestFailure {
    /// The test's ID as its runner names it (`tests::adds`,
    /// `tests.test_math.Math.test_adds`, `tests/test_math.py::test_adds`,
    /// `example.com/m/pkg.TestAdds`).
    pub name: String,
    /// The file it lives in, relative to the repository's root.
    pub file: Option<String>,
    /// What it printed: the assertion, the traceback, the panic.
    pub output: String,
}

/// The most of one failure's output kept (its end).
const FAILURE_OUTPUT: usize = 4_000;

impl Suite {
    pub fn new(argv: Vec<String>, dir: impl Into<String>) -> Suite {
        let runner = runner_of(&argv);
        Suite { argv, dir: dir.into(), runner }
    }

    /// The command as a person would type it (in its directory).
    pub fn display(&self) -> String {
        let line = self.argv.join(" ");
        if self.dir.is_empty() { line } else { format!("(cd {} && {line})", self.dir) }
    }

    /// The argv to run: the suite's own, with what makes its results
    /// readable. `junit` is where a JUnit XML report is to be written
    /// (pytest); [`Suite::read`] then takes its contents.
    pub fn invocation(&self, junit: &Path) -> Vec<String> {
        let mut argv = self.argv.clone();
        match self.runner {
            Runner::Cargo => {
                // Every test binary runs, not just those before the first failure.
                if !argv.iter().any(|a| a == "--no-fail-fast")
                    && let Some(at) = argv.iter().position(|a| a == "test")
                {
                    argv.insert(at + 1, "--no-fail-fast".into());
                }
            }
            Runner::Pytest => argv.push(format!("--junitxml={}", junit.display())),
            Runner::Go => {
                if !argv.iter().any(|a| a == "-json")
                    && let Some(at) = argv.iter().position(|a| a == "test")
                {
                    argv.insert(at + 1, "-json".into());
                }
            }
            Runner::Unittest | Runner::Other => {}
        }
        argv
    }

    /// Reads a run's results: `output` is what it printed (stdout and
    /// stderr), `junit` the JUnit report's contents when one was written,
    /// `passed` its exit status, `root` the checkout it ran in (to tell a
    /// failing test's file).
    pub fn read(
        &self,
        output: &str,
        junit: Option<&str>,
        passed: bool,
        root: &Path,
    ) -> SuiteResult {
        let at = root.join(&self.dir);
        let read = match self.runner {
            Runner::Cargo => libtest::read(output, root),
            Runner::Unittest => unittest::read(output, &at),
            Runner::Pytest => junit.and_then(|xml| junit::read(xml, &at)),
            Runner::Go => gotest::read(output, &at),
            Runner::Other => junit.and_then(|xml| junit::read(xml, &at)),
        };
        let mut result = read.unwrap_or_default();
        for failure in &mut result.failures {
            failure.output = tail(&failure.output, FAILURE_OUTPUT);
            if let Some(file) = &failure.file
                && !self.dir.is_empty()
                && !root.join(file).exists()
                && at.join(file).exists()
            {
                failure.file = Some(format!("{}/{file}", self.dir));
            }
        }
        // A failed run whose failures could not be told apart (it did not
        // compile, it crashed, there is no reader) is one failure.
        if !passed && result.failures.is_empty() {
            result.failed = result.failed.max(1);
            result.failures.push(TestFailure {
                name: self.display(),
                file: None,
                output: tail(output, FAILURE_OUTPUT),
            });
        }
        result
    }

    /// A command that runs only `failure`'s test, for a fix task's
    /// `verify`; the whole suite when the runner cannot pick one test.
    pub fn single(&self, failure: &TestFailure) -> Vec<String> {
        let prefix = |upto: &str| -> Vec<String> {
            match self.argv.iter().position(|a| a == upto) {
                Some(at) => self.argv[..=at].to_vec(),
                None => self.argv.clone(),
            }
        };
        if failure.name == self.display() {
            return self.argv.clone();
        }
        match self.runner {
            Runner::Cargo => {
                let mut argv = prefix("test");
                argv.push(failure.name.clone());
                argv
            }
            Runner::Unittest => {
                // `discover -s DIR` without `-t` names tests from inside DIR,
                // where they cannot be named from the top: select the file
                // and the test instead.
                let loose =
                    self.argv.iter().any(|a| a == "-s") && !self.argv.iter().any(|a| a == "-t");
                let parts: Vec<&str> = failure.name.split('.').collect();
                if loose && parts.len() >= 2 {
                    let mut argv = self.argv.clone();
                    argv.extend(["-p".to_owned(), format!("{}.py", parts[0])]);
                    argv.extend(["-k".to_owned(), parts[parts.len() - 1].to_owned()]);
                    return argv;
                }
                let mut argv = prefix("unittest");
                argv.push(failure.name.clone());
                argv
            }
            Runner::Pytest => {
                let mut argv = prefix("pytest");
                argv.push(failure.name.clone());
                argv
            }
            Runner::Go => match failure.name.rsplit_once('.') {
                Some((_, test)) => {
                    let dir = failure
                        .file
                        .as_deref()
                        .and_then(|file| Path::new(file).parent())
                        .map(|dir| dir.strip_prefix(&self.dir).unwrap_or(dir))
                        .map(|dir| format!("./{}", dir.display()))
                        .unwrap_or_else(|| "./...".to_owned());
                    vec!["go".into(), "test".into(), dir, "-run".into(), format!("^{test}$")]
                }
                None => self.argv.clone(),
            },
            Runner::Other => self.argv.clone(),
        }
    }
}

fn runner_of(argv: &[String]) -> Runner {
    let program = argv
        .first()
        .map(|p| Path::new(p).file_name().and_then(|n| n.to_str()).unwrap_or(p).to_owned())
        .unwrap_or_default();
    let module = argv.windows(2).find(|w| w[0] == "-m").map(|w| w[1].as_str());
    match (program.as_str(), module) {
        ("cargo", _) if argv.get(1).map(String::as_str) == Some("test") => Runner::Cargo,
        (_, Some("unittest")) => Runner::Unittest,
        (_, Some("pytest")) | ("pytest", _) => Runner::Pytest,
        ("go", _) if argv.get(1).map(String::as_str) == Some("test") => Runner::Go,
        _ => Runner::Other,
    }
}

/// `word` as one word of a POSIX shell line.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The end of `text`, at most `max` bytes, cut at a line start.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(at) => format!("…\n{}", &cut[at + 1..]),
        None => format!("…{cut}"),
    }
}

/// `path` relative to `root`, if it is inside it and exists.
fn relative_file(root: &Path, path: &str) -> Option<String> {
    let candidate = Path::new(path);
    let relative = if candidate.is_absolute() {
        let root = root.canonicalize().ok()?;
        let path = candidate.canonicalize().ok()?;
        path.strip_prefix(&root).ok()?.to_path_buf()
    } else {
        candidate.to_path_buf()
    };
    root.join(&relative).is_file().then(|| relative.to_string_lossy().replace('\\', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn runners_are_told_by_their_command() {
        let runner = |words: &[&str]| Suite::new(argv(words), "").runner;
        assert_eq!(runner(&["cargo", "test", "--workspace"]), Runner::Cargo);
        assert_eq!(
            runner(&["python3", "-m", "unittest", "discover", "-s", "tests"]),
            Runner::Unittest
        );
        assert_eq!(runner(&["python", "-m", "pytest"]), Runner::Pytest);
        assert_eq!(runner(&["/usr/bin/pytest", "-q"]), Runner::Pytest);
        assert_eq!(runner(&["go", "test", "./..."]), Runner::Go);
        assert_eq!(runner(&["npm", "test"]), Runner::Other);
        assert_eq!(runner(&["cargo", "build"]), Runner::Other);
    }

    #[test]
    fn invocations_ask_for_readable_results() {
        let junit = Path::new("/tmp/r.xml");
        let invocation = |words: &[&str]| Suite::new(argv(words), "").invocation(junit).join(" ");
        assert_eq!(
            invocation(&["cargo", "test", "--workspace"]),
            "cargo test --no-fail-fast --workspace"
        );
        assert_eq!(
            invocation(&["python3", "-m", "pytest"]),
            "python3 -m pytest --junitxml=/tmp/r.xml"
        );
        assert_eq!(invocation(&["go", "test", "./..."]), "go test -json ./...");
        assert_eq!(invocation(&["npm", "test"]), "npm test");
    }

    #[test]
    fn an_unreadable_failed_run_is_one_failure_with_its_output() {
        let suite = Suite::new(argv(&["npm", "test"]), "web");
        let result =
            suite.read("lots\nof\noutput\nError: boom\n", None, false, Path::new("/nonexistent"));
        assert_eq!((result.failed, result.failures.len(), result.parsed), (1, 1, false));
        assert_eq!(result.failures[0].name, "(cd web && npm test)");
        assert!(result.failures[0].output.contains("Error: boom"));
        assert_eq!(suite.single(&result.failures[0]), argv(&["npm", "test"]));
    }

    #[test]
    fn one_unittest_test_runs_where_discovery_named_it() {
        let failure =
            |name: &str| TestFailure { name: name.into(), file: None, output: String::new() };
        let packaged = Suite::new(
            argv(&["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."]),
            "",
        );
        assert_eq!(
            packaged.single(&failure("tests.test_a.A.test_x")),
            argv(&["python3", "-m", "unittest", "tests.test_a.A.test_x"])
        );
        let loose = Suite::new(argv(&["python3", "-m", "unittest", "discover", "-s", "tests"]), "");
        assert_eq!(
            loose.single(&failure("test_a.A.test_x")),
            argv(&[
                "python3",
                "-m",
                "unittest",
                "discover",
                "-s",
                "tests",
                "-p",
                "test_a.py",
                "-k",
                "test_x"
            ])
        );
    }

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_quote("tests/test_a.py::test_x"), "tests/test_a.py::test_x");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    #[test]
    fn the_tail_starts_at_a_line() {
        let text = "first line\nsecond line\nthird line\n";
        assert_eq!(tail(text, 100), text);
        assert_eq!(tail(text, 15), "…\nthird line\n");
    }
}
