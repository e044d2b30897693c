//! Creating, cancelling and finishing runs, and their stage states.

use std::collections::{HashMap, HashSet};

use crate::db::{Arg, Sql, Tx, TxKind, args};
use crate::error::StoreError;
use crate::model::{NewRun, NewTask, RunId, RunState, Stage, StageChange, StageState, TaskState};
use crate::store::{Store, retry_transient};

/// Rows per batched INSERT: well under SQLite's 32,766 and PostgreSQL's
/// 65,535 bind parameters.
const TASK_ROWS_PER_INSERT: usize = 1000;
const DEP_ROWS_PER_INSERT: usize = 2000;

const INSERT_RUN: Sql = Sql::both(
    "INSERT INTO runs (id, title, plan_path, mode, state, created_ms, updated_ms, repo_id, \
     checkout, pipeline_json) VALUES ($1, $2, $3, $4, 'active', $5, $5, $6, $7, $8)",
);
/// Plans live apart from `runs` so that reading a run never reads its plan.
const INSERT_PLAN: Sql = Sql::both("INSERT INTO run_plans (run_id, plan_json) VALUES ($1, $2)");
const INSERT_EVENT: Sql = Sql::both(
    "INSERT INTO events (run_id, task_key, attempt, kind, payload_json, at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
);
const CANCEL_RUN: Sql =
    Sql::both("UPDATE runs SET state = 'cancelled', updated_ms = $2 WHERE id = $1");
const CANCEL_ATTEMPTS: Sql = Sql::both(
    "UPDATE attempts SET outcome = 'cancelled', ended_ms = $2 \
     WHERE run_id = $1 AND outcome = 'running'",
);
const CANCEL_TASKS: Sql = Sql::both(
    "UPDATE tasks SET state = 'cancelled', lease_owner = NULL, leased_ms = NULL, \
     lease_expires_ms = NULL, heartbeat_ms = NULL, updated_ms = $2 \
     WHERE run_id = $1 AND state IN ('waiting', 'ready', 'leased', 'verified')",
);
const FINISH_RUN: Sql = Sql::both("UPDATE runs SET state = $2, updated_ms = $3 WHERE id = $1");
/// `started_ms` is set when a stage starts running (or is skipped without
/// having run) and `finished_ms` when it passes, fails or is skipped; back
/// to pending clears both. `$5`/`$6` replace the note and rounds when not NULL.
const UPSERT_STAGE: Sql = Sql::both(
    "INSERT INTO run_stages (run_id, stage, state, updated_ms, started_ms, finished_ms, note, rounds) \
     VALUES ($1, $2, $3, $4, \
       CASE WHEN $3 IN ('running', 'passed', 'failed', 'skipped') THEN $4 END, \
       CASE WHEN $3 IN ('passed', 'failed', 'skipped') THEN $4 END, $5, COALESCE($6, 0)) \
     ON CONFLICT (run_id, stage) DO UPDATE SET \
       state = excluded.state, updated_ms = excluded.updated_ms, \
       started_ms = CASE WHEN excluded.state = 'running' THEN excluded.updated_ms \
         WHEN excluded.state = 'pending' THEN NULL \
         ELSE COALESCE(run_stages.started_ms, excluded.updated_ms) END, \
       finished_ms = CASE WHEN excluded.state IN ('passed', 'failed', 'skipped') \
         THEN excluded.updated_ms END, \
       note = COALESCE($5, run_stages.note), \
       rounds = COALESCE($6, run_stages.rounds)",
);
/// Only the note or rounds of a stage, its state unchanged.
const UPDATE_STAGE_NOTE: Sql = Sql::both(
    "INSERT INTO run_stages (run_id, stage, state, updated_ms, note, rounds) \
     VALUES ($1, $2, 'pending', $3, $4, COALESCE($5, 0)) \
     ON CONFLICT (run_id, stage) DO UPDATE SET updated_ms = excluded.updated_ms, \
       note = COALESCE($4, run_stages.note), rounds = COALESCE($5, run_stages.rounds)",
);
const SET_PLAN: Sql = Sql::both("UPDATE run_plans SET plan_json = $2 WHERE run_id = $1");
const SET_PIPELINE: Sql =
    Sql::both("UPDATE runs SET pipeline_json = $2, updated_ms = $3 WHERE id = $1");
const PIPELINE: Sql = Sql::both("SELECT pipeline_json FROM runs WHERE id = $1");
const TASK_STATES: Sql = Sql::both("SELECT key, state FROM tasks WHERE run_id = $1");
const BLOCK_NEW_TASK: Sql = Sql::both(
    "UPDATE tasks SET state = 'blocked', blocked_reason = $3 WHERE run_id = $1 AND key = $2",
);
const SET_RUN_STAGE: Sql = Sql::both("UPDATE runs SET stage = $2, updated_ms = $3 WHERE id = $1");
const RUN_EXISTS: Sql = Sql::both("SELECT id FROM runs WHERE id = $1");
const LAST_CREATED: Sql = Sql::both("SELECT max(created_ms) AS last FROM runs");

impl Store {
    /// Creates a run and all its tasks in one transaction. Tasks without
    /// dependencies start `ready`, the others `waiting`.
    ///
    /// The tasks must form a DAG: keys unique and non-empty, every
    /// dependency a key of the run, no cycles, `max_attempts` ≥ 1;
    /// otherwise [`StoreError::InvalidRun`] and nothing is written.
    pub async fn create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        validate::<()>(&HashMap::new(), &run.tasks)?;
        retry_transient(move || self.try_create_run(run)).await
    }

    async fn try_create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        let op = "create the run";
        let err = |e| self.db_error(op, e);
        let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
        let mut now = tx.now().await.map_err(err)?;
        // Runs are ordered by creation time: two runs made in the same
        // millisecond would order by their random id suffix instead.
        let last = tx.fetch_optional(LAST_CREATED, vec![]).await.map_err(err)?;
        if let Some(last) = last.map(|row| row.opt_int("last")).transpose().map_err(err)?.flatten()
        {
            now = now.max(last + 1);
        }
        let id = RunId::generate(now);
        let (repo_id, checkout) = match &run.repo {
            Some(repo) => (Some(repo.id.as_str()), Some(repo.checkout.as_str())),
            None => (None, None),
        };
        tx.execute(
            INSERT_RUN,
            args![
                id.as_str(),
                &run.title,
                run.plan_path.as_deref(),
                &run.mode,
                now,
                repo_id,
                checkout,
                run.pipeline_json.as_deref()
            ],
        )
        .await
        .map_err(err)?;
        tx.execute(INSERT_PLAN, args![id.as_str(), &run.plan_json]).await.map_err(err)?;
        insert_tasks(&mut tx, &id, &run.tasks, &HashMap::new(), now).await.map_err(err)?;

        let payload = serde_json::json!({ "title": run.title, "tasks": run.tasks.len() });
        insert_event(&mut tx, &id, None, None, "run.created", &payload.to_string(), now)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        tracing::info!(run = %id, tasks = run.tasks.len(), "run created");
        Ok(id)
    }

    /// Cancels a run: every task not yet finished becomes `cancelled` and
    /// every lease on it is revoked (its holder gets `LeaseLost`).
    /// Returns how many tasks were cancelled.
    pub async fn cancel_run(&self, run: &RunId) -> Result<u64, StoreError> {
        retry_transient(move || async move {
            let op = "cancel the run";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if tx.execute(CANCEL_RUN, args![run.as_str(), now]).await.map_err(err)? == 0 {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            tx.execute(CANCEL_ATTEMPTS, args![run.as_str(), now]).await.map_err(err)?;
            let cancelled =
                tx.execute(CANCEL_TASKS, args![run.as_str(), now]).await.map_err(err)?;
            let payload = serde_json::json!({ "cancelled_tasks": cancelled });
            insert_event(&mut tx, run, None, None, "run.cancelled", &payload.to_string(), now)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)?;
            Ok(cancelled)
        })
        .await
    }

    /// Records how a run ended (or that it is active again, on resume).
    pub async fn finish_run(&self, run: &RunId, state: RunState) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let op = "record the run's end";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if tx
                .execute(FINISH_RUN, args![run.as_str(), state.as_str(), now])
                .await
                .map_err(err)?
                == 0
            {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            let payload = serde_json::json!({ "state": state });
            insert_event(&mut tx, run, None, None, "run.state", &payload.to_string(), now)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Sets the state of one pipeline stage and makes it the run's current stage.
    pub async fn set_stage(
        &self,
        run: &RunId,
        stage: Stage,
        state: StageState,
    ) -> Result<(), StoreError> {
        self.set_stage_with(
            run,
            stage,
            &StageChange { state: Some(state), ..StageChange::default() },
        )
        .await
    }

    /// Records a change of one pipeline stage in one transaction: its state
    /// (which also makes it the run's current stage), its note, its fix
    /// rounds; each only when given. Every change is also an event.
    pub async fn set_stage_with(
        &self,
        run: &RunId,
        stage: Stage,
        change: &StageChange,
    ) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let op = "set the stage";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if tx.fetch_optional(RUN_EXISTS, args![run.as_str()]).await.map_err(err)?.is_none() {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            let note = change.note.as_deref();
            match change.state {
                Some(state) => {
                    tx.execute(
                        UPSERT_STAGE,
                        args![
                            run.as_str(),
                            stage.as_str(),
                            state.as_str(),
                            now,
                            note,
                            change.rounds
                        ],
                    )
                    .await
                    .map_err(err)?;
                    tx.execute(SET_RUN_STAGE, args![run.as_str(), stage.as_str(), now])
                        .await
                        .map_err(err)?;
                }
                None => {
                    tx.execute(
                        UPDATE_STAGE_NOTE,
                        args![run.as_str(), stage.as_str(), now, note, change.rounds],
                    )
                    .await
                    .map_err(err)?;
                }
            }
            let payload = serde_json::json!({
                "stage": stage,
                "state": change.state,
                "note": change.note,
                "rounds": change.rounds,
            });
            insert_event(&mut tx, run, None, None, "stage", &payload.to_string(), now)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Adds tasks to an existing run (a plan written after the run started,
    /// fix tasks from a gate), in one transaction, with the run's plan
    /// replaced by `plan_json` when given (the plan that holds them). They
    /// may depend on the run's tasks and on each other; a task whose
    /// dependency already failed is created blocked. Validation as for
    /// [`Store::create_run`].
    pub async fn add_tasks(
        &self,
        run: &RunId,
        tasks: &[NewTask],
        plan_json: Option<&str>,
    ) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let op = "add tasks to the run";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            if tx.fetch_optional(RUN_EXISTS, args![run.as_str()]).await.map_err(err)?.is_none() {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            let mut existing = HashMap::new();
            for row in tx.fetch_all(TASK_STATES, args![run.as_str()]).await.map_err(err)? {
                let state: TaskState =
                    row.text("state").map_err(err)?.parse().map_err(StoreError::BadData)?;
                existing.insert(row.text("key").map_err(err)?, state);
            }
            validate(&existing, tasks)?;
            insert_tasks(&mut tx, run, tasks, &existing, now).await.map_err(err)?;
            // A new task behind a task that already failed can never run.
            let mut failed_deps: HashMap<&str, &str> = HashMap::new();
            for task in tasks {
                if let Some(dep) = unique_deps(&task.deps).into_iter().find(|dep| {
                    existing.get(*dep).is_some_and(|state| {
                        matches!(
                            state,
                            TaskState::Failed | TaskState::Blocked | TaskState::Cancelled
                        )
                    })
                }) && !task.done
                {
                    failed_deps.insert(task.key.as_str(), dep);
                }
            }
            for (task, dep) in failed_deps {
                let reason = format!("depends on {dep}, which did not succeed");
                tx.execute(BLOCK_NEW_TASK, args![run.as_str(), task, reason.as_str()])
                    .await
                    .map_err(err)?;
            }
            if let Some(plan_json) = plan_json {
                tx.execute(SET_PLAN, args![run.as_str(), plan_json]).await.map_err(err)?;
            }
            let keys: Vec<&str> = tasks.iter().map(|task| task.key.as_str()).collect();
            let payload = serde_json::json!({ "tasks": keys });
            insert_event(&mut tx, run, None, None, "tasks.added", &payload.to_string(), now)
                .await
                .map_err(err)?;
            tx.commit().await.map_err(err)
        })
        .await
    }

    /// Replaces the plan stored with a run (its tasks are unchanged; see
    /// [`Store::add_tasks`]).
    pub async fn set_plan_json(&self, run: &RunId, plan_json: &str) -> Result<(), StoreError> {
        let err = |e| self.db_error("store the plan", e);
        let updated =
            self.pool.execute(SET_PLAN, args![run.as_str(), plan_json]).await.map_err(err)?;
        if updated == 0 {
            return Err(StoreError::RunNotFound(run.clone()));
        }
        Ok(())
    }

    /// What the pipeline driver keeps about a run ([`NewRun::pipeline_json`]).
    pub async fn pipeline_json(&self, run: &RunId) -> Result<Option<String>, StoreError> {
        let err = |e| self.db_error("read the run's pipeline", e);
        let row = self.pool.fetch_optional(PIPELINE, args![run.as_str()]).await.map_err(err)?;
        let row = row.ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
        row.opt_text("pipeline_json").map_err(err)
    }

    /// Replaces what the pipeline driver keeps about a run.
    pub async fn set_pipeline_json(&self, run: &RunId, json: &str) -> Result<(), StoreError> {
        retry_transient(move || async move {
            let err = |e| self.db_error("store the run's pipeline", e);
            let now = self.pool.now().await.map_err(err)?;
            let updated = self
                .pool
                .execute(SET_PIPELINE, args![run.as_str(), json, now])
                .await
                .map_err(err)?;
            if updated == 0 {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            Ok(())
        })
        .await
    }
}

/// Inserts tasks and their dependency edges; `existing` holds the states of
/// the run's tasks that are already stored (dependencies on them count as
/// met when they succeeded).
async fn insert_tasks(
    tx: &mut Tx,
    run: &RunId,
    tasks: &[NewTask],
    existing: &HashMap<String, TaskState>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let done: HashSet<&str> =
        tasks.iter().filter(|task| task.done).map(|task| task.key.as_str()).collect();
    let met = |dep: &str| done.contains(dep) || existing.get(dep) == Some(&TaskState::Succeeded);
    for chunk in tasks.chunks(TASK_ROWS_PER_INSERT) {
        let mut args = Vec::with_capacity(chunk.len() * 7);
        for task in chunk {
            let deps = unique_deps(&task.deps).into_iter().filter(|dep| !met(dep)).count();
            let state = if task.done {
                TaskState::Succeeded
            } else if deps == 0 {
                TaskState::Ready
            } else {
                TaskState::Waiting
            };
            args.extend(args![
                run.as_str(),
                &task.key,
                &task.spec_json,
                state.as_str(),
                task.priority,
                if task.done { 0 } else { i64::try_from(deps).unwrap_or(i64::MAX) },
                task.max_attempts,
            ]);
        }
        let sql = batched_insert(
            "INSERT INTO tasks (run_id, key, spec_json, state, priority, deps_remaining, \
             max_attempts, updated_ms) VALUES ",
            chunk.len(),
            7,
            Some(now),
            tx.is_postgres(),
        );
        tx.execute_built(sql, args).await?;
    }

    let edges: Vec<(&str, &str)> = tasks
        .iter()
        .flat_map(|task| unique_deps(&task.deps).into_iter().map(|dep| (task.key.as_str(), dep)))
        .collect();
    for chunk in edges.chunks(DEP_ROWS_PER_INSERT) {
        let mut args = Vec::with_capacity(chunk.len() * 3);
        for (task, dep) in chunk {
            args.extend(args![run.as_str(), *task, *dep]);
        }
        let sql = batched_insert(
            "INSERT INTO task_deps (run_id, task_key, dep_key) VALUES ",
            chunk.len(),
            3,
            None,
            tx.is_postgres(),
        );
        tx.execute_built(sql, args).await?;
    }
    Ok(())
}

/// Appends one event inside `tx`; returns its sequence number.
pub(crate) async fn insert_event(
    tx: &mut Tx,
    run: &RunId,
    task: Option<&str>,
    attempt: Option<i64>,
    kind: &str,
    payload_json: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let row = tx
        .fetch_optional(INSERT_EVENT, args![run.as_str(), task, attempt, kind, payload_json, now])
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    row.int("seq")
}

/// `prefix ($1, ..., $n), (...)` for `rows` rows of `width` bound columns,
/// plus one shared trailing literal column when `constant` is given.
///
/// SQLite gets anonymous `?` placeholders: looking up a numbered one costs
/// time linear in their count, which made binding thousands of them
/// quadratic (seconds for a 10k-task plan).
fn batched_insert(
    prefix: &str,
    rows: usize,
    width: usize,
    constant: Option<i64>,
    numbered: bool,
) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(prefix.len() + rows * width * 6);
    sql.push_str(prefix);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                let _ = write!(sql, "${}", row * width + column + 1);
            } else {
                sql.push('?');
            }
        }
        if let Some(constant) = constant {
            let _ = write!(sql, ", {constant}");
        }
        sql.push(')');
    }
    sql
}

fn unique_deps(deps: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    deps.iter().map(String::as_str).filter(|dep| seen.insert(*dep)).collect()
}

/// Checks that the new tasks, added to a run that already holds
/// `existing`, form a DAG the store can run. (Existing tasks cannot depend
/// on new ones, so a cycle can only run through new tasks.)
fn validate<S>(existing: &HashMap<String, S>, tasks: &[NewTask]) -> Result<(), StoreError> {
    let invalid = |message: String| Err(StoreError::InvalidRun(message));
    let mut index = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        if task.key.is_empty() {
            return invalid(format!("task #{} has an empty key", i + 1));
        }
        if index.insert(task.key.as_str(), i).is_some() || existing.contains_key(&task.key) {
            return invalid(format!("task key `{}` appears twice", task.key));
        }
        if task.max_attempts < 1 {
            return invalid(format!(
                "task `{}` has max_attempts {} (must be ≥ 1)",
                task.key, task.max_attempts
            ));
        }
    }
    let mut remaining = vec![0_usize; tasks.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, task) in tasks.iter().enumerate() {
        for dep in unique_deps(&task.deps) {
            if existing.contains_key(dep) {
                continue;
            }
            let Some(&d) = index.get(dep) else {
                return invalid(format!("task `{}` depends on unknown task `{dep}`", task.key));
            };
            if d == i {
                return invalid(format!("task `{}` depends on itself", task.key));
            }
            remaining[i] += 1;
            dependents[d].push(i);
        }
    }
    // Kahn's algorithm: whatever never reaches zero sits on a cycle.
    let mut queue: Vec<usize> = (0..tasks.len()).filter(|&i| remaining[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &j in &dependents[i] {
            remaining[j] -= 1;
            if remaining[j] == 0 {
                queue.push(j);
            }
        }
    }
    if seen < tasks.len() {
        let mut on_cycle: Vec<&str> =
            (0..tasks.len()).filter(|&i| remaining[i] > 0).map(|i| tasks[i].key.as_str()).collect();
        on_cycle.sort_unstable();
        on_cycle.truncate(5);
        return invalid(format!(
            "the dependencies form a cycle (involving {})",
            on_cycle.join(", ")
        ));
    }
    Ok(())
}

/// Lets `args!` take a run id directly.
impl From<&RunId> for Arg {
    fn from(id: &RunId) -> Self {
        Arg::from(id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewTask;

    fn task(key: &str, deps: &[&str]) -> NewTask {
        NewTask {
            key: key.into(),
            deps: deps.iter().map(|d| (*d).into()).collect(),
            max_attempts: 1,
            ..NewTask::default()
        }
    }

    fn run(tasks: Vec<NewTask>) -> NewRun {
        NewRun { tasks, ..NewRun::default() }
    }

    #[test]
    fn batched_insert_numbers_placeholders_row_by_row() {
        assert_eq!(batched_insert("V ", 2, 2, None, true), "V ($1, $2), ($3, $4)");
        assert_eq!(batched_insert("V ", 1, 1, Some(7), true), "V ($1, 7)");
        assert_eq!(batched_insert("V ", 2, 1, None, false), "V (?), (?)");
    }

    #[test]
    fn validation_rejects_what_would_never_finish() {
        let cases = [
            (run(vec![task("a", &[]), task("a", &[])]), "appears twice"),
            (run(vec![task("a", &["zz"])]), "unknown task `zz`"),
            (run(vec![task("a", &["a"])]), "depends on itself"),
            (
                run(vec![task("a", &["b"]), task("b", &["a"]), task("c", &[])]),
                "cycle (involving a, b)",
            ),
            (run(vec![task("", &[])]), "empty key"),
            (run(vec![NewTask { max_attempts: 0, ..task("a", &[]) }]), "max_attempts 0"),
        ];
        for (run, expected) in cases {
            let err = validate::<()>(&HashMap::new(), &run.tasks).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
        let fine = run(vec![task("a", &[]), task("b", &["a", "a"])]);
        assert!(validate::<()>(&HashMap::new(), &fine.tasks).is_ok());
        // Added to a run: deps may name its tasks, keys may not repeat them.
        let existing = HashMap::from([("a".to_owned(), ())]);
        assert!(validate(&existing, &[task("c", &["a"])]).is_ok());
        let again = validate(&existing, &[task("a", &[])]).unwrap_err().to_string();
        assert!(again.contains("appears twice"), "{again}");
    }
}
