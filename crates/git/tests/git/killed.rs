//! A process killed with SIGKILL while holding orca's worktree lock or
//! halfway through its git work leaves nothing that blocks the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use orca_git::{WORKTREE_ADMIN_LOCK, WorktreeRemoval};

use crate::support::{Fixture, write};

const LOCK_VAR: &str = "ORCA_GIT_TEST_CHILD_LOCK";

fn open_lock(path: &std::path::Path) -> File {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap()
}

#[test]
fn heavy_a_killed_lock_holder_blocks_nobody() {
    let fx = Fixture::new();
    // Create the lock file the way orca does, by using it once.
    fx.repo.list_worktrees().unwrap();
    let lock = fx.repo.common_dir().join(WORKTREE_ADMIN_LOCK);
    assert!(lock.exists());

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "killed::child_holds_the_worktree_lock", "--nocapture"])
        .env(LOCK_VAR, &lock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("LOCKED") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "child exited before locking");
    }
    let probe = open_lock(&lock);
    assert!(matches!(probe.try_lock(), Err(TryLockError::WouldBlock)), "the child holds the lock");

    child.kill().unwrap(); // SIGKILL: no destructor, no unlock
    child.wait().unwrap();
    probe.try_lock().expect("the kernel released the dead holder's lock");
    drop(probe);
    let wt = fx.repo.add_worktree(&fx.wt("after"), "after", "main").unwrap();
    assert_eq!(fx.repo.remove_worktree(&wt.path).unwrap(), WorktreeRemoval::Removed);
}

#[test]
#[ignore = "run by heavy_a_killed_lock_holder_blocks_nobody"]
fn child_holds_the_worktree_lock() {
    let path = std::env::var(LOCK_VAR).expect("run by the parent test");
    let file = open_lock(std::path::Path::new(&path));
    file.lock().unwrap();
    println!("LOCKED");
    // Hold the lock until the parent kills us (or closes stdin).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[test]
fn heavy_a_git_killed_mid_add_leaves_an_attempt_that_can_be_saved_and_removed() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("r/T-a1"), "orca/r/T/a1", "main").unwrap();
    write(wt.path.join("work.txt"), "the agent's work\n");
    // A clean filter that takes long keeps `git add` inside its index lock
    // long enough to kill it there, as `kill -9` of an agent would.
    fx.git(&["config", "filter.slow.clean", "sleep 30; cat"]);
    write(wt.path.join(".gitattributes"), "*.slow filter=slow\n");
    write(wt.path.join("data.slow"), "slow data\n");
    let mut add = crate::support::git_command(&wt.path)
        .args(["add", "data.slow"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let index_lock = fx.root.join(".git/worktrees/T-a1/index.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !index_lock.exists() {
        assert!(Instant::now() < deadline, "git add never took the index lock");
        thread::sleep(Duration::from_millis(10));
    }
    let group = format!("-{}", add.id());
    let killed = Command::new("kill").args(["-KILL", "--", &group]).status().unwrap();
    assert!(killed.success());
    add.wait().unwrap();
    assert!(index_lock.exists(), "the killed git left its lock");
    fx.git(&["config", "--unset", "filter.slow.clean"]);

    assert!(fx.repo.commit_all(&wt.path, "saved").is_err(), "a stale lock blocks commits");
    assert!(fx.repo.clear_stale_index_lock(&wt.path).unwrap());
    let saved = fx.repo.commit_all(&wt.path, "saved").unwrap().unwrap();
    let tree = crate::support::git(&fx.root, &["ls-tree", "--name-only", saved.as_str()]);
    assert!(tree.contains("work.txt") && tree.contains("data.slow"), "{tree}");
    assert_eq!(fx.repo.remove_worktree(&wt.path).unwrap(), WorktreeRemoval::Removed);
    assert_eq!(fx.repo.branch_tip("orca/r/T/a1").unwrap(), Some(saved));
}

/// A ref lock a killed `git update-ref` left blocks every update of that
/// ref; once old enough, with no git at work in the repository, orca
/// removes it and the ref moves again. A fresh one is left alone.
#[test]
fn a_stale_ref_lock_is_removed_and_a_fresh_one_kept() {
    let fx = Fixture::new();
    fx.repo.create_branch("orca/r1/integration", "main").unwrap();
    let branch = fx.branch_with_file("orca/r1/T1/a1", "t1.txt", "one\n");
    let lock = fx.repo.common_dir().join("refs/heads/orca/r1/integration.lock");
    write(&lock, "");
    let blocked = fx.repo.merge_into("orca/r1/integration", &branch, "merge T1");
    assert!(blocked.is_err(), "the lock blocks the update");

    let fresh = fx.repo.clear_stale_ref_locks("orca/r1", Duration::from_secs(3600));
    assert!(fresh.removed.is_empty() && lock.exists(), "{fresh:?}");
    assert!(fresh.kept[0].1.contains("old"), "{fresh:?}");

    let stale = fx.repo.clear_stale_ref_locks("orca/r1", Duration::ZERO);
    assert_eq!(stale.removed, std::slice::from_ref(&lock));
    assert!(!lock.exists());
    fx.repo.merge_into("orca/r1/integration", &branch, "merge T1").unwrap();
    // Another run's locks are not this prefix's business.
    let other = fx.repo.common_dir().join("refs/heads/orca/r2/integration.lock");
    write(&other, "");
    assert!(fx.repo.clear_stale_ref_locks("orca/r1", Duration::ZERO).removed.is_empty());
    assert!(other.exists());
}
