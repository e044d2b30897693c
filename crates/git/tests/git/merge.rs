use orca_git::{MergeCheck, MergeError, MergeOutcome, RefError};

use crate::support::{Fixture, commit_file, git};

const INTEGRATION: &str = "orca/r1/integration";

fn with_integration() -> Fixture {
    let fx = Fixture::new();
    fx.repo.create_branch(INTEGRATION, "main").unwrap();
    fx
}

/// A task branch off `base` editing README line 3 to `line`.
fn readme_edit(fx: &Fixture, branch: &str, base: &str, line: &str) -> String {
    let wt = fx.repo.add_worktree(&fx.wt(branch), branch, base).unwrap();
    crate::support::write(
        wt.path.join("README.md"),
        &format!("# demo\n\nline one\n{line}\nline three\n"),
    );
    let sha = fx.repo.commit_all(&wt.path, &format!("{branch}: edit readme")).unwrap().unwrap();
    fx.repo.remove_worktree(&wt.path).unwrap();
    sha.to_string()
}

#[test]
fn merge_check_reports_clean_merges_with_their_tree() {
    let fx = with_integration();
    fx.branch_with_file("a", "a.txt", "a\n");
    let MergeCheck::Clean { tree } = fx.repo.merge_check(INTEGRATION, "a").unwrap() else {
        panic!("expected a clean merge");
    };
    // Merging a branch off the target's tip yields the branch's tree.
    assert_eq!(tree.as_str(), fx.rev("a^{tree}"));
    assert_eq!(fx.rev(INTEGRATION), fx.rev("main"), "a check changes no ref");
}

#[test]
fn merge_check_reports_conflicts_with_files_and_messages() {
    let fx = with_integration();
    readme_edit(&fx, "a", "main", "line TWO from a");
    readme_edit(&fx, "b", "main", "line 2 from b");
    fx.branch_with_file("c", "c.txt", "c\n");
    fx.repo.merge_into(INTEGRATION, "a", "Merge a").unwrap();
    let tip = fx.rev(INTEGRATION);

    match fx.repo.merge_check(INTEGRATION, "b").unwrap() {
        MergeCheck::Conflicted { files, messages } => {
            assert_eq!(files, ["README.md"]);
            let conflict = messages
                .iter()
                .find(|m| m.kind.starts_with("CONFLICT"))
                .expect("a CONFLICT message");
            assert_eq!(conflict.paths, ["README.md"]);
            assert!(conflict.text.contains("Merge conflict in README.md"), "{conflict:?}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(fx.repo.merge_check(INTEGRATION, "c").unwrap(), MergeCheck::Clean { .. }));
    assert_eq!(fx.repo.merge_check(INTEGRATION, "a").unwrap(), MergeCheck::AlreadyMerged);
    assert_eq!(fx.rev(INTEGRATION), tip);
}

#[test]
fn merge_into_makes_a_merge_commit_without_any_checkout() {
    let fx = with_integration();
    let a = fx.branch_with_file("a", "a.txt", "a\n");
    let before = fx.rev(INTEGRATION);
    let outcome = fx.repo.merge_into(INTEGRATION, "a", "Merge T1 (a)").unwrap();
    let MergeOutcome::Merged { commit } = &outcome else { panic!("{outcome:?}") };
    assert_eq!(outcome.tip(), commit);
    assert_eq!(fx.rev(INTEGRATION), commit.as_str());
    // Always a merge commit, even though a fast-forward was possible.
    assert_eq!(
        git(&fx.root, &["rev-parse", &format!("{commit}^1"), &format!("{commit}^2")]),
        format!("{before}\n{a}")
    );
    assert_eq!(git(&fx.root, &["log", "-1", "--format=%B", commit.as_str()]), "Merge T1 (a)");
    assert_eq!(git(&fx.root, &["show", &format!("{commit}:a.txt")]), "a");
    let reflog = git(&fx.root, &["reflog", "-1", "--format=%gs", INTEGRATION]);
    assert_eq!(reflog, "orca: merge");
}

#[test]
fn merging_twice_is_a_no_op() {
    let fx = with_integration();
    fx.branch_with_file("a", "a.txt", "a\n");
    let first = fx.repo.merge_into(INTEGRATION, "a", "Merge a").unwrap();
    let second = fx.repo.merge_into(INTEGRATION, "a", "Merge a").unwrap();
    assert_eq!(second, MergeOutcome::AlreadyMerged { tip: first.tip().clone() });
    assert_eq!(fx.rev(INTEGRATION), first.tip().as_str());
    // A branch with no commits of its own is "already merged" too.
    fx.repo.create_branch("empty-task", INTEGRATION).unwrap();
    assert!(matches!(
        fx.repo.merge_into(INTEGRATION, "empty-task", "x").unwrap(),
        MergeOutcome::AlreadyMerged { .. }
    ));
}

#[test]
fn merges_land_in_the_order_they_are_made() {
    let fx = with_integration();
    // t1 and t2 are independent; t3 depends on t1 and starts from the
    // integration tip after t1 was merged.
    fx.branch_with_file("t1", "one.txt", "1\n");
    fx.branch_with_file("t2", "two.txt", "2\n");
    fx.repo.merge_into(INTEGRATION, "t1", "Merge t1").unwrap();
    let wt = fx.repo.add_worktree(&fx.wt("t3"), "t3", INTEGRATION).unwrap();
    commit_file(
        &wt.path,
        "three.txt",
        &crate::support::read(wt.path.join("one.txt")),
        "t3 uses t1",
    );
    fx.repo.merge_into(INTEGRATION, "t2", "Merge t2").unwrap();
    fx.repo.merge_into(INTEGRATION, "t3", "Merge t3").unwrap();

    let first_parent =
        git(&fx.root, &["log", "--first-parent", "--format=%s", &format!("main..{INTEGRATION}")]);
    assert_eq!(first_parent, "Merge t3\nMerge t2\nMerge t1");
    for b in ["t1", "t2", "t3"] {
        assert!(fx.repo.is_ancestor(b, INTEGRATION).unwrap(), "{b} merged");
    }
    let files = git(&fx.root, &["ls-tree", "--name-only", INTEGRATION]);
    assert!(
        files.contains("one.txt") && files.contains("two.txt") && files.contains("three.txt"),
        "{files}"
    );
}

#[test]
fn a_conflicting_merge_changes_nothing() {
    let fx = with_integration();
    readme_edit(&fx, "a", "main", "from a");
    readme_edit(&fx, "b", "main", "from b");
    fx.repo.merge_into(INTEGRATION, "a", "Merge a").unwrap();
    let tip = fx.rev(INTEGRATION);
    let err = fx.repo.merge_into(INTEGRATION, "b", "Merge b").unwrap_err();
    let MergeError::Conflicted { files, target, branch, .. } = &err else { panic!("{err:?}") };
    assert_eq!(files, &["README.md"]);
    assert_eq!((target.as_str(), branch.as_str()), (INTEGRATION, "b"));
    assert!(err.to_string().contains("conflicts in README.md"), "{err}");
    assert_eq!(fx.rev(INTEGRATION), tip);
}

#[test]
fn merge_into_refuses_a_checked_out_or_missing_target() {
    let fx = Fixture::new();
    fx.branch_with_file("a", "a.txt", "a\n");
    let main = fx.rev("main");
    let err = fx.repo.merge_into("main", "a", "Merge a").unwrap_err();
    assert!(
        matches!(&err, MergeError::TargetCheckedOut { worktree, .. } if *worktree == fx.root),
        "{err:?}"
    );
    assert_eq!(fx.rev("main"), main);

    let err = fx.repo.merge_into("orca/none/integration", "a", "x").unwrap_err();
    assert!(matches!(err, MergeError::Ref(RefError::NoSuchBranch { .. })), "{err:?}");
    let err = fx.repo.merge_into("bad name", "a", "x").unwrap_err();
    assert!(matches!(err, MergeError::Ref(RefError::InvalidBranchName { .. })), "{err:?}");
}

#[test]
fn unrelated_histories_are_an_error_not_a_merge() {
    let fx = with_integration();
    let wt = fx.wt("orphan");
    git(&fx.root, &["worktree", "add", "-q", "--orphan", "-b", "orphan", wt.to_str().unwrap()]);
    commit_file(&wt, "other.txt", "x\n", "unrelated root");
    let tip = fx.rev(INTEGRATION);
    let err = fx.repo.merge_into(INTEGRATION, "orphan", "x").unwrap_err();
    assert!(matches!(err, MergeError::Git(_)), "{err:?}");
    assert!(err.to_string().contains("unrelated histories"), "{err}");
    assert_eq!(fx.rev(INTEGRATION), tip);
}

#[test]
fn merge_into_refuses_a_target_checked_out_in_a_linked_worktree() {
    let fx = Fixture::new();
    fx.branch_with_file("a", "a.txt", "a\n");
    let path = fx.wt("on-target");
    fx.repo.add_worktree(&path, "target", "main").unwrap();
    let err = fx.repo.merge_into("target", "a", "Merge a").unwrap_err();
    assert!(
        matches!(&err, MergeError::TargetCheckedOut { worktree, .. } if *worktree == path),
        "{err:?}"
    );
    // Once that worktree is gone, the branch takes merges.
    fx.repo.remove_worktree(&path).unwrap();
    assert!(matches!(
        fx.repo.merge_into("target", "a", "Merge a").unwrap(),
        MergeOutcome::Merged { .. } | MergeOutcome::FastForwarded { .. }
    ));
}

#[test]
fn merge_into_names_an_unknown_branch() {
    let fx = with_integration();
    let err = fx.repo.merge_into(INTEGRATION, "no-such-branch", "x").unwrap_err();
    assert!(
        matches!(&err, MergeError::Ref(RefError::UnknownRevision { rev }) if rev == "no-such-branch"),
        "{err:?}"
    );
}
