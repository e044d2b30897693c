//! Analyzes a generated repository of 10,000 files (Rust, Python,
//! TypeScript and Go modules that import each other), or the tree
//! `ORCA_BENCH_TREE` names, and reports the median time; `scripts/bench-analyze` sets it beside `rg --files` and
//! `tokei` on the same tree. Run with `cargo bench -p orca-analyze`.

use std::path::Path;
use std::time::Instant;

fn main() {
    let files: usize =
        std::env::var("ORCA_BENCH_FILES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = match std::env::var_os("ORCA_BENCH_TREE") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("orca-analyze-bench-{files}")),
    };
    // A tree of the user's (a real repository) is analyzed as it is; only
    // a missing or empty directory gets the generated one.
    let empty = std::fs::read_dir(&dir).map(|mut entries| entries.next().is_none()).unwrap_or(true);
    if empty {
        generate(&dir, files);
    }
    let options = orca_analyze::AnalyzeOptions::default();
    let mut times = Vec::new();
    let mut analysis = None;
    for _ in 0..5 {
        let started = Instant::now();
        analysis = Some(orca_analyze::analyze(&dir, &options).expect("analyzable"));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let analysis = analysis.expect("ran");
    println!(
        "analyze {}: {} files, {} edges; median {:.0} ms (min {:.0}, max {:.0})",
        dir.display(),
        analysis.files.len(),
        analysis.edges.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}

/// `files` source files in 100 packages per language; each module defines
/// a few functions and types and uses those of its neighbours.
fn generate(root: &Path, files: usize) {
    let per_language = files / 4;
    for n in 0..per_language {
        let pkg = n % 100;
        let next = (n + 1) % per_language;
        let write = |path: String, text: String| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            format!("rust/src/p{pkg}/m{n}.rs"),
            format!(
                "use crate::p{}::m{next}::Item{next};\n\npub struct Item{n} {{ pub value: u64 }}\n\nimpl Item{n} {{\n    pub fn compute_value_{n}(&self) -> u64 {{\n        let other = Item{next} {{ value: self.value }};\n        other.value + helper_{n}()\n    }}\n}}\n\nfn helper_{n}() -> u64 {{\n    {n}\n}}\n",
                next % 100
            ),
        );
        write(
            format!("py/app/p{pkg}/m{n}.py"),
            format!(
                "from app.p{}.m{next} import compute_{next}\n\n\nclass Model{n}:\n    def value(self):\n        return compute_{next}() + {n}\n\n\ndef compute_{n}():\n    return Model{n}().value()\n",
                next % 100
            ),
        );
        write(
            format!("web/src/p{pkg}/m{n}.ts"),
            format!(
                "import {{ render{next} }} from '../p{}/m{next}';\n\nexport interface View{n} {{ id: number }}\n\nexport function render{n}(view: View{n}): string {{\n  return render{next}({{ id: view.id }}) + '{n}';\n}}\n",
                next % 100
            ),
        );
        write(
            format!("go/p{pkg}/m{n}.go"),
            format!(
                "package p{pkg}\n\nimport \"example.com/bench/p{}\"\n\ntype Handler{n} struct{{ ID int }}\n\nfunc Handle{n}(h Handler{n}) int {{\n\treturn p{}.Handle{next}(p{}.Handler{next}{{ID: h.ID}})\n}}\n",
                next % 100,
                next % 100,
                next % 100
            ),
        );
    }
    std::fs::write(root.join(".generated"), "").unwrap();
}
