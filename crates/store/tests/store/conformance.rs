//! The store's contract, run against both backends: every test body below
//! runs once on a SQLite file and once on a throwaway PostgreSQL database.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use orca_store::{
    AttemptInfo, FailOutcome, LeaseError, PROTOCOL_VERSION, RetryPolicy, RunState, SCHEMA_VERSION,
    Stage, StageState, StoreError, TaskState, Wake, WorkerInfo,
};

use crate::common::{TestStore, eventually, random_dag, run_of, task};

const TTL: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);

/// Generates `sqlite::name` and `postgres::name` for every test body.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite.fresh().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Postgres.fresh().await).await;
                }
            )*
        }
    };
}

conformance!(
    fail_for_good_ends_the_task_with_tries_left_and_blocks_dependents,
    new_run_starts_tasks_without_deps_ready_and_others_waiting,
    invalid_runs_write_nothing,
    claim_takes_highest_priority_first_then_key,
    claim_task_takes_only_that_task_and_only_when_ready,
    completing_the_last_dependency_makes_a_task_ready,
    concurrent_claimers_never_share_a_task,
    a_worker_that_lost_its_lease_changes_nothing,
    an_expired_lease_not_yet_rescued_can_still_complete,
    repeating_a_completion_is_harmless,
    failures_retry_after_a_backoff_until_out_of_tries,
    a_final_failure_blocks_every_transitive_dependent,
    release_returns_the_task_without_spending_a_try,
    block_blocks_the_task_and_its_dependents,
    record_attempt_stores_facts_while_the_lease_holds,
    rescue_fails_a_task_whose_last_try_expired,
    cancel_run_revokes_leases_and_stops_claims,
    events_are_appended_and_read_in_order,
    status_shows_stages_leases_deps_and_errors,
    workers_are_registered_and_seen,
    a_large_plan_loads_in_one_piece,
    reopening_a_store_keeps_its_runs,
    latest_active_run_skips_finished_runs,
    one_task_reads_with_its_deps_and_spec,
    a_lease_read_back_acts_like_the_claimed_one,
    ready_tasks_list_the_claim_order_without_leasing,
    task_counts_say_why_nothing_is_ready,
    touching_a_worker_keeps_its_start,
    remaining_says_what_can_be_claimed_and_whether_anything_is_left,
    tasks_added_later_join_the_run_behind_its_tasks,
    done_tasks_start_succeeded_and_satisfy_their_dependents,
    stages_record_when_they_ran_and_why_they_ended,
    runs_are_listed_and_picked_per_repository,
    the_pipeline_document_is_kept_with_the_run,
    reopened_tasks_start_over_and_free_what_they_blocked,
    a_submitted_attempt_waits_verified_until_the_coordinator_merges_it,
    a_stale_worker_cannot_submit_and_a_merge_lease_expires_back_to_verified,
    workers_say_their_versions_and_what_they_run,
    a_batch_of_completions_is_fenced_lease_by_lease,
    waiters_are_woken_when_work_appears,
    a_submit_can_claim_the_next_task_in_the_same_step,
);

async fn reopened_tasks_start_over_and_free_what_they_blocked(s: TestStore) {
    // a and x fail; b needs a; c needs a and x; d needs b.
    let run = s
        .create_run(&run_of(vec![
            task("a", &[]),
            task("x", &[]),
            task("b", &["a"]),
            task("c", &["a", "x"]),
            task("d", &["b"]),
        ]))
        .await
        .unwrap();
    for key in ["a", "x"] {
        let lease = s.claim_task(&run, key, "w", TTL).await.unwrap().unwrap();
        s.fail_for_good(&lease, "broken").await.unwrap();
    }
    let state = |status: &orca_store::RunStatus, key: &str| {
        status.tasks.iter().find(|t| t.key == key).unwrap().state
    };
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(state(&status, "d"), TaskState::Blocked);
    // Only what a frees: c is still held back by x.
    let reopened =
        s.reopen_tasks(&run, &["a".to_owned()], orca_store::Reopen::Retry).await.unwrap();
    assert_eq!(reopened, ["a", "b", "d"]);
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(state(&status, "a"), TaskState::Ready);
    assert_eq!(state(&status, "b"), TaskState::Waiting);
    assert_eq!(state(&status, "c"), TaskState::Blocked);
    let a = status.tasks.iter().find(|t| t.key == "a").unwrap();
    assert_eq!((a.tries, a.blocked_reason.as_deref()), (0, None));
    // c cannot be unblocked alone while x failed; a task that is fine cannot be reopened.
    let held =
        s.reopen_tasks(&run, &["c".to_owned()], orca_store::Reopen::Unblock).await.unwrap_err();
    assert!(matches!(held, StoreError::HeldBack { .. }), "{held}");
    let fine =
        s.reopen_tasks(&run, &["b".to_owned()], orca_store::Reopen::Unblock).await.unwrap_err();
    assert!(matches!(fine, StoreError::NotReopenable { .. }), "{fine}");
    let missing =
        s.reopen_tasks(&run, &["zz".to_owned()], orca_store::Reopen::Retry).await.unwrap_err();
    assert!(matches!(missing, StoreError::TaskNotFound { .. }), "{missing}");
    // retry_failed takes the rest; the run can finish.
    assert_eq!(s.retry_failed(&run).await.unwrap(), ["x", "c"]);
    for key in ["a", "x", "b", "c", "d"] {
        let lease = s.claim_task(&run, key, "w", TTL).await.unwrap().unwrap();
        s.complete(&lease, "{}").await.unwrap();
    }
    let status = s.run_status(&run).await.unwrap();
    assert!(status.tasks.iter().all(|t| t.state == TaskState::Succeeded));
    let kinds: Vec<String> =
        s.events(&run, 0, 1000).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "task.reopened").count(), 5);
}

async fn tasks_added_later_join_the_run_behind_its_tasks(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &[])])).await.unwrap();
    let a = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    s.complete(&a, "{}").await.unwrap();
    let b = s.claim_task(&run, "b", "w", TTL).await.unwrap().unwrap();
    s.fail_for_good(&b, "broken").await.unwrap();
    s.add_tasks(
        &run,
        &[task("fix-1", &["a"]), task("fix-2", &["fix-1"]), task("late", &["b"]), task("c", &[])],
        Some(r#"{"plan":"with fixes"}"#),
    )
    .await
    .unwrap();
    assert_eq!(s.plan_json(&run).await.unwrap(), r#"{"plan":"with fixes"}"#);
    let status = s.run_status(&run).await.unwrap();
    let state = |key: &str| status.tasks.iter().find(|t| t.key == key).unwrap().state;
    assert_eq!(state("fix-1"), TaskState::Ready, "its dependency already succeeded");
    assert_eq!(state("fix-2"), TaskState::Waiting);
    assert_eq!(state("late"), TaskState::Blocked, "its dependency failed");
    assert_eq!(state("c"), TaskState::Ready);
    let fix = s.claim_task(&run, "fix-1", "w", TTL).await.unwrap().unwrap();
    s.complete(&fix, "{}").await.unwrap();
    assert_eq!(s.task(&run, "fix-2").await.unwrap().state, TaskState::Ready);
    // Keys stay unique across the run; dependencies must exist; nothing is written then.
    for bad in [vec![task("a", &[])], vec![task("d", &["nope"])], vec![task("e", &["e"])]] {
        let err = s.add_tasks(&run, &bad, Some("{}")).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidRun(_)), "{err}");
    }
    assert_eq!(s.run_status(&run).await.unwrap().tasks.len(), 6);
    assert_eq!(s.plan_json(&run).await.unwrap(), r#"{"plan":"with fixes"}"#, "nothing written");
    let kinds: Vec<String> =
        s.events(&run, 0, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().any(|k| k == "tasks.added"), "{kinds:?}");
}

async fn done_tasks_start_succeeded_and_satisfy_their_dependents(s: TestStore) {
    let mut tasks = vec![task("a", &[]), task("b", &["a"]), task("c", &["b"])];
    tasks[0].done = true;
    tasks[1].done = true;
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    let states: Vec<TaskState> = status.tasks.iter().map(|t| t.state).collect();
    assert_eq!(states, [TaskState::Succeeded, TaskState::Succeeded, TaskState::Ready]);
    let claimed = s.claim(&run, "w", 10, TTL).await.unwrap();
    assert_eq!(claimed.iter().map(|l| l.task.as_str()).collect::<Vec<_>>(), ["c"]);
}

async fn stages_record_when_they_ran_and_why_they_ended(s: TestStore) {
    use orca_store::StageChange;
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let skipped = StageChange {
        state: Some(StageState::Skipped),
        note: Some("skipped by --skip".into()),
        rounds: None,
    };
    s.set_stage_with(&run, Stage::Analyze, &skipped).await.unwrap();
    s.set_stage(&run, Stage::Security, StageState::Running).await.unwrap();
    let stages = s.run_status(&run).await.unwrap().stages;
    let analyze = &stages[0];
    assert_eq!(analyze.state, StageState::Skipped);
    assert_eq!(analyze.note.as_deref(), Some("skipped by --skip"));
    assert!(analyze.started_ms.is_some() && analyze.finished_ms.is_some());
    let security = &stages[4];
    assert!(security.started_ms.is_some() && security.finished_ms.is_none());
    let started = security.started_ms.unwrap();
    let round = StageChange { state: None, note: Some("2 findings".into()), rounds: Some(1) };
    s.set_stage_with(&run, Stage::Security, &round).await.unwrap();
    let found = StageChange { state: Some(StageState::Failed), ..StageChange::default() };
    s.set_stage_with(&run, Stage::Security, &found).await.unwrap();
    let security = s.run_status(&run).await.unwrap().stages[4].clone();
    assert_eq!(security.state, StageState::Failed);
    assert_eq!((security.note.as_deref(), security.rounds), (Some("2 findings"), 1));
    assert_eq!(security.started_ms, Some(started), "a state change keeps when it started");
    assert!(security.finished_ms.unwrap() >= started);
    s.set_stage(&run, Stage::Security, StageState::Pending).await.unwrap();
    let security = s.run_status(&run).await.unwrap().stages[4].clone();
    assert_eq!((security.started_ms, security.finished_ms), (None, None));
    assert_eq!(security.rounds, 1, "rounds survive going back to pending");
}

async fn runs_are_listed_and_picked_per_repository(s: TestStore) {
    use orca_store::{RepoRef, RunScope};
    let here = RepoRef { id: "root-a".into(), checkout: "host:/src/a".into() };
    let clone = RepoRef { id: "root-a".into(), checkout: "host:/src/a-clone".into() };
    let other = RepoRef { id: "root-b".into(), checkout: "host:/src/b".into() };
    let legacy = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let mut runs = Vec::new();
    for repo in [&here, &other, &here, &clone] {
        let new = orca_store::NewRun { repo: Some(repo.clone()), ..run_of(vec![task("a", &[])]) };
        runs.push(s.create_run(&new).await.unwrap());
    }
    s.finish_run(&runs[2], RunState::Succeeded).await.unwrap();
    let mine = RunScope::Repo { repo: &here, legacy: false };
    let listed: Vec<_> = s.runs(mine, 10).await.unwrap().into_iter().map(|r| r.run.id).collect();
    assert_eq!(listed, [runs[2].clone(), runs[0].clone()]);
    let with_legacy = RunScope::Repo { repo: &here, legacy: true };
    assert_eq!(s.runs(with_legacy, 10).await.unwrap().len(), 3);
    assert_eq!(s.runs(RunScope::All, 10).await.unwrap().len(), 5);
    assert_eq!(s.runs(RunScope::All, 2).await.unwrap().len(), 2);
    let summary = &s.runs(mine, 1).await.unwrap()[0];
    assert_eq!((summary.tasks_total, summary.tasks_succeeded), (1, 0));
    assert_eq!(summary.run.repo.as_ref(), Some(&here));
    // The newest unfinished run of this checkout, not another repository's or clone's.
    let active = s.latest_run_in(mine, &[RunState::Active]).await.unwrap().unwrap();
    assert_eq!(active.id, runs[0]);
    let any = s.latest_run_in(mine, &[]).await.unwrap().unwrap();
    assert_eq!(any.id, runs[2]);
    let either =
        s.latest_run_in(mine, &[RunState::Failed, RunState::Succeeded]).await.unwrap().unwrap();
    assert_eq!(either.id, runs[2]);
    assert_eq!(s.run(&legacy).await.unwrap().repo, None);
}

async fn the_pipeline_document_is_kept_with_the_run(s: TestStore) {
    let new = orca_store::NewRun {
        pipeline_json: Some(r#"{"goal":"g"}"#.into()),
        ..run_of(vec![task("a", &[])])
    };
    let run = s.create_run(&new).await.unwrap();
    assert_eq!(s.pipeline_json(&run).await.unwrap().as_deref(), Some(r#"{"goal":"g"}"#));
    s.set_pipeline_json(&run, r#"{"goal":"h"}"#).await.unwrap();
    assert_eq!(s.pipeline_json(&run).await.unwrap().as_deref(), Some(r#"{"goal":"h"}"#));
    s.set_plan_json(&run, r#"{"plan":2}"#).await.unwrap();
    assert_eq!(s.plan_json(&run).await.unwrap(), r#"{"plan":2}"#);
    let missing = orca_store::RunId::from("nope");
    assert!(matches!(s.set_plan_json(&missing, "{}").await, Err(StoreError::RunNotFound(_))));
}

async fn new_run_starts_tasks_without_deps_ready_and_others_waiting(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &["a"]), task("c", &["a", "b"])]))
        .await
        .unwrap();
    let status = s.run_status(&run).await.unwrap();
    let states: Vec<(&str, TaskState)> =
        status.tasks.iter().map(|t| (t.key.as_str(), t.state)).collect();
    assert_eq!(
        states,
        [("a", TaskState::Ready), ("b", TaskState::Waiting), ("c", TaskState::Waiting)]
    );
    assert_eq!(status.tasks[2].deps, ["a", "b"]);
    assert_eq!(status.run.state, RunState::Active);
    assert_eq!(status.run.title, "test run");
    assert_eq!(s.plan_json(&run).await.unwrap(), r#"{"plan":true}"#);
    assert_eq!(s.latest_run().await.unwrap().unwrap().id, run);
}

async fn invalid_runs_write_nothing(s: TestStore) {
    let err = s.create_run(&run_of(vec![task("a", &["b"]), task("b", &["a"])])).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidRun(_)), "{err}");
    assert!(err.to_string().contains("cycle"), "{err}");
    assert!(s.latest_run().await.unwrap().is_none());
}

async fn claim_takes_highest_priority_first_then_key(s: TestStore) {
    let mut tasks = vec![task("b", &[]), task("a", &[]), task("c", &[]), task("d", &[])];
    tasks[2].priority = 5;
    tasks[3].priority = -1;
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let first = s.claim(&run, "w1", 2, TTL).await.unwrap();
    let keys: Vec<&str> = first.iter().map(|l| l.task.as_str()).collect();
    assert_eq!(keys, ["c", "a"]);
    assert!(first.iter().all(|l| l.attempt == 1 && l.worker == "w1" && l.tries == 1));
    assert_eq!(first[0].spec_json, r#"{"task":"c"}"#);
    let rest = s.claim(&run, "w2", 10, TTL).await.unwrap();
    let keys: Vec<&str> = rest.iter().map(|l| l.task.as_str()).collect();
    assert_eq!(keys, ["b", "d"]);
    assert!(s.claim(&run, "w3", 10, TTL).await.unwrap().is_empty());
}

async fn claim_task_takes_only_that_task_and_only_when_ready(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &["a"]), task("c", &[])]))
        .await
        .unwrap();
    assert!(s.claim_task(&run, "b", "w", TTL).await.unwrap().is_none(), "b waits for a");
    let lease = s.claim_task(&run, "c", "w", TTL).await.unwrap().unwrap();
    assert_eq!((lease.task.as_str(), lease.attempt), ("c", 1));
    assert!(s.claim_task(&run, "c", "other", TTL).await.unwrap().is_none(), "already leased");
    assert!(s.claim_task(&run, "nope", "w", TTL).await.unwrap().is_none());
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.count(TaskState::Ready), 1, "a is still ready");
}

async fn completing_the_last_dependency_makes_a_task_ready(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![
            task("a", &[]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("d", &["b", "c"]),
        ]))
        .await
        .unwrap();
    let a = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    assert!(s.claim(&run, "w", 5, TTL).await.unwrap().is_empty());
    s.complete(&a, r#"{"ok":1}"#).await.unwrap();
    let mut next = s.claim(&run, "w", 5, TTL).await.unwrap();
    assert_eq!(next.iter().map(|l| l.task.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let c = next.pop().unwrap();
    let b = next.pop().unwrap();
    s.complete(&b, "{}").await.unwrap();
    assert!(s.claim(&run, "w", 5, TTL).await.unwrap().is_empty(), "d still waits for c");
    s.complete(&c, "{}").await.unwrap();
    let d = s.claim(&run, "w", 5, TTL).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].task, "d");
    let status = s.run_status(&run).await.unwrap();
    let a_status = status.tasks.iter().find(|t| t.key == "a").unwrap();
    assert_eq!(a_status.result_json.as_deref(), Some(r#"{"ok":1}"#));
    assert_eq!(a_status.state, TaskState::Succeeded);
    assert!(a_status.lease.is_none());
}

async fn concurrent_claimers_never_share_a_task(s: TestStore) {
    let tasks: Vec<_> = (0..120).map(|i| task(&format!("t{i:03}"), &[])).collect();
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let mut workers = Vec::new();
    for w in 0..8 {
        let store = s.store.clone();
        let run = run.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let leases = store.claim(&run, &format!("w{w}"), 2, TTL).await.unwrap();
                if leases.is_empty() {
                    return mine;
                }
                for lease in leases {
                    store.complete(&lease, "{}").await.unwrap();
                    mine.push(lease.task);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 120, "each task claimed exactly once");
    assert_eq!(unique.len(), 120);
    assert_eq!(s.run_status(&run).await.unwrap().count(TaskState::Succeeded), 120);
}

async fn a_worker_that_lost_its_lease_changes_nothing(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &["a"])])).await.unwrap();
    let stale = s.claim(&run, "slow", 1, Duration::from_millis(50)).await.unwrap().remove(0);
    let rescued = eventually("the lease to expire and be rescued", WAIT, || async {
        let rescued = s.rescue_expired().await.unwrap();
        (!rescued.is_empty()).then_some(rescued)
    })
    .await;
    assert_eq!(rescued.len(), 1);
    assert_eq!((rescued[0].task.as_str(), rescued[0].worker.as_str()), ("a", "slow"));
    assert_eq!(rescued[0].now, TaskState::Ready);
    let fresh = s.claim(&run, "fast", 1, TTL).await.unwrap().remove(0);
    assert_eq!(fresh.attempt, 2);
    let before = s.run_status(&run).await.unwrap();

    let check = |result: Result<(), LeaseError>, what: &str| {
        let err = result.expect_err(what);
        let lost = err.lease_lost().unwrap_or_else(|| panic!("{what}: {err}"));
        assert_eq!(lost.now.holder.as_deref(), Some("fast"), "{what}");
        assert_eq!(lost.now.attempt, 2, "{what}");
        assert_eq!(lost.attempt, 1, "{what}");
        assert!(err.to_string().contains("worker `fast` holds it now (attempt 2)"), "{err}");
    };
    check(s.heartbeat(&stale).await.map(|_| ()), "heartbeat");
    check(s.complete(&stale, "{}").await, "complete");
    check(s.fail(&stale, "boom", &RetryPolicy::immediate()).await.map(|_| ()), "fail");
    check(s.release(&stale, "bye").await, "release");
    check(s.block(&stale, "stuck").await.map(|_| ()), "block");
    check(
        s.record_attempt(
            &stale,
            &AttemptInfo { summary: Some("x".into()), ..AttemptInfo::default() },
        )
        .await,
        "record_attempt",
    );

    let mut after = s.run_status(&run).await.unwrap();
    after.now_ms = before.now_ms;
    for (b, a) in before.tasks.iter().zip(after.tasks.iter_mut()) {
        if let (Some(bl), Some(al)) = (&b.lease, &mut a.lease) {
            // Ages move with the clock; everything else must be identical.
            al.age_ms = bl.age_ms;
            al.expires_in_ms = bl.expires_in_ms;
            al.heartbeat_age_ms = bl.heartbeat_age_ms;
        }
    }
    assert_eq!(before, after, "a stale worker changed nothing");
    let attempts = s.attempts(&run, "a").await.unwrap();
    assert_eq!(attempts[0].outcome, "expired");
    assert_eq!(attempts[0].summary, None);
    assert_eq!(attempts[1].outcome, "running");
    s.complete(&fresh, "{}").await.unwrap();
}

async fn an_expired_lease_not_yet_rescued_can_still_complete(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let lease = s.claim(&run, "w", 1, Duration::from_millis(1)).await.unwrap().remove(0);
    eventually("the lease to expire", WAIT, || async {
        let status = s.run_status(&run).await.unwrap();
        (status.tasks[0].lease.as_ref().unwrap().expires_in_ms < 0).then_some(())
    })
    .await;
    let renewed = s.heartbeat(&lease).await.unwrap();
    assert!(renewed >= lease.expires_ms);
    s.complete(&lease, "{}").await.unwrap();
    assert!(s.rescue_expired().await.unwrap().is_empty());
}

async fn repeating_a_completion_is_harmless(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &["a"])])).await.unwrap();
    let lease = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    s.complete(&lease, "{}").await.unwrap();
    s.complete(&lease, "{}").await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[1].state, TaskState::Ready, "b counted a down exactly once");
    let succeeded = s
        .events(&run, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "task.succeeded")
        .count();
    assert_eq!(succeeded, 1);
    // A failure report after success is refused: the task is finished.
    let err = s.fail(&lease, "late", &RetryPolicy::immediate()).await.unwrap_err();
    assert_eq!(err.lease_lost().unwrap().now.state, TaskState::Succeeded);
}

async fn failures_retry_after_a_backoff_until_out_of_tries(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let policy =
        RetryPolicy { base: Duration::from_millis(300), max: Duration::from_secs(1), jitter: 0.0 };
    let first = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    let outcome = s.fail(&first, "first error\nwith details", &policy).await.unwrap();
    let FailOutcome::Retry { run_after_ms } = outcome else { panic!("{outcome:?}") };
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Ready);
    assert_eq!(status.tasks[0].run_after_ms, run_after_ms);
    assert!(run_after_ms >= status.now_ms - 50, "backoff lies ahead");
    assert_eq!(status.tasks[0].last_error.as_deref(), Some("first error\nwith details"));
    let second = eventually("the backoff to pass", WAIT, || async {
        s.claim(&run, "w", 1, TTL).await.unwrap().pop()
    })
    .await;
    assert_eq!((second.attempt, second.tries), (2, 2));
    s.fail(&second, "again", &RetryPolicy::immediate()).await.unwrap();
    let third = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    assert_eq!(third.tries, 3);
    let outcome = s.fail(&third, "last", &RetryPolicy::immediate()).await.unwrap();
    assert_eq!(outcome, FailOutcome::Failed { blocked: vec![] });
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Failed);
    let outcomes: Vec<String> =
        s.attempts(&run, "a").await.unwrap().into_iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, ["retry", "retry", "failed"]);
}

async fn a_final_failure_blocks_every_transitive_dependent(s: TestStore) {
    let mut tasks = vec![
        task("root", &[]),
        task("child", &["root"]),
        task("grandchild", &["child"]),
        task("other", &[]),
        task("mixed", &["other", "grandchild"]),
    ];
    tasks[0].max_attempts = 1;
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let root = s.claim_task(&run, "root", "w", TTL).await.unwrap().unwrap();
    let outcome = s.fail(&root, "compile error", &RetryPolicy::immediate()).await.unwrap();
    assert_eq!(
        outcome,
        FailOutcome::Failed { blocked: vec!["child".into(), "grandchild".into(), "mixed".into()] }
    );
    let status = s.run_status(&run).await.unwrap();
    let by_key: BTreeMap<&str, _> = status.tasks.iter().map(|t| (t.key.as_str(), t)).collect();
    assert_eq!(by_key["root"].state, TaskState::Failed);
    assert_eq!(by_key["other"].state, TaskState::Ready);
    for key in ["child", "grandchild", "mixed"] {
        assert_eq!(by_key[key].state, TaskState::Blocked, "{key}");
        let reason = by_key[key].blocked_reason.as_deref().unwrap();
        assert!(reason.contains("`root`") && reason.contains("compile error"), "{key}: {reason}");
    }
    // The unrelated task still runs, and finishing it unblocks nothing.
    let other = s.claim(&run, "w", 5, TTL).await.unwrap();
    assert_eq!(other.len(), 1);
    s.complete(&other[0], "{}").await.unwrap();
    assert!(s.claim(&run, "w", 5, TTL).await.unwrap().is_empty());
}

async fn fail_for_good_ends_the_task_with_tries_left_and_blocks_dependents(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &["a"])])).await.unwrap();
    let lease = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    assert!(lease.tries < lease.max_attempts, "the test needs tries left");
    let blocked = s.fail_for_good(&lease, "merge conflict in src/a.rs").await.unwrap();
    assert_eq!(blocked, vec!["b".to_owned()]);
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Failed);
    assert_eq!(status.tasks[1].state, TaskState::Blocked);
    assert!(s.claim(&run, "w", 5, TTL).await.unwrap().is_empty(), "nothing is retried");
    // A stale copy of the lease changes nothing now.
    assert!(matches!(s.fail_for_good(&lease, "again").await, Err(LeaseError::Lost(_))));
}

async fn release_returns_the_task_without_spending_a_try(s: TestStore) {
    let mut only = task("a", &[]);
    only.max_attempts = 1;
    let run = s.create_run(&run_of(vec![only])).await.unwrap();
    let first = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    s.release(&first, "interrupted by Ctrl-C").await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    assert_eq!((status.tasks[0].state, status.tasks[0].tries), (TaskState::Ready, 0));
    let second = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    assert_eq!((second.attempt, second.tries), (2, 1), "a new attempt, the first counted try");
    let outcome = s.fail(&second, "real failure", &RetryPolicy::immediate()).await.unwrap();
    assert!(matches!(outcome, FailOutcome::Failed { .. }), "{outcome:?}");
    let attempts = s.attempts(&run, "a").await.unwrap();
    assert_eq!(attempts[0].outcome, "released");
    assert_eq!(attempts[0].error.as_deref(), Some("interrupted by Ctrl-C"));
}

async fn block_blocks_the_task_and_its_dependents(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &["a"]), task("c", &[])]))
        .await
        .unwrap();
    let a = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    let blocked = s.block(&a, "needs an API key nobody gave me").await.unwrap();
    assert_eq!(blocked, ["b"]);
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Blocked);
    assert_eq!(status.tasks[0].blocked_reason.as_deref(), Some("needs an API key nobody gave me"));
    assert_eq!(status.tasks[1].state, TaskState::Blocked);
    assert!(status.tasks[1].blocked_reason.as_deref().unwrap().contains("`a`, which is blocked"));
    assert_eq!(status.tasks[2].state, TaskState::Ready);
}

async fn record_attempt_stores_facts_while_the_lease_holds(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let lease = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    let info = AttemptInfo {
        branch: Some("orca/r/a/a1".into()),
        agent: Some("claude".into()),
        agent_session_id: Some("sess-1".into()),
        ..AttemptInfo::default()
    };
    s.record_attempt(&lease, &info).await.unwrap();
    let more = AttemptInfo {
        commit_sha: Some("abc123".into()),
        summary: Some("did it".into()),
        details_json: Some(r#"{"tokens":5}"#.into()),
        ..AttemptInfo::default()
    };
    s.record_attempt(&lease, &more).await.unwrap();
    s.complete(&lease, "{}").await.unwrap();
    let attempt = s.attempts(&run, "a").await.unwrap().remove(0);
    assert_eq!(attempt.branch.as_deref(), Some("orca/r/a/a1"), "earlier facts are kept");
    assert_eq!(attempt.agent.as_deref(), Some("claude"));
    assert_eq!(attempt.agent_session_id.as_deref(), Some("sess-1"));
    assert_eq!(attempt.commit_sha.as_deref(), Some("abc123"));
    assert_eq!(attempt.summary.as_deref(), Some("did it"));
    assert_eq!(attempt.details_json.as_deref(), Some(r#"{"tokens":5}"#));
    assert_eq!(attempt.outcome, "succeeded");
    assert!(attempt.ended_ms.unwrap() >= attempt.started_ms);
    let err = s.record_attempt(&lease, &more).await.unwrap_err();
    assert_eq!(err.lease_lost().unwrap().now.state, TaskState::Succeeded);
}

async fn rescue_fails_a_task_whose_last_try_expired(s: TestStore) {
    let mut tasks = vec![task("a", &[]), task("b", &["a"])];
    tasks[0].max_attempts = 1;
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    s.claim(&run, "doomed", 1, Duration::from_millis(20)).await.unwrap();
    let rescued = eventually("the lease to expire", WAIT, || async {
        let rescued = s.rescue_expired().await.unwrap();
        (!rescued.is_empty()).then_some(rescued)
    })
    .await;
    assert_eq!(rescued[0].now, TaskState::Failed);
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Failed);
    assert!(status.tasks[0].last_error.as_deref().unwrap().contains("`doomed`"));
    assert_eq!(status.tasks[1].state, TaskState::Blocked);
    assert!(status.tasks[1].blocked_reason.as_deref().unwrap().contains("`a`"));
}

async fn cancel_run_revokes_leases_and_stops_claims(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &[]), task("c", &["a"])]))
        .await
        .unwrap();
    let lease = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    assert_eq!(s.cancel_run(&run).await.unwrap(), 3);
    let err = s.complete(&lease, "{}").await.unwrap_err();
    let lost = err.lease_lost().unwrap();
    assert_eq!((lost.now.state, lost.now.holder.as_deref()), (TaskState::Cancelled, None));
    assert!(err.to_string().contains("the task is now cancelled"), "{err}");
    assert!(s.claim(&run, "w", 5, TTL).await.unwrap().is_empty());
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.run.state, RunState::Cancelled);
    assert_eq!(status.count(TaskState::Cancelled), 3);
    assert_eq!(s.attempts(&run, &lease.task).await.unwrap()[0].outcome, "cancelled");
    let missing = orca_store::RunId::from("no-such-run");
    assert!(matches!(s.cancel_run(&missing).await, Err(StoreError::RunNotFound(_))));
}

async fn events_are_appended_and_read_in_order(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let lease = s.claim(&run, "w", 1, TTL).await.unwrap().remove(0);
    let seq =
        s.append_event(&run, Some("a"), Some(1), "agent.text", r#"{"text":"hi"}"#).await.unwrap();
    s.complete(&lease, "{}").await.unwrap();
    s.append_event(&run, None, None, "note", "{}").await.unwrap();
    let events = s.events(&run, 0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["run.created", "task.leased", "agent.text", "task.succeeded", "note"]);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq && w[0].at_ms <= w[1].at_ms));
    let mine = events.iter().find(|e| e.seq == seq).unwrap();
    assert_eq!((mine.task.as_deref(), mine.attempt), (Some("a"), Some(1)));
    let after = s.events(&run, seq, 100).await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(s.events(&run, 0, 2).await.unwrap().len(), 2);
    // The newest event of a kind, counting only those after a number.
    let last = s.last_event_seq(&run).await.unwrap();
    assert_eq!(last, events.last().unwrap().seq);
    let newest = s.newest_event_after(&run, 0, "agent.text").await.unwrap().unwrap();
    assert_eq!(newest.seq, seq);
    assert!(s.newest_event_after(&run, seq, "agent.text").await.unwrap().is_none());
    let later = s.append_event(&run, None, None, "agent.text", "{}").await.unwrap();
    let newest = s.newest_event_after(&run, seq, "agent.text").await.unwrap().unwrap();
    assert_eq!((newest.seq, newest.task), (later, None));
    // Every event of a kind after a number, oldest first, up to a limit.
    let of_kind = |after, limit| s.events_of_kind_after(&run, after, "agent.text", limit);
    let seqs = |events: Vec<orca_store::Event>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(of_kind(0, 10).await.unwrap()), [seq, later]);
    assert_eq!(seqs(of_kind(0, 1).await.unwrap()), [seq]);
    assert_eq!(seqs(of_kind(seq, 10).await.unwrap()), [later]);
    assert!(of_kind(later, 10).await.unwrap().is_empty());
    let empty = s.create_run(&run_of(vec![task("x", &[])])).await.unwrap();
    assert!(s.last_event_seq(&empty).await.unwrap() > 0, "run.created is an event");
    let missing = orca_store::RunId::from("no-such-run");
    assert_eq!(s.last_event_seq(&missing).await.unwrap(), 0);
}

async fn status_shows_stages_leases_deps_and_errors(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &[]), task("c", &["a", "b"])]))
        .await
        .unwrap();
    s.set_stage(&run, Stage::Analyze, StageState::Passed).await.unwrap();
    s.set_stage(&run, Stage::Implement, StageState::Running).await.unwrap();
    let a = s.claim_task(&run, "a", "worker-1", TTL).await.unwrap().unwrap();
    let b = s.claim_task(&run, "b", "worker-2", TTL).await.unwrap().unwrap();
    s.fail(&b, "tests failed", &RetryPolicy::default()).await.unwrap();
    let status = eventually("the lease to age", WAIT, || async {
        let status = s.run_status(&run).await.unwrap();
        (status.tasks[0].lease.as_ref().unwrap().age_ms > 0).then_some(status)
    })
    .await;
    assert_eq!(status.run.stage, Some(Stage::Implement));
    assert_eq!(status.stages.len(), 9);
    assert_eq!(status.stages[0].state, StageState::Passed);
    assert_eq!(status.stages[3].state, StageState::Running);
    assert_eq!(status.stages[8].state, StageState::Pending);
    assert!(status.stages[8].updated_ms.is_none());
    let lease = status.tasks[0].lease.as_ref().unwrap();
    assert_eq!((lease.worker.as_str(), lease.attempt), ("worker-1", a.attempt));
    assert!(lease.expires_in_ms > 0 && lease.expires_in_ms <= 30_000);
    assert_eq!(status.tasks[1].last_error.as_deref(), Some("tests failed"));
    assert_eq!((status.tasks[1].attempt, status.tasks[1].tries), (1, 1));
    assert!(status.tasks[1].lease.is_none());
    assert_eq!(status.tasks[2].deps, ["a", "b"]);
    let missing = orca_store::RunId::from("nope");
    assert!(matches!(
        s.set_stage(&missing, Stage::Plan, StageState::Running).await,
        Err(StoreError::RunNotFound(_))
    ));
    s.finish_run(&run, RunState::Failed).await.unwrap();
    assert_eq!(s.run(&run).await.unwrap().state, RunState::Failed);
}

async fn workers_are_registered_and_seen(s: TestStore) {
    s.register_worker("host-a:1", "host-a", 1).await.unwrap();
    s.register_worker("host-b:2", "host-b", 2).await.unwrap();
    let before = s.workers().await.unwrap();
    assert_eq!(before.len(), 2);
    let seen = eventually("the clock to move", WAIT, || async {
        s.worker_seen("host-a:1").await.unwrap();
        let now = s.workers().await.unwrap();
        (now[0].last_seen_ms > before[0].last_seen_ms).then_some(now)
    })
    .await;
    assert_eq!(seen[0].started_ms, before[0].started_ms);
    assert_eq!((seen[1].host.as_str(), seen[1].pid), ("host-b", 2));
}

async fn a_large_plan_loads_in_one_piece(s: TestStore) {
    // More rows than one batched insert holds, for tasks and for edges.
    let tasks = random_dag(2500, 3, 7);
    let ready = tasks.iter().filter(|t| t.deps.is_empty()).count();
    let edges: usize = tasks.iter().map(|t| t.deps.iter().collect::<HashSet<_>>().len()).sum();
    assert!(edges > 2000, "the DAG must exercise edge batching ({edges} edges)");
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks.len(), 2500);
    assert_eq!(status.count(TaskState::Ready), ready);
    assert_eq!(status.tasks.iter().map(|t| t.deps.len()).sum::<usize>(), edges);
}

async fn reopening_a_store_keeps_its_runs(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    s.close().await;
    let again = orca_store::Store::open(&s.url).await.unwrap();
    assert_eq!(again.latest_run().await.unwrap().unwrap().id, run);
}

async fn latest_active_run_skips_finished_runs(s: TestStore) {
    assert_eq!(s.latest_active_run().await.unwrap(), None);
    let first = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let second = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    assert_eq!(s.latest_active_run().await.unwrap().unwrap().id, second);
    s.finish_run(&second, RunState::Succeeded).await.unwrap();
    assert_eq!(s.latest_active_run().await.unwrap().unwrap().id, first);
    s.cancel_run(&first).await.unwrap();
    assert_eq!(s.latest_active_run().await.unwrap(), None);
    assert_eq!(s.latest_run().await.unwrap().unwrap().id, second);
}

async fn one_task_reads_with_its_deps_and_spec(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("c", &[]), task("b", &["c", "a"])]))
        .await
        .unwrap();
    let b = s.task(&run, "b").await.unwrap();
    assert_eq!(
        (b.key.as_str(), b.state, b.deps.clone()),
        ("b", TaskState::Waiting, vec!["a".to_owned(), "c".to_owned()])
    );
    assert_eq!(b, s.run_status(&run).await.unwrap().tasks[1]);
    assert_eq!(s.task_spec(&run, "b").await.unwrap(), r#"{"task":"b"}"#);
    let a = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    s.complete(&a, "{}").await.unwrap();
    let deps = s.deps_of(&run, "b").await.unwrap();
    let deps: Vec<(&str, TaskState)> = deps.iter().map(|d| (d.key.as_str(), d.state)).collect();
    assert_eq!(deps, [("a", TaskState::Succeeded), ("c", TaskState::Ready)]);
    assert!(matches!(
        s.task(&run, "zz").await,
        Err(StoreError::TaskNotFound { key, .. }) if key == "zz"
    ));
    assert!(matches!(s.task_spec(&run, "zz").await, Err(StoreError::TaskNotFound { .. })));
    let missing = orca_store::RunId::from("19990101-000000-0000");
    assert!(matches!(s.task(&missing, "a").await, Err(StoreError::RunNotFound(_))));
}

async fn a_lease_read_back_acts_like_the_claimed_one(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &["a"]), task("c", &[])]))
        .await
        .unwrap();
    assert_eq!(s.lease_of(&run, "a", TTL).await.unwrap(), None, "ready, not leased");
    let claimed = s.claim_task(&run, "a", "w1", TTL).await.unwrap().unwrap();
    s.claim_task(&run, "c", "w2", TTL).await.unwrap().unwrap();
    let read = s.lease_of(&run, "a", TTL).await.unwrap().unwrap();
    assert_eq!(read, claimed);
    let all = s.leases(&run, TTL).await.unwrap();
    let holders: Vec<(&str, &str)> =
        all.iter().map(|l| (l.task.as_str(), l.worker.as_str())).collect();
    assert_eq!(holders, [("a", "w1"), ("c", "w2")]);
    // Renewal and completion through the read-back lease are fenced alike.
    assert!(s.heartbeat(&read).await.unwrap() >= claimed.expires_ms);
    s.complete(&read, "{}").await.unwrap();
    assert_eq!(s.lease_of(&run, "a", TTL).await.unwrap(), None);
    assert_eq!(s.task(&run, "b").await.unwrap().state, TaskState::Ready);
}

async fn ready_tasks_list_the_claim_order_without_leasing(s: TestStore) {
    let mut tasks = vec![task("b", &[]), task("a", &[]), task("c", &[]), task("d", &["a"])];
    tasks[2].priority = 9;
    let run = s.create_run(&run_of(tasks)).await.unwrap();
    let ready = s.ready_tasks(&run, 2).await.unwrap();
    let keys: Vec<&str> = ready.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["c", "a"]);
    assert_eq!((ready[0].priority, ready[0].spec_json.as_str()), (9, r#"{"task":"c"}"#));
    assert_eq!(s.task_counts(&run).await.unwrap().count(TaskState::Ready), 3, "nothing leased");
    let claimed = s.claim(&run, "w", 2, TTL).await.unwrap();
    assert_eq!(claimed.iter().map(|l| l.task.as_str()).collect::<Vec<_>>(), keys);
    let rest = s.ready_tasks(&run, 10).await.unwrap();
    assert_eq!(rest.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["b"]);
}

async fn task_counts_say_why_nothing_is_ready(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &["a"]), task("c", &[])]))
        .await
        .unwrap();
    let c = s.claim_task(&run, "c", "w", TTL).await.unwrap().unwrap();
    let slow =
        RetryPolicy { base: Duration::from_secs(600), max: Duration::from_secs(600), jitter: 0.0 };
    let outcome = s.fail(&c, "flaky", &slow).await.unwrap();
    let FailOutcome::Retry { run_after_ms } = outcome else { panic!("{outcome:?}") };
    s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    let counts = s.task_counts(&run).await.unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(
        counts.by_state,
        [(TaskState::Waiting, 1), (TaskState::Ready, 1), (TaskState::Leased, 1)]
    );
    assert_eq!((counts.backing_off, counts.next_retry_ms), (1, Some(run_after_ms)));
    assert_eq!(counts.unfinished(), 3);
    assert!(s.ready_tasks(&run, 10).await.unwrap().is_empty(), "c waits out its backoff");
    let missing = orca_store::RunId::from("19990101-000000-0000");
    assert!(matches!(s.task_counts(&missing).await, Err(StoreError::RunNotFound(_))));
}

async fn touching_a_worker_keeps_its_start(s: TestStore) {
    s.touch_worker("session-1", "host-a", 0).await.unwrap();
    let first = s.workers().await.unwrap();
    assert_eq!((first[0].id.as_str(), first[0].pid), ("session-1", 0));
    let later = eventually("the clock to move", WAIT, || async {
        s.touch_worker("session-1", "host-b", 0).await.unwrap();
        let now = s.workers().await.unwrap();
        (now[0].last_seen_ms > first[0].last_seen_ms).then_some(now)
    })
    .await;
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].started_ms, later[0].host.as_str()), (first[0].started_ms, "host-b"));
}

async fn remaining_says_what_can_be_claimed_and_whether_anything_is_left(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &[]), task("c", &["a"])]))
        .await
        .unwrap();
    let start = s.remaining(&run).await.unwrap();
    assert_eq!((start.ready, start.unfinished), (2, true));
    let a = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    let slow =
        RetryPolicy { base: Duration::from_secs(600), max: Duration::from_secs(600), jitter: 0.0 };
    s.fail(&a, "flaky", &slow).await.unwrap();
    let backing_off = s.remaining(&run).await.unwrap();
    assert_eq!(backing_off.ready, 1, "a waits out its backoff");
    let b = s.claim_task(&run, "b", "w", TTL).await.unwrap().unwrap();
    s.block(&b, "stuck").await.unwrap();
    let cancelled = s.cancel_run(&run).await.unwrap();
    assert_eq!(cancelled, 2, "a and c");
    let end = s.remaining(&run).await.unwrap();
    assert_eq!((end.ready, end.unfinished), (0, false));
    assert!(end.now_ms > 0);
}

fn pushed(branch: &str, sha: &str) -> AttemptInfo {
    AttemptInfo {
        branch: Some(branch.into()),
        commit_sha: Some(sha.into()),
        details_json: Some(r#"{"end":"verified"}"#.into()),
        ..AttemptInfo::default()
    }
}

async fn a_submitted_attempt_waits_verified_until_the_coordinator_merges_it(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &["a"])])).await.unwrap();
    let lease = s.claim(&run, "w1", 1, TTL).await.unwrap().remove(0);
    s.submit(&lease, &pushed("orca/r/a/a1", "abc123")).await.unwrap();
    // Repeating a submit whose reply was lost is harmless.
    s.submit(&lease, &pushed("orca/r/a/a1", "abc123")).await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Verified);
    assert!(status.tasks[0].lease.is_none());
    // Verified is not done: the dependent waits, nobody can claim either.
    assert_eq!(status.tasks[1].state, TaskState::Waiting);
    assert!(s.claim(&run, "w2", 5, TTL).await.unwrap().is_empty());
    // The worker's lease ended with the submit.
    let err = s.heartbeat(&lease).await.expect_err("the submit ended the worker's lease");
    assert_eq!(err.lease_lost().unwrap().now.state, TaskState::Verified);

    let taken = s.take_verified(&run, "coordinator", TTL).await.unwrap();
    assert_eq!(taken.len(), 1);
    let merge = &taken[0];
    assert_eq!(merge.lease.attempt, lease.attempt, "the fencing token stays the worker's");
    assert_eq!(merge.lease.worker, "coordinator");
    assert_eq!(merge.worker, "w1");
    assert_eq!(merge.branch.as_deref(), Some("orca/r/a/a1"));
    assert_eq!(merge.commit_sha.as_deref(), Some("abc123"));
    assert!(s.take_verified(&run, "coordinator", TTL).await.unwrap().is_empty());
    // The worker's lease carries the same attempt number as the merge lease,
    // but not its holder: nothing it writes touches the coordinator's lease.
    let err = s.heartbeat(&lease).await.expect_err("the worker cannot renew the merge lease");
    assert_eq!(err.lease_lost().unwrap().now.holder.as_deref(), Some("coordinator"));
    assert!(s.fail(&lease, "late", &RetryPolicy::default()).await.is_err());
    assert!(s.release(&lease, "late").await.is_err());
    assert!(s.complete(&lease, "{}").await.is_err());
    assert!(s.complete_all(&[(lease.clone(), "{}".into())]).await.unwrap()[0].is_err());
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].lease.as_ref().unwrap().worker, "coordinator");
    // A merge that fails for git's reasons hands it back.
    s.return_verified(&merge.lease, "git failed").await.unwrap();
    let again = s.take_verified(&run, "coordinator", TTL).await.unwrap().remove(0);
    assert_eq!(again.commit_sha.as_deref(), Some("abc123"));
    s.complete(&again.lease, "{}").await.unwrap();
    let status = s.run_status(&run).await.unwrap();
    assert_eq!(status.tasks[0].state, TaskState::Succeeded);
    assert_eq!(status.tasks[1].state, TaskState::Ready);
    let attempts = s.attempts(&run, "a").await.unwrap();
    assert_eq!(attempts.len(), 1, "merging starts no new attempt");
    assert_eq!(attempts[0].outcome, "succeeded");
    assert_eq!(attempts[0].worker, "w1");
    assert_eq!(attempts[0].commit_sha.as_deref(), Some("abc123"));
    let kinds: Vec<String> =
        s.events(&run, 0, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    for kind in ["task.verified", "task.merging", "task.merge_returned", "task.succeeded"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn a_stale_worker_cannot_submit_and_a_merge_lease_expires_back_to_verified(s: TestStore) {
    let run = s.create_run(&run_of(vec![task("a", &[])])).await.unwrap();
    let stale = s.claim(&run, "slow", 1, Duration::from_millis(50)).await.unwrap().remove(0);
    eventually("the lease to expire and be rescued", WAIT, || async {
        (!s.rescue_expired().await.unwrap().is_empty()).then_some(())
    })
    .await;
    let fresh = s.claim(&run, "fast", 1, TTL).await.unwrap().remove(0);
    let err = s.submit(&stale, &pushed("orca/r/a/a1", "stale")).await.expect_err("stale submit");
    assert_eq!(err.lease_lost().unwrap().now.holder.as_deref(), Some("fast"));
    s.submit(&fresh, &pushed("orca/r/a/a2", "fresh")).await.unwrap();
    // The stale worker still cannot write once the task is verified.
    assert!(s.submit(&stale, &pushed("orca/r/a/a1", "stale")).await.is_err());
    assert!(s.complete(&stale, "{}").await.is_err());
    let attempts = s.attempts(&run, "a").await.unwrap();
    assert_eq!(attempts[0].commit_sha, None, "nothing of the stale attempt was recorded");

    // A coordinator that dies while merging: its lease expires, and the
    // task goes back to verified (the work is merged later, not redone).
    let merge = s.take_verified(&run, "coord", Duration::from_millis(50)).await.unwrap().remove(0);
    let rescued = eventually("the merge lease to expire", WAIT, || async {
        let rescued = s.rescue_expired().await.unwrap();
        (!rescued.is_empty()).then_some(rescued)
    })
    .await;
    assert_eq!(rescued[0].now, TaskState::Verified);
    assert!(s.complete(&merge.lease, "{}").await.is_err(), "the expired coordinator's lease");
    let next = s.take_verified(&run, "coord2", TTL).await.unwrap().remove(0);
    assert_eq!((next.lease.attempt, next.commit_sha.as_deref()), (2, Some("fresh")));
    s.complete(&next.lease, "{}").await.unwrap();
    let attempts = s.attempts(&run, "a").await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].outcome, "succeeded");
}

async fn workers_say_their_versions_and_what_they_run(s: TestStore) {
    let me = WorkerInfo::this_process("w1", "host-a", "worker", "1.2.3", 4);
    s.register_process(&me).await.unwrap();
    s.worker_alive("w1", &["r/t1/a1".to_owned()], false).await.unwrap();
    let mut old = WorkerInfo::this_process("w2", "host-b", "coordinator", "0.9.0", 0);
    old.protocol = PROTOCOL_VERSION + 1;
    s.register_process(&old).await.unwrap();
    s.register_worker("legacy", "host-c", 7).await.unwrap();
    let workers = s.workers().await.unwrap();
    let w1 = workers.iter().find(|w| w.id == "w1").unwrap();
    assert_eq!(w1.role.as_deref(), Some("worker"));
    assert_eq!(w1.version.as_deref(), Some("1.2.3"));
    assert_eq!(
        (w1.schema_version, w1.protocol, w1.agents),
        (Some(SCHEMA_VERSION), Some(PROTOCOL_VERSION), Some(4))
    );
    assert_eq!(w1.tasks, ["r/t1/a1"]);
    assert!(!w1.stopping);
    assert_eq!(w1.incompatibility(&me), None);
    let w2 = workers.iter().find(|w| w.id == "w2").unwrap();
    let why = w2.incompatibility(&me).expect("another protocol is refused");
    assert!(why.contains("coordinator `w2` on host-b"), "{why}");
    assert!(why.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)), "{why}");
    assert!(why.contains("run the same orca version on every machine"), "{why}");
    let legacy = workers.iter().find(|w| w.id == "legacy").unwrap();
    assert!(legacy.incompatibility(&me).unwrap().contains("no scale-out protocol"));
    s.worker_alive("w1", &[], true).await.unwrap();
    let w1 = s.workers().await.unwrap().into_iter().find(|w| w.id == "w1").unwrap();
    assert!(w1.stopping && w1.tasks.is_empty());
    s.forget_worker("w1").await.unwrap();
    assert!(s.workers().await.unwrap().iter().all(|w| w.id != "w1"));
}

async fn a_batch_of_completions_is_fenced_lease_by_lease(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![task("a", &[]), task("b", &[]), task("c", &["a", "b"])]))
        .await
        .unwrap();
    let a = s.claim_task(&run, "a", "w", TTL).await.unwrap().unwrap();
    let stale = s.claim_task(&run, "b", "slow", Duration::from_millis(50)).await.unwrap().unwrap();
    eventually("b's lease to expire and be rescued", WAIT, || async {
        (!s.rescue_expired().await.unwrap().is_empty()).then_some(())
    })
    .await;
    let b = s.claim_task(&run, "b", "fast", TTL).await.unwrap().unwrap();
    let results = s
        .complete_all(&[(a.clone(), "{}".into()), (stale, "{}".into()), (b.clone(), "{}".into())])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    // The stale one is refused, naming the attempt the task is at now.
    assert_eq!(results[1].as_ref().unwrap_err().now.attempt, 2);
    let status = s.run_status(&run).await.unwrap();
    let state = |key: &str| status.tasks.iter().find(|t| t.key == key).unwrap().state;
    assert_eq!(
        (state("a"), state("b"), state("c")),
        (TaskState::Succeeded, TaskState::Succeeded, TaskState::Ready)
    );
    // Repeating it (a reply lost with the connection) changes nothing.
    let again = s.complete_all(&[(a, "{}".into()), (b, "{}".into())]).await.unwrap();
    assert!(again.iter().all(Result::is_ok));
    assert_eq!(s.run_status(&run).await.unwrap().tasks[2].state, TaskState::Ready);
}

async fn waiters_are_woken_when_work_appears(s: TestStore) {
    let postgres = matches!(s.location(), orca_store::Location::Postgres { .. });
    let ready = s.wakeup(Wake::Ready);
    let verified = s.wakeup(Wake::Verified);
    // Not told yet within a short wait on SQLite, which has no
    // notifications; PostgreSQL tells once when it starts listening.
    let short = Duration::from_millis(20);
    assert_eq!(ready.wait(if postgres { WAIT } else { short }).await, postgres);
    assert_eq!(verified.wait(if postgres { WAIT } else { short }).await, postgres);
    if !postgres {
        return;
    }
    let run = s.create_run(&run_of(vec![task("a", &[]), task("b", &["a"])])).await.unwrap();
    let lease = s.claim(&run, "w1", 1, TTL).await.unwrap().remove(0);
    s.submit(&lease, &pushed("orca/r/a/a1", "abc")).await.unwrap();
    assert!(verified.wait(WAIT).await, "a submit wakes the coordinator");
    let merge = s.take_verified(&run, "coordinator", TTL).await.unwrap().remove(0);
    s.complete_all(&[(merge.lease, "{}".into())]).await.unwrap();
    assert!(ready.wait(WAIT).await, "a completion that readies a task wakes workers");
    let b = s.claim(&run, "w1", 1, TTL).await.unwrap().remove(0);
    s.release(&b, "handing it back").await.unwrap();
    assert!(ready.wait(WAIT).await, "a task back to ready wakes workers");
    let b = s.claim(&run, "w1", 1, TTL).await.unwrap().remove(0);
    s.complete(&b, "{}").await.unwrap();
    // Completing the last task readies nothing: no wake-up for workers.
    assert!(!ready.wait(Duration::from_millis(200)).await);
}

async fn a_submit_can_claim_the_next_task_in_the_same_step(s: TestStore) {
    let run = s
        .create_run(&run_of(vec![
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            task("d", &["a"]),
        ]))
        .await
        .unwrap();
    // Only a run whose implement stage runs hands out work this way (a
    // halted one hands out none, as to a worker's own claims).
    let a = s.claim_task(&run, "a", "w1", TTL).await.unwrap().unwrap();
    assert!(
        s.submit_and_claim(&a, &pushed("orca/r/a/a1", "abc"), 1, TTL).await.unwrap().is_empty()
    );
    let a = s.claim_task(&run, "c", "w1", TTL).await.unwrap().unwrap();
    s.set_stage(&run, Stage::Implement, StageState::Running).await.unwrap();
    let next = s.submit_and_claim(&a, &pushed("orca/r/c/a1", "abc"), 1, TTL).await.unwrap();
    assert_eq!(next.len(), 1);
    let b = &next[0];
    assert_eq!((b.task.as_str(), b.attempt, b.worker.as_str()), ("b", 1, "w1"));
    let status = s.run_status(&run).await.unwrap();
    let state = |key: &str| status.tasks.iter().find(|t| t.key == key).unwrap().state;
    assert_eq!(
        (state("a"), state("b"), state("c"), state("d")),
        (TaskState::Verified, TaskState::Leased, TaskState::Verified, TaskState::Waiting)
    );
    // The claimed lease is a lease like any other.
    s.heartbeat(b).await.unwrap();
    assert_eq!(s.attempts(&run, "b").await.unwrap()[0].outcome, "running");
    // A repeat of the submit (its reply lost) is fine and claims nothing more.
    assert!(
        s.submit_and_claim(&a, &pushed("orca/r/c/a1", "abc"), 1, TTL).await.unwrap().is_empty()
    );
    // A refused submit claims nothing: what is ready stays ready.
    let stale = b.clone();
    s.release(b, "handing it back").await.unwrap();
    let err = s.submit_and_claim(&stale, &pushed("orca/r/b/a1", "def"), 2, TTL).await.unwrap_err();
    assert!(err.lease_lost().is_some(), "{err}");
    let status = s.run_status(&run).await.unwrap();
    assert!(status.tasks.iter().filter(|t| t.key != "a").all(|t| t.state != TaskState::Leased));
    // With nothing ready it submits and claims nothing.
    let last = s.claim(&run, "w2", 5, TTL).await.unwrap().pop().unwrap();
    assert_eq!(last.task, "b");
    assert!(s.submit_and_claim(&last, &pushed("y", "2"), 3, TTL).await.unwrap().is_empty());
    assert_eq!(
        s.run_status(&run)
            .await
            .unwrap()
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Verified)
            .count(),
        3
    );
}
