//! Symbols, references and imports from the syntax tree (tree-sitter):
//! definitions and references from each grammar's own tags query, imports
//! from small queries of ours. Files are parsed in parallel, each at most
//! once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;
use tree_sitter::{Language, Parser, Query, QueryCursor, StreamingIterator};

use crate::Symbol;
use crate::files::ListedFile;

/// What one file's syntax tree says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub symbols: Vec<Symbol>,
    pub imports: Vec<String>,
    /// Names the file uses, with how often.
    pub references: HashMap<String, u32>,
}

/// A language orca reads symbols from.
struct Grammar {
    language: Language,
    tags: Query,
    imports: Query,
}

/// More references than the grammars' tags queries capture: the types a
/// Rust file names and the paths it calls through, which tie its modules
/// together more than plain calls do.
const RUST_REFERENCES: &str = "
(type_identifier) @name @reference.type
(scoped_identifier name: (identifier) @name) @reference.call
(scoped_identifier path: (identifier) @name) @reference.module
";

const RUST_IMPORTS: &str = "
(use_declaration argument: (_) @import)
(mod_item name: (identifier) @module !body)
(extern_crate_declaration name: (identifier) @import)
";

const PYTHON_IMPORTS: &str = "
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement module_name: (_) @import)
";

const JS_IMPORTS: &str = "
(import_statement source: (string) @import)
(export_statement source: (string) @import)
(call_expression
  function: (identifier) @require
  arguments: (arguments (string) @import)
  (#eq? @require \"require\"))
";

const GO_IMPORTS: &str = "(import_spec path: (interpreted_string_literal) @import)";

fn grammar(language: Language, tags: &str, imports: &str) -> Grammar {
    Grammar {
        tags: Query::new(&language, tags).expect("the tags query fits its grammar (tested)"),
        imports: Query::new(&language, imports)
            .expect("the import query fits its grammar (tested)"),
        language,
    }
}

/// Whether orca reads symbols and imports of files in `language` (as
/// tokei names it).
pub(crate) fn has_grammar(language: &str) -> bool {
    grammar_for(language).is_some()
}

/// The grammar for a language as tokei names it.
fn grammar_for(language: &str) -> Option<&'static Grammar> {
    static RUST: OnceLock<Grammar> = OnceLock::new();
    static PYTHON: OnceLock<Grammar> = OnceLock::new();
    static JAVASCRIPT: OnceLock<Grammar> = OnceLock::new();
    static TYPESCRIPT: OnceLock<Grammar> = OnceLock::new();
    static TSX: OnceLock<Grammar> = OnceLock::new();
    static GO: OnceLock<Grammar> = OnceLock::new();
    Some(match language {
        "Rust" => RUST.get_or_init(|| {
            let tags = format!("{}\n{RUST_REFERENCES}", tree_sitter_rust::TAGS_QUERY);
            grammar(tree_sitter_rust::LANGUAGE.into(), &tags, RUST_IMPORTS)
        }),
        "Python" => PYTHON.get_or_init(|| {
            grammar(
                tree_sitter_python::LANGUAGE.into(),
                tree_sitter_python::TAGS_QUERY,
                PYTHON_IMPORTS,
            )
        }),
        "JavaScript" | "JSX" => JAVASCRIPT.get_or_init(|| {
            grammar(
                tree_sitter_javascript::LANGUAGE.into(),
                tree_sitter_javascript::TAGS_QUERY,
                JS_IMPORTS,
            )
        }),
        "TypeScript" => TYPESCRIPT.get_or_init(|| {
            let language: Language = tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into();
            grammar(language, &typescript_tags(), JS_IMPORTS)
        }),
        "TSX" => TSX.get_or_init(|| {
            let language: Language = tree_sitter_typescript::LANGUAGE_TSX.into();
            grammar(language, &typescript_tags(), JS_IMPORTS)
        }),
        "Go" => GO.get_or_init(|| {
            grammar(tree_sitter_go::LANGUAGE.into(), tree_sitter_go::TAGS_QUERY, GO_IMPORTS)
        }),
        _ => return None,
    })
}

/// TypeScript's tags query covers only what TypeScript adds; JavaScript's
/// covers the rest (functions, classes, methods, calls).
fn typescript_tags() -> String {
    format!("{}\n{}", tree_sitter_javascript::TAGS_QUERY, tree_sitter_typescript::TAGS_QUERY)
}

/// Parses every file with a grammar (in parallel); others get nothing.
pub(crate) fn parse_all(root: &Path, files: &[ListedFile], max_bytes: u64) -> Vec<Parsed> {
    files
        .par_iter()
        .map_init(Parser::new, |parser, file| {
            let Some(grammar) = grammar_for(&file.language) else { return Parsed::default() };
            let path = root.join(&file.path);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.len() <= max_bytes => {}
                _ => return Parsed::default(),
            }
            match std::fs::read(&path) {
                Ok(source) => parse(parser, grammar, &source),
                Err(_) => Parsed::default(),
            }
        })
        .collect()
}

fn parse(parser: &mut Parser, grammar: &Grammar, source: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    if parser.set_language(&grammar.language).is_err() {
        return parsed;
    }
    let Some(tree) = parser.parse(source, None) else { return parsed };
    let root = tree.root_node();
    let mut cursor = QueryCursor::new();
    let names = grammar.tags.capture_names();
    let mut matches = cursor.matches(&grammar.tags, root, source);
    while let Some(found) = matches.next() {
        let mut name = None;
        let mut role = None;
        for capture in found.captures {
            let capture_name = names[capture.index as usize];
            if capture_name == "name" {
                name = capture.node.utf8_text(source).ok().map(|text| (text, capture.node));
            } else if let Some(kind) = capture_name.strip_prefix("definition.") {
                role = Some(Role::Definition(kind));
            } else if capture_name.starts_with("reference.") {
                role = Some(Role::Reference);
            }
        }
        let (Some((text, node)), Some(role)) = (name, role) else { continue };
        if text.is_empty() || text.len() > 100 {
            continue;
        }
        match role {
            Role::Definition(kind) => parsed.symbols.push(Symbol {
                name: text.to_owned(),
                kind: kind.to_owned(),
                line: u32::try_from(node.start_position().row + 1).unwrap_or(u32::MAX),
            }),
            Role::Reference => *parsed.references.entry(text.to_owned()).or_default() += 1,
        }
    }
    parsed.symbols.sort_by_key(|symbol| symbol.line);
    parsed.symbols.dedup_by(|a, b| a.name == b.name && a.line == b.line);

    let names = grammar.imports.capture_names();
    let mut matches = cursor.matches(&grammar.imports, root, source);
    while let Some(found) = matches.next() {
        for capture in found.captures {
            let kind = names[capture.index as usize];
            let Ok(text) = capture.node.utf8_text(source) else { continue };
            let text = text.trim_matches(|c| c == '"' || c == '\'' || c == '`');
            match kind {
                "import" => parsed.imports.push(text.to_owned()),
                // `mod name;`: the module's file, by Rust's own rule.
                "module" => parsed.imports.push(format!("mod {text}")),
                _ => {}
            }
        }
    }
    parsed.imports.dedup();
    parsed
}

enum Role<'a> {
    Definition(&'a str),
    Reference,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each grammar's queries compile, and find what they are for.
    #[test]
    fn every_grammar_finds_definitions_references_and_imports() {
        let cases: [(&str, &str, &str, &str, &str); 5] = [
            (
                "Rust",
                "use crate::store::Store;\nmod queue;\nstruct Run;\nfn start() { Store::open(); }\n",
                "start",
                "Store",
                "crate::store::Store",
            ),
            (
                "Python",
                "from app.db import connect\nimport os\nclass Repo:\n    pass\ndef load():\n    connect()\n",
                "load",
                "connect",
                "app.db",
            ),
            (
                "JavaScript",
                "import { render } from './view.js';\nconst x = require('fs');\nfunction main() { render(); }\n",
                "main",
                "render",
                "./view.js",
            ),
            (
                "TypeScript",
                "import { Api } from './api';\ninterface Shape { area(): number }\nfunction draw(s: Shape) { paint(s); }\n",
                "Shape",
                "paint",
                "./api",
            ),
            (
                "Go",
                "package main\nimport \"example.com/app/store\"\nfunc Serve() { store.Open() }\n",
                "Serve",
                "Open",
                "example.com/app/store",
            ),
        ];
        let mut parser = Parser::new();
        for (language, source, definition, reference, import) in cases {
            let grammar = grammar_for(language).unwrap();
            let parsed = parse(&mut parser, grammar, source.as_bytes());
            assert!(
                parsed.symbols.iter().any(|s| s.name == definition),
                "{language}: {definition} in {:?}",
                parsed.symbols
            );
            assert!(
                parsed.references.contains_key(reference),
                "{language}: {:?}",
                parsed.references
            );
            assert!(parsed.imports.iter().any(|i| i == import), "{language}: {:?}", parsed.imports);
        }
    }
}
