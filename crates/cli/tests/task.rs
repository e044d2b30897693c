//! `orca task ...`: the real binary in real temporary git repositories,
//! every command and its error paths, with snapshots of what users read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PLAN: &str = "\
# Plan: Session queue demo

### T01: Lay the foundation
- deps: none
- role: backend
- files: src/base.rs
- verify: cargo test base
- accept:
  - [ ] the base exists
- estimate: 2h

Build the base everything stands on.

### T02: Configure it
- deps: none
- role: backend
- files: src/config.rs
- verify: cargo test config
- accept:
  - [ ] it is configured
- estimate: 30m

### T03: Use it
- deps: T01, T02
- role: backend
- files: src/use.rs
- verify: cargo test use
- accept:
  - [ ] it is used
- estimate: 1h
";

/// A throwaway git repository with the demo plan in it.
struct Repo {
    dir: tempfile::TempDir,
}

/// What one run of orca printed and returned.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout, stderr and the exit code together, normalized, for snapshots.
    fn transcript(&self) -> String {
        normalize(&format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        ))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// Run ids and durations change from run to run.
fn normalize(text: &str) -> String {
    let run = regex::Regex::new(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b").unwrap();
    let span = regex::Regex::new(r"\b(\d+h)?(\d+m)?(\d+s)?(\d+ms)?\b").unwrap();
    let text = run.replace_all(text, "<RUN>");
    span.replace_all(&text, |caps: &regex::Captures<'_>| {
        if caps.get(0).is_some_and(|m| m.as_str().is_empty()) {
            String::new()
        } else {
            "<DUR>".to_owned()
        }
    })
    .into_owned()
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q"]);
        std::fs::write(repo.path("plan.md"), PLAN).unwrap();
        repo
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(self.root())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    fn config(&self, toml: &str) {
        std::fs::create_dir_all(self.path(".orca")).unwrap();
        std::fs::write(self.path(".orca/config.toml"), toml).unwrap();
    }

    fn orca(&self, args: &[&str]) -> Run {
        self.orca_in(self.root(), args)
    }

    fn orca_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(args)
            .current_dir(cwd)
            .env_remove("ORCA_STORE")
            .env_remove("ORCA_AS")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    fn loaded() -> Repo {
        let repo = Repo::new();
        repo.orca(&["task", "load", "plan.md"]).ok();
        repo
    }
}

#[test]
fn load_queues_a_valid_plan_and_says_what_to_do_next() {
    let repo = Repo::new();
    let run = repo.orca(&["task", "load", "plan.md"]).ok();
    insta::assert_snapshot!("load", run.transcript());
    assert!(repo.path(".orca/orca.db").exists());
    let status = repo.orca(&["status", "--json"]).ok().json();
    assert_eq!(status["run"]["mode"], "session");
    assert_eq!(status["run"]["title"], "Session queue demo");
    assert_eq!(status["tasks"].as_array().unwrap().len(), 3);
    // Loading again starts a new run; the note says which one commands use now.
    let again = repo.orca(&["task", "load", "plan.md", "--json"]).ok().json();
    assert_eq!(again["previous_active"], status["run"]["id"]);
    assert_eq!((again["tasks"].as_u64(), again["ready"].as_u64()), (Some(3), Some(2)));
}

#[test]
fn done_tasks_load_as_succeeded_and_are_never_claimed() {
    let repo = Repo::new();
    // T01 was finished before the plan; T02 is done too and names no role.
    let plan = PLAN.replace("- estimate: 2h\n", "- estimate: 2h\n- status: done\n").replace(
        "### T02: Configure it\n- deps: none\n- role: backend\n",
        "### T02: Configure it\n- deps: none\n- status: done\n",
    );
    std::fs::write(repo.path("half.md"), plan).unwrap();
    let loaded = repo.orca(&["task", "load", "half.md", "--json"]).ok().json();
    assert_eq!((loaded["tasks"].as_u64(), loaded["ready"].as_u64()), (Some(3), Some(1)));
    let claim = repo.orca(&["task", "next", "--claim", "--as", "s1", "--json"]).ok().json();
    assert_eq!(
        (claim["outcome"].as_str(), claim["task"]["key"].as_str()),
        (Some("claimed"), Some("T03"))
    );
    let status = repo.orca(&["status", "--json"]).ok().json();
    let states: Vec<(String, String)> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_owned(), t["state"].as_str().unwrap().to_owned()))
        .collect();
    assert!(states.contains(&("T01".to_owned(), "succeeded".to_owned())), "{states:?}");
    assert!(states.contains(&("T02".to_owned(), "succeeded".to_owned())), "{states:?}");
}

#[test]
fn an_invalid_plan_is_not_loaded_and_its_errors_are_shown() {
    let repo = Repo::new();
    let broken = PLAN.replace("- deps: T01, T02", "- deps: T01, T09");
    std::fs::write(repo.path("broken.md"), broken).unwrap();
    let run = repo.orca(&["task", "load", "broken.md"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("load_invalid", run.transcript());
    assert!(!repo.path(".orca").exists(), "nothing is written for an invalid plan");
    let json = repo.orca(&["task", "load", "broken.md", "--json"]).json();
    assert_eq!(json["error"]["kind"], "failed");
    let diagnostics = json["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics.iter().any(|d| d["severity"] == "error" && d["code"] == "plan::unknown-dep"),
        "{json}"
    );
}

#[test]
fn roles_come_from_the_configuration() {
    let repo = Repo::new();
    repo.config("[roles]\nknown = [\"docs\"]\n");
    let run = repo.orca(&["task", "load", "plan.md"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("backend"), "{}", run.stderr);
}

#[test]
fn next_shows_then_claims_in_dispatch_order() {
    let repo = Repo::loaded();
    let peek = repo.orca(&["task", "next"]).ok();
    insta::assert_snapshot!("next_peek", peek.transcript());
    let claim = repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    insta::assert_snapshot!("next_claim", claim.transcript());
    // Claiming again gives the same task back, renewed: one at a time.
    let held = repo.orca(&["task", "next", "--claim", "--as", "s1", "--json"]).ok().json();
    assert_eq!(
        (held["outcome"].as_str(), held["task"]["key"].as_str()),
        (Some("held"), Some("T01"))
    );
    let other = repo.orca(&["task", "next", "--claim", "--as", "s2", "--json"]).ok().json();
    assert_eq!(other["outcome"], "claimed");
    assert_eq!(other["task"]["key"], "T02");
    assert_eq!(other["task"]["lease"]["holder"], "s2");
    assert_eq!(other["task"]["spec"]["files"], serde_json::json!(["src/config.rs"]));
    // ORCA_AS names the session too.
    let out = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["task", "next", "--claim", "--json"])
        .current_dir(repo.root())
        .env_remove("ORCA_STORE")
        .env("ORCA_AS", "s2")
        .output()
        .unwrap();
    let env_named: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (env_named["outcome"].as_str(), env_named["task"]["key"].as_str()),
        (Some("held"), Some("T02"))
    );
}

#[test]
fn next_without_work_says_why_and_exits_1() {
    let repo = Repo::loaded();
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    repo.orca(&["task", "next", "--claim", "--as", "s2"]).ok();
    let idle = repo.orca(&["task", "next", "--claim", "--as", "s3"]);
    assert_eq!(idle.code, 1);
    insta::assert_snapshot!("next_idle", idle.transcript());
    let json = repo.orca(&["task", "next", "--json"]).json();
    assert_eq!(json["outcome"], "idle");
    assert_eq!(json["idle"]["counts"]["total"], 3);
    assert_eq!(json["idle"]["running"].as_array().unwrap().len(), 2);
    // Finish everything: the last done ends the run, and next says so.
    for (session, task) in [("s1", "T01"), ("s2", "T02")] {
        repo.orca(&["task", "done", task, "--as", session]).ok();
    }
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    let last = repo.orca(&["task", "done", "T03", "--as", "s1", "--summary", "used it"]).ok();
    insta::assert_snapshot!("done_last", last.transcript());
    let finished = repo.orca(&["task", "next", "--claim", "--as", "s1"]);
    assert_eq!(finished.code, 1);
    insta::assert_snapshot!("next_finished", finished.transcript());
    assert_eq!(repo.orca(&["status", "--json"]).ok().json()["run"]["state"], "succeeded");
}

#[test]
fn show_heartbeat_and_done_for_the_holder() {
    let repo = Repo::loaded();
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    insta::assert_snapshot!("show", repo.orca(&["task", "show", "T01"]).ok().transcript());
    insta::assert_snapshot!(
        "heartbeat",
        repo.orca(&["task", "heartbeat", "T01", "--as", "s1"]).ok().transcript()
    );
    let done = repo
        .orca(&["task", "done", "T01", "--as", "s1", "--summary", "base added; verify passed"])
        .ok();
    insta::assert_snapshot!("done", done.transcript());
    let again = repo.orca(&["task", "done", "T01", "--as", "s1", "--json"]).ok().json();
    assert_eq!(again["already"], true);
    let show = repo.orca(&["task", "show", "T03", "--json"]).ok().json();
    assert_eq!(
        show["deps"],
        serde_json::json!([
            {"key": "T01", "state": "succeeded"},
            {"key": "T02", "state": "ready"}
        ])
    );
}

#[test]
fn another_session_is_refused_with_exit_3_and_nothing_changes() {
    let repo = Repo::loaded();
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    let before = repo.orca(&["status", "--json"]).ok().json()["tasks"].clone();
    let refused = repo.orca(&["task", "done", "T01", "--as", "s2", "--summary", "not mine"]);
    assert_eq!(refused.code, 3);
    insta::assert_snapshot!("refused_not_yours", refused.transcript());
    for args in [
        &["task", "heartbeat", "T01", "--as", "s2"][..],
        &["task", "fail", "T01", "--as", "s2", "--reason", "x"],
        &["task", "block", "T01", "--as", "s2", "--reason", "x"],
    ] {
        assert_eq!(repo.orca(args).code, 3, "{args:?}");
    }
    let json = repo.orca(&["task", "done", "T01", "--as", "s2", "--json"]).json();
    assert_eq!(json["error"]["kind"], "refused");
    assert_eq!(json["error"]["message"], "T01 is leased to `s1` (attempt 1), not to you");
    let after = repo.orca(&["status", "--json"]).ok().json()["tasks"].clone();
    let strip = |tasks: &serde_json::Value| {
        tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].clone(),
                    t["state"].clone(),
                    t["attempt"].clone(),
                    t["lease"]["worker"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&before), strip(&after));
}

#[test]
fn a_lost_lease_is_explained_and_points_back_to_the_queue() {
    let repo = Repo::new();
    repo.config("[lease]\nsession_ttl = \"300ms\"\n");
    repo.orca(&["task", "load", "plan.md"]).ok();
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    // Anyone looking at the queue after the lease ran out takes it back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let peek = repo.orca(&["task", "next", "--json"]).ok().json();
        if peek["task"]["key"] == "T01" && peek["task"]["state"] == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "the lease never expired: {peek}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lost = repo.orca(&["task", "done", "T01", "--as", "s1"]);
    assert_eq!(lost.code, 3);
    insta::assert_snapshot!("refused_expired", lost.transcript());
    repo.orca(&["task", "next", "--claim", "--as", "s2"]).ok();
    let taken = repo.orca(&["task", "heartbeat", "T01", "--as", "s1"]);
    assert_eq!(taken.code, 3);
    insta::assert_snapshot!("refused_taken", taken.transcript());
}

#[test]
fn fail_retries_and_block_blocks_dependents() {
    let repo = Repo::new();
    repo.config("[run]\nmax_attempts = 2\n\n[limits]\nretry_backoff_base = \"1ms\"\nretry_backoff_max = \"1ms\"\n");
    repo.orca(&["task", "load", "plan.md"]).ok();
    repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    let retry = repo
        .orca(&["task", "fail", "T01", "--as", "s1", "--reason", "verify failed: 2 tests"])
        .ok();
    // With a 1 ms backoff T01 may be ready again by the time the count is
    // taken: how many tasks are ready depends on timing, the rest does not.
    let count = regex::Regex::new(r"\d+ tasks? (is|are) ready").unwrap();
    insta::assert_snapshot!("fail_retry", count.replace(&retry.transcript(), "<N> ready"));
    let again = repo.orca(&["task", "next", "--claim", "--as", "s1"]).ok();
    assert!(again.stdout.contains("last error: verify failed: 2 tests"), "{again:?}");
    let for_good =
        repo.orca(&["task", "fail", "T01", "--as", "s1", "--reason", "still failing"]).ok();
    insta::assert_snapshot!("fail_for_good", for_good.transcript());
    repo.orca(&["task", "next", "--claim", "--as", "s2"]).ok();
    let blocked = repo
        .orca(&["task", "block", "T02", "--as", "s2", "--reason", "needs a product decision"])
        .ok();
    insta::assert_snapshot!("block", blocked.transcript());
    let status = repo.orca(&["status", "--json"]).ok().json();
    assert_eq!(status["run"]["state"], "failed", "nothing is left unfinished");
}

#[test]
fn usage_errors_name_what_is_missing() {
    let repo = Repo::loaded();
    let cases: [(&str, &[&str]); 6] = [
        ("no_identity", &["task", "next", "--claim"]),
        ("bad_identity", &["task", "done", "T01", "--as", "two words"]),
        ("unknown_task", &["task", "show", "T99"]),
        ("empty_reason", &["task", "fail", "T01", "--as", "s1", "--reason", " "]),
        ("unknown_run", &["task", "next", "--run", "19990101-000000-0000"]),
        ("not_claimed", &["task", "done", "T02", "--as", "s1"]),
    ];
    let mut transcripts = String::new();
    for (name, args) in cases {
        let run = repo.orca(args);
        assert_ne!(run.code, 0, "{name}");
        transcripts.push_str(&format!(
            "## {name}: orca {}\n{}\n",
            args.join(" "),
            run.transcript()
        ));
    }
    insta::assert_snapshot!("usage_errors", transcripts);
}

#[test]
fn without_a_store_the_commands_say_to_load_a_plan() {
    let repo = Repo::new();
    let run = repo.orca(&["task", "next", "--claim", "--as", "s1"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("no_store", run.transcript());
    assert!(!repo.path(".orca/orca.db").exists(), "only `task load` creates the store");
}

#[test]
fn sessions_in_linked_worktrees_share_the_main_store() {
    let repo = Repo::new();
    repo.git(&["add", "plan.md"]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    repo.orca(&["task", "load", "plan.md"]).ok();
    let elsewhere = tempfile::tempdir().unwrap();
    let linked = elsewhere.path().join("repo-alice");
    repo.git(&["worktree", "add", "-q", linked.to_str().unwrap(), "-b", "alice"]);
    let claimed =
        repo.orca_in(&linked, &["task", "next", "--claim", "--as", "alice", "--json"]).ok().json();
    assert_eq!(claimed["task"]["key"], "T01");
    assert!(!linked.join(".orca").exists(), "no second store in the worktree");
    let status = repo.orca(&["status", "--json"]).ok().json();
    assert_eq!(status["workers"][0]["id"], "alice");
    assert_eq!(status["workers"][0]["pid"], 0);
}

#[test]
fn postgres_stores_work_the_same_way() {
    let url = orca_test_postgres::shared().create_database();
    let repo = Repo::new();
    repo.orca(&["task", "load", "plan.md", "--store", &url]).ok();
    let claim = repo
        .orca(&["task", "next", "--claim", "--as", "s1", "--store", &url, "--json"])
        .ok()
        .json();
    assert_eq!(claim["task"]["key"], "T01");
    let refused = repo.orca(&["task", "done", "T01", "--as", "s2", "--store", &url]);
    assert_eq!(refused.code, 3);
    repo.orca(&["task", "done", "T01", "--as", "s1", "--store", &url]).ok();
    let status = repo.orca(&["status", "--store", &url, "--json"]).ok().json();
    let t01 =
        status["tasks"].as_array().unwrap().iter().find(|t| t["key"] == "T01").unwrap().clone();
    assert_eq!(t01["state"], "succeeded");
    assert!(!repo.path(".orca/orca.db").exists());
}
