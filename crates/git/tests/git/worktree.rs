use std::fs;

use orca_git::{RefError, WorktreeError, WorktreeRemoval};

use crate::support::{Fixture, git, read, write};

#[test]
fn add_worktree_creates_the_branch_at_the_base_and_checks_it_out() {
    let fx = Fixture::new();
    let path = fx.wt("r1/T1-a1");
    let wt = fx.repo.add_worktree(&path, "orca/r1/T1/a1", "main~1").unwrap();
    assert_eq!(wt.path, path);
    assert_eq!(wt.branch.as_deref(), Some("orca/r1/T1/a1"));
    assert_eq!(wt.head.as_ref().unwrap().as_str(), fx.rev("main~1"));
    assert_eq!(fx.rev("orca/r1/T1/a1"), fx.rev("main~1"));
    assert_eq!(read(path.join("README.md")), read(fx.root.join("README.md")));
    assert!(!path.join("src/lib.rs").exists(), "main~1 has no src/lib.rs");
    assert_eq!(git(&path, &["symbolic-ref", "--short", "HEAD"]), "orca/r1/T1/a1");

    let listed = fx.repo.list_worktrees().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].is_main);
    assert_eq!(listed[0].path, fx.root);
    assert_eq!(listed[0].branch.as_deref(), Some("main"));
    assert_eq!(listed[1], wt);
}

#[test]
fn add_worktree_refuses_an_existing_branch_or_an_occupied_path() {
    let fx = Fixture::new();
    fx.repo.create_branch("taken", "main").unwrap();
    let err = fx.repo.add_worktree(&fx.wt("a"), "taken", "main~1").unwrap_err();
    assert!(matches!(err, WorktreeError::Ref(RefError::BranchExists { .. })), "{err:?}");
    assert_eq!(fx.rev("taken"), fx.rev("main"), "the existing branch did not move");
    assert!(!fx.wt("a").exists());

    let occupied = fx.wt("occupied");
    write(occupied.join("file"), "x");
    let err = fx.repo.add_worktree(&occupied, "fresh", "main").unwrap_err();
    assert!(matches!(err, WorktreeError::PathOccupied { .. }), "{err:?}");
    assert!(!fx.repo.branch_exists("fresh").unwrap(), "no branch is left behind");

    // An empty directory is fine.
    fs::create_dir_all(fx.wt("empty")).unwrap();
    fx.repo.add_worktree(&fx.wt("empty"), "fresh", "main").unwrap();
}

#[test]
fn worktrees_inside_the_checkout_must_be_ignored() {
    let fx = Fixture::new();
    let visible = fx.root.join("work/T1");
    let err = fx.repo.add_worktree(&visible, "t1", "main").unwrap_err();
    assert!(matches!(err, WorktreeError::NotIgnored { .. }), "{err:?}");
    assert!(err.to_string().contains("git status"), "{err}");
    assert!(!visible.exists(), "the directory orca made is gone again");
    assert!(!fx.repo.branch_exists("t1").unwrap());
    // Outside the checkout, or anywhere git ignores, is fine.
    let outside = tempfile::tempdir().unwrap();
    fx.repo.add_worktree(&outside.path().join("t1"), "t1", "main").unwrap();
    // A directory-only pattern matches once orca has made the directory.
    let exclude = fx.root.join(".git/info/exclude");
    write(&exclude, &(std::fs::read_to_string(&exclude).unwrap() + "/scratch/\n"));
    fx.repo.add_worktree(&fx.root.join("scratch"), "t2", "main").unwrap();
    assert_eq!(fx.git(&["status", "--porcelain"]), "", "orca's worktrees stay out of git status");
}

#[test]
fn a_failed_checkout_deletes_the_new_branch_again() {
    let fx = Fixture::new();
    // A registered worktree whose directory vanished makes `git worktree
    // add` at that path fail after orca created the branch.
    let path = fx.wt("ghost");
    fx.repo.add_worktree(&path, "ghost-branch", "main").unwrap();
    fs::remove_dir_all(&path).unwrap();
    let err = fx.repo.add_worktree(&path, "second", "main").unwrap_err();
    assert!(matches!(err, WorktreeError::Git(_)), "{err:?}");
    assert!(!fx.repo.branch_exists("second").unwrap());
    assert!(fx.repo.branch_exists("ghost-branch").unwrap());
}

#[test]
fn add_worktree_for_branch_brings_an_attempt_back() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    write(path.join("work.txt"), "saved\n");
    fx.repo.commit_all(&path, "work").unwrap();
    fx.repo.remove_worktree(&path).unwrap();
    assert!(!path.exists());

    let back = fx.repo.add_worktree_for_branch(&path, "orca/r/T/a1").unwrap();
    assert_eq!(read(back.path.join("work.txt")), "saved\n");
    let err = fx.repo.add_worktree_for_branch(&fx.wt("x"), "orca/r/T/a9").unwrap_err();
    assert!(matches!(err, WorktreeError::Ref(RefError::NoSuchBranch { .. })), "{err:?}");
}

#[test]
fn remove_worktree_discards_changes_keeps_the_branch_and_is_idempotent() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    write(path.join("README.md"), "modified\n");
    write(path.join("untracked.txt"), "new\n");
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::Removed);
    assert!(!path.exists());
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1);
    assert!(fx.repo.branch_exists("orca/r/T/a1").unwrap());
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::AlreadyGone);
}

#[test]
fn remove_worktree_refuses_the_main_checkout_and_strangers() {
    let fx = Fixture::new();
    let err = fx.repo.remove_worktree(&fx.root).unwrap_err();
    assert!(matches!(err, WorktreeError::MainCheckout { .. }), "{err:?}");
    let stranger = fx.root.join("src");
    let err = fx.repo.remove_worktree(&stranger).unwrap_err();
    assert!(matches!(err, WorktreeError::NotAWorktree { .. }), "{err:?}");
    assert!(stranger.join("lib.rs").exists());
}

#[test]
fn removes_a_worktree_whose_directory_was_deleted_behind_gits_back() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    fs::remove_dir_all(&path).unwrap();
    assert!(fx.repo.list_worktrees().unwrap()[1].prunable);
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::Removed);
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1);
    assert!(fx.repo.branch_exists("orca/r/T/a1").unwrap());
}

#[test]
fn removes_a_locked_worktree_with_a_stale_index_lock() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    // What a `kill -9` during `git worktree add` or `git add` leaves.
    git(&fx.root, &["worktree", "lock", "--reason", "initializing", path.to_str().unwrap()]);
    write(fx.root.join(".git/worktrees/T-a1/index.lock"), "");
    assert!(fx.repo.list_worktrees().unwrap()[1].locked);
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::Removed);
    assert!(!path.exists());
    assert!(!fx.root.join(".git/worktrees/T-a1").exists());
}

#[test]
fn removes_a_worktree_whose_git_file_is_gone() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    fs::remove_file(path.join(".git")).unwrap();
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::Removed);
    assert!(!path.exists());
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1);
}

#[test]
fn removes_an_orphaned_worktree_directory_git_forgot() {
    let fx = Fixture::new();
    let path = fx.wt("r/T-a1");
    fx.repo.add_worktree(&path, "orca/r/T/a1", "main").unwrap();
    fs::remove_dir_all(fx.root.join(".git/worktrees/T-a1")).unwrap();
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1, "git no longer knows it");
    assert_eq!(fx.repo.remove_worktree(&path).unwrap(), WorktreeRemoval::Removed);
    assert!(!path.exists());
}

#[test]
fn prune_stale_cleans_a_dead_run_and_nothing_else() {
    let fx = Fixture::new();
    let run = fx.layout.worktrees_dir().join("r1");
    let healthy = run.join("A-a1");
    let deleted = run.join("B-a1");
    let locked = run.join("C-a1");
    let orphan = run.join("D-a1");
    for (path, branch) in [
        (&healthy, "orca/r1/A/a1"),
        (&deleted, "orca/r1/B/a1"),
        (&locked, "orca/r1/C/a1"),
        (&orphan, "orca/r1/D/a1"),
    ] {
        fx.repo.add_worktree(path, branch, "main").unwrap();
    }
    write(healthy.join("uncommitted.txt"), "lost on purpose\n");
    fs::remove_dir_all(&deleted).unwrap();
    git(&fx.root, &["worktree", "lock", locked.to_str().unwrap()]);
    fs::remove_dir_all(fx.root.join(".git/worktrees/D-a1")).unwrap();
    fs::create_dir_all(run.join("half-created/sub")).unwrap();
    write(run.join("stray.txt"), "not orca's\n");
    // Another run's worktree next door is not touched.
    let other = fx.layout.worktrees_dir().join("r2/A-a1");
    fx.repo.add_worktree(&other, "orca/r2/A/a1", "main").unwrap();

    let report = fx.repo.prune_stale(&run).unwrap();
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(removed, [healthy.clone(), deleted, locked, orphan]);
    assert_eq!(report.kept, [run.join("stray.txt")]);
    assert!(!healthy.exists());
    assert!(!run.join("half-created").exists(), "empty directories go");

    let listed: Vec<_> = fx.repo.list_worktrees().unwrap().into_iter().map(|w| w.path).collect();
    assert_eq!(listed, [fx.root.clone(), other.clone()]);
    for branch in ["orca/r1/A/a1", "orca/r1/B/a1", "orca/r1/C/a1", "orca/r1/D/a1", "orca/r2/A/a1"] {
        assert!(fx.repo.branch_exists(branch).unwrap(), "{branch} must survive");
    }
    // Pruning again finds nothing.
    let again = fx.repo.prune_stale(&run).unwrap();
    assert!(again.removed.is_empty());
}

#[test]
fn prune_stale_refuses_directories_containing_the_repository() {
    let fx = Fixture::new();
    for dir in [fx.root.clone(), fx.root.parent().unwrap().to_path_buf()] {
        let err = fx.repo.prune_stale(&dir).unwrap_err();
        assert!(matches!(err, WorktreeError::UnsafePruneDir { .. }), "{err:?}");
    }
    assert!(fx.root.join("README.md").exists());
    // A directory that does not exist has nothing stale in it.
    assert_eq!(fx.repo.prune_stale(&fx.wt("never")).unwrap(), Default::default());
}
