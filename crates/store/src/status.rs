//! Reading state back: the latest run, a run's full status, attempts.

use std::collections::HashMap;

use crate::db::{Row, Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{
    AttemptRecord, LeaseView, Run, RunId, RunStatus, Stage, StageState, StageStatus, TaskStatus,
};
use crate::store::Store;

const LATEST_RUN: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms FROM runs \
     ORDER BY created_ms DESC, id DESC LIMIT 1",
);
const RUN: Sql = Sql::both(
    "SELECT id, title, plan_path, mode, state, stage, created_ms, updated_ms FROM runs WHERE id = $1",
);
const PLAN: Sql = Sql::both("SELECT plan_json FROM run_plans WHERE run_id = $1");
const STAGES: Sql = Sql::both("SELECT stage, state, updated_ms FROM run_stages WHERE run_id = $1");
const TASKS: Sql = Sql::both(
    "SELECT key, state, priority, attempt, tries, max_attempts, run_after_ms, lease_owner, \
     leased_ms, lease_expires_ms, heartbeat_ms, result_json, last_error, blocked_reason, updated_ms \
     FROM tasks WHERE run_id = $1 ORDER BY key",
);
const DEPS: Sql = Sql::both(
    "SELECT task_key, dep_key FROM task_deps WHERE run_id = $1 ORDER BY task_key, dep_key",
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
            let state: StageState = parse(&row.text("state").map_err(err)?)?;
            stage_rows.insert(stage, (state, row.int("updated_ms").map_err(err)?));
        }
        let stages = Stage::ALL
            .iter()
            .map(|&stage| match stage_rows.get(&stage) {
                Some(&(state, at)) => StageStatus { stage, state, updated_ms: Some(at) },
                None => StageStatus { stage, state: StageState::Pending, updated_ms: None },
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
        rows.iter()
            .map(|row| {
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
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }
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

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::BadData)
}

fn bad_data(message: &str) -> StoreError {
    StoreError::BadData(message.to_owned())
}
