//! Security scan benchmark: orca's built-in scanner against gitleaks on
//! the same trees — recall, precision and throughput side by side. Reports,
//! never asserts. `scripts/bench-scan` sets it up; see docs/performance.md
//! ("Security scan").
//!
//! Corpora:
//! 1. Plazmaz/leaky-repo (`ORCA_BENCH_LEAKY_REPO`: a checkout), scored with
//!    its `.leaky-meta/secrets.csv` per-file counts of "risk" lines;
//! 2. a large clean tree (`ORCA_BENCH_CLEAN_TREE`, default: the sources of
//!    a dozen crates from the local cargo registry) with secrets of common
//!    providers planted at known lines (exact labels).
//!
//! gitleaks is `ORCA_BENCH_GITLEAKS` or `gitleaks` on PATH.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use orca_scan::{ExternalTools, RuleSet, ScanOptions, ScanTarget, Scanner};

/// (path, line) of every finding.
type Hits = BTreeSet<(String, u32)>;

/// Crates copied from the cargo registry when no clean tree is given.
const DEFAULT_CRATES: &[&str] = &[
    "tokio-1",
    "libc-0.2",
    "rustix-1",
    "linux-raw-sys-0.12",
    "zerocopy-0.8",
    "regex-automata-0.4",
    "syn-2",
    "petgraph-0.8",
    "tracing-0.1",
    "sqlx-core-0.9",
    "hyper-1",
    "serde_json-1",
];

fn main() {
    let gitleaks = std::env::var("ORCA_BENCH_GITLEAKS").unwrap_or_else(|_| "gitleaks".to_string());
    let version = Command::new(&gitleaks).arg("version").output();
    let gitleaks = match version {
        Ok(out) if out.status.success() => {
            println!("gitleaks {}", String::from_utf8_lossy(&out.stdout).trim());
            Some(gitleaks)
        }
        _ => {
            println!("gitleaks not found: only orca's figures are printed");
            None
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores, load average {}", load_average());
    let scanner = Scanner::new(
        RuleSet::builtin().clone(),
        ScanOptions {
            external: ExternalTools::disabled(),
            respect_gitignore: false,
            ..ScanOptions::default()
        },
    );
    let work = tempfile::tempdir().expect("temp dir");

    println!("\n## 1. Plazmaz/leaky-repo\n");
    match std::env::var_os("ORCA_BENCH_LEAKY_REPO") {
        Some(repo) => leaky_repo(Path::new(&repo), work.path(), &scanner, gitleaks.as_deref()),
        None => println!("ORCA_BENCH_LEAKY_REPO not set: skipped"),
    }

    println!("\n## 2. Secrets planted in a large clean tree\n");
    let tree = work.path().join("clean");
    match std::env::var_os("ORCA_BENCH_CLEAN_TREE") {
        Some(source) => copy_tree(Path::new(&source), &tree),
        None => copy_default_crates(&tree),
    }
    planted(&tree, &scanner, gitleaks.as_deref());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ------------------------------------------------------------ scanning

/// orca on `dir`: hits and the fastest of `rounds` wall times.
fn run_orca(scanner: &Scanner, dir: &Path, rounds: usize) -> (Hits, f64, u64) {
    let mut best = f64::MAX;
    let mut hits = Hits::new();
    let mut bytes = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let report = scanner.scan(&ScanTarget::directory(dir)).expect("scan");
        best = best.min(start.elapsed().as_secs_f64());
        bytes = report.stats().bytes;
        hits = report.findings().iter().map(|f| (f.path.clone(), f.line)).collect();
    }
    (hits, best, bytes)
}

/// gitleaks on `dir` as a process: hits and the fastest wall time.
fn run_gitleaks(gitleaks: &str, dir: &Path, rounds: usize) -> (Hits, f64) {
    let report = dir.with_extension("gitleaks.json");
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let status = Command::new(gitleaks)
            .args([
                "dir",
                ".",
                "--no-banner",
                "--redact",
                "--report-format",
                "json",
                "--exit-code",
                "0",
            ])
            .arg("--report-path")
            .arg(&report)
            .args(["--log-level", "error"])
            .current_dir(dir)
            .status()
            .expect("run gitleaks");
        best = best.min(start.elapsed().as_secs_f64());
        assert!(status.success(), "gitleaks failed");
    }
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let hits = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["File"].as_str().unwrap().trim_start_matches("./").to_string();
            (path, f["StartLine"].as_u64().unwrap() as u32)
        })
        .collect();
    (hits, best)
}

// ------------------------------------------------------------ leaky-repo

fn leaky_repo(repo: &Path, work: &Path, scanner: &Scanner, gitleaks: Option<&str>) {
    let labels = read_leaky_labels(&repo.join(".leaky-meta/secrets.csv"));
    // The tree without git metadata and the benchmark's own files.
    let tree = work.join("leaky");
    copy_tree(repo, &tree);
    let _ = std::fs::remove_dir_all(tree.join(".leaky-meta"));
    let risk: u32 = labels.values().map(|(r, _)| r).sum();
    println!(
        "{} labeled files, {risk} risk lines ({} informative); each tool scans the checkout without .git and .leaky-meta\n",
        labels.len(),
        labels.values().map(|(_, i)| i).sum::<u32>()
    );
    let (orca_hits, orca_s, bytes) = run_orca(scanner, &tree, 5);
    let mut rows = vec![("orca".to_string(), score_leaky(&labels, &orca_hits), orca_s)];
    if let Some(gitleaks) = gitleaks {
        let (hits, seconds) = run_gitleaks(gitleaks, &tree, 5);
        rows.push(("gitleaks".to_string(), score_leaky(&labels, &hits), seconds));
    }
    println!(
        "| tool | findings (lines) | risk lines found | recall | false positives | precision | time (fastest of 5) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (tool, s, seconds) in &rows {
        println!(
            "| {tool} | {} | {} / {risk} | {:.1} % | {} | {:.1} % | {:.1} ms |",
            s.found,
            s.true_positives,
            100.0 * f64::from(s.true_positives) / f64::from(risk),
            s.false_positives,
            100.0 * f64::from(s.found - s.false_positives) / f64::from(s.found.max(1)),
            seconds * 1000.0
        );
    }
    println!("\n({bytes} bytes; at this size the times are mostly start-up.)");
}

/// path -> (risk lines, informative lines).
fn read_leaky_labels(csv: &Path) -> BTreeMap<String, (u32, u32)> {
    let text = std::fs::read_to_string(csv).expect("secrets.csv");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut fields = l.split(',');
            let name = fields.next()?.trim().to_string();
            let risk = fields.next()?.trim().parse().ok()?;
            let informative = fields.next()?.trim().parse().ok()?;
            Some((name, (risk, informative)))
        })
        .collect()
}

struct LeakyScore {
    found: u32,
    true_positives: u32,
    false_positives: u32,
}

/// Per file: flagged lines up to its risk count are true positives; lines
/// beyond its risk plus informative count, and any line in a file without
/// labels, are false positives (informative lines count as neither).
fn score_leaky(labels: &BTreeMap<String, (u32, u32)>, hits: &Hits) -> LeakyScore {
    let mut per_file: BTreeMap<&str, u32> = BTreeMap::new();
    for (path, _) in hits {
        *per_file.entry(path.as_str()).or_default() += 1;
    }
    let mut score = LeakyScore { found: hits.len() as u32, true_positives: 0, false_positives: 0 };
    for (path, found) in per_file {
        let (risk, informative) = labels.get(path).copied().unwrap_or((0, 0));
        score.true_positives += found.min(risk);
        score.false_positives += found.saturating_sub(risk + informative);
    }
    score
}

// ------------------------------------------------------------ planted

/// Secret generators: (kind, template of the planted line with `{}` for
/// the secret, secret maker). Formats of common providers that both tools
/// claim to detect; every value is random.
/// A kind of planted secret: name, line template, generator.
type PlantedKind = (&'static str, &'static str, fn(&mut fastrand::Rng) -> String);

fn planted_kinds() -> Vec<PlantedKind> {
    fn from(rng: &mut fastrand::Rng, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[rng.usize(..alphabet.len())] as char).collect()
    }
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const HEX: &[u8] = b"0123456789abcdef";
    const DIGITS: &[u8] = b"0123456789";
    vec![
        ("aws-access-key-id", "aws_access_key_id = \"{}\"", |r| {
            format!("AKIA{}", from(r, UPPER32, 16))
        }),
        ("github-pat", "GITHUB_TOKEN = \"{}\"", |r| format!("ghp_{}", from(r, ALNUM, 36))),
        ("gitlab-pat", "gitlab_token = \"{}\"", |r| format!("glpat-{}", from(r, ALNUM, 20))),
        ("slack-bot-token", "slack = \"{}\"", |r| {
            format!("xoxb-{}-{}-{}", from(r, DIGITS, 12), from(r, DIGITS, 13), from(r, ALNUM, 24))
        }),
        ("stripe-live-key", "stripe_key = \"{}\"", |r| format!("sk_live_{}", from(r, ALNUM, 24))),
        ("npm-token", "npm_token = \"{}\"", |r| format!("npm_{}", from(r, ALNUM, 36))),
        ("sendgrid", "sendgrid = \"{}\"", |r| {
            format!("SG.{}.{}", from(r, ALNUM, 22), from(r, ALNUM, 43))
        }),
        ("gcp-api-key", "maps_api_key = \"{}\"", |r| format!("AIza{}", from(r, ALNUM, 35))),
        ("jwt", "auth_header = \"{}\"", |r| {
            format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7fSJ9.{}", from(r, ALNUM, 43))
        }),
        ("postgres-url", "database_url = \"{}\"", |r| {
            format!("postgres://app:{}@db.internal:5432/app", from(r, ALNUM, 18))
        }),
        ("generic-api-key", "api_key = \"{}\"", |r| from(r, HEX, 40)),
        ("mailchimp", "mailchimp_key = \"{}\"", |r| format!("{}-us12", from(r, HEX, 32))),
    ]
}

fn planted(tree: &Path, scanner: &Scanner, gitleaks: Option<&str>) {
    let mut files: Vec<PathBuf> = Vec::new();
    collect_files(tree, &mut files);
    files.sort();
    // Plant only in text source files.
    let candidates: Vec<&PathBuf> = files
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["rs", "md", "toml", "c", "h", "txt"].contains(&e.to_str().unwrap())
            })
        })
        .collect();

    // Before planting: whatever the tools report in the clean tree.
    let (orca_base, _, _) = run_orca(scanner, tree, 1);
    let gitleaks_base = gitleaks.map(|g| run_gitleaks(g, tree, 1).0);

    let mut rng = fastrand::Rng::with_seed(20261125);
    let kinds = planted_kinds();
    let per_kind = 25;
    let mut planted_lines: BTreeMap<PathBuf, Vec<(usize, String, &'static str)>> = BTreeMap::new();
    for (kind, template, make) in &kinds {
        for _ in 0..per_kind {
            let file = candidates[rng.usize(..candidates.len())].clone();
            let line = format!("// {}", template.replace("{}", &make(&mut rng)));
            planted_lines.entry(file).or_default().push((rng.usize(..1000), line, kind));
        }
    }
    // Insert the lines; labels are (path, 1-based line) after insertion.
    let mut labels: BTreeMap<(String, u32), &'static str> = BTreeMap::new();
    for (file, mut inserts) in planted_lines {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        inserts.sort_by_key(|(at, _, _)| *at);
        let mut placed: Vec<(usize, &'static str)> = Vec::new();
        for (at, line, kind) in inserts {
            let at = at.min(lines.len());
            for p in &mut placed {
                if p.0 >= at {
                    p.0 += 1;
                }
            }
            lines.insert(at, line);
            placed.push((at, kind));
        }
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let rel = file.strip_prefix(tree).unwrap().to_string_lossy().into_owned();
        for (at, kind) in placed {
            labels.insert((rel.clone(), at as u32 + 1), kind);
        }
    }
    let total_bytes: u64 = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "{} files, {:.1} MB; {} secrets of {} kinds planted at known lines ({} per kind)\n",
        files.len(),
        total_bytes as f64 / 1e6,
        labels.len(),
        kinds.len(),
        per_kind
    );

    let (orca_hits, orca_s, orca_bytes) = run_orca(scanner, tree, 3);
    let mut rows = vec![("orca", score_planted(&labels, &orca_hits), orca_s, orca_base.len())];
    if let Some(gitleaks) = gitleaks {
        let (hits, seconds) = run_gitleaks(gitleaks, tree, 3);
        rows.push((
            "gitleaks",
            score_planted(&labels, &hits),
            seconds,
            gitleaks_base.map_or(0, |b| b.len()),
        ));
    }
    println!(
        "| tool | planted found | recall | other findings | precision | time (fastest of 3) | throughput |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (tool, s, seconds, _) in &rows {
        println!(
            "| {tool} | {} / {} | {:.1} % | {} | {:.1} % | {:.2} s | {:.1} MB/s |",
            s.found_labels,
            labels.len(),
            100.0 * s.found_labels as f64 / labels.len() as f64,
            s.other,
            100.0 * s.found_labels as f64 / (s.found_labels + s.other).max(1) as f64,
            seconds,
            total_bytes as f64 / 1e6 / seconds
        );
    }
    println!(
        "\nBefore planting, the tree gave orca {} and gitleaks {} finding(s): they are counted in \"other findings\" (the tree is taken as clean).",
        rows[0].3,
        rows.get(1).map_or(0, |r| r.3)
    );
    if let [(_, _, orca_s, _), (_, _, gitleaks_s, _)] = rows.as_slice() {
        println!("orca / gitleaks throughput: {:.1}×", gitleaks_s / orca_s);
    }
    println!(
        "(orca read {orca_bytes} bytes: binary files are skipped after their first 8000 bytes are checked)"
    );
    println!("\nRecall per kind (orca / gitleaks):");
    for (kind, _, _) in &kinds {
        let counts: Vec<String> = rows
            .iter()
            .map(|(_, s, _, _)| s.per_kind.get(kind).copied().unwrap_or(0).to_string())
            .collect();
        println!("- {kind}: {} of {per_kind}", counts.join(" / "));
    }
}

struct PlantedScore {
    found_labels: usize,
    other: usize,
    per_kind: BTreeMap<&'static str, usize>,
}

fn score_planted(labels: &BTreeMap<(String, u32), &'static str>, hits: &Hits) -> PlantedScore {
    let mut score = PlantedScore { found_labels: 0, other: 0, per_kind: BTreeMap::new() };
    for hit in hits {
        match labels.get(hit) {
            Some(kind) => {
                score.found_labels += 1;
                *score.per_kind.entry(kind).or_default() += 1;
            }
            None => score.other += 1,
        }
    }
    score
}

// ------------------------------------------------------------ files

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            collect_files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// Copies a tree, leaving out `.git` (and `.gitignore`, so both tools see
/// every file).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name == ".git" || name == ".gitignore" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn copy_default_crates(to: &Path) {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registry = home.join("registry/src");
    let mut copied = Vec::new();
    for index in std::fs::read_dir(&registry).expect("cargo registry sources").flatten() {
        for krate in std::fs::read_dir(index.path()).unwrap().flatten() {
            let name = krate.file_name().to_string_lossy().into_owned();
            if DEFAULT_CRATES.iter().any(|prefix| name.starts_with(prefix))
                && !copied.iter().any(|c: &String| {
                    c.rsplit_once('-').map(|p| p.0) == name.rsplit_once('-').map(|p| p.0)
                })
            {
                copy_tree(&krate.path(), &to.join(&name));
                copied.push(name);
            }
        }
    }
    copied.sort();
    println!("clean tree: {} (from {})", copied.join(", "), registry.display());
}
