//! `orca plan ...`: the real binary on fixture plans. Rendered output is
//! snapshot-tested; fixture names are relative paths so snapshots are
//! stable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orca_plan::{Code, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans")
}

fn import_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plan/tests/fixtures/import")
}

/// What one run of `orca` printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Exit status, stdout and stderr together, for snapshots.
    fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

fn orca_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run orca");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn valid(args: &[&str]) -> Run {
    orca_in(&fixtures().join("valid"), args)
}

// ---------------------------------------------------------------- check

#[test]
fn every_diagnostic_code_has_a_fixture_that_reports_it() {
    let dir = fixtures().join("diagnostics");
    for &code in Code::ALL {
        if code == Code::ConflictLimit {
            continue; // needs a huge plan; see `conflict_limit_is_reported_for_huge_overlaps`
        }
        let name = code.as_str().trim_start_matches("plan::");
        let file = format!("{name}.md");
        assert!(
            dir.join(&file).exists(),
            "no fixture for {code}: add tests/fixtures/plans/diagnostics/{file}"
        );
        let run = orca_in(&dir, &["plan", "check", "--color", "never", &file]);
        let expected = if code.severity() == Severity::Error { 1 } else { 0 };
        assert_eq!(run.code, expected, "{file}: {}", run.transcript());
        assert!(
            run.stderr.contains(code.as_str()),
            "{file} does not report {code}:\n{}",
            run.transcript()
        );
        insta::assert_snapshot!(format!("check-{name}"), run.transcript());
    }
}

#[test]
fn check_json_locates_each_diagnostic() {
    let run =
        orca_in(&fixtures().join("diagnostics"), &["plan", "check", "--json", "unknown-dep.md"]);
    assert_eq!(run.code, 1);
    let json = run.json();
    assert_eq!(json["valid"], false);
    let diagnostics = json["files"][0]["diagnostics"].as_array().unwrap();
    let first = &diagnostics[0];
    assert_eq!(first["code"], "plan::unknown-dep");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["file"], "unknown-dep.md");
    // `- deps: T7, T99` is line 12 of the fixture; `T7` starts at column 9.
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(12), Some(9)));
    assert_eq!(first["end_column"], 11);
    assert_eq!(first["help"], "did you mean `T07`?");
    assert_eq!(diagnostics[1]["help"], "add a task with this ID, or remove it from `deps`");
}

#[test]
fn valid_plans_of_every_shape_check_clean() {
    for file in ["chain.md", "diamond.md", "fan-out.md", "phases.md"] {
        let run = valid(&["plan", "check", file]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert!(
            run.stdout.contains("valid") && run.stdout.contains("0 errors, 0 warnings"),
            "{}",
            run.transcript()
        );
        assert_eq!(run.stderr, "", "{file}");
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plan.md");
    let run = valid(&["plan", "check", example.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("0 warnings"),
        "the bundled example should be clean: {}",
        run.transcript()
    );
}

#[test]
fn check_many_files_reports_each_and_the_worst_exit_code() {
    let dir = fixtures();
    let run = orca_in(
        &dir,
        &["plan", "check", "--color", "never", "valid/chain.md", "diagnostics/cycle.md"],
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("valid/chain.md: valid"));
    assert!(run.stdout.contains("diagnostics/cycle.md: invalid"));
    let run = orca_in(&dir, &["plan", "check", "valid/chain.md", "no/such/plan.md"]);
    assert_eq!(run.code, 2, "an unreadable file is an I/O error: {}", run.transcript());
    assert!(run.stderr.contains("cannot read no/such/plan.md"), "{}", run.transcript());
    assert!(run.stdout.contains("valid/chain.md: valid"), "the readable file is still checked");
}

#[test]
fn check_reads_standard_input() {
    let text = std::fs::read(fixtures().join("valid/chain.md")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["plan", "check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "<stdin>: valid (3 tasks, 0 errors, 0 warnings)"
    );
}

#[test]
fn roles_can_be_configured() {
    let dir = fixtures().join("diagnostics");
    let run = orca_in(
        &dir,
        &["plan", "check", "--color", "never", "--roles", "dba,backend", "unknown-role.md"],
    );
    assert_eq!(run.code, 1, "`Backend` is still unknown");
    assert!(!run.stderr.contains("unknown role `dba`"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown role `Backend`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `backend`? The roles are: dba, backend"),
        "{}",
        run.stderr
    );
}

/// `orca plan show` says which agent and model each task gets before a
/// run: the task's own agent, else its role's route, else the run's agent.
#[test]
fn show_names_each_tasks_agent_and_model_as_routed() {
    let dir = tempfile::tempdir().unwrap();
    let init = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).output().unwrap();
    assert!(init.status.success());
    std::fs::create_dir_all(dir.path().join(".orca")).unwrap();
    std::fs::write(
        dir.path().join(".orca/config.toml"),
        "[run]\nagent = \"claude\"\n\n[roles.test]\nagent = \"codex\"\nmodel = \"fast-1\"\n\n\
         [roles.docs]\nmodel = \"strong-1\"\n",
    )
    .unwrap();
    let task = |id: &str, role: &str, agent: &str| {
        format!(
            "### {id}: Task {id}\n- deps: none\n- role: {role}\n{agent}- files: {id}.txt\n\
             - verify: true\n- accept:\n  - [ ] done\n\n"
        )
    };
    let plan = format!(
        "# Plan: Routing\n\n{}{}{}{}",
        task("T1", "backend", ""),
        task("T2", "test", ""),
        task("T3", "test", "- agent: claude\n"),
        task("T4", "docs", ""),
    );
    std::fs::write(dir.path().join("plan.md"), plan).unwrap();
    let run = orca_in(dir.path(), &["plan", "show", "--json", "plan.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let routed: Vec<(String, String)> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["agent"].as_str().unwrap().to_owned(), t["model"].to_string()))
        .collect();
    let expected = [
        ("claude", "null"),
        ("codex", "\"fast-1\""),
        ("claude", "\"fast-1\""),
        ("claude", "\"strong-1\""),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(a, m)| ((*a).to_owned(), (*m).to_owned())).collect();
    assert_eq!(routed, expected);
    let run = orca_in(dir.path(), &["plan", "show", "plan.md"]);
    assert!(run.stdout.contains("codex (fast-1)"), "{}", run.stdout);
}

#[test]
fn inside_a_repository_the_roles_come_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let init = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).output().unwrap();
    assert!(init.status.success());
    std::fs::create_dir_all(dir.path().join(".orca")).unwrap();
    std::fs::write(
        dir.path().join(".orca/config.toml"),
        "[roles]\nknown = [\"ml\", \"backend\"]\n",
    )
    .unwrap();
    let plan = "# Plan: Roles\n\n### T1: Train\n- deps: none\n- role: ml\n- files: model.py\n\
                - verify: true\n- accept:\n  - [ ] trained\n";
    std::fs::write(dir.path().join("plan.md"), plan).unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "--color", "never", "plan.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    std::fs::write(dir.path().join("plan.md"), plan.replace("role: ml", "role: frontend")).unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "--color", "never", "plan.md"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("unknown role `frontend`"), "{}", run.stderr);
}

// ---------------------------------------------------------------- bad input

#[test]
fn a_binary_file_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "image.png"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("image.png: the file is binary, not text (NUL byte at offset 8)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.md"), b"# Plan: x\n\n### T01: caf\xe9\n").unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "plan.md"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not valid UTF-8 (invalid byte at line 3, column 13)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_50_mb_file_is_refused_with_the_limit_in_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.md");
    let line = "- [ ] a line of a very long plan that nobody should write\n";
    let text = line.repeat(50 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&path, text).unwrap();
    let run = orca_in(dir.path(), &["plan", "show", "huge.md"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("larger than the 32 MiB limit for plans"), "{}", run.stderr);
}

#[test]
fn a_directory_is_a_usage_error() {
    let run = orca_in(&fixtures(), &["plan", "check", "valid"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("valid is a directory"), "{}", run.stderr);
}

#[test]
fn heavy_a_plan_with_100k_tasks_checks_and_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let generated = orca_in(dir.path(), &["plan", "synth", "--tasks", "100000"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    std::fs::write(dir.path().join("big.md"), &generated.stdout).unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "--json", "big.md"]);
    assert_eq!(run.code, 0, "valid, with warnings: {}", &run.stdout[..run.stdout.len().min(500)]);
    let json = run.json();
    assert_eq!(json["files"][0]["tasks"], 100_000);
    assert_eq!(json["files"][0]["errors"], 0);
    let run = orca_in(dir.path(), &["plan", "next", "--json", "big.md"]);
    assert_eq!(run.code, 0);
    let ready = run.json()["ready"].as_array().unwrap().len();
    assert!(ready >= 1, "the first task has no deps");
}

#[test]
fn conflict_limit_is_reported_for_huge_overlaps() {
    // 700 unordered tasks on one file: about 245 000 overlapping pairs.
    let mut text = String::from("# Plan: Everyone edits main.rs\n");
    for i in 0..700 {
        text.push_str(&format!(
            "\n### T{i}: Edit {i}\n- deps: none\n- role: backend\n- files: src/main.rs\n- verify: cargo test\n- accept:\n  - [ ] ok\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.md"), text).unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "--json", "plan.md"]);
    assert_eq!(run.code, 0);
    let codes: Vec<String> = run.json()["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(codes.iter().any(|c| c == "plan::conflict-limit"), "{codes:?}");
    assert!(codes.iter().filter(|c| *c == "plan::file-conflict").count() > 600);
}

// ---------------------------------------------------------------- show, graph, next

#[test]
fn show_summarizes_each_shape() {
    for name in ["chain", "diamond", "fan-out", "phases"] {
        let run = valid(&["plan", "show", &format!("{name}.md")]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        insta::assert_snapshot!(format!("show-{name}"), run.transcript());
    }
}

#[test]
fn show_json_has_waves_critical_path_and_parallelism() {
    let json = valid(&["plan", "show", "--json", "fan-out.md"]).json();
    let waves = json["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 3);
    assert_eq!(waves[1].as_array().unwrap().len(), 12);
    assert_eq!(json["max_parallelism"]["agents"], 12);
    assert_eq!(json["critical_path"]["length"], 3);
    assert_eq!(json["critical_path"]["weights"], "unit");
    let json = valid(&["plan", "show", "--json", "phases.md"]).json();
    assert_eq!(json["critical_path"]["weights"], "points");
    assert_eq!(json["critical_path"]["tasks"], serde_json::json!(["T01", "T03", "T04"]));
    assert_eq!(json["critical_path"]["length"], 9);
}

#[test]
fn show_leaves_done_tasks_out_of_waves_critical_path_and_parallelism() {
    // T01 and T02 are done (no estimates: they need none). Counted, they
    // would make 4 waves and a 10-hour critical path T01 → T02 → T04 → T05.
    let run = valid(&["plan", "show", "partly-done.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    insta::assert_snapshot!("show-partly-done", run.transcript());
    let json = valid(&["plan", "show", "--json", "partly-done.md"]).json();
    assert_eq!(json["waves"], serde_json::json!([["T04", "T03", "T06"], ["T05"]]));
    assert_eq!(json["critical_path"]["tasks"], serde_json::json!(["T04", "T05"]));
    assert_eq!(json["critical_path"]["length"], 3 * 3600);
    assert_eq!(json["critical_path"]["weights"], "seconds");
    assert_eq!(json["max_parallelism"]["agents"], 3);
    let waves: Vec<&serde_json::Value> =
        json["tasks"].as_array().unwrap().iter().map(|t| &t["wave"]).collect();
    assert_eq!(
        waves,
        [
            &serde_json::Value::Null,
            &serde_json::Value::Null,
            &1.into(),
            &1.into(),
            &2.into(),
            &1.into()
        ]
    );
    // `plan next` agrees: the done tasks' dependents are ready.
    let next = valid(&["plan", "next", "--json", "partly-done.md"]).json();
    let ready: Vec<&str> =
        next["ready"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ready, ["T04", "T03", "T06"]);
    assert_eq!(next["ready"][0]["remaining_path"], 3 * 3600);
}

#[test]
fn show_refuses_an_invalid_plan_with_its_diagnostics() {
    let dir = fixtures().join("diagnostics");
    let run = orca_in(&dir, &["plan", "show", "--color", "never", "cycle.md"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("dependency cycle: T3 → T5 → T9 → T3"), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: cycle.md is not a valid plan (1 error, 0 warnings)"),
        "{}",
        run.stderr
    );
    let run = orca_in(&dir, &["plan", "show", "--json", "cycle.md"]);
    assert_eq!(run.code, 1);
    let json = run.json();
    assert_eq!(json["error"]["kind"], "failed");
    assert_eq!(json["diagnostics"][0]["code"], "plan::cycle");
}

#[test]
fn graph_formats() {
    for (format, name) in [("mermaid", "graph-mermaid"), ("dot", "graph-dot")] {
        let run = valid(&["plan", "graph", "diamond.md", "--format", format]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        insta::assert_snapshot!(name, run.transcript());
    }
    let json = valid(&["plan", "graph", "diamond.md", "--format", "json"]).json();
    assert_eq!(json["format"], "orca-plan");
    assert_eq!(json["version"], 1);
    assert_eq!(json["graph"]["waves"], serde_json::json!([["A"], ["B", "C"], ["D"]]));
    assert_eq!(json["graph"]["edges"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["tasks"][2]["files"],
        serde_json::json!(["web/src/passkeys.ts", "web/src/pages/Login.tsx"])
    );
    assert_eq!(
        json["tasks"][3]["verify"]["argv"],
        serde_json::json!(["npx", "playwright", "test", "passkeys"])
    );
    let wrapped = valid(&["plan", "graph", "diamond.md", "--format", "dot", "--json"]).json();
    assert!(wrapped["text"].as_str().unwrap().starts_with("digraph plan {"));
}

#[test]
fn next_lists_the_ready_set_in_dispatch_order() {
    let run = valid(&["plan", "next", "diamond.md"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("next-diamond-start", run.transcript());
    let run = valid(&["plan", "next", "diamond.md", "--done", "A", "--running", "C"]);
    insta::assert_snapshot!("next-diamond-running", run.transcript());
    let json = valid(&[
        "plan",
        "next",
        "--json",
        "fan-out.md",
        "--done",
        "T00",
        "--failed",
        "T03",
        "--slots",
        "4",
    ])
    .json();
    let ready = json["ready"].as_array().unwrap();
    assert_eq!(ready.len(), 11);
    assert_eq!(ready.iter().filter(|r| r["start"] == true).count(), 4);
    assert_eq!(ready[4]["held"]["reason"], "no_slot");
    assert_eq!(json["blocked"], serde_json::json!(["T13"]));
    assert_eq!(json["counts"]["failed"], 1);
}

#[test]
fn next_holds_back_tasks_that_share_files_with_running_ones() {
    let dir = fixtures().join("diagnostics");
    let json =
        orca_in(&dir, &["plan", "next", "--json", "file-conflict.md", "--running", "T01"]).json();
    let held: Vec<(String, serde_json::Value)> = json["ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["held"].clone()))
        .collect();
    assert!(
        held.contains(&(
            "T02".to_owned(),
            serde_json::json!({ "reason": "file_conflict", "task": "T01" })
        )),
        "{held:?}"
    );
    // T03 (docs/**) and T04 (docs/cache.md) are both ready; only one starts.
    let started: Vec<&str> =
        held.iter().filter(|(_, h)| h.is_null()).map(|(id, _)| id.as_str()).collect();
    assert_eq!(started.len(), 1, "{held:?}");
}

#[test]
fn next_rejects_unknown_ids_with_a_suggestion() {
    let run = valid(&["plan", "next", "chain.md", "--done", "T1"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`T1` (given to --done) is not a task in chain.md"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("did you mean `T01`?"), "{}", run.stderr);
    let run = valid(&["plan", "next", "chain.md", "--done", "T01", "--failed", "T01"]);
    assert_eq!(run.code, 2);
}

#[test]
fn next_when_everything_is_done() {
    let run = valid(&["plan", "next", "chain.md", "--done", "T01,T02,T03"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout.trim(), "all 3 tasks are done");
}

#[test]
fn repeated_warnings_are_grouped_quiet_hides_them_verbose_shows_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = String::from("# Plan: many\n");
    for i in 1..=12 {
        plan.push_str(&format!(
            "\n### T{i}: task {i}\n- deps: none\n- role: backend\n- files: src/t{i}.rs\n- accept:\n  - [ ] ok\n"
        ));
    }
    std::fs::write(dir.path().join("many.md"), plan).unwrap();
    let run = orca_in(dir.path(), &["plan", "check", "--color", "never", "many.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stderr.matches("plan::no-verify").count(), 4, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: plan::no-verify ×12: T4, T5, T6, T7, T8, T9, T10, T11, T12 (the first 3 shown above; --verbose for each)"
        ),
        "{}",
        run.stderr
    );
    let quiet = orca_in(dir.path(), &["plan", "check", "--quiet", "many.md"]);
    assert_eq!(quiet.stderr, "", "{}", quiet.transcript());
    assert!(quiet.stdout.contains("many.md: valid (12 tasks, 0 errors, 12 warnings)"));
    let verbose =
        orca_in(dir.path(), &["plan", "check", "--verbose", "--color", "never", "many.md"]);
    assert_eq!(verbose.stderr.matches("plan::no-verify").count(), 12, "{}", verbose.stderr);
}

#[test]
fn argument_errors_with_json_are_json_objects_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let run = orca_in(dir.path(), &["plan", "import", "--json", "x.json", "--from", "taskmastr"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    let json = run.json();
    assert_eq!(json["error"]["kind"], "usage");
    assert!(json["error"]["message"].as_str().unwrap().contains("taskmastr"), "{json}");
    assert_eq!(json["error"]["hints"][0], "did you mean `taskmaster`?");
    let run = orca_in(dir.path(), &["plan", "chek", "--json", "x.md"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["hints"][0], "did you mean `check`?");
    // Without --json, clap's own message on stderr.
    let run = orca_in(dir.path(), &["plan", "chek", "x.md"]);
    assert_eq!((run.code, run.stdout.as_str()), (2, ""));
    assert!(run.stderr.contains("unrecognized subcommand"), "{}", run.stderr);
}

// ---------------------------------------------------------------- import

#[test]
fn import_spec_kit_writes_a_plan_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    let source = import_fixtures().join("spec-kit/recipe-box.tasks.md");
    let run = orca_in(
        dir.path(),
        &["plan", "import", source.to_str().unwrap(), "--from", "spec-kit", "-o", "plan.md"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("wrote plan.md: 18 tasks from a spec-kit tasks.md (0 errors"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "4 tasks are already done in the source, written with `status: done` (never run): T001, T002, T003, T004"
        ),
        "{}",
        run.stdout
    );
    let check = orca_in(dir.path(), &["plan", "check", "plan.md"]);
    assert_eq!(check.code, 0, "{}", check.transcript());
    // Done work is never offered again.
    let next = orca_in(dir.path(), &["plan", "next", "--json", "plan.md"]).json();
    let ready: Vec<&str> =
        next["ready"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ready, ["T005", "T006"]);
    assert_eq!(next["counts"]["done"], 4);
    let show = orca_in(dir.path(), &["plan", "show", "plan.md"]);
    assert!(show.stdout.contains("18 tasks (4 done) in 6 phases"), "{}", show.stdout);
    assert!(show.stdout.contains("\n  T001  done "), "{}", show.stdout);
    // Refuses to overwrite without --force.
    let again = orca_in(
        dir.path(),
        &["plan", "import", source.to_str().unwrap(), "--from", "spec-kit", "-o", "plan.md"],
    );
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("plan.md already exists"), "{}", again.stderr);
}

#[test]
fn import_taskmaster_to_stdout_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let source = import_fixtures().join("taskmaster/bookshelf.tasks.json");
    // No --from: the format is read from the content.
    let run = orca_in(dir.path(), &["plan", "import", source.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("# Plan: Task Master tasks (tag master)\n"),
        "{}",
        &run.stdout[..200]
    );
    assert!(
        run.stderr.contains("the plan: 10 tasks from a Task Master tasks.json (0 errors"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("also has tags `mobile-app`, `spike-search`"), "{}", run.stderr);
    let json = orca_in(
        dir.path(),
        &[
            "plan",
            "import",
            "--json",
            source.to_str().unwrap(),
            "--from",
            "taskmaster",
            "--drop-done",
        ],
    )
    .json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["format"], "taskmaster");
    assert_eq!(json["done"], serde_json::json!([]));
    assert_eq!(json["tasks"], 7, "10 tasks minus the 3 done ones");
}

#[test]
fn drop_done_on_an_all_done_file_names_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let source = import_fixtures().join("taskmaster/bookshelf.tasks.json");
    let run = orca_in(
        dir.path(),
        &["plan", "import", source.to_str().unwrap(), "--tag", "spike-search", "--drop-done"],
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("every task in the file is done"), "{}", run.stderr);
    assert!(run.stderr.contains("import without --drop-done"), "{}", run.stderr);
    assert!(!run.stderr.contains("pass a Task Master tasks.json"), "{}", run.stderr);
}

#[test]
fn checklists_import_by_detection_and_list_unread_lines() {
    let dir = tempfile::tempdir().unwrap();
    let source = import_fixtures().join("checklist/orchestrator-todo.md");
    let run = orca_in(dir.path(), &["plan", "import", source.to_str().unwrap(), "-o", "plan.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("11 tasks from a Markdown checklist"), "{}", run.stdout);
    assert!(run.stdout.contains("lines 24, 25"), "{}", run.stdout);
    let check = orca_in(dir.path(), &["plan", "check", "plan.md"]);
    assert_eq!(check.code, 0, "{}", check.transcript());
}

#[test]
fn check_on_another_tools_file_names_it_and_the_import_command() {
    let dir = tempfile::tempdir().unwrap();
    for (name, fixture, from) in [
        ("tasks.json", "taskmaster/bookshelf.tasks.json", "taskmaster"),
        ("tasks.md", "spec-kit/variants.tasks.md", "spec-kit"),
    ] {
        std::fs::copy(import_fixtures().join(fixture), dir.path().join(name)).unwrap();
        let run = orca_in(dir.path(), &["plan", "check", name]);
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(run.stderr.contains(&format!("{name} is a ")), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("orca plan import {name} --from {from} -o plan.md")),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("missing-title"), "{}", run.stderr);
        let json = orca_in(dir.path(), &["plan", "check", "--json", name]).json();
        assert_eq!(json["files"][0]["format"], from);
    }
}

#[test]
fn import_errors_are_failures_with_hints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tasks.json"), "{\"tasks\": [1, 2,").unwrap();
    let run = orca_in(dir.path(), &["plan", "import", "tasks.json", "--from", "taskmaster"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot import tasks.json: not valid JSON at line 1"),
        "{}",
        run.stderr
    );
    std::fs::write(dir.path().join("tasks.md"), "# Tasks\n\nNothing here.\n").unwrap();
    let run = orca_in(dir.path(), &["plan", "import", "tasks.md", "--from", "spec-kit"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no spec-kit task lines found"), "{}", run.stderr);
    let run = orca_in(
        dir.path(),
        &["plan", "import", "tasks.md", "--from", "spec-kit", "--role", "wizard"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("`wizard` is not an allowed role"), "{}", run.stderr);
}

#[test]
fn json_export_round_trips_through_import() {
    let dir = tempfile::tempdir().unwrap();
    let exported = valid(&["plan", "graph", "phases.md", "--format", "json"]);
    std::fs::write(dir.path().join("plan.json"), &exported.stdout).unwrap();
    let run =
        orca_in(dir.path(), &["plan", "import", "plan.json", "--from", "json", "-o", "plan.md"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let original = valid(&["plan", "show", "--json", "phases.md"]).json();
    let mut again = orca_in(dir.path(), &["plan", "show", "--json", "plan.md"]).json();
    again["file"] = original["file"].clone();
    assert_eq!(original, again);
}
