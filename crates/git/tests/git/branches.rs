use orca_git::{RefError, attempt_branch, integration_branch, run_branch_prefix};

use crate::support::{Fixture, git, git_command};

#[test]
fn create_branch_refuses_to_overwrite() {
    let fx = Fixture::new();
    let first = fx.repo.create_branch("orca/r1/integration", "main~1").unwrap();
    assert_eq!(first.as_str(), fx.rev("main~1"));
    assert!(fx.repo.branch_exists("orca/r1/integration").unwrap());
    assert_eq!(fx.repo.branch_tip("orca/r1/integration").unwrap(), Some(first.clone()));

    let err = fx.repo.create_branch("orca/r1/integration", "main").unwrap_err();
    assert!(matches!(&err, RefError::BranchExists { name } if name == "orca/r1/integration"));
    assert_eq!(fx.rev("orca/r1/integration"), first.as_str(), "the branch did not move");
}

#[test]
fn create_branch_validates_name_and_base() {
    let fx = Fixture::new();
    let err = fx.repo.create_branch("bad name", "main").unwrap_err();
    assert!(matches!(err, RefError::InvalidBranchName { .. }), "{err:?}");
    assert!(err.to_string().contains("\"bad name\""), "{err}");
    let err = fx.repo.create_branch("-x", "main").unwrap_err();
    assert!(matches!(err, RefError::InvalidBranchName { .. }), "{err:?}");
    let err = fx.repo.create_branch("ok", "no-such-rev").unwrap_err();
    assert!(matches!(err, RefError::UnknownRevision { .. }), "{err:?}");
    assert!(!fx.repo.branch_exists("ok").unwrap());
    assert!(!fx.repo.branch_exists("bad name").unwrap());
}

#[test]
fn deleting_a_runs_branches_spares_other_runs_and_checkouts() {
    let fx = Fixture::new();
    for name in [
        integration_branch("r1"),
        attempt_branch("r1", "T1", 1),
        attempt_branch("r1", "T2", 1),
        integration_branch("r10"),
        attempt_branch("r10", "T1", 1),
        "orca-notes".to_string(),
    ] {
        fx.repo.create_branch(&name, "main").unwrap();
    }
    // A worktree still has one attempt branch checked out.
    let busy = fx.wt("busy");
    git(&fx.root, &["worktree", "add", "-q", busy.to_str().unwrap(), "orca/r1/T2/a1"]);

    let result = fx.repo.delete_branches_with_prefix(&run_branch_prefix("r1")).unwrap();
    assert_eq!(result.deleted, ["orca/r1/T1/a1", "orca/r1/integration"]);
    assert_eq!(result.checked_out, ["orca/r1/T2/a1"]);
    let left = fx.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
    assert_eq!(left, "main\norca-notes\norca/r1/T2/a1\norca/r10/T1/a1\norca/r10/integration");

    // Nothing left to delete is not an error.
    let again = fx.repo.delete_branches_with_prefix("orca/r2/").unwrap();
    assert!(again.deleted.is_empty() && again.checked_out.is_empty());
    assert!(
        fx.repo.delete_branches_with_prefix("").is_err(),
        "an empty prefix would match everything"
    );
}

#[test]
fn deleting_selected_branches_keeps_the_rest_of_the_prefix() {
    let fx = Fixture::new();
    for name in [
        integration_branch("r1"),
        attempt_branch("r1", "T1", 1),
        attempt_branch("r1", "T1", 2),
        attempt_branch("r1", "T2", 1),
        attempt_branch("r1", "T3", 1),
    ] {
        fx.repo.create_branch(&name, "main").unwrap();
    }
    let result = fx
        .repo
        .delete_branches_where(&run_branch_prefix("r1"), |name| {
            name.starts_with("orca/r1/T1/") || name.starts_with("orca/r1/T2/")
        })
        .unwrap();
    assert_eq!(result.deleted, ["orca/r1/T1/a1", "orca/r1/T1/a2", "orca/r1/T2/a1"]);
    let left = fx.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
    assert_eq!(left, "main\norca/r1/T3/a1\norca/r1/integration");
}

#[test]
fn branches_with_prefix_lists_tips() {
    let fx = Fixture::new();
    fx.repo.create_branch("orca/r/a", "main~1").unwrap();
    fx.repo.create_branch("orca/r/b", "main").unwrap();
    let listed = fx.repo.branches_with_prefix("orca/r/").unwrap();
    let names: Vec<_> = listed.iter().map(|(n, s)| (n.as_str(), s.as_str().to_string())).collect();
    assert_eq!(names, [("orca/r/a", fx.rev("main~1")), ("orca/r/b", fx.rev("main"))]);
}

#[test]
fn sanitized_branch_names_are_accepted_by_git() {
    let fx = Fixture::new();
    let ids = [
        "T1",
        "add login page",
        "../../etc/passwd",
        "x.lock",
        ".hidden",
        "a..b",
        "tilde~1",
        "caret^",
        "colon:x",
        "q?",
        "star*",
        "br[acket",
        "back\\slash",
        "at@{1}",
        "@",
        "-dash",
        "trailing.",
        "über-task",
        "日本語",
        "tab\there",
        "new\nline",
        "",
        "integration",
        "HEAD",
        "very-long-task-identifier-that-keeps-going-and-going-well-past-any-limit",
    ];
    for id in ids {
        for name in [integration_branch(id), attempt_branch("run 1", id, 3)] {
            let out = git_command(&fx.root)
                .args(["check-ref-format", "--branch", &name])
                .output()
                .unwrap();
            assert!(out.status.success(), "git rejects {name:?} made from {id:?}");
            fx.repo.create_branch(&name, "main").unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
    }
}

/// What was fetched from a remote for a run is listed and deleted by the
/// run's branch prefix; another run's copies, and the run's local
/// branches, stay.
#[test]
fn a_runs_fetched_copies_are_deleted_by_prefix() {
    let fx = Fixture::new();
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let url = remote.path().to_str().unwrap();
    let names =
        [integration_branch("r1"), attempt_branch("r1", "T1", 1), attempt_branch("r10", "T1", 1)];
    for name in &names {
        fx.repo.create_branch(name, "main").unwrap();
        fx.repo.push_branch(url, name).unwrap();
        assert!(fx.repo.fetch_branch(url, name).unwrap().is_some());
    }
    let prefix = run_branch_prefix("r1");
    let r1 = ["refs/orca-remote/orca/r1/T1/a1", "refs/orca-remote/orca/r1/integration"];
    assert_eq!(fx.repo.fetched_branches(&prefix).unwrap(), r1);
    assert_eq!(fx.repo.delete_fetched_branches(&prefix).unwrap(), r1);
    assert!(fx.repo.fetched_branches(&prefix).unwrap().is_empty());
    assert!(fx.repo.delete_fetched_branches(&prefix).unwrap().is_empty(), "nothing left");
    assert_eq!(
        fx.repo.fetched_branches("orca/").unwrap(),
        ["refs/orca-remote/orca/r10/T1/a1"],
        "another run's copy stays"
    );
    for name in &names {
        assert!(fx.repo.branch_exists(name).unwrap(), "{name} is a local branch: it stays");
    }
}
