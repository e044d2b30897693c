//! orca's git calls ignore the git environment they inherit (as when the
//! tests or orca run inside a git hook) and fall back to orca's identity
//! when the repository has none. Each check re-runs this test binary with a
//! hostile environment, since the variables cannot be set per thread.

use std::path::Path;
use std::process::Command;

use orca_config::Layout;
use orca_git::{MergeOutcome, Repo, integration_branch};

use crate::support::{git, git_command, init_repo, write};

const REPO_VAR: &str = "ORCA_GIT_TEST_CHILD_REPO";

/// Runs the ignored test `name` of this binary in a child process with
/// `env` added, and requires that it ran and passed.
fn run_child(name: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--ignored", "--exact", name, "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child {name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child {name} did not run:\n{stdout}\n{stderr}");
}

#[test]
fn operations_ignore_an_inherited_git_environment_and_fall_back_to_orcas_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (real, decoy, home) = (base.join("real"), base.join("decoy"), base.join("home"));
    for dir in [&real, &decoy, &home] {
        std::fs::create_dir(dir).unwrap();
    }
    init_repo(&real, false);
    Layout::new(&real).ensure().unwrap();
    init_repo(&decoy, true);
    let decoy_refs = git(&decoy, &["for-each-ref"]);
    let decoy_index = std::fs::read(decoy.join(".git/index")).unwrap();
    let decoy_git = decoy.join(".git");
    let path = |p: &Path| p.to_str().unwrap().to_string();

    run_child(
        "hermetic::child_works_in_a_hostile_environment",
        &[
            (REPO_VAR, &path(&real)),
            // What a hook (or a user's shell) may export.
            ("GIT_DIR", &path(&decoy_git)),
            ("GIT_WORK_TREE", &path(&decoy)),
            ("GIT_INDEX_FILE", &path(&decoy_git.join("index"))),
            ("GIT_OBJECT_DIRECTORY", &path(&decoy_git.join("objects"))),
            ("GIT_COMMON_DIR", &path(&decoy_git)),
            ("GIT_CONFIG_PARAMETERS", "'user.name'='Hook User' 'core.bare'='true'"),
            ("GIT_AUTHOR_DATE", "@0 +0000"),
            ("GIT_COMMITTER_DATE", "@0 +0000"),
            ("GIT_EDITOR", "false"),
            ("GIT_PAGER", "false"),
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "de_DE.UTF-8"),
            // No identity anywhere: not in the repository, not in user config.
            ("HOME", &path(&home)),
            ("XDG_CONFIG_HOME", &path(&home)),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
        ],
    );

    assert_eq!(git(&decoy, &["for-each-ref"]), decoy_refs, "the decoy's refs are untouched");
    assert_eq!(std::fs::read(decoy.join(".git/index")).unwrap(), decoy_index);
    let merged =
        git(&real, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "orca/h/integration"]);
    assert_eq!(merged, "orca <orca@localhost>|orca <orca@localhost>|Merge T1");
    let dates = git(&real, &["log", "-2", "--format=%at %ct", "orca/h/integration"]);
    for date in dates.split_whitespace() {
        assert!(
            date.parse::<i64>().unwrap() > 1_600_000_000,
            "the hook's epoch date leaked: {dates}"
        );
    }
    let config = git_command(&real)
        .args(["config", "--local", "--get-regexp", "^user[.]"])
        .output()
        .unwrap();
    assert!(config.stdout.is_empty(), "orca wrote no identity into the repository");
}

#[test]
#[ignore = "run by operations_ignore_an_inherited_git_environment_and_fall_back_to_orcas_identity"]
fn child_works_in_a_hostile_environment() {
    let root = std::env::var(REPO_VAR).expect("run by the parent test");
    let repo = Repo::discover(&root).unwrap();
    assert_eq!(repo.root(), Path::new(&root));
    let integration = integration_branch("h");
    repo.create_branch(&integration, "HEAD").unwrap();
    let wt = repo
        .add_worktree(
            &Layout::new(&root).worktrees_dir().join("h/T1-a1"),
            "orca/h/T1/a1",
            &integration,
        )
        .unwrap();
    write(wt.path.join("feature.txt"), "made under a hostile environment\n");
    let commit = repo.commit_all(&wt.path, "T1: feature").unwrap().unwrap();
    let outcome = repo.merge_into(&integration, "orca/h/T1/a1", "Merge T1").unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged { .. }));
    assert!(repo.is_ancestor(commit.as_str(), &integration).unwrap());
    let log = repo.summarize_range("HEAD", &integration).unwrap();
    assert_eq!(log.commits, ["Merge T1", "T1: feature"]);
    repo.remove_worktree(&wt.path).unwrap();
}

#[test]
fn the_repository_identity_is_used_when_there_is_one() {
    let fx = crate::support::Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "w", "main").unwrap();
    write(wt.path.join("x"), "x\n");
    fx.repo.commit_all(&wt.path, "x").unwrap();
    fx.repo.create_branch("target", "main").unwrap();
    fx.repo.merge_into("target", "w", "Merge w").unwrap();
    for rev in ["w", "target"] {
        let who = fx.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", rev]);
        assert_eq!(who, "Test User <test@example.com>|Test User <test@example.com>");
    }
    let date: i64 = fx.git(&["log", "-1", "--format=%at", "target"]).parse().unwrap();
    assert!(date > 1_600_000_000, "a real commit date");
}
