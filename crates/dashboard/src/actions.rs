//! What the page may do when actions are allowed: pause and resume the
//! run's dispatch and cancel a running attempt (requests to the driving
//! `orca run`, orca_engine::control), retry a failed task and unblock a
//! blocked one, through the queue's own operation (the one
//! `orca task retry|unblock` use: the task and what it alone held back wait
//! again, the run is active again), then
//! recorded as a `dashboard.action` event. Nothing here touches a checkout.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orca_engine::control::{self, Control, ControlError};
use orca_queue::QueueError;
use orca_store::{Reopen, RunId, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::App;

/// The header every action request carries. A page on another site can
/// send a form to 127.0.0.1 but cannot add a header without the browser
/// asking this server first (CORS), which it never allows.
pub(crate) const ACTION_HEADER: &str = "x-orca-action";

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    #[error("actions are off: start the dashboard with --allow-actions")]
    Off,
    #[error("an action needs the {ACTION_HEADER} header (the dashboard's page sends it)")]
    NoHeader,
    #[error("no such action: {0} (retry, unblock, cancel; pause, resume)")]
    Unknown(String),
    // Boxed: a queue error is large, and every action returns this.
    #[error("{0}")]
    Queue(Box<QueueError>),
    #[error("{0}")]
    Control(#[from] ControlError),
}

impl From<QueueError> for ActionError {
    fn from(error: QueueError) -> Self {
        ActionError::Queue(Box::new(error))
    }
}

impl IntoResponse for ActionError {
    fn into_response(self) -> Response {
        let status = match &self {
            ActionError::Off | ActionError::NoHeader => StatusCode::FORBIDDEN,
            ActionError::Unknown(_) => StatusCode::NOT_FOUND,
            ActionError::Queue(error) => match &**error {
                QueueError::Store(
                    StoreError::NotReopenable { .. } | StoreError::HeldBack { .. },
                ) => StatusCode::CONFLICT,
                QueueError::Store(StoreError::RunNotFound(_) | StoreError::TaskNotFound { .. }) => {
                    StatusCode::NOT_FOUND
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ActionError::Control(ControlError::NotRunning { .. }) => StatusCode::CONFLICT,
            ActionError::Control(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// The checks every action passes first.
fn allowed(app: &App, headers: &HeaderMap) -> Result<(), ActionError> {
    if !app.options.allow_actions {
        return Err(ActionError::Off);
    }
    if !headers.contains_key(ACTION_HEADER) {
        return Err(ActionError::NoHeader);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Which {
    attempt: Option<i64>,
}

/// `retry`, `unblock` or `cancel` (its running attempt, `?attempt=N`: the
/// one the user saw) one task.
pub(crate) async fn act(
    State(app): State<Arc<App>>,
    Path((run, task, action)): Path<(String, String, String)>,
    Query(which): Query<Which>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ActionError> {
    allowed(&app, &headers)?;
    let run = RunId::from(run.as_str());
    let store = app.source.store();
    let (done, reopened) = match action.as_str() {
        "retry" | "unblock" => {
            let how = if action == "retry" { Reopen::Retry } else { Reopen::Unblock };
            (how.action(), app.source.queue.reopen(&run, &task, how).await?)
        }
        "cancel" => {
            let attempt = match which.attempt {
                Some(attempt) => attempt,
                None => {
                    let status = store.run_status(&run).await.map_err(QueueError::from)?;
                    status.tasks.iter().find(|t| t.key == task).map_or(0, |t| t.attempt)
                }
            };
            let request = Control::Cancel { task: task.clone(), attempt };
            control::request(store, &run, &request, "dashboard").await?;
            ("cancel requested", Vec::new())
        }
        _ => return Err(ActionError::Unknown(action)),
    };
    let payload = json!({ "action": action, "by": "dashboard", "reopened": reopened });
    store
        .append_event(&run, Some(&task), None, "dashboard.action", &payload.to_string())
        .await
        .map_err(QueueError::from)?;
    tracing::info!(%run, %task, %action, ?reopened, "dashboard action");
    Ok(Json(json!({ "run": run, "task": task, "action": done, "reopened": reopened })))
}

/// `pause` or `resume` the run's dispatch: a request the `orca run`
/// driving it acts on within a second (crate docs: orca_engine::control).
pub(crate) async fn dispatch(
    State(app): State<Arc<App>>,
    Path((run, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ActionError> {
    allowed(&app, &headers)?;
    let request = match action.as_str() {
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        _ => return Err(ActionError::Unknown(action)),
    };
    let run = RunId::from(run.as_str());
    let store = app.source.store();
    store.run(&run).await.map_err(QueueError::from)?;
    control::request(store, &run, &request, "dashboard").await?;
    let payload = json!({ "action": action, "by": "dashboard" });
    store
        .append_event(&run, None, None, "dashboard.action", &payload.to_string())
        .await
        .map_err(QueueError::from)?;
    tracing::info!(%run, %action, "dashboard action");
    Ok(Json(json!({ "run": run, "action": format!("{action} requested") })))
}
