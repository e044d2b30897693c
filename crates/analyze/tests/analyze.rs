//! The analysis of small repositories in each language the map reads:
//! symbols, imports, the graph, the ranking, the commands, and the text
//! for agents under a tight budget. Snapshots show them whole.

use std::fmt::Write as _;
use std::path::Path;

use orca_analyze::{Analysis, AnalyzeOptions, analyze, estimate_tokens};

/// A git repository (so `.gitignore` applies, as in real ones) with `files`.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Everything but the ranks' digits: symbols, imports, edges, order.
fn digest(analysis: &Analysis) -> String {
    let mut out = String::new();
    for file in &analysis.files {
        let symbols: Vec<String> =
            file.symbols.iter().map(|s| format!("{} {}@{}", s.kind, s.name, s.line)).collect();
        let _ = writeln!(
            out,
            "{} [{}] code={} symbols=[{}] imports={:?}",
            file.path,
            file.language,
            file.code,
            symbols.join(", "),
            file.imports
        );
    }
    for edge in &analysis.edges {
        let _ = writeln!(out, "edge {} -> {} ({})", edge.from, edge.to, edge.weight);
    }
    let _ = writeln!(out, "central: {}", analysis.central.join(", "));
    for command in &analysis.commands {
        let _ = writeln!(
            out,
            "command {:?} {} in `{}` from {}",
            command.kind,
            command.argv.join(" "),
            command.dir,
            command.source
        );
    }
    let _ = writeln!(out, "instructions: {:?}", analysis.instructions);
    out
}

fn check(name: &str, files: &[(&str, &str)], most_central: &str) {
    let dir = repo(files);
    let analysis = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(analysis.central[0], most_central, "{}", digest(&analysis));
    let total: f64 = analysis.files.iter().map(|f| f.rank).sum();
    assert!((total - 1.0).abs() < 1e-6, "ranks sum to 1: {total}");
    insta::assert_snapshot!(format!("{name}_digest"), digest(&analysis));
    let markdown = analysis.to_markdown(2000);
    insta::assert_snapshot!(format!("{name}_markdown"), markdown);
    // It round-trips as analysis.json.
    let json = serde_json::to_string(&analysis).unwrap();
    assert_eq!(serde_json::from_str::<Analysis>(&json).unwrap(), analysis);
}

#[test]
fn a_rust_crate() {
    check(
        "rust",
        &[
            ("Cargo.toml", "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n"),
            ("CLAUDE.md", "# Notes for agents\n"),
            ("src/lib.rs", "pub mod cart;\npub mod store;\n\npub use store::Inventory;\n"),
            (
                "src/store.rs",
                "/// Stock on hand.\npub struct Inventory {\n    items: Vec<u32>,\n}\n\nimpl Inventory {\n    pub fn open_inventory() -> Inventory {\n        Inventory { items: Vec::new() }\n    }\n\n    pub fn reserve_item(&mut self, id: u32) -> bool {\n        self.items.contains(&id)\n    }\n}\n",
            ),
            (
                "src/cart.rs",
                "use crate::store::Inventory;\n\npub struct Cart;\n\nimpl Cart {\n    pub fn checkout(inventory: &mut Inventory) -> bool {\n        inventory.reserve_item(1)\n    }\n}\n",
            ),
            (
                "src/main.rs",
                "use shop::cart::Cart;\nuse shop::store::Inventory;\n\nfn main() {\n    let mut inventory = Inventory::open_inventory();\n    Cart::checkout(&mut inventory);\n}\n",
            ),
            ("target/debug/junk.rs", "fn ignored() {}\n"),
            (".gitignore", "target/\n"),
        ],
        "src/store.rs",
    );
}

#[test]
fn a_python_package() {
    check(
        "python",
        &[
            (
                "pyproject.toml",
                "[project]\nname = \"ledger\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n\n[tool.ruff]\nline-length = 100\n",
            ),
            ("AGENTS.md", "# Agents\n"),
            ("ledger/__init__.py", ""),
            (
                "ledger/accounts.py",
                "class Account:\n    def __init__(self, owner):\n        self.owner = owner\n\n\ndef open_account(owner):\n    return Account(owner)\n",
            ),
            (
                "ledger/transfer.py",
                "from ledger.accounts import open_account, Account\n\n\ndef transfer_funds(source, target, amount):\n    account = open_account(source)\n    return account, target, amount\n",
            ),
            (
                "tests/test_transfer.py",
                "from ledger.transfer import transfer_funds\n\n\ndef test_transfer():\n    assert transfer_funds('a', 'b', 1)\n",
            ),
        ],
        "ledger/accounts.py",
    );
}

#[test]
fn a_typescript_and_javascript_app() {
    check(
        "javascript",
        &[
            (
                "package.json",
                r#"{"name":"board","scripts":{"build":"tsc","test":"node --test","lint":"eslint ."}}"#,
            ),
            (
                "src/model.ts",
                "export interface Card { id: number; title: string }\n\nexport function makeCard(id: number, title: string): Card {\n  return { id, title };\n}\n",
            ),
            (
                "src/board.ts",
                "import { Card, makeCard } from './model';\n\nexport class Board {\n  cards: Card[] = [];\n  addCard(title: string) {\n    this.cards.push(makeCard(this.cards.length, title));\n  }\n}\n",
            ),
            (
                "src/main.js",
                "const { Board } = require('./board');\nimport { makeCard } from './model';\n\nfunction main() {\n  const board = new Board();\n  board.addCard('first');\n  return makeCard(0, 'x');\n}\n",
            ),
        ],
        "src/model.ts",
    );
}

#[test]
fn a_go_module() {
    check(
        "go",
        &[
            ("go.mod", "module example.com/queue\n\ngo 1.22\n"),
            ("Makefile", "build:\n\tgo build ./...\ntest:\n\tgo test ./...\n"),
            (
                "store/store.go",
                "package store\n\ntype Store struct{ Items []string }\n\nfunc OpenStore() *Store {\n\treturn &Store{}\n}\n\nfunc (s *Store) PushItem(item string) {\n\ts.Items = append(s.Items, item)\n}\n",
            ),
            (
                "worker/worker.go",
                "package worker\n\nimport \"example.com/queue/store\"\n\nfunc RunWorker() {\n\ts := store.OpenStore()\n\ts.PushItem(\"job\")\n}\n",
            ),
            (
                "main.go",
                "package main\n\nimport (\n\t\"example.com/queue/store\"\n\t\"example.com/queue/worker\"\n)\n\nfunc main() {\n\tworker.RunWorker()\n\tstore.OpenStore()\n}\n",
            ),
        ],
        "store/store.go",
    );
}

/// Under a tight budget the most central files come first and the text
/// stays within it.
#[test]
fn the_markdown_fits_its_budget() {
    let mut files: Vec<(String, String)> = Vec::new();
    for n in 0..60 {
        files.push((format!("src/m{n}.rs"), format!("pub fn function_number_{n}() -> u32 {{ crate::m0::function_number_0() + {n} }}\npub struct TypeNumber{n};\n")));
    }
    files.push(("src/lib.rs".into(), (0..60).map(|n| format!("pub mod m{n};\n")).collect()));
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let dir = repo(&borrowed);
    let analysis = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    for budget in [150, 400, 2000] {
        let text = analysis.to_markdown(budget);
        assert!(estimate_tokens(&text) <= budget, "{budget}: {} tokens", estimate_tokens(&text));
    }
    let text = analysis.to_markdown(400);
    assert!(text.contains("### src/m0.rs"), "the most used module comes first:\n{text}");
    assert!(text.contains("more file(s) in analysis.json"), "{text}");
    let _ = Path::new("");
}

/// Prose and agent definitions are listed with their lines but never ranked
/// among the central files: those are the code the planner should read.
#[test]
fn only_parsed_code_is_central() {
    let dir = repo(&[
        ("CLAUDE.md", "# Rules\n\nUse the queue.\n"),
        (".claude/agents/backend.md", "---\nname: backend\n---\nYou write the backend.\n"),
        ("docs/guide.md", "# Guide\n\nRead src/lib.rs.\n"),
        ("src/lib.rs", "pub mod store;\npub fn open() { store::Store::new(); }\n"),
        ("src/store.rs", "pub struct Store;\nimpl Store { pub fn new() -> Self { Store } }\n"),
    ]);
    let analysis = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(analysis.central, ["src/store.rs", "src/lib.rs"], "{}", digest(&analysis));
    assert!(analysis.files.iter().any(|file| file.path == "docs/guide.md"));

    // Without code orca parses, every file is listed.
    let prose = repo(&[("README.md", "# Notes\n"), ("docs/a.md", "# A\n")]);
    let analysis = analyze(prose.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(analysis.central.len(), 2, "{}", digest(&analysis));
}

/// A workspace of many packages names each command once, with a count of
/// the directories it runs in, instead of repeating it per package.
#[test]
fn a_command_found_in_many_packages_is_named_once() {
    let mut files: Vec<(String, String)> = Vec::new();
    for n in 0..8 {
        files.push((format!("pkg{n}/Cargo.toml"), format!("[package]\nname = \"pkg{n}\"\n")));
        files.push((format!("pkg{n}/src/lib.rs"), format!("pub fn f{n}() {{}}\n")));
    }
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let dir = repo(&borrowed);
    let analysis = analyze(dir.path(), &AnalyzeOptions::default()).unwrap();
    assert_eq!(analysis.commands.iter().filter(|c| c.argv == ["cargo", "test"]).count(), 8);
    let summary = analysis.summary();
    assert!(summary.contains("tests: cargo test (in pkg0, pkg1, pkg2 and 5 more)"), "{summary}");
    let markdown = analysis.to_markdown(2000);
    assert_eq!(markdown.matches("cargo test").count(), 1, "{markdown}");
}
