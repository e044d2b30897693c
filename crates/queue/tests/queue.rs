//! The session queue's contract, on a SQLite file and on a throwaway
//! PostgreSQL database: every test body below runs once on each.

use std::time::{Duration, Instant};

use orca_plan::PlanOptions;
use orca_queue::{
    NextTask, Queue, QueueError, QueueSettings, Refusal, RefusalKind, SESSION_MODE, SessionName,
};
use orca_store::{FailOutcome, RetryPolicy, RunId, RunState, Stage, StageState, Store, TaskState};

/// A small plan: T01 and T02 are independent, T03 needs both, T04 needs
/// T03; T02 and T05 write the same file; T01 is on the longest chain.
const PLAN: &str = "\
# Plan: Queue test

### T01: Lay the foundation
- deps: none
- role: backend
- files: src/base.rs
- verify: cargo test base
- accept:
  - [ ] the base exists
- estimate: 2h

Build the base everything stands on.

### T02: Configure it
- deps: none
- role: backend
- files: src/config.rs
- accept:
  - [ ] it is configured
- estimate: 30m

### T03: Use it
- deps: T01, T02
- role: backend
- files: src/use.rs
- accept:
  - [ ] it is used
- estimate: 1h

### T04: Document it
- deps: T03
- role: docs
- files: docs/use.md
- accept:
  - [ ] it is documented
- estimate: 30m

### T05: Tune the configuration
- deps: none
- role: backend
- files: src/config.rs
- accept:
  - [ ] it is tuned
- estimate: 10m
";

/// Six independent tasks write one file; a seventh, shorter one (dispatched
/// after them) writes another.
fn crowded_plan() -> String {
    let mut plan = String::from("# Plan: Crowded queue\n");
    for n in 1..=7 {
        let (file, estimate) = if n == 7 { ("other", "10m") } else { ("shared", "2h") };
        plan.push_str(&format!(
            "\n### T0{n}: Part {n}\n- deps: none\n- role: backend\n- files: src/{file}.rs\n\
             - verify: cargo test part{n}\n- accept:\n  - [ ] part {n} works\n- estimate: {estimate}\n"
        ));
    }
    plan
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite.fresh().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres.fresh().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_plan_loads_as_a_session_run_in_dispatch_order,
    a_session_holds_one_task_at_a_time,
    another_session_cannot_finish_your_task,
    an_expired_lease_is_explained_to_its_old_holder,
    done_readies_dependents_and_the_last_one_ends_the_run,
    failures_retry_with_the_reason_then_block_dependents,
    block_blocks_the_task_and_what_depends_on_it,
    next_says_why_nothing_is_ready,
    tasks_sharing_files_with_running_ones_are_held_back,
    a_claim_looks_past_the_first_candidates_that_share_files,
    acting_on_an_unclaimed_or_unknown_task_is_refused,
    a_specific_claim_says_why_it_cannot_be_had,
    sessions_show_up_as_workers,
);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh store; the temp dir (SQLite) lives as long as it does.
struct TestStore {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    async fn fresh(self) -> TestStore {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("orca.db").display().to_string();
                TestStore { url, _dir: Some(dir) }
            }
            Backend::Postgres => {
                TestStore { url: orca_test_postgres::shared().create_database(), _dir: None }
            }
        }
    }
}

impl TestStore {
    async fn queue(&self, settings: QueueSettings) -> Queue {
        Queue::new(Store::open(&self.url).await.unwrap(), settings)
    }
}

fn settings() -> QueueSettings {
    QueueSettings { retry: RetryPolicy::immediate(), ..QueueSettings::default() }
}

fn name(text: &str) -> SessionName {
    SessionName::new(text).unwrap()
}

async fn load(queue: &Queue) -> RunId {
    let checked = orca_plan::check(PLAN, &PlanOptions::default());
    assert!(checked.is_valid(), "{:?}", checked.diagnostics);
    let loaded =
        queue.load(&checked.plan, checked.graph.as_ref(), Some("plan.md".into())).await.unwrap();
    assert_eq!((loaded.tasks, loaded.ready), (5, 3));
    loaded.run
}

fn claimed_key(next: &NextTask) -> &str {
    match next {
        NextTask::Claimed { task } => &task.key,
        other => panic!("expected a claim, got {other:?}"),
    }
}

fn refusal(result: Result<impl std::fmt::Debug, QueueError>) -> Refusal {
    match result {
        Err(QueueError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Polls `check` with a deadline.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_plan_loads_as_a_session_run_in_dispatch_order(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let store = queue.store();
    let info = store.run(&run).await.unwrap();
    assert_eq!((info.mode.as_str(), info.title.as_str()), (SESSION_MODE, "Queue test"));
    let status = store.run_status(&run).await.unwrap();
    let stage = |stage: Stage| status.stages.iter().find(|s| s.stage == stage).unwrap().state;
    assert_eq!(stage(Stage::Parallel), StageState::Passed);
    assert_eq!(stage(Stage::Implement), StageState::Running);
    // The spec is the plan's task, as `orca run` stores it.
    let checked = orca_plan::check(PLAN, &PlanOptions::default());
    let spec: serde_json::Value =
        serde_json::from_str(&store.task_spec(&run, "T03").await.unwrap()).unwrap();
    assert_eq!(spec, serde_json::to_value(&checked.plan.tasks[2]).unwrap());
    assert_eq!(spec["files"], serde_json::json!(["src/use.rs"]));
    // Claims follow the plan's dispatch order: T01 heads the longest chain,
    // then T02 (also on it), then T05.
    let graph = checked.graph.unwrap();
    let mut order: Vec<_> = graph.indices().collect();
    graph.sort_for_dispatch(&mut order);
    let dispatch: Vec<String> = order
        .iter()
        .map(|&t| graph.id(t).to_string())
        .filter(|id| ["T01", "T02", "T05"].contains(&id.as_str()))
        .collect();
    assert_eq!(dispatch, ["T01", "T02", "T05"]);
    let ready: Vec<String> =
        store.ready_tasks(&run, 10).await.unwrap().into_iter().map(|t| t.key).collect();
    assert_eq!(ready, dispatch);
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("a")).await.unwrap()), "T01");
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("b")).await.unwrap()), "T02");
}

async fn a_session_holds_one_task_at_a_time(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let first = queue.claim_next(&run, &name("s1")).await.unwrap();
    assert_eq!(claimed_key(&first), "T01");
    let NextTask::Claimed { task } = &first else { unreachable!() };
    assert_eq!(task.lease.as_ref().unwrap().holder, "s1");
    assert_eq!(task.title(), Some("Lay the foundation"));
    match queue.claim_next(&run, &name("s1")).await.unwrap() {
        NextTask::Held { task } => assert_eq!((task.key.as_str(), task.attempt), ("T01", 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s2")).await.unwrap()), "T02");
}

async fn another_session_cannot_finish_your_task(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    queue.claim_next(&run, &name("s1")).await.unwrap();
    let before = queue.store().run_status(&run).await.unwrap().tasks;
    for result in [
        queue.done(&run, "T01", &name("s2"), Some("mine now")).await.map(|_| ()),
        queue.heartbeat(&run, "T01", &name("s2")).await.map(|_| ()),
        queue.fail(&run, "T01", &name("s2"), "nope").await.map(|_| ()),
        queue.block(&run, "T01", &name("s2"), "nope").await.map(|_| ()),
    ] {
        let refusal = refusal(result);
        assert_eq!(
            refusal.kind,
            RefusalKind::LeasedToOther { holder: "s1".into(), attempt: 1, yours_expired: None }
        );
        assert_eq!(refusal.to_string(), "T01 is leased to `s1` (attempt 1), not to you");
        assert!(!refusal.lost_lease());
    }
    let after = queue.store().run_status(&run).await.unwrap().tasks;
    let strip = |tasks: Vec<orca_store::TaskStatus>| {
        tasks.into_iter().map(|t| (t.key, t.state, t.attempt, t.tries)).collect::<Vec<_>>()
    };
    assert_eq!(strip(before), strip(after), "a refused session changes nothing");
    let attempts = queue.store().attempts(&run, "T01").await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].summary, None);
}

async fn an_expired_lease_is_explained_to_its_old_holder(s: TestStore) {
    let short = QueueSettings { session_ttl: Duration::from_millis(300), ..settings() };
    let queue = s.queue(short).await;
    let run = load(&queue).await;
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s1")).await.unwrap()), "T01");
    // Someone looks at the queue once the lease ran out: it goes back.
    eventually("the lease to be taken back", async || {
        matches!(queue.next(&run).await.unwrap(), NextTask::Ready { task } if task.key == "T01")
    })
    .await;
    let lost = refusal(queue.done(&run, "T01", &name("s1"), None).await);
    assert_eq!(lost.kind, RefusalKind::Expired { attempt: 1, now: TaskState::Ready });
    assert_eq!(lost.to_string(), "your lease on T01 expired and it went back to the queue");
    assert!(lost.lost_lease());
    // Another session claims it; the old holder is told who has it now.
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s2")).await.unwrap()), "T01");
    let taken = refusal(queue.heartbeat(&run, "T01", &name("s1")).await);
    assert_eq!(
        taken.kind,
        RefusalKind::LeasedToOther { holder: "s2".into(), attempt: 2, yours_expired: Some(1) }
    );
    assert_eq!(
        taken.to_string(),
        "T01 is leased to `s2` (attempt 2), not to you; your lease (attempt 1) expired"
    );
}

async fn done_readies_dependents_and_the_last_one_ends_the_run(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let me = name("s1");
    let mut finished = Vec::new();
    loop {
        let key = match queue.claim_next(&run, &me).await.unwrap() {
            NextTask::Claimed { task } => task.key,
            NextTask::Idle { idle } => {
                assert!(idle.finished(), "{idle}");
                break;
            }
            other => panic!("{other:?}"),
        };
        let done = queue.done(&run, &key, &me, Some(&format!("did {key}"))).await.unwrap();
        assert!(!done.already);
        finished.push((key, done));
    }
    let order: Vec<&str> = finished.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(order.len(), 5);
    // Dispatch order as dependencies allow: the long chain first, T05 last.
    assert_eq!(order, ["T01", "T02", "T03", "T04", "T05"]);
    let (_, last) = finished.last().unwrap();
    let end = last.run_end.as_ref().expect("the last task ends the run");
    assert_eq!(end.state, RunState::Succeeded);
    assert!(last.to_string().ends_with("that was the run's last task: succeeded (5 succeeded)"));
    assert_eq!(queue.store().run(&run).await.unwrap().state, RunState::Succeeded);
    // Saying done again is harmless; the summary was recorded on the attempt.
    let again = queue.done(&run, "T04", &me, Some("again")).await.unwrap();
    assert!(again.already, "{again}");
    let attempts = queue.store().attempts(&run, "T04").await.unwrap();
    assert_eq!(attempts[0].summary.as_deref(), Some("did T04"));
    assert_eq!(finished[3].1.ready_now, 1, "after T04 only T05 is left");
    // With no active run left, the finished one is still found.
    assert_eq!(queue.resolve_run(None).await.unwrap().id, run);
}

async fn failures_retry_with_the_reason_then_block_dependents(s: TestStore) {
    let two_tries = QueueSettings { max_attempts: 2, ..settings() };
    let queue = s.queue(two_tries).await;
    let run = load(&queue).await;
    let me = name("s1");
    assert_eq!(claimed_key(&queue.claim_next(&run, &me).await.unwrap()), "T01");
    let failed = queue.fail(&run, "T01", &me, "verify failed: 2 tests\nlong log").await.unwrap();
    assert!(matches!(failed.outcome, FailOutcome::Retry { .. }), "{failed}");
    assert!(
        failed.to_string().starts_with("T01 failed (try 1 of 2); it goes back to the queue in")
    );
    // The retry carries the reason of the last failure.
    let retry = queue.claim_next(&run, &me).await.unwrap();
    let NextTask::Claimed { task } = retry else { panic!("{retry:?}") };
    assert_eq!((task.key.as_str(), task.attempt, task.tries), ("T01", 2, 2));
    assert!(task.last_error.as_deref().unwrap().starts_with("verify failed: 2 tests"));
    assert!(task.to_string().contains("last error: verify failed: 2 tests\n"), "{task}");
    let failed = queue.fail(&run, "T01", &me, "still failing").await.unwrap();
    assert_eq!(
        failed.outcome,
        FailOutcome::Failed { blocked: vec!["T03".to_owned(), "T04".to_owned()] }
    );
    assert_eq!(
        failed.to_string(),
        "T01 failed for good (try 2 of 2); blocked: T03, T04; 2 tasks are ready"
    );
    let t04 = queue.show(&run, "T04").await.unwrap();
    assert_eq!(t04.state, TaskState::Blocked);
    assert!(
        t04.to_string()
            .contains("blocked: depends on `T01`, which failed on its last try (2 of 2)"),
        "{t04}"
    );
}

async fn block_blocks_the_task_and_what_depends_on_it(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let me = name("s1");
    queue.claim_next(&run, &me).await.unwrap();
    let blocked = queue.block(&run, "T01", &me, "needs a decision on the schema").await.unwrap();
    assert_eq!(blocked.blocked, ["T03", "T04"]);
    assert_eq!(
        blocked.to_string(),
        "T01 blocked: needs a decision on the schema; also blocked: T03, T04; 2 tasks are ready"
    );
    let later = refusal(queue.done(&run, "T01", &me, None).await);
    assert!(matches!(later.kind, RefusalKind::Finished { state: TaskState::Blocked, .. }));
    assert_eq!(later.to_string(), "T01 is blocked: needs a decision on the schema");
}

async fn next_says_why_nothing_is_ready(s: TestStore) {
    let queue = s.queue(QueueSettings { max_attempts: 3, ..settings() }).await;
    let run = load(&queue).await;
    for session in ["s1", "s2"] {
        queue.claim_next(&run, &name(session)).await.unwrap();
    }
    // T05 is held back (shares src/config.rs with T02); T03 and T04 wait.
    let NextTask::Idle { idle } = queue.next(&run).await.unwrap() else { panic!() };
    assert!(!idle.finished());
    assert_eq!(
        idle.to_string(),
        format!(
            "no task is ready in run {run}: 2 running (T01 by s1, T02 by s2); 2 waiting on \
             dependencies; 1 held back because they share files with running tasks (T05 with T02)"
        )
    );
    assert!(matches!(queue.claim_next(&run, &name("s3")).await.unwrap(), NextTask::Idle { .. }));
    let status = queue.status(&run).await.unwrap();
    assert_eq!(status.running.len(), 2);
    assert_eq!(status.next, ["T05"], "held back by sessions, still ready in the store");
}

async fn tasks_sharing_files_with_running_ones_are_held_back(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let t02 = queue.claim(&run, "T02", &name("s1")).await.unwrap();
    assert_eq!(claimed_key(&t02), "T02");
    // T05 would be next after T01 but shares src/config.rs with T02.
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s2")).await.unwrap()), "T01");
    let NextTask::Idle { idle } = queue.claim_next(&run, &name("s3")).await.unwrap() else {
        panic!()
    };
    assert_eq!(idle.held_back.len(), 1);
    assert_eq!(
        (idle.held_back[0].task.as_str(), idle.held_back[0].conflicts_with.as_str()),
        ("T05", "T02")
    );
    match queue.claim(&run, "T05", &name("s3")).await {
        Err(QueueError::NotReady { task, why }) => {
            assert_eq!(
                (task.as_str(), why.as_str()),
                ("T05", "it shares files with T02, which is running")
            );
        }
        other => panic!("{other:?}"),
    }
    queue.done(&run, "T02", &name("s1"), None).await.unwrap();
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s3")).await.unwrap()), "T05");
}

async fn a_claim_looks_past_the_first_candidates_that_share_files(s: TestStore) {
    let queue = s.queue(settings()).await;
    let checked = orca_plan::check(&crowded_plan(), &PlanOptions::default());
    assert!(checked.is_valid(), "{:?}", checked.diagnostics);
    let run = queue.load(&checked.plan, checked.graph.as_ref(), None).await.unwrap().run;
    let order: Vec<String> =
        queue.store().ready_tasks(&run, 64).await.unwrap().into_iter().map(|t| t.key).collect();
    assert_eq!(order.last().map(String::as_str), Some("T07"), "{order:?}");
    let running = order[0].clone();
    assert_eq!(claimed_key(&queue.claim(&run, &running, &name("s1")).await.unwrap()), running);

    // Five ready tasks before T07 share src/shared.rs with the running one:
    // more than a claim reads at first.
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("s2")).await.unwrap()), "T07");
    let NextTask::Idle { idle } = queue.next(&run).await.unwrap() else { panic!() };
    assert_eq!(idle.held_back.len(), 5, "{:?}", idle.held_back);
    assert!(idle.held_back.iter().all(|h| h.conflicts_with == running), "{:?}", idle.held_back);
    let NextTask::Idle { idle } = queue.claim_next(&run, &name("s3")).await.unwrap() else {
        panic!()
    };
    assert_eq!(idle.held_back.len(), 5, "{:?}", idle.held_back);
}

async fn acting_on_an_unclaimed_or_unknown_task_is_refused(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let me = name("s1");
    let ready = refusal(queue.done(&run, "T02", &me, None).await);
    assert_eq!(ready.kind, RefusalKind::NotClaimed { state: TaskState::Ready });
    assert_eq!(ready.to_string(), "T02 is not leased to you: nobody holds it (it is ready)");
    let waiting = refusal(queue.heartbeat(&run, "T03", &me).await);
    assert_eq!(
        waiting.to_string(),
        "T03 is not leased to you: it is still waiting for its dependencies"
    );
    match queue.done(&run, "T99", &me, None).await {
        Err(QueueError::Store(orca_store::StoreError::TaskNotFound { key, .. })) => {
            assert_eq!(key, "T99");
        }
        other => panic!("{other:?}"),
    }
    match queue.show(&RunId::from("19990101-000000-0000"), "T01").await {
        Err(QueueError::Store(orca_store::StoreError::RunNotFound(_))) => {}
        other => panic!("{other:?}"),
    }
}

async fn a_specific_claim_says_why_it_cannot_be_had(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    queue.claim(&run, "T01", &name("s1")).await.unwrap();
    let why = |result: Result<NextTask, QueueError>| match result {
        Err(QueueError::NotReady { why, .. }) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        why(queue.claim(&run, "T01", &name("s2")).await),
        "it is leased to `s1` (attempt 1)"
    );
    assert_eq!(
        why(queue.claim(&run, "T03", &name("s2")).await),
        "it waits for T01 (leased), T02 (ready)"
    );
    assert!(matches!(queue.claim(&run, "T01", &name("s1")).await.unwrap(), NextTask::Held { .. }));
}

async fn sessions_show_up_as_workers(s: TestStore) {
    let queue = s.queue(settings()).await;
    let run = load(&queue).await;
    let ids = async || -> Vec<String> {
        queue.store().workers().await.unwrap().into_iter().map(|w| w.id).collect()
    };
    queue.claim_next(&run, &name("alice-1")).await.unwrap();
    assert_eq!(ids().await, ["alice-1"], "the claim records its session");
    queue.heartbeat(&run, "T01", &name("alice-1")).await.unwrap();
    let workers = queue.store().workers().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!((workers[0].id.as_str(), workers[0].pid), ("alice-1", 0));
    // Bob's claim skips nothing; Carol's finds only T05, which shares a
    // file with Bob's T02, and gets nothing: both count as seen.
    assert_eq!(claimed_key(&queue.claim_next(&run, &name("bob-1")).await.unwrap()), "T02");
    let carol = queue.claim_next(&run, &name("carol-1")).await.unwrap();
    assert!(matches!(carol, NextTask::Idle { .. }), "{carol:?}");
    assert_eq!(ids().await, ["alice-1", "bob-1", "carol-1"]);
}
