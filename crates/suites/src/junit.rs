//! JUnit XML, as pytest's `--junitxml` writes it (and jest-junit, vitest,
//! nextest, ...): a `<testcase>` per test, with a `<failure>` or `<error>`
//! child when it failed and `<skipped>` when it did not run.

use std::path::Path;

use crate::{SuiteResult, TestFailure, relative_file};

pub(crate) fn read(xml: &str, at: &Path) -> Option<SuiteResult> {
    let document = roxmltree::Document::parse(xml).ok()?;
    let mut result = SuiteResult { parsed: true, ..SuiteResult::default() };
    for case in document.descendants().filter(|node| node.has_tag_name("testcase")) {
        let problem = case
            .children()
            .find(|child| child.has_tag_name("failure") || child.has_tag_name("error"));
        if case.children().any(|child| child.has_tag_name("skipped")) {
            result.skipped += 1;
            continue;
        }
        let Some(problem) = problem else {
            result.passed += 1;
            continue;
        };
        result.failed += 1;
        let classname = case.attribute("classname").unwrap_or("");
        let name = case.attribute("name").unwrap_or("");
        let file = case
            .attribute("file")
            .and_then(|file| relative_file(at, file))
            .or_else(|| module_file(classname, at));
        let message = problem.attribute("message").unwrap_or("");
        let text = problem.text().unwrap_or("").trim();
        let output = if text.is_empty() || text.contains(message) {
            text.to_owned()
        } else {
            format!("{message}\n{text}")
        };
        result.failures.push(TestFailure {
            name: test_id(file.as_deref(), classname, name),
            file,
            output,
        });
    }
    Some(result)
}

/// pytest's node ID when the file is known (`tests/test_x.py::Class::test`),
/// else `classname.name`.
fn test_id(file: Option<&str>, classname: &str, name: &str) -> String {
    match file {
        Some(file) if file.ends_with(".py") => {
            let module = file.trim_end_matches(".py").replace('/', ".");
            let classes = classname.strip_prefix(&module).unwrap_or("").trim_start_matches('.');
            let mut id = file.to_owned();
            for class in classes.split('.').filter(|c| !c.is_empty()) {
                id.push_str("::");
                id.push_str(class);
            }
            format!("{id}::{name}")
        }
        _ if classname.is_empty() => name.to_owned(),
        _ => format!("{classname}.{name}"),
    }
}

/// The file of the longest prefix of the dotted class name that is a module.
fn module_file(classname: &str, at: &Path) -> Option<String> {
    let parts: Vec<&str> = classname.split('.').collect();
    (1..=parts.len()).rev().find_map(|n| relative_file(at, &format!("{}.py", parts[..n].join("/"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pytest_report_is_read_with_node_ids() {
        let at = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(at.path().join("tests")).unwrap();
        std::fs::write(at.path().join("tests/test_math.py"), "").unwrap();
        let xml = include_str!("../tests/outputs/pytest-junit.xml");
        let result = read(xml, at.path()).unwrap();
        assert_eq!((result.passed, result.failed, result.skipped), (2, 2, 1));
        let names: Vec<&str> = result.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tests/test_math.py::test_adds",
                "tests/test_math.py::TestClass::test_method[param-1]"
            ]
        );
        assert!(result.failures.iter().all(|f| f.file.as_deref() == Some("tests/test_math.py")));
        assert!(result.failures[0].output.contains("E       assert 2 == 3"));
        assert!(
            result.failures[1]
                .output
                .starts_with("failed on setup with \"fixture 'db' not found\"")
        );
    }

    #[test]
    fn a_file_that_is_not_xml_is_not_read() {
        assert_eq!(read("not xml at all", Path::new(".")), None);
    }
}
