//! Giving failed and blocked tasks another chance: `orca resume
//! --retry-failed`, `orca task retry` and `orca task unblock`. A reopened
//! task starts over with fresh tries; dependents that were blocked only
//! because of reopened tasks wait again (a dependent still held back by
//! another failure stays blocked).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::db::{Sql, TxKind, args};
use crate::error::StoreError;
use crate::model::{RunId, TaskState};
use crate::runs::insert_event;
use crate::store::{Store, retry_transient};

const TASK_STATES: Sql = Sql::both("SELECT key, state FROM tasks WHERE run_id = $1");
const DEPS: Sql = Sql::both("SELECT task_key, dep_key FROM task_deps WHERE run_id = $1");
const REOPEN: Sql = Sql::both(
    "UPDATE tasks SET state = $3, deps_remaining = $4, tries = 0, run_after_ms = 0, \
     blocked_reason = NULL, lease_owner = NULL, leased_ms = NULL, lease_expires_ms = NULL, \
     heartbeat_ms = NULL, updated_ms = $5 WHERE run_id = $1 AND key = $2",
);

/// How a task is given another chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopen {
    /// A task that failed (or was cancelled), with fresh tries.
    Retry,
    /// A task that was blocked.
    Unblock,
}

impl Reopen {
    /// What the user did, as events and errors say it.
    pub fn action(self) -> &'static str {
        match self {
            Reopen::Retry => "retried",
            Reopen::Unblock => "unblocked",
        }
    }

    fn applies_to(self, state: TaskState) -> bool {
        match self {
            Reopen::Retry => matches!(state, TaskState::Failed | TaskState::Cancelled),
            Reopen::Unblock => state == TaskState::Blocked,
        }
    }
}

impl Store {
    /// Reopens the given tasks (failed ones for [`Reopen::Retry`], blocked
    /// ones for [`Reopen::Unblock`]) and the blocked dependents that
    /// nothing else holds back, in one transaction. Returns every task
    /// reopened.
    pub async fn reopen_tasks(
        &self,
        run: &RunId,
        keys: &[String],
        how: Reopen,
    ) -> Result<Vec<String>, StoreError> {
        let action = how.action();
        retry_transient(move || async move {
            let op = "reopen tasks";
            let err = |e| self.db_error(op, e);
            let mut tx = self.pool.begin(TxKind::Write).await.map_err(err)?;
            let now = tx.now().await.map_err(err)?;
            let mut states = HashMap::new();
            for row in tx.fetch_all(TASK_STATES, args![run.as_str()]).await.map_err(err)? {
                let state: TaskState =
                    row.text("state").map_err(err)?.parse().map_err(StoreError::BadData)?;
                states.insert(row.text("key").map_err(err)?, state);
            }
            if states.is_empty() {
                // An unknown run and a run without tasks look alike here.
                drop(tx);
                self.run(run).await?;
                return Ok(Vec::new());
            }
            for key in keys {
                match states.get(key) {
                    None => {
                        return Err(StoreError::TaskNotFound {
                            run: run.clone(),
                            key: key.clone(),
                        });
                    }
                    Some(state) if how.applies_to(*state) => {}
                    Some(state) => {
                        return Err(StoreError::NotReopenable {
                            key: key.clone(),
                            state: *state,
                            action,
                        });
                    }
                }
            }
            let mut deps: HashMap<String, Vec<String>> = HashMap::new();
            let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
            for row in tx.fetch_all(DEPS, args![run.as_str()]).await.map_err(err)? {
                let (task, dep) =
                    (row.text("task_key").map_err(err)?, row.text("dep_key").map_err(err)?);
                dependents.entry(dep.clone()).or_default().push(task.clone());
                deps.entry(task).or_default().push(dep);
            }
            for key in keys {
                let held = deps.get(key).into_iter().flatten().find(|dep| {
                    !keys.contains(dep)
                        && matches!(
                            states.get(*dep),
                            Some(TaskState::Failed | TaskState::Blocked | TaskState::Cancelled)
                        )
                });
                if let Some(dep) = held {
                    return Err(StoreError::HeldBack {
                        key: key.clone(),
                        dep: dep.clone(),
                        state: states[dep],
                    });
                }
            }
            let reopened = reopen_set(keys, &states, &deps, &dependents);
            for key in &reopened {
                let remaining = deps.get(key).map_or(0, |deps| {
                    deps.iter()
                        .filter(|dep| states.get(*dep) != Some(&TaskState::Succeeded))
                        .count()
                });
                let state = if remaining == 0 { TaskState::Ready } else { TaskState::Waiting };
                let remaining = i64::try_from(remaining).unwrap_or(i64::MAX);
                tx.execute(
                    REOPEN,
                    args![run.as_str(), key.as_str(), state.as_str(), remaining, now],
                )
                .await
                .map_err(err)?;
                let payload = serde_json::json!({ "state": state, "by": action }).to_string();
                insert_event(&mut tx, run, Some(key), None, "task.reopened", &payload, now)
                    .await
                    .map_err(err)?;
            }
            tx.commit().await.map_err(err)?;
            Ok(reopened)
        })
        .await
    }

    /// Reopens every failed task of the run (and what they blocked).
    pub async fn retry_failed(&self, run: &RunId) -> Result<Vec<String>, StoreError> {
        let failed: Vec<String> = self
            .run_status(run)
            .await?
            .tasks
            .into_iter()
            .filter(|task| task.state == TaskState::Failed)
            .map(|task| task.key)
            .collect();
        if failed.is_empty() {
            return Ok(Vec::new());
        }
        self.reopen_tasks(run, &failed, Reopen::Retry).await
    }
}

/// The tasks to reopen: `keys`, then, breadth first, each blocked
/// dependent whose every dependency has succeeded or is being reopened.
fn reopen_set(
    keys: &[String],
    states: &HashMap<String, TaskState>,
    deps: &HashMap<String, Vec<String>>,
    dependents: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = keys.iter().map(String::as_str).collect();
    while let Some(key) = queue.pop_front() {
        if !seen.insert(key) {
            continue;
        }
        chosen.push(key.to_owned());
        for dependent in dependents.get(key).into_iter().flatten() {
            if seen.contains(dependent.as_str())
                || states.get(dependent) != Some(&TaskState::Blocked)
            {
                continue;
            }
            let free = deps.get(dependent).into_iter().flatten().all(|dep| {
                seen.contains(dep.as_str())
                    || keys.contains(dep)
                    || matches!(
                        states.get(dep),
                        Some(
                            TaskState::Succeeded
                                | TaskState::Waiting
                                | TaskState::Ready
                                | TaskState::Leased
                                | TaskState::Verified
                        )
                    )
            });
            if free {
                queue.push_back(dependent);
            }
        }
    }
    chosen
}
