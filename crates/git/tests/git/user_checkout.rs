//! The user's checkout, dirty in every way, stays byte-identical whatever
//! orca does with worktrees and branches.

use orca_git::{MergeError, attempt_branch, integration_branch, run_branch_prefix};

use crate::support::{CheckoutSnapshot, Fixture, make_checkout_dirty, write};

#[test]
fn a_dirty_checkout_is_never_touched() {
    let fx = Fixture::new();
    fx.git(&["branch", "feature"]);
    make_checkout_dirty(&fx.root);
    let before = CheckoutSnapshot::take(&fx.root);
    assert!(fx.repo.is_dirty().unwrap());

    let integration = integration_branch("r1");
    let head = fx.repo.head_commit().unwrap();
    fx.repo.create_branch(&integration, head.as_str()).unwrap();
    let wt_dir = fx.layout.worktrees_dir();

    // Three tasks: T1 merges; T2 edits T1's line and all of them add a
    // notes.txt (which the user also has, untracked), so T2 and T3 conflict.
    let mut tasks = Vec::new();
    for (task, line) in [("T1", "line two by T1"), ("T2", "line two by T2"), ("T3", "line two")] {
        let branch = attempt_branch("r1", task, 1);
        let path = orca_git::task_worktree_path(&wt_dir, "r1", task);
        let wt = fx.repo.add_worktree(&path, &branch, &integration).unwrap();
        write(wt.path.join("README.md"), &format!("# demo\n\nline one\n{line}\nline three\n"));
        write(wt.path.join(format!("{task}.txt")), "task output\n");
        write(wt.path.join("notes.txt"), &format!("{task}'s notes, not the user's\n"));
        fx.repo.commit_all(&wt.path, &format!("{task}: work")).unwrap().unwrap();
        tasks.push((task, branch, wt.path));
    }
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "after worktrees and commits");

    fx.repo.merge_into(&integration, &tasks[0].1, "Merge T1").unwrap();
    assert!(fx.repo.merge_into(&integration, &tasks[1].1, "Merge T2").is_err());
    fx.repo.merge_into(&integration, &tasks[2].1, "Merge T3").unwrap_err();
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "after merges");

    // The user's own branch is refused as a target.
    let user_branch = fx.repo.current_branch().unwrap().unwrap();
    let err = fx.repo.merge_into(&user_branch, &tasks[0].1, "no").unwrap_err();
    assert!(matches!(err, MergeError::TargetCheckedOut { .. }), "{err:?}");

    let tip = fx.repo.branch_tip(&integration).unwrap().unwrap();
    let resolver = orca_git::resolver_worktree_path(&wt_dir, "r1", "T2");
    let conflict = fx
        .repo
        .prepare_conflict_worktree(
            &resolver,
            &attempt_branch("r1", "T2", 2),
            tip.as_str(),
            &tasks[1].1,
        )
        .unwrap();
    assert!(!conflict.files.is_empty());
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "after preparing a conflict");
    for file in &conflict.files {
        write(resolver.join(file), "resolved\n");
    }
    fx.repo.finish_conflict_resolution(&resolver, "Resolve T2").unwrap();
    fx.repo.merge_into(&integration, &attempt_branch("r1", "T2", 2), "Merge T2").unwrap();
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "after resolving");

    fx.repo.summarize_range(head.as_str(), &integration).unwrap();
    fx.repo.merge_check(&integration, &tasks[2].1).unwrap();
    for (_, _, path) in &tasks {
        fx.repo.remove_worktree(path).unwrap();
    }
    fx.repo.prune_stale(&wt_dir.join("r1")).unwrap();
    fx.repo.delete_branches_with_prefix(&run_branch_prefix("r1")).unwrap();
    assert!(fx.repo.list_worktrees().unwrap().len() == 1);
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "after cleanup");
}

#[test]
fn the_snapshot_notices_every_kind_of_change() {
    // The comparison above is only worth something if it can fail.
    let fx = Fixture::new();
    fx.git(&["branch", "feature"]);
    make_checkout_dirty(&fx.root);
    let before = CheckoutSnapshot::take(&fx.root);
    assert_eq!(CheckoutSnapshot::take(&fx.root), before, "taking a snapshot changes nothing");

    write(fx.root.join("notes.txt"), "untracked user notes!\n");
    assert_ne!(CheckoutSnapshot::take(&fx.root), before, "file content");
    write(fx.root.join("notes.txt"), "untracked user notes\n");
    assert_eq!(CheckoutSnapshot::take(&fx.root), before);

    fx.git(&["update-index", "--chmod=+x", "src/lib.rs"]);
    assert_ne!(CheckoutSnapshot::take(&fx.root), before, "index");
    fx.git(&["update-index", "--chmod=-x", "src/lib.rs"]);

    fx.git(&["branch", "-f", "feature", "HEAD~1"]);
    assert_ne!(CheckoutSnapshot::take(&fx.root), before, "branch tip");
}
