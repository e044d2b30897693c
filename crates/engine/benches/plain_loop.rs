//! The baseline of the dispatch-overhead benchmark (docs/performance.md,
//! "Parallel implement"): per task, the git operations `orca run` does —
//! a worktree on a new branch from the integration branch's tip, the
//! agent, commit everything, `verify`, remove the worktree, merge into the
//! integration branch without a checkout (`merge-tree --write-tree`,
//! `commit-tree`, `update-ref`) — in a plain loop: no store, no events, no
//! checks beyond exit codes. With more than one worker, a task starts once
//! its dependencies are merged (plan order among ready tasks) and merges
//! are serialized, as in orca.
//!
//! `scripts/bench-run` runs it:
//! `cargo bench -p orca-engine --bench plain_loop -- REPO PLAN AGENT WORKERS`
//! and compares its tasks/second with `orca run` on a copy of the same
//! repository. Prints one line: `tasks=N workers=W seconds=S`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

const INTEGRATION: &str = "loop/integration";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

fn run(program: &str, args: &[String], dir: &Path) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("the program runs");
    assert!(status.success(), "{program} {args:?} failed in {}", dir.display());
}

struct Task {
    id: String,
    title: String,
    deps: Vec<usize>,
    verify: Option<Vec<String>>,
}

struct Queue {
    ready: BTreeSet<usize>,
    unmerged: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    left: usize,
}

struct Shared<'a> {
    repo: &'a Path,
    worktrees: &'a Path,
    agent: &'a str,
    tasks: &'a [Task],
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The integration branch's tip; holding the lock is holding the merge.
    tip: Mutex<String>,
    /// `git worktree add` and `remove` running at once can corrupt each
    /// other's administrative files: orca serializes them too.
    worktree_admin: Mutex<()>,
}

fn attempt(shared: &Shared<'_>, index: usize) {
    let task = &shared.tasks[index];
    let branch = format!("loop/t/{}/a1", task.id);
    let worktree: PathBuf = shared.worktrees.join(&task.id);
    let worktree_arg = worktree.to_str().expect("utf-8 path");
    {
        let _admin = shared.worktree_admin.lock().expect("not poisoned");
        git(shared.repo, &["worktree", "add", "--quiet", "-b", &branch, worktree_arg, INTEGRATION]);
    }
    run(shared.agent, std::slice::from_ref(&task.id), &worktree);
    let message = format!("{}: {}", task.id, task.title);
    git(&worktree, &["add", "--all"]);
    git(&worktree, &["commit", "--quiet", "--no-verify", "-m", &message]);
    if let Some(argv) = &task.verify {
        run(&argv[0], &argv[1..], &worktree);
    }
    {
        let _admin = shared.worktree_admin.lock().expect("not poisoned");
        git(shared.repo, &["worktree", "remove", "--force", worktree_arg]);
    }
    let mut tip = shared.tip.lock().expect("not poisoned");
    let tree = git(shared.repo, &["merge-tree", "--write-tree", &tip, &branch]);
    let merge = format!("merge {}", task.id);
    let commit = git(shared.repo, &["commit-tree", &tree, "-p", &tip, "-p", &branch, "-m", &merge]);
    let target = format!("refs/heads/{INTEGRATION}");
    git(shared.repo, &["update-ref", &target, &commit, &tip]);
    *tip = commit;
}

fn worker(shared: &Shared<'_>) {
    loop {
        let index = {
            let mut queue = shared.queue.lock().expect("not poisoned");
            loop {
                if let Some(index) = queue.ready.pop_first() {
                    break index;
                }
                if queue.left == 0 {
                    return;
                }
                queue = shared.wake.wait(queue).expect("not poisoned");
            }
        };
        attempt(shared, index);
        let mut queue = shared.queue.lock().expect("not poisoned");
        queue.left -= 1;
        for dependent in queue.dependents[index].clone() {
            queue.unmerged[dependent] -= 1;
            if queue.unmerged[dependent] == 0 {
                queue.ready.insert(dependent);
            }
        }
        shared.wake.notify_all();
    }
}

fn main() {
    // A failed step ends the benchmark rather than leaving workers waiting.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(1);
    }));
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let [repo, plan, agent, workers] = args.as_slice() else {
        eprintln!("usage: plain_loop REPO PLAN AGENT WORKERS");
        std::process::exit(2);
    };
    let repo = Path::new(repo);
    let workers: usize = workers.parse().expect("WORKERS is a number");
    let text = std::fs::read_to_string(plan).expect("the plan is readable");
    let checked = orca_plan::check(&text, &orca_plan::PlanOptions::default());
    let graph = checked.graph.expect("the plan is valid");
    let tasks: Vec<Task> = checked
        .plan
        .tasks
        .iter()
        .map(|task| Task {
            id: task.id.to_string(),
            title: task.title.clone(),
            deps: graph
                .deps(graph.index_of(task.id.as_str()).expect("a task of the plan"))
                .iter()
                .map(|dep| dep.index())
                .collect(),
            verify: task.verify.as_ref().map(orca_plan::Verify::argv),
        })
        .collect();
    let mut dependents = vec![Vec::new(); tasks.len()];
    for (index, task) in tasks.iter().enumerate() {
        for &dep in &task.deps {
            dependents[dep].push(index);
        }
    }
    let unmerged: Vec<usize> = tasks.iter().map(|task| task.deps.len()).collect();
    let ready = (0..tasks.len()).filter(|&index| unmerged[index] == 0).collect();
    let worktrees = repo.with_extension("loop-worktrees");

    let started = Instant::now();
    let head = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["branch", INTEGRATION, &head]);
    let shared = Shared {
        repo,
        worktrees: &worktrees,
        agent,
        tasks: &tasks,
        queue: Mutex::new(Queue { ready, unmerged, dependents, left: tasks.len() }),
        wake: Condvar::new(),
        tip: Mutex::new(head),
        worktree_admin: Mutex::new(()),
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| worker(&shared));
        }
    });
    // orca prunes the attempt branches when a run completes.
    let branches = git(repo, &["for-each-ref", "--format=delete %(refname)", "refs/heads/loop/t/"]);
    let mut update = Command::new("git")
        .current_dir(repo)
        .args(["update-ref", "--stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git runs");
    std::io::Write::write_all(
        update.stdin.as_mut().expect("piped"),
        format!("{branches}\n").as_bytes(),
    )
    .expect("git reads");
    assert!(update.wait().expect("git ends").success(), "deleting branches failed");
    let seconds = started.elapsed().as_secs_f64();
    println!("tasks={} workers={workers} seconds={seconds:.3}", tasks.len());
}
