//! How a repository is built, tested, formatted and linted, read from its
//! own files: Cargo, npm scripts, Python (pyproject, pytest, ruff, black),
//! Go and Makefile targets. Each command is an argv (never a shell line)
//! and the directory it runs in; the test and cleanup gates run them.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Build,
    Test,
    /// Rewrites files into their canonical format.
    Format,
    Lint,
}

/// One command the repository uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub kind: CommandKind,
    /// cargo, npm, python, go, make.
    pub ecosystem: String,
    pub argv: Vec<String>,
    /// Where to run it, relative to the repository root (`` for the top).
    pub dir: String,
    /// The file it was read from.
    pub source: String,
}

/// Every command found at the top of `root` and one directory down.
pub(crate) fn detect(root: &Path) -> Vec<Command> {
    let mut dirs = vec![String::new()];
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut subdirs: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| {
                !name.starts_with('.')
                    && !matches!(name.as_str(), "node_modules" | "target" | "vendor")
            })
            .collect();
        subdirs.sort();
        dirs.extend(subdirs);
    }
    let mut found = Vec::new();
    for dir in dirs {
        let at = root.join(&dir);
        cargo(&at, &dir, &mut found);
        npm(&at, &dir, &mut found);
        python(&at, &dir, &mut found);
        go(&at, &dir, &mut found);
        make(&at, &dir, &mut found);
    }
    // A Cargo workspace member repeats what the workspace's commands do.
    let workspace = found.iter().any(|c| c.ecosystem == "cargo" && c.dir.is_empty());
    found.retain(|c| !(workspace && c.ecosystem == "cargo" && !c.dir.is_empty()));
    found
}

fn push(
    found: &mut Vec<Command>,
    kind: CommandKind,
    ecosystem: &str,
    argv: &[&str],
    dir: &str,
    source: &str,
) {
    found.push(Command {
        kind,
        ecosystem: ecosystem.to_owned(),
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        dir: dir.to_owned(),
        source: if dir.is_empty() { source.to_owned() } else { format!("{dir}/{source}") },
    });
}

fn cargo(at: &Path, dir: &str, found: &mut Vec<Command>) {
    let Ok(text) = std::fs::read_to_string(at.join("Cargo.toml")) else { return };
    let workspace = text.parse::<toml::Table>().is_ok_and(|table| table.contains_key("workspace"));
    let all: &[&str] = if workspace { &["--workspace"] } else { &[] };
    let with = |base: &[&str], extra: &[&str]| -> Vec<String> {
        base.iter().chain(all).chain(extra).map(|a| (*a).to_owned()).collect()
    };
    for (kind, argv) in [
        (CommandKind::Build, with(&["cargo", "build"], &["--all-targets"])),
        (CommandKind::Test, with(&["cargo", "test"], &[])),
        (CommandKind::Format, vec!["cargo".into(), "fmt".into(), "--all".into()]),
        (CommandKind::Lint, with(&["cargo", "clippy"], &["--all-targets"])),
    ] {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        push(found, kind, "cargo", &argv, dir, "Cargo.toml");
    }
}

/// npm's placeholder for a package without tests.
const NO_TEST_SPECIFIED: &str = "no test specified";

fn npm(at: &Path, dir: &str, found: &mut Vec<Command>) {
    let Ok(text) = std::fs::read_to_string(at.join("package.json")) else { return };
    let Ok(package) = serde_json::from_str::<serde_json::Value>(&text) else { return };
    let Some(scripts) = package["scripts"].as_object() else { return };
    let has = |name: &str| {
        scripts.get(name).and_then(|s| s.as_str()).is_some_and(|s| !s.contains(NO_TEST_SPECIFIED))
    };
    if has("build") {
        push(found, CommandKind::Build, "npm", &["npm", "run", "build"], dir, "package.json");
    }
    if has("test") {
        push(found, CommandKind::Test, "npm", &["npm", "test"], dir, "package.json");
    }
    if let Some(name) = ["format", "fmt", "prettier"].into_iter().find(|name| has(name)) {
        push(found, CommandKind::Format, "npm", &["npm", "run", name], dir, "package.json");
    }
    if has("lint") {
        push(found, CommandKind::Lint, "npm", &["npm", "run", "lint"], dir, "package.json");
    }
}

fn python(at: &Path, dir: &str, found: &mut Vec<Command>) {
    let pyproject = std::fs::read_to_string(at.join("pyproject.toml")).unwrap_or_default();
    let setup_cfg = std::fs::read_to_string(at.join("setup.cfg")).unwrap_or_default();
    let requirements = ["requirements.txt", "requirements-dev.txt", "dev-requirements.txt"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(at.join(file)).ok())
        .collect::<String>();
    let declared = format!("{pyproject}\n{setup_cfg}\n{requirements}");
    let is_python = !pyproject.is_empty()
        || !setup_cfg.is_empty()
        || at.join("setup.py").is_file()
        || !requirements.is_empty();
    let has_tests = at.join("pytest.ini").is_file()
        || at.join("tox.ini").is_file()
        || declared.contains("pytest")
        || has_test_files(&at.join("tests"));
    if !is_python && !has_tests {
        return;
    }
    let source = if !pyproject.is_empty() {
        "pyproject.toml"
    } else if at.join("pytest.ini").is_file() {
        "pytest.ini"
    } else {
        "setup.cfg"
    };
    if has_tests {
        // Tests written for the standard library's runner run without
        // pytest installed; anything that names pytest needs it.
        let pytest_named = declared.contains("pytest")
            || at.join("pytest.ini").is_file()
            || at.join("conftest.py").is_file()
            || at.join("tests/conftest.py").is_file();
        let argv: &[&str] = if !pytest_named && test_files_use_only_unittest(&at.join("tests")) {
            // A package of tests imports as `tests.*` from the top; loose
            // files import from their own directory.
            if at.join("tests/__init__.py").is_file() {
                &["python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."]
            } else {
                &["python3", "-m", "unittest", "discover", "-s", "tests"]
            }
        } else {
            &["python3", "-m", "pytest"]
        };
        push(found, CommandKind::Test, "python", argv, dir, source);
    }
    if declared.contains("ruff") {
        push(found, CommandKind::Format, "python", &["ruff", "format", "."], dir, source);
        push(found, CommandKind::Lint, "python", &["ruff", "check", "."], dir, source);
    } else if declared.contains("black") {
        push(found, CommandKind::Format, "python", &["black", "."], dir, source);
    }
}

fn has_test_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("test_") && name.ends_with(".py")
        })
    })
}

/// Whether the test files in `dir` all import `unittest` and none pytest.
fn test_files_use_only_unittest(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let texts: Vec<String> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("test_") && name.ends_with(".py")
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    !texts.is_empty()
        && texts
            .iter()
            .all(|text| text.contains("import unittest") || text.contains("from unittest"))
        && !texts.iter().any(|text| text.contains("pytest"))
}

fn go(at: &Path, dir: &str, found: &mut Vec<Command>) {
    if !at.join("go.mod").is_file() {
        return;
    }
    push(found, CommandKind::Build, "go", &["go", "build", "./..."], dir, "go.mod");
    push(found, CommandKind::Test, "go", &["go", "test", "./..."], dir, "go.mod");
    push(found, CommandKind::Format, "go", &["gofmt", "-w", "."], dir, "go.mod");
    push(found, CommandKind::Lint, "go", &["go", "vet", "./..."], dir, "go.mod");
}

fn make(at: &Path, dir: &str, found: &mut Vec<Command>) {
    let Some(text) = ["Makefile", "makefile", "GNUmakefile"]
        .iter()
        .find_map(|file| std::fs::read_to_string(at.join(file)).ok())
    else {
        return;
    };
    let targets: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with(['\t', ' ', '#', '.']))
        .filter_map(|line| line.split_once(':').map(|(target, _)| target.trim()))
        .filter(|target| !target.contains(['$', '%', '=']) && !target.is_empty())
        .collect();
    for (kind, names) in [
        (CommandKind::Build, &["build", "all"][..]),
        (CommandKind::Test, &["test", "check"][..]),
        (CommandKind::Format, &["fmt", "format"][..]),
        (CommandKind::Lint, &["lint"][..]),
    ] {
        if let Some(target) = names.iter().find(|name| targets.contains(name)) {
            push(found, kind, "make", &["make", target], dir, "Makefile");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn argvs(found: &[Command], kind: CommandKind) -> Vec<String> {
        found
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| format!("{}:{}", c.dir, c.argv.join(" ")))
            .collect()
    }

    #[test]
    fn each_ecosystem_says_how_it_builds_tests_formats_and_lints() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n");
        write(root, "crates/Cargo.toml", "[package]\nname = \"x\"\n");
        write(
            root,
            "web/package.json",
            r#"{"scripts":{"build":"vite build","test":"vitest run","lint":"eslint .","format":"prettier -w ."}}"#,
        );
        write(
            root,
            "tools/package.json",
            r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#,
        );
        write(root, "api/pyproject.toml", "[tool.pytest.ini_options]\n[tool.ruff]\n");
        write(root, "svc/go.mod", "module example.com/svc\n");
        write(
            root,
            "Makefile",
            "all: build\nbuild:\n\tcargo build\ntest: build\n\tcargo test\nlint:\n\ttrue\n.PHONY: build\n",
        );
        let found = detect(root);
        assert_eq!(
            argvs(&found, CommandKind::Test),
            [
                ":cargo test --workspace",
                ":make test",
                "api:python3 -m pytest",
                "svc:go test ./...",
                "web:npm test"
            ]
        );
        assert_eq!(
            argvs(&found, CommandKind::Format),
            [":cargo fmt --all", "api:ruff format .", "svc:gofmt -w .", "web:npm run format"]
        );
        assert!(argvs(&found, CommandKind::Build).contains(&":make build".to_owned()));
        assert!(argvs(&found, CommandKind::Lint).contains(&"web:npm run lint".to_owned()));
        assert!(found.iter().all(|c| c.dir != "crates"), "a workspace member is the workspace's");
        assert!(found.iter().all(|c| c.dir != "tools"), "npm's placeholder test is no test");
    }

    #[test]
    fn a_python_project_without_config_is_found_by_its_tests() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "tests/test_app.py", "def test_ok():\n    assert True\n");
        assert_eq!(argvs(&detect(dir.path()), CommandKind::Test), [":python3 -m pytest"]);
    }

    #[test]
    fn unittest_tests_run_with_the_standard_runner() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "tests/test_app.py",
            "import unittest\n\nclass T(unittest.TestCase):\n    pass\n",
        );
        assert_eq!(
            argvs(&detect(dir.path()), CommandKind::Test),
            [":python3 -m unittest discover -s tests"]
        );
        write(dir.path(), "tests/__init__.py", "");
        assert_eq!(
            argvs(&detect(dir.path()), CommandKind::Test),
            [":python3 -m unittest discover -s tests -t ."]
        );
        write(dir.path(), "tests/conftest.py", "");
        assert_eq!(argvs(&detect(dir.path()), CommandKind::Test), [":python3 -m pytest"]);
    }
}
