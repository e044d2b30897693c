use orca_git::{ConflictError, MergeOutcome};

use crate::support::{Fixture, git, read, write};

const INTEGRATION: &str = "orca/r1/integration";

/// Integration holds task a's README edit; task b edits the same line.
fn conflicting_tasks() -> Fixture {
    let fx = Fixture::new();
    fx.repo.create_branch(INTEGRATION, "main").unwrap();
    for (branch, line) in [("a", "line two, says a"), ("b", "line two, says b")] {
        let wt = fx.repo.add_worktree(&fx.wt(branch), branch, "main").unwrap();
        write(wt.path.join("README.md"), &format!("# demo\n\nline one\n{line}\nline three\n"));
        write(wt.path.join(format!("{branch}.txt")), "own file\n");
        fx.repo.commit_all(&wt.path, &format!("task {branch}")).unwrap().unwrap();
        fx.repo.remove_worktree(&wt.path).unwrap();
    }
    fx.repo.merge_into(INTEGRATION, "a", "Merge a").unwrap();
    fx
}

#[test]
fn a_resolver_worktree_holds_the_conflict_and_finishing_makes_the_merge() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let b = fx.rev("b");
    let path = fx.wt("r1/b-a2");
    let conflict = fx.repo.prepare_conflict_worktree(&path, "orca/r1/b/a2", &tip, "b").unwrap();
    assert_eq!(conflict.files, ["README.md"]);
    assert_eq!(conflict.merging.as_str(), b);
    assert_eq!(conflict.worktree.branch.as_deref(), Some("orca/r1/b/a2"));
    let readme = read(path.join("README.md"));
    assert!(readme.contains("<<<<<<< ") && readme.contains(">>>>>>> "), "{readme}");
    assert!(readme.contains("||||||| "), "zdiff3 shows the base: {readme}");
    assert_eq!(read(path.join("b.txt")), "own file\n", "the clean part is merged");

    // The resolver writes the resolution; finishing commits the merge.
    write(path.join("README.md"), "# demo\n\nline one\nline two, says a and b\nline three\n");
    let merge = fx.repo.finish_conflict_resolution(&path, "Merge b (resolved)").unwrap();
    let parents = fx.repo.parents(merge.as_str()).unwrap();
    assert_eq!(parents.iter().map(|p| p.as_str()).collect::<Vec<_>>(), [tip.as_str(), b.as_str()]);
    assert_eq!(fx.rev("orca/r1/b/a2"), merge.as_str());
    assert_eq!(git(&path, &["log", "-1", "--format=%s"]), "Merge b (resolved)");
    assert_eq!(git(&path, &["status", "--porcelain"]), "");

    // Merging the resolution fast-forwards the integration branch to it.
    let outcome = fx.repo.merge_into(INTEGRATION, "orca/r1/b/a2", "Merge b").unwrap();
    assert_eq!(outcome, MergeOutcome::FastForwarded { commit: merge.clone() });
    assert_eq!(fx.rev(INTEGRATION), merge.as_str());
    // b is in; merging it (or the resolution) again does nothing.
    assert!(matches!(
        fx.repo.merge_into(INTEGRATION, "b", "x").unwrap(),
        MergeOutcome::AlreadyMerged { .. }
    ));
    assert!(matches!(
        fx.repo.merge_into(INTEGRATION, "orca/r1/b/a2", "x").unwrap(),
        MergeOutcome::AlreadyMerged { .. }
    ));
    let readme = git(&fx.root, &["show", &format!("{INTEGRATION}:README.md")]);
    assert!(readme.contains("says a and b"), "{readme}");
}

#[test]
fn a_resolution_made_on_an_old_tip_is_merged_normally() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let path = fx.wt("r1/b-a2");
    fx.repo.prepare_conflict_worktree(&path, "orca/r1/b/a2", &tip, "b").unwrap();
    write(path.join("README.md"), "# demo\n\nline one\nresolved\nline three\n");
    let resolution = fx.repo.finish_conflict_resolution(&path, "Resolve b").unwrap();
    // Meanwhile another task lands.
    fx.branch_with_file("c", "c.txt", "c\n");
    fx.repo.merge_into(INTEGRATION, "c", "Merge c").unwrap();
    let moved = fx.rev(INTEGRATION);
    let outcome = fx.repo.merge_into(INTEGRATION, "orca/r1/b/a2", "Merge b").unwrap();
    let MergeOutcome::Merged { commit } = outcome else { panic!("{outcome:?}") };
    let parents = fx.repo.parents(commit.as_str()).unwrap();
    assert_eq!(parents[0].as_str(), moved);
    assert_eq!(parents[1], resolution);
}

#[test]
fn finishing_refuses_while_markers_remain() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let path = fx.wt("r1/b-a2");
    fx.repo.prepare_conflict_worktree(&path, "orca/r1/b/a2", &tip, "b").unwrap();

    let err = fx.repo.finish_conflict_resolution(&path, "too early").unwrap_err();
    assert!(
        matches!(&err, ConflictError::Unresolved { files, .. } if files == &["README.md"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("README.md"), "{err}");

    // Staging the markers (what a careless resolver does) does not count
    // as resolving them; neither do markers in a brand-new file.
    git(&path, &["add", "README.md"]);
    write(path.join("notes.md"), "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n");
    let err = fx.repo.finish_conflict_resolution(&path, "still early").unwrap_err();
    let ConflictError::Unresolved { mut files, .. } = err else { panic!("{err:?}") };
    files.sort();
    assert_eq!(files, ["README.md", "notes.md"]);
    assert_eq!(fx.rev("orca/r1/b/a2"), tip, "nothing was committed");
    assert!(git(&path, &["rev-parse", "--verify", "MERGE_HEAD"]).len() >= 40);
}

#[test]
fn a_deleted_conflicting_file_counts_as_resolved() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let path = fx.wt("r1/b-a2");
    fx.repo.prepare_conflict_worktree(&path, "orca/r1/b/a2", &tip, "b").unwrap();
    std::fs::remove_file(path.join("README.md")).unwrap();
    let merge = fx.repo.finish_conflict_resolution(&path, "drop the readme").unwrap();
    assert_eq!(fx.repo.parents(merge.as_str()).unwrap().len(), 2);
    assert!(!git(&fx.root, &["ls-tree", "--name-only", merge.as_str()]).contains("README.md"));
}

#[test]
fn nothing_to_merge_and_no_merge_in_progress_are_errors() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let err = fx.repo.prepare_conflict_worktree(&fx.wt("x"), "x", &tip, "a").unwrap_err();
    assert!(matches!(err, ConflictError::NothingToMerge { .. }), "{err:?}");
    assert!(!fx.wt("x").exists());
    assert!(!fx.repo.branch_exists("x").unwrap());

    let wt = fx.repo.add_worktree(&fx.wt("plain"), "plain", "main").unwrap();
    let err = fx.repo.finish_conflict_resolution(&wt.path, "x").unwrap_err();
    assert!(matches!(err, ConflictError::NoMergeInProgress { .. }), "{err:?}");
}

#[test]
fn a_merge_that_cannot_start_leaves_nothing_behind() {
    let fx = conflicting_tasks();
    let tip = fx.rev(INTEGRATION);
    let err =
        fx.repo.prepare_conflict_worktree(&fx.wt("x"), "x", &tip, "no-such-branch").unwrap_err();
    assert!(matches!(err, ConflictError::Ref(_)), "{err:?}");
    assert!(!fx.repo.branch_exists("x").unwrap());
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1);
}

#[test]
fn a_clean_merge_in_a_resolver_worktree_has_no_conflicted_files() {
    let fx = conflicting_tasks();
    fx.branch_with_file("c", "c.txt", "c\n");
    let tip = fx.rev(INTEGRATION);
    let path = fx.wt("r1/c-a2");
    let conflict = fx.repo.prepare_conflict_worktree(&path, "orca/r1/c/a2", &tip, "c").unwrap();
    assert!(conflict.files.is_empty());
    let merge = fx.repo.finish_conflict_resolution(&path, "Merge c").unwrap();
    assert_eq!(fx.repo.parents(merge.as_str()).unwrap().len(), 2);
}
