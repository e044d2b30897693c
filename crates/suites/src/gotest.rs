//! `go test -json`: one JSON event per line, `{"Action": "run" | "output"
//! | "pass" | "fail" | "skip", "Package": ..., "Test": ..., "Output": ...}`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::{SuiteResult, TestFailure, relative_file};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    action: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

pub(crate) fn read(output: &str, at: &Path) -> Option<SuiteResult> {
    let module = std::fs::read_to_string(at.join("go.mod")).ok().and_then(|text| {
        text.lines().find_map(|line| line.strip_prefix("module ").map(|m| m.trim().to_owned()))
    });
    let mut result = SuiteResult { parsed: true, ..SuiteResult::default() };
    let mut printed: HashMap<(String, String), String> = HashMap::new();
    let mut seen = false;
    for line in output.lines() {
        let Ok(event) = serde_json::from_str::<Event>(line) else { continue };
        seen = true;
        let Some(test) = event.test else { continue };
        let key = (event.package.clone(), test.clone());
        match event.action.as_str() {
            "output" => {
                printed.entry(key).or_default().push_str(event.output.as_deref().unwrap_or(""))
            }
            "pass" => result.passed += 1,
            "skip" => result.skipped += 1,
            "fail" => {
                result.failed += 1;
                let text = printed.remove(&key).unwrap_or_default();
                let dir = module
                    .as_deref()
                    .and_then(|module| event.package.strip_prefix(module))
                    .map(|rest| rest.trim_start_matches('/').to_owned());
                let file = dir.and_then(|dir| test_file(&text, &dir, at));
                result.failures.push(TestFailure {
                    name: format!("{}.{test}", event.package),
                    file,
                    output: text.trim().to_owned(),
                });
            }
            _ => {}
        }
    }
    seen.then_some(result)
}

/// `    adder_test.go:12: got 3, want 4` names the file, in the package's directory.
fn test_file(printed: &str, dir: &str, at: &Path) -> Option<String> {
    printed.lines().find_map(|line| {
        let name = line.trim_start().split(':').next()?;
        if !name.ends_with(".go") {
            return None;
        }
        let path = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
        relative_file(at, &path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_test_events_are_read_test_by_test() {
        let at = tempfile::tempdir().unwrap();
        std::fs::write(at.path().join("go.mod"), "module example.com/calc\n\ngo 1.22\n").unwrap();
        std::fs::create_dir_all(at.path().join("adder")).unwrap();
        std::fs::write(at.path().join("adder/adder_test.go"), "").unwrap();
        let output = [
            r#"{"Action":"start","Package":"example.com/calc/adder"}"#,
            r#"{"Action":"run","Package":"example.com/calc/adder","Test":"TestAdd"}"#,
            r#"{"Action":"output","Package":"example.com/calc/adder","Test":"TestAdd","Output":"=== RUN   TestAdd\n"}"#,
            r#"{"Action":"output","Package":"example.com/calc/adder","Test":"TestAdd","Output":"    adder_test.go:9: Add(1, 1) = 3, want 2\n"}"#,
            r#"{"Action":"output","Package":"example.com/calc/adder","Test":"TestAdd","Output":"--- FAIL: TestAdd (0.00s)\n"}"#,
            r#"{"Action":"fail","Package":"example.com/calc/adder","Test":"TestAdd","Elapsed":0}"#,
            r#"{"Action":"run","Package":"example.com/calc/adder","Test":"TestZero"}"#,
            r#"{"Action":"pass","Package":"example.com/calc/adder","Test":"TestZero","Elapsed":0}"#,
            r#"{"Action":"skip","Package":"example.com/calc/adder","Test":"TestSlow","Elapsed":0}"#,
            r#"{"Action":"fail","Package":"example.com/calc/adder","Elapsed":0.002}"#,
        ]
        .join("\n");
        let result = read(&output, at.path()).unwrap();
        assert_eq!((result.passed, result.failed, result.skipped), (1, 1, 1));
        assert_eq!(result.failures[0].name, "example.com/calc/adder.TestAdd");
        assert_eq!(result.failures[0].file.as_deref(), Some("adder/adder_test.go"));
        assert!(result.failures[0].output.contains("Add(1, 1) = 3, want 2"));
    }
}
