//! The file graph and its ranking. An edge goes from a file to each file
//! that defines a name it uses (weighted as Aider's repo map weighs them:
//! the square root of the uses, more for long descriptive names, less for
//! private ones and for names defined all over), and to each file it
//! imports. Files are ranked by PageRank over the weighted graph.

use std::collections::{BTreeMap, HashMap};

use crate::{Edge, FileEntry};

/// Damping of the random walk: the chance it follows an edge rather than
/// jumping to any file.
const DAMPING: f64 = 0.85;
/// A name defined in more files than this says nothing about which of
/// them a use means (`new`, `value`, `main`): it makes no edges.
const MAX_DEFINERS: usize = 25;
/// The walk stops once no rank moves more than this.
const TOLERANCE: f64 = 1e-10;
const MAX_ITERATIONS: usize = 200;

/// The edges, and each file's rank (by the order of `files`).
pub(crate) fn rank(
    files: &[FileEntry],
    references: &[HashMap<String, u32>],
) -> (Vec<Edge>, Vec<f64>) {
    let weights = weights(files, references);
    let ranks = page_rank(files.len(), &weights);
    // Rounded so that analysis.json reads back exactly what was written.
    let ranks = ranks.into_iter().map(|rank| (rank * 1e9).round() / 1e9).collect();
    let edges = weights
        .iter()
        .map(|(&(from, to), &weight)| Edge {
            from: files[from].path.clone(),
            to: files[to].path.clone(),
            weight: (weight * 1000.0).round() / 1000.0,
        })
        .collect();
    (edges, ranks)
}

fn weights(
    files: &[FileEntry],
    references: &[HashMap<String, u32>],
) -> BTreeMap<(usize, usize), f64> {
    let mut defined_in: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        for symbol in &file.symbols {
            let definers = defined_in.entry(symbol.name.as_str()).or_default();
            if definers.last() != Some(&index) {
                definers.push(index);
            }
        }
    }
    let mut weights: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for (from, uses) in references.iter().enumerate() {
        for (name, &count) in uses {
            let Some(definers) = defined_in.get(name.as_str()) else { continue };
            if definers.len() > MAX_DEFINERS {
                continue;
            }
            let weight = multiplier(name, definers.len()) * f64::from(count).sqrt();
            for &to in definers {
                if to != from {
                    *weights.entry((from, to)).or_default() += weight;
                }
            }
        }
    }
    let resolver = Resolver::new(files);
    for (from, file) in files.iter().enumerate() {
        for import in &file.imports {
            for to in resolver.resolve(file, import) {
                if to != from {
                    *weights.entry((from, to)).or_default() += 1.0;
                }
            }
        }
    }
    weights
}

/// How much a use of `name` says about the design.
fn multiplier(name: &str, definers: usize) -> f64 {
    let mut multiplier = 1.0;
    let descriptive = name.len() >= 8
        && (name.contains('_')
            || name.contains('-')
            || name.chars().skip(1).any(char::is_uppercase));
    if descriptive {
        multiplier *= 10.0;
    }
    if name.starts_with('_') {
        multiplier *= 0.1;
    }
    if definers > 5 {
        multiplier *= 0.1;
    }
    multiplier
}

/// PageRank by power iteration; a file without out-edges spreads its rank
/// over every file, and so does the damping.
fn page_rank(nodes: usize, weights: &BTreeMap<(usize, usize), f64>) -> Vec<f64> {
    if nodes == 0 {
        return Vec::new();
    }
    let mut out_weight = vec![0.0; nodes];
    for (&(from, _), &weight) in weights {
        out_weight[from] += weight;
    }
    let n = nodes as f64;
    let mut rank = vec![1.0 / n; nodes];
    for _ in 0..MAX_ITERATIONS {
        let dangling: f64 = (0..nodes).filter(|&i| out_weight[i] == 0.0).map(|i| rank[i]).sum();
        let base = (1.0 - DAMPING) / n + DAMPING * dangling / n;
        let mut next = vec![base; nodes];
        for (&(from, to), &weight) in weights {
            next[to] += DAMPING * rank[from] * weight / out_weight[from];
        }
        let moved: f64 = next.iter().zip(&rank).map(|(a, b)| (a - b).abs()).sum();
        rank = next;
        if moved < TOLERANCE {
            break;
        }
    }
    rank
}

/// Finds the files an import names, by each language's own rules.
struct Resolver<'a> {
    by_path: HashMap<&'a str, usize>,
    /// Files by directory (`` for the top).
    by_dir: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Resolver<'a> {
    fn new(files: &'a [FileEntry]) -> Self {
        let mut by_path = HashMap::new();
        let mut by_dir: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, file) in files.iter().enumerate() {
            by_path.insert(file.path.as_str(), index);
            by_dir.entry(parent(&file.path)).or_default().push(index);
        }
        Resolver { by_path, by_dir }
    }

    fn file(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    fn resolve(&self, file: &FileEntry, import: &str) -> Vec<usize> {
        let first = |candidates: &[String]| candidates.iter().find_map(|c| self.file(c));
        match file.language.as_str() {
            "Rust" => first(&rust_candidates(&file.path, import)).into_iter().collect(),
            "Python" => first(&python_candidates(&file.path, import)).into_iter().collect(),
            "JavaScript" | "JSX" | "TypeScript" | "TSX" => {
                first(&script_candidates(&file.path, import)).into_iter().collect()
            }
            "Go" => self.go_package(import),
            _ => Vec::new(),
        }
    }

    /// A Go import names a package: the directory whose path is the
    /// longest suffix of the import path.
    fn go_package(&self, import: &str) -> Vec<usize> {
        let parts: Vec<&str> = import.split('/').collect();
        (0..parts.len())
            .map(|skip| parts[skip..].join("/"))
            .find_map(|dir| self.by_dir.get(dir.as_str()))
            .cloned()
            .unwrap_or_default()
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() { rest.to_owned() } else { format!("{dir}/{rest}") }
}

/// `mod name;` is a file next to the module; `crate::a::b` (or the
/// crate's own name, from a binary) is under the crate's `src/`; `a::b`
/// may be a child module.
fn rust_candidates(path: &str, import: &str) -> Vec<String> {
    let dir = parent(path);
    let stem = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".rs");
    // Where this module's child modules live.
    let children =
        if matches!(stem, "lib" | "main" | "mod") { dir.to_owned() } else { join(dir, stem) };
    if let Some(module) = import.strip_prefix("mod ") {
        return vec![
            join(&children, &format!("{module}.rs")),
            join(&children, &format!("{module}/mod.rs")),
        ];
    }
    let segments: Vec<&str> = import
        .split("::")
        .map(|s| s.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .collect();
    let Some(&first) = segments.first() else { return Vec::new() };
    if matches!(first, "std" | "core" | "alloc" | "self" | "super") {
        return Vec::new();
    }
    let mut candidates = Vec::new();
    let mut modules = |root: &str, segments: &[&str]| {
        for take in (1..=segments.len()).rev() {
            let module = segments[..take].join("/");
            candidates.push(join(root, &format!("{module}.rs")));
            candidates.push(join(root, &format!("{module}/mod.rs")));
        }
    };
    let src = path.find("src/").map(|at| &path[..at + 3]);
    match (first, src) {
        ("crate", Some(src)) => modules(src, &segments[1..]),
        (_, src) => {
            modules(&children, &segments);
            // `my_crate::a::b` from the crate's own binary or tests.
            if let Some(src) = src {
                modules(src, &segments[1..]);
            }
        }
    }
    candidates
}

/// `a.b.c` from the top or a `src/` layout; `.x` next to the file.
fn python_candidates(path: &str, import: &str) -> Vec<String> {
    let dots = import.chars().take_while(|c| *c == '.').count();
    let module = import[dots..].replace('.', "/");
    let mut roots: Vec<String> = Vec::new();
    if dots > 0 {
        let mut dir = parent(path).to_owned();
        for _ in 1..dots {
            dir = parent(&dir).to_owned();
        }
        roots.push(dir);
    } else {
        roots.extend(["".to_owned(), "src".to_owned(), parent(path).to_owned()]);
    }
    let mut candidates = Vec::new();
    for root in roots {
        if module.is_empty() {
            candidates.push(join(&root, "__init__.py"));
        } else {
            candidates.push(join(&root, &format!("{module}.py")));
            candidates.push(join(&root, &format!("{module}/__init__.py")));
        }
    }
    candidates
}

/// Relative specifiers only (`./x`, `../x`): packages are not files here.
fn script_candidates(path: &str, import: &str) -> Vec<String> {
    if !import.starts_with('.') {
        return Vec::new();
    }
    let mut parts: Vec<&str> = parent(path).split('/').filter(|p| !p.is_empty()).collect();
    for part in import.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let base = parts.join("/");
    let mut candidates = vec![base.clone()];
    for ext in [".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs"] {
        candidates.push(format!("{base}{ext}"));
    }
    for index in ["index.ts", "index.tsx", "index.js", "index.jsx"] {
        candidates.push(join(&base, index));
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_flows_to_what_is_used() {
        // 0 and 1 use 2; 2 uses nothing.
        let weights = BTreeMap::from([((0, 2), 1.0), ((1, 2), 1.0)]);
        let rank = page_rank(3, &weights);
        assert!((rank.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(rank[2] > rank[0] && rank[2] > rank[1], "{rank:?}");
        assert!((rank[0] - rank[1]).abs() < 1e-12);
        assert_eq!(page_rank(0, &BTreeMap::new()), Vec::<f64>::new());
    }

    #[test]
    fn descriptive_names_weigh_more_and_common_or_private_ones_less() {
        assert_eq!(multiplier("open", 1), 1.0);
        assert_eq!(multiplier("open_store", 1), 10.0);
        assert_eq!(multiplier("OpenWorkspace", 1), 10.0);
        assert!((multiplier("_private_helper", 1) - 1.0).abs() < 1e-12);
        assert!((multiplier("new", 9) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn imports_resolve_by_each_languages_rules() {
        assert_eq!(rust_candidates("src/lib.rs", "mod store")[0], "src/store.rs");
        assert!(
            rust_candidates("src/lib.rs", "store::Inventory").contains(&"src/store.rs".to_owned())
        );
        assert!(
            rust_candidates("src/main.rs", "shop::cart::Cart").contains(&"src/cart.rs".to_owned())
        );
        assert!(rust_candidates("src/lib.rs", "std::io").is_empty());
        assert_eq!(rust_candidates("src/run/mod.rs", "mod attempt")[0], "src/run/attempt.rs");
        assert_eq!(rust_candidates("src/run.rs", "mod attempt")[0], "src/run/attempt.rs");
        assert!(
            rust_candidates("crates/x/src/a.rs", "crate::store::Store")
                .contains(&"crates/x/src/store.rs".to_owned())
        );
        assert!(python_candidates("app/main.py", "app.db").contains(&"app/db.py".to_owned()));
        assert!(python_candidates("app/main.py", ".db").contains(&"app/db.py".to_owned()));
        assert!(
            script_candidates("web/src/main.ts", "./view").contains(&"web/src/view.ts".to_owned())
        );
        assert!(
            script_candidates("web/src/main.ts", "../lib/api")
                .contains(&"web/lib/api.ts".to_owned())
        );
        assert!(script_candidates("web/src/main.ts", "react").is_empty());
    }
}
