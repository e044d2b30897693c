//! Unused code in the files a run changed: the compiler's own unused
//! warnings for Rust (`cargo check`: proven), and, when they are
//! installed, vulture for Python (a guess unless 100% confident), knip for
//! JavaScript/TypeScript (unused files, exports and dependencies) and
//! cargo-machete for Cargo dependencies (both read the code statically and
//! miss dynamic uses, so theirs are guesses).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// One unused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unused {
    pub file: String,
    pub line: u64,
    /// What is unused, in the tool's words.
    pub what: String,
    /// `cargo check`, `vulture`, `knip` or `cargo machete`.
    pub tool: String,
    /// Whether the tool proves it (the compiler does; vulture only at 100%;
    /// knip and cargo-machete never).
    pub proven: bool,
}

/// The lints of rustc that prove an item unused.
const RUST_UNUSED: [&str; 6] = [
    "dead_code",
    "unused_imports",
    "unused_variables",
    "unused_mut",
    "unused_macros",
    "unused_assignments",
];

/// The unused items in `changed` (repository-relative paths) of the
/// checkout at `root`.
pub fn find(root: &Path, changed: &BTreeSet<String>) -> Vec<Unused> {
    let mut found = Vec::new();
    if root.join("Cargo.toml").is_file() && changed.iter().any(|f| f.ends_with(".rs")) {
        found.extend(rust(root));
    }
    let python: Vec<&String> = changed.iter().filter(|f| f.ends_with(".py")).collect();
    if !python.is_empty() {
        found.extend(vulture(root, &python));
    }
    let javascript = |file: &String| {
        file == "package.json"
            || [".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"]
                .iter()
                .any(|extension| file.ends_with(extension))
    };
    if root.join("package.json").is_file() && changed.iter().any(javascript) {
        found.extend(knip(root));
    }
    if changed.iter().any(|file| file == "Cargo.toml" || file.ends_with("/Cargo.toml")) {
        found.extend(cargo_machete(root));
    }
    found.retain(|unused| changed.contains(&unused.file));
    found.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    found.dedup();
    found
}

/// `cargo check --message-format=json`: each unused-lint warning.
fn rust(root: &Path) -> Vec<Unused> {
    let args = ["check", "--all-targets", "--message-format=json", "--quiet"];
    tool_output("cargo".as_ref(), &args, root).lines().filter_map(rust_warning).collect()
}

fn rust_warning(line: &str) -> Option<Unused> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if event["reason"] != "compiler-message" {
        return None;
    }
    let message = &event["message"];
    let code = message["code"]["code"].as_str()?;
    if !RUST_UNUSED.contains(&code) {
        return None;
    }
    let span = message["spans"].as_array()?.iter().find(|span| span["is_primary"] == true)?;
    Some(Unused {
        file: span["file_name"].as_str()?.to_owned(),
        line: span["line_start"].as_u64()?,
        what: message["message"].as_str()?.to_owned(),
        tool: "cargo check".to_owned(),
        proven: true,
    })
}

/// `vulture FILES`: `path:line: unused function 'x' (60% confidence)`.
fn vulture(root: &Path, files: &[&String]) -> Vec<Unused> {
    let args: Vec<&str> = files.iter().map(|f| f.as_str()).collect();
    tool_output("vulture".as_ref(), &args, root).lines().filter_map(vulture_line).collect()
}

/// What `program ARGS` prints on stdout in `root`; nothing when it cannot
/// start (every tool here but cargo is optional).
fn tool_output(program: &std::ffi::OsStr, args: &[&str], root: &Path) -> String {
    Command::new(program)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

fn vulture_line(line: &str) -> Option<Unused> {
    let (file, rest) = line.split_once(':')?;
    let (number, what) = rest.split_once(':')?;
    let what = what.trim();
    let confidence =
        what.rsplit_once('(')?.1.trim_end_matches(')').trim_end_matches("% confidence");
    Some(Unused {
        file: file.trim_start_matches("./").to_owned(),
        line: number.trim().parse().ok()?,
        what: what.rsplit_once(" (").map_or(what, |(text, _)| text).to_owned(),
        tool: "vulture".to_owned(),
        proven: confidence.trim() == "100",
    })
}

/// `knip --reporter json`, the project's own (`node_modules/.bin`) or one
/// on PATH.
fn knip(root: &Path) -> Vec<Unused> {
    let local = root.join("node_modules/.bin/knip");
    let program = if local.is_file() { local.into_os_string() } else { "knip".into() };
    knip_report(&tool_output(&program, &["--reporter", "json", "--no-progress"], root))
}

/// knip's JSON report: per file, lists of issues by kind, each with the
/// name (and, but for whole files, a line).
fn knip_report(text: &str) -> Vec<Unused> {
    const KINDS: [(&str, &str); 7] = [
        ("files", "unused file"),
        ("exports", "unused export"),
        ("types", "unused exported type"),
        ("enumMembers", "unused enum member"),
        ("namespaceMembers", "unused namespace member"),
        ("dependencies", "unused dependency"),
        ("devDependencies", "unused devDependency"),
    ];
    let Ok(report) = serde_json::from_str::<serde_json::Value>(text) else { return Vec::new() };
    let mut found = Vec::new();
    for issue in report["issues"].as_array().into_iter().flatten() {
        let Some(file) = issue["file"].as_str() else { continue };
        for (kind, label) in KINDS {
            for item in issue[kind].as_array().into_iter().flatten() {
                let what = match (kind, item["name"].as_str()) {
                    ("files", _) => label.to_owned(),
                    (_, Some(name)) => format!("{label} '{name}'"),
                    (_, None) => continue,
                };
                found.push(Unused {
                    file: file.to_owned(),
                    line: item["line"].as_u64().unwrap_or(1),
                    what,
                    tool: "knip".to_owned(),
                    proven: false,
                });
            }
        }
    }
    found
}

/// `cargo machete`: the dependencies no source file of their crate names.
fn cargo_machete(root: &Path) -> Vec<Unused> {
    machete_report(&tool_output("cargo-machete".as_ref(), &[], root))
}

/// cargo-machete's report: a `<crate> -- <manifest>:` line, then one
/// indented line per unused dependency. The line is the manifest's first.
fn machete_report(text: &str) -> Vec<Unused> {
    let mut found = Vec::new();
    let mut manifest: Option<String> = None;
    for line in text.lines() {
        if let Some((_, path)) = line.split_once(" -- ") {
            manifest = path.strip_suffix(':').map(|path| path.trim_start_matches("./").to_owned());
        } else if let (Some(manifest), true) = (&manifest, line.starts_with(char::is_whitespace)) {
            let name = line.trim();
            if !name.is_empty() {
                found.push(Unused {
                    file: manifest.clone(),
                    line: 1,
                    what: format!("unused dependency '{name}'"),
                    tool: "cargo machete".to_owned(),
                    proven: false,
                });
            }
        } else {
            manifest = None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compilers_unused_warnings_are_read() {
        let line = r#"{"reason":"compiler-message","message":{"code":{"code":"dead_code"},"level":"warning","message":"function `helper` is never used","spans":[{"file_name":"src/lib.rs","line_start":7,"is_primary":true}]}}"#;
        assert_eq!(
            rust_warning(line),
            Some(Unused {
                file: "src/lib.rs".into(),
                line: 7,
                what: "function `helper` is never used".into(),
                tool: "cargo check".into(),
                proven: true
            })
        );
        let other = r#"{"reason":"compiler-message","message":{"code":{"code":"non_snake_case"},"message":"x","spans":[]}}"#;
        assert_eq!(rust_warning(other), None);
    }

    #[test]
    fn vultures_guesses_are_not_proof() {
        let guess =
            vulture_line("app/util.py:12: unused function 'helper' (60% confidence)").unwrap();
        assert_eq!((guess.file.as_str(), guess.line, guess.proven), ("app/util.py", 12, false));
        assert_eq!(guess.what, "unused function 'helper'");
        assert!(
            vulture_line("app/util.py:3: unused import 'os' (100% confidence)").unwrap().proven
        );
    }

    /// What knip 6.48.0 printed for a project with an orphan file, an
    /// unused export and an unused dependency.
    #[test]
    fn knips_unused_files_exports_and_dependencies_are_read_as_guesses() {
        let report = r#"{"issues":[{"file":"src/orphan.js","dependencies":[],"devDependencies":[],"exports":[],"files":[{"name":"src/orphan.js"}],"types":[]},{"file":"package.json","dependencies":[{"name":"left-pad","line":1,"col":99,"pos":98}],"devDependencies":[],"exports":[],"files":[]},{"file":"src/lib.js","dependencies":[],"exports":[{"name":"unusedHelper","line":3,"col":17,"pos":54}],"files":[],"types":[{"name":"Shape","line":9,"col":13,"pos":80}]}]}"#;
        let found = knip_report(report);
        let seen: Vec<(&str, u64, &str)> =
            found.iter().map(|u| (u.file.as_str(), u.line, u.what.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("src/orphan.js", 1, "unused file"),
                ("package.json", 1, "unused dependency 'left-pad'"),
                ("src/lib.js", 3, "unused export 'unusedHelper'"),
                ("src/lib.js", 9, "unused exported type 'Shape'"),
            ]
        );
        assert!(found.iter().all(|u| !u.proven && u.tool == "knip"));
        assert!(knip_report("not json").is_empty());
    }

    #[test]
    fn cargo_machetes_unused_dependencies_are_read_per_manifest() {
        // What cargo-machete 0.9.2 printed for a workspace of two crates.
        let report = "cargo-machete found the following unused dependencies in this directory:\n\
            shop -- ./Cargo.toml:\n\
            \tserde\n\
            \tregex\n\
            worker -- ./crates/worker/Cargo.toml:\n\
            \tanyhow\n\
            \n\
            If you believe cargo-machete has detected an unused dependency incorrectly,\n\
            you can add the dependency to the list of dependencies to ignore in the\n\
            `[package.metadata.cargo-machete]` section of the appropriate Cargo.toml.\n\
            For example:\n\
            \n\
            [package.metadata.cargo-machete]\n\
            ignored = [\"prost\"]\n";
        let found = machete_report(report);
        let seen: Vec<(&str, &str)> =
            found.iter().map(|u| (u.file.as_str(), u.what.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("Cargo.toml", "unused dependency 'serde'"),
                ("Cargo.toml", "unused dependency 'regex'"),
                ("crates/worker/Cargo.toml", "unused dependency 'anyhow'"),
            ]
        );
        assert!(found.iter().all(|u| !u.proven));
    }

    #[test]
    fn a_real_crate_s_unused_function_is_found_in_the_changed_file_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"deadish\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "mod extra;\npub fn used() {}\n").unwrap();
        std::fs::write(dir.path().join("src/extra.rs"), "fn helper() -> u32 {\n    1\n}\n")
            .unwrap();
        let changed: BTreeSet<String> = ["src/extra.rs".to_owned()].into();
        let found = find(dir.path(), &changed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_str(), found[0].line, found[0].proven),
            ("src/extra.rs", 1, true)
        );
        assert!(found[0].what.contains("helper"), "{found:?}");
        let elsewhere: BTreeSet<String> = ["src/lib.rs".to_owned()].into();
        assert!(find(dir.path(), &elsewhere).is_empty());
    }
}
