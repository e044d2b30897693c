//! Many threads on one repository: merges into one branch never get lost,
//! and attempts in separate worktrees do not disturb each other.

use std::sync::Barrier;
use std::thread;

use orca_git::{MergeOutcome, Repo, attempt_branch, integration_branch, task_worktree_path};

use crate::support::{Fixture, git, write};

const TASKS: usize = 8;

/// Merges `TASKS` independent branches into one integration branch from
/// as many threads at once; `shared` says whether the threads share one
/// `Repo` (serialized in-process) or each open their own (so only git's
/// compare-and-swap stands between them).
fn concurrent_merges(shared: bool) {
    let fx = Fixture::new();
    let integration = integration_branch("c");
    fx.repo.create_branch(&integration, "main").unwrap();
    let branches: Vec<String> = (0..TASKS)
        .map(|i| {
            let name = attempt_branch("c", &format!("T{i}"), 1);
            fx.branch_with_file(&name, &format!("task_{i}.txt"), &format!("{i}\n"));
            name
        })
        .collect();
    let start = Barrier::new(TASKS);
    let outcomes: Vec<MergeOutcome> = thread::scope(|scope| {
        let handles: Vec<_> = branches
            .iter()
            .map(|branch| {
                let (fx, start, integration) = (&fx, &start, &integration);
                scope.spawn(move || {
                    let own;
                    let repo = if shared {
                        &fx.repo
                    } else {
                        own = Repo::discover(&fx.root).unwrap();
                        &own
                    };
                    start.wait();
                    repo.merge_into(integration, branch, &format!("Merge {branch}")).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    assert!(outcomes.iter().all(|o| matches!(o, MergeOutcome::Merged { .. })), "{outcomes:?}");
    for branch in &branches {
        assert!(fx.repo.is_ancestor(branch, &integration).unwrap(), "{branch} was lost");
    }
    let merges = git(
        &fx.root,
        &["rev-list", "--first-parent", "--merges", "--count", &format!("main..{integration}")],
    );
    assert_eq!(merges, TASKS.to_string(), "one merge commit per task on the first-parent line");
    let files = git(&fx.root, &["ls-tree", "--name-only", &integration]);
    for i in 0..TASKS {
        assert!(files.contains(&format!("task_{i}.txt")), "task {i} missing from {files}");
    }
    let reflog = git(&fx.root, &["reflog", "--format=%gs", &integration]);
    assert_eq!(reflog.lines().filter(|l| l.starts_with("orca: merge")).count(), TASKS);
}

#[test]
fn heavy_concurrent_merges_through_one_repo_lose_nothing() {
    concurrent_merges(true);
}

#[test]
fn heavy_concurrent_merges_through_separate_handles_lose_nothing() {
    concurrent_merges(false);
}

/// Whole attempts in parallel: worktree, work, commit, merge, removal.
fn parallel_attempts(shared: bool) {
    let fx = Fixture::new();
    let integration = integration_branch("p");
    fx.repo.create_branch(&integration, "main").unwrap();
    let wt_dir = fx.layout.worktrees_dir();
    let start = Barrier::new(TASKS);
    thread::scope(|scope| {
        for i in 0..TASKS {
            let (fx, start, integration, wt_dir) = (&fx, &start, &integration, &wt_dir);
            scope.spawn(move || {
                let own;
                let repo = if shared {
                    &fx.repo
                } else {
                    own = Repo::discover(&fx.root).unwrap();
                    &own
                };
                let task = format!("T{i}");
                let branch = attempt_branch("p", &task, 1);
                start.wait();
                let path = task_worktree_path(wt_dir, "p", &task);
                let wt = repo.add_worktree(&path, &branch, integration).unwrap();
                for f in 0..5 {
                    write(wt.path.join(format!("{task}/file_{f}.txt")), &format!("{task} {f}\n"));
                }
                repo.commit_all(&wt.path, &format!("{task}: work")).unwrap().unwrap();
                repo.merge_into(integration, &branch, &format!("Merge {task}")).unwrap();
                repo.remove_worktree(&wt.path).unwrap();
            });
        }
    });
    assert_eq!(fx.repo.list_worktrees().unwrap().len(), 1, "every worktree removed");
    let tree = git(&fx.root, &["ls-tree", "-r", "--name-only", &integration]);
    for i in 0..TASKS {
        let branch = attempt_branch("p", &format!("T{i}"), 1);
        assert!(fx.repo.is_ancestor(&branch, &integration).unwrap(), "{branch} lost");
        assert_eq!(tree.lines().filter(|l| l.starts_with(&format!("T{i}/"))).count(), 5);
    }
    // Merges recomputed after losing a compare-and-swap leave dangling
    // commits behind; anything else fsck says is corruption.
    assert_eq!(git(&fx.root, &["fsck", "--no-progress", "--no-dangling"]), "");
}

#[test]
fn heavy_parallel_attempts_through_one_repo() {
    parallel_attempts(true);
}

#[test]
fn heavy_parallel_attempts_through_separate_handles() {
    parallel_attempts(false);
}
