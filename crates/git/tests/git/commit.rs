use std::fs;

use orca_git::WorktreeError;

use crate::support::{Fixture, commit_file, git, write};

#[test]
fn commit_all_commits_new_modified_and_deleted_files_but_not_ignored_ones() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "work", "main").unwrap();
    let base = fx.rev("main");
    write(wt.path.join("README.md"), "rewritten\n");
    fs::remove_file(wt.path.join("src/lib.rs")).unwrap();
    write(wt.path.join("src/new/deep.rs"), "// new\n");
    write(wt.path.join("build.log"), "ignored by .gitignore\n");

    let sha = fx.repo.commit_all(&wt.path, "T1: do the thing").unwrap().expect("a commit");
    assert_eq!(fx.rev("work"), sha.as_str());
    assert_eq!(git(&wt.path, &["rev-parse", "HEAD~1"]), base);
    let changes = git(&wt.path, &["diff", "--name-status", "HEAD~1", "HEAD"]);
    assert_eq!(changes, "M\tREADME.md\nD\tsrc/lib.rs\nA\tsrc/new/deep.rs");
    assert_eq!(git(&wt.path, &["log", "-1", "--format=%B"]), "T1: do the thing");
    assert_eq!(git(&wt.path, &["status", "--porcelain"]), "", "worktree clean after commit");
    assert!(wt.path.join("build.log").exists());
}

#[test]
fn commit_all_returns_none_when_nothing_changed() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "work", "main").unwrap();
    assert_eq!(fx.repo.commit_all(&wt.path, "nothing").unwrap(), None);
    write(wt.path.join("only.log"), "ignored\n");
    assert!(!fx.repo.worktree_has_changes(&wt.path).unwrap());
    assert_eq!(fx.repo.commit_all(&wt.path, "nothing").unwrap(), None);
    assert_eq!(fx.rev("work"), fx.rev("main"));
}

#[test]
fn commits_the_agent_made_are_kept() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "work", "main").unwrap();
    let first = commit_file(&wt.path, "a.txt", "a\n", "agent: first");
    let second = commit_file(&wt.path, "b.txt", "b\n", "agent: second");
    // Everything committed already: nothing more.
    assert_eq!(fx.repo.commit_all(&wt.path, "orca").unwrap(), None);
    write(wt.path.join("c.txt"), "left over\n");
    assert!(fx.repo.worktree_has_changes(&wt.path).unwrap());
    let third = fx.repo.commit_all(&wt.path, "orca: rest of T1").unwrap().unwrap();
    let log = git(&wt.path, &["log", "--format=%H %s", "main..work"]);
    assert_eq!(
        log,
        format!("{third} orca: rest of T1\n{second} agent: second\n{first} agent: first")
    );
}

#[test]
fn the_message_is_kept_verbatim() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "work", "main").unwrap();
    write(wt.path.join("x"), "x\n");
    let message = "T7: fix #12\n\n# not a comment\n--no-verify is just text; $(rm -rf /) too";
    fx.repo.commit_all(&wt.path, message).unwrap().unwrap();
    assert_eq!(git(&wt.path, &["log", "-1", "--format=%B"]), message);
}

#[test]
fn commit_all_refuses_the_main_checkout_and_other_directories() {
    let fx = Fixture::new();
    write(fx.root.join("README.md"), "user edit\n");
    let err = fx.repo.commit_all(&fx.root, "no").unwrap_err();
    assert!(matches!(err, WorktreeError::MainCheckout { .. }), "{err:?}");
    let err = fx.repo.commit_all(&fx.root.join("src"), "no").unwrap_err();
    assert!(matches!(err, WorktreeError::NotAWorktree { .. }), "{err:?}");
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q"]);
    let err = fx.repo.commit_all(other.path(), "no").unwrap_err();
    assert!(matches!(err, WorktreeError::NotAWorktree { .. }), "{err:?}");
    assert_eq!(fx.git(&["log", "-1", "--format=%s"]), "add lib");
}

#[test]
fn a_stale_index_lock_blocks_commits_until_cleared() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w-a1"), "work", "main").unwrap();
    write(wt.path.join("work.txt"), "agent output\n");
    let lock = fx.root.join(".git/worktrees/w-a1/index.lock");
    write(&lock, "");
    let err = fx.repo.commit_all(&wt.path, "blocked").unwrap_err();
    assert!(err.to_string().contains("index.lock"), "{err}");
    assert!(fx.repo.clear_stale_index_lock(&wt.path).unwrap());
    assert!(!lock.exists());
    assert!(!fx.repo.clear_stale_index_lock(&wt.path).unwrap());
    assert!(fx.repo.commit_all(&wt.path, "saved").unwrap().is_some());
}
