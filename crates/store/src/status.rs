//! Reading state back: the latest run, a run's full status, attempts.

use std::collections::HashMap;

use crate::db::{Row, Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{
    AttemptRecord, LeaseView, RepoRef, Run, RunId, RunScope, RunState, RunStatus, RunSummary,
    Stage, StageState, StageStatus, TaskStatus,
};
use crate::store::Store;

const LATEST_RUN: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms, repo_id, checkout \
     FROM runs ORDER BY created_ms DESC, id DESC LIMIT 1",
);
const RUN: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms, repo_id, checkout \
     FROM runs WHERE id = $1",
);
/// `$1 = ''` is every run; else the runs of checkout `$2` of repository
/// `$1`, and with `$3 = 1` the runs recorded without a repository too.
const RUNS_IN_SCOPE: Sql = Sql::both(
    "SELECT r.id, r.title, r.plan_path, r.mode, r.state, r.stage, r.created_ms, r.updated_ms, \
       r.repo_id, r.checkout, \
       (SELECT count(*) FROM tasks t WHERE t.run_id = r.id) AS tasks_total, \
       (SELECT count(*) FROM tasks t WHERE t.run_id = r.id AND t.state = 'succeeded') \
         AS tasks_succeeded \
     FROM runs r \
     WHERE ($1 = '' OR (r.repo_id = $1 AND r.checkout = $2) OR ($3 = 1 AND r.repo_id IS NULL)) \
     ORDER BY r.created_ms DESC, r.id DESC LIMIT $4",
);
const LATEST_IN_SCOPE: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms, repo_id, checkout \
     FROM runs \
     WHERE ($1 = '' OR (repo_id = $1 AND checkout = $2) OR ($3 = 1 AND repo_id IS NULL)) \
       AND ($4 = '' OR state = $4 OR state = $5) \
     ORDER BY created_ms DESC, id DESC LIMIT 1",
);
const PLAN: Sql = Sql::both("SELECT plan_json FROM run_plans WHERE run_id = $1");
const STAGES: Sql = Sql::both(
    "SELECT stage, state, updated_ms, started_ms, finished_ms, note, rounds \
     FROM run_stages WHERE run_id = $1",
);
const TASKS: Sql = Sql::both(
    "SELECT key, state, priority, attempt, tries, max_attempts, run_after_ms, lease_owner, \
     leased_ms, lease_expires_ms, heartbeat_ms, result_json, last_error, blocked_reason, updated_ms \
     FROM tasks WHERE run_id = $1 ORDER BY key",
);
const DEPS: Sql = Sql::both(
    "SELECT task_key, dep_key FROM task_deps WHERE run_id = $1 ORDER BY task_key, dep_key",
);
const RUN_ATTEMPTS: Sql = Sql::both(
    "SELECT task_key, attempt, worker, started_ms, ended_ms, outcome, error, branch, agent, \
     agent_session_id, commit_sha, summary, details_json \
     FROM attempts WHERE run_id = $1 ORDER BY task_key, attempt",
);
const ATTEMPTS: Sql = Sql::both(
    "SELECT attempt, worker, started_ms, ended_ms, outcome, error, branch, agent, \
     agent_session_id, commit_sha, summary, details_json \
     FROM attempts WHERE run_id = $1 AND task_key = $2 ORDER BY attempt",
);

impl Store {
    /// The most recently created run, if any.
    pub async fn latest_run(&self) -> Result<Option<Run>, StoreError> {
        let err = |e| self.db_error("read the latest run", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let row = tx.fetch_optional(LATEST_RUN, vec![]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        row.map(|row| run_from_row(&row).map_err(|e| bad_data(&e))).transpose()
    }

    /// The runs in `scope`, newest first, at most `limit`, each with its
    /// task counts.
    pub async fn runs(
        &self,
        scope: RunScope<'_>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, StoreError> {
        let err = |e| self.db_error("list the runs", e);
        let (repo, checkout, legacy) = scope_args(scope);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .pool
            .fetch_all(RUNS_IN_SCOPE, args![repo, checkout, legacy, limit])
            .await
            .map_err(err)?;
        rows.iter()
            .map(|row| {
                Ok(RunSummary {
                    run: run_from_row(row).map_err(|e| bad_data(&e))?,
                    tasks_total: row.int("tasks_total").map_err(err)?,
                    tasks_succeeded: row.int("tasks_succeeded").map_err(err)?,
                })
            })
            .collect()
    }

    /// The newest run in `scope` whose state is one of `states` (at most
    /// two; empty: any state).
    pub async fn latest_run_in(
        &self,
        scope: RunScope<'_>,
        states: &[RunState],
    ) -> Result<Option<Run>, StoreError> {
        let err = |e| self.db_error("read the latest run", e);
        let (repo, checkout, legacy) = scope_args(scope);
        let state = |i: usize| states.get(i).map_or("", |s| s.as_str());
        let row = self
            .pool
            .fetch_optional(LATEST_IN_SCOPE, args![repo, checkout, legacy, state(0), state(1)])
            .await
            .map_err(err)?;
        row.map(|row| run_from_row(&row).map_err(|e| bad_data(&e))).transpose()
    }

    /// One run (without its plan).
    pub async fn run(&self, run: &RunId) -> Result<Run, StoreError> {
        let err = |e| self.db_error("read the run", e);
        let row = self.pool.fetch_optional(RUN, args![run.as_str()]).await.map_err(err)?;
        let row = row.ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
        run_from_row(&row).map_err(|e| bad_data(&e))
    }

    /// The plan a run was created from, as given to [`Store::create_run`].
    pub async fn plan_json(&self, run: &RunId) -> Result<String, StoreError> {
        let err = |e| self.db_error("read the plan", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let row = tx.fetch_optional(PLAN, args![run.as_str()]).await.map_err(err)?;
        let row = row.ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
        row.text("plan_json").map_err(err)
    }

    /// A consistent snapshot of a run: its stage states and every task's
    /// state, attempts, lease holder and lease age, dependencies, last error.
    pub async fn run_status(&self, run: &RunId) -> Result<RunStatus, StoreError> {
        let err = |e| self.db_error("read the run status", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let now = tx.now().await.map_err(err)?;
        let row = tx.fetch_optional(RUN, args![run.as_str()]).await.map_err(err)?;
        let row = row.ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
        let run_info = run_from_row(&row).map_err(|e| bad_data(&e))?;

        let mut stage_rows = HashMap::new();
        for row in tx.fetch_all(STAGES, args![run.as_str()]).await.map_err(err)? {
            let stage: Stage = parse(&row.text("stage").map_err(err)?)?;
            let status = StageStatus {
                stage,
                state: parse(&row.text("state").map_err(err)?)?,
                updated_ms: Some(row.int("updated_ms").map_err(err)?),
                started_ms: row.opt_int("started_ms").map_err(err)?,
                finished_ms: row.opt_int("finished_ms").map_err(err)?,
                note: row.opt_text("note").map_err(err)?,
                rounds: row.int("rounds").map_err(err)?,
            };
            stage_rows.insert(stage, status);
        }
        let stages = Stage::ALL
            .iter()
            .map(|&stage| {
                stage_rows.remove(&stage).unwrap_or(StageStatus {
                    stage,
                    state: StageState::Pending,
                    updated_ms: None,
                    started_ms: None,
                    finished_ms: None,
                    note: None,
                    rounds: 0,
                })
            })
            .collect();

        let mut deps: HashMap<String, Vec<String>> = HashMap::new();
        for row in tx.fetch_all(DEPS, args![run.as_str()]).await.map_err(err)? {
            deps.entry(row.text("task_key").map_err(err)?)
                .or_default()
                .push(row.text("dep_key").map_err(err)?);
        }
        let mut tasks = Vec::new();
        for row in tx.fetch_all(TASKS, args![run.as_str()]).await.map_err(err)? {
            tasks.push(task_from_row(&row, now, &mut deps).map_err(|e| bad_data(&e))?);
        }
        tx.commit().await.map_err(err)?;
        Ok(RunStatus { run: run_info, stages, tasks, now_ms: now })
    }

    /// Every attempt of every task of a run, by task key, oldest first.
    pub async fn run_attempts(
        &self,
        run: &RunId,
    ) -> Result<Vec<(String, AttemptRecord)>, StoreError> {
        let err = |e| self.db_error("read the attempts", e);
        let rows = self.pool.fetch_all(RUN_ATTEMPTS, args![run.as_str()]).await.map_err(err)?;
        rows.iter()
            .map(|row| Ok((row.text("task_key")?, attempt_from_row(row)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }

    /// Every attempt of one task, oldest first.
    pub async fn attempts(
        &self,
        run: &RunId,
        task: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let err = |e| self.db_error("read the attempts", e);
        let mut tx = self.pool.begin(TxKind::Read).await.map_err(err)?;
        let rows = tx.fetch_all(ATTEMPTS, args![run.as_str(), task]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        rows.iter().map(attempt_from_row).collect::<Result<_, sqlx::Error>>().map_err(err)
    }
}

fn attempt_from_row(row: &Row) -> Result<AttemptRecord, sqlx::Error> {
    Ok(AttemptRecord {
        attempt: row.int("attempt")?,
        worker: row.text("worker")?,
        started_ms: row.int("started_ms")?,
        ended_ms: row.opt_int("ended_ms")?,
        outcome: row.text("outcome")?,
        error: row.opt_text("error")?,
        branch: row.opt_text("branch")?,
        agent: row.opt_text("agent")?,
        agent_session_id: row.opt_text("agent_session_id")?,
        commit_sha: row.opt_text("commit_sha")?,
        summary: row.opt_text("summary")?,
        details_json: row.opt_text("details_json")?,
    })
}

pub(crate) fn run_from_row(row: &Row) -> Result<Run, String> {
    let text = |c| row.text(c).map_err(|e| e.to_string());
    let int = |c| row.int(c).map_err(|e| e.to_string());
    Ok(Run {
        id: RunId(text("id")?),
        title: text("title")?,
        plan_path: row.opt_text("plan_path").map_err(|e| e.to_string())?,
        mode: text("mode")?,
        state: text("state")?.parse()?,
        stage: row.opt_text("stage").map_err(|e| e.to_string())?.map(|s| s.parse()).transpose()?,
        created_ms: int("created_ms")?,
        updated_ms: int("updated_ms")?,
        repo: match (
            row.opt_text("repo_id").map_err(|e| e.to_string())?,
            row.opt_text("checkout").map_err(|e| e.to_string())?,
        ) {
            (Some(id), Some(checkout)) => Some(RepoRef { id, checkout }),
            _ => None,
        },
    })
}

pub(crate) fn task_from_row(
    row: &Row,
    now: i64,
    deps: &mut HashMap<String, Vec<String>>,
) -> Result<TaskStatus, String> {
    let e = |e: sqlx::Error| e.to_string();
    let key = row.text("key").map_err(e)?;
    let lease = match row.opt_text("lease_owner").map_err(e)? {
        Some(worker) => {
            let leased = row.opt_int("leased_ms").map_err(e)?.unwrap_or(now);
            let expires = row.opt_int("lease_expires_ms").map_err(e)?.unwrap_or(now);
            let heartbeat = row.opt_int("heartbeat_ms").map_err(e)?.unwrap_or(leased);
            Some(LeaseView {
                worker,
                attempt: row.int("attempt").map_err(e)?,
                age_ms: now - leased,
                expires_in_ms: expires - now,
                heartbeat_age_ms: now - heartbeat,
            })
        }
        None => None,
    };
    Ok(TaskStatus {
        deps: deps.remove(&key).unwrap_or_default(),
        key,
        state: row.text("state").map_err(e)?.parse()?,
        priority: row.int("priority").map_err(e)?,
        attempt: row.int("attempt").map_err(e)?,
        tries: row.int("tries").map_err(e)?,
        max_attempts: row.int("max_attempts").map_err(e)?,
        lease,
        run_after_ms: row.int("run_after_ms").map_err(e)?,
        last_error: row.opt_text("last_error").map_err(e)?,
        blocked_reason: row.opt_text("blocked_reason").map_err(e)?,
        result_json: row.opt_text("result_json").map_err(e)?,
        updated_ms: row.int("updated_ms").map_err(e)?,
    })
}

fn scope_args(scope: RunScope<'_>) -> (&str, &str, i64) {
    match scope {
        RunScope::All => ("", "", 0),
        RunScope::Repo { repo, legacy } => (&repo.id, &repo.checkout, i64::from(legacy)),
    }
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::BadData)
}

fn bad_data(message: &str) -> StoreError {
    StoreError::BadData(message.to_owned())
}
