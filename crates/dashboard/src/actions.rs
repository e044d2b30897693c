//! What the page may do when actions are allowed: retry a failed task and
//! unblock a blocked one, through the queue's own operation (the one
//! `orca task retry|unblock` use: the task and what it alone held back wait
//! again, the run is active again), then
//! recorded as a `dashboard.action` event. Nothing here touches a checkout.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orca_queue::QueueError;
use orca_store::{Reopen, RunId, StoreError};
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
    #[error("no such action: {0} (retry, unblock)")]
    Unknown(String),
    #[error("{0}")]
    Queue(#[from] QueueError),
}

impl IntoResponse for ActionError {
    fn into_response(self) -> Response {
        let status = match &self {
            ActionError::Off | ActionError::NoHeader => StatusCode::FORBIDDEN,
            ActionError::Unknown(_) => StatusCode::NOT_FOUND,
            ActionError::Queue(QueueError::Store(
                StoreError::NotReopenable { .. } | StoreError::HeldBack { .. },
            )) => StatusCode::CONFLICT,
            ActionError::Queue(QueueError::Store(
                StoreError::RunNotFound(_) | StoreError::TaskNotFound { .. },
            )) => StatusCode::NOT_FOUND,
            ActionError::Queue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub(crate) async fn act(
    State(app): State<Arc<App>>,
    Path((run, task, action)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ActionError> {
    if !app.options.allow_actions {
        return Err(ActionError::Off);
    }
    if !headers.contains_key(ACTION_HEADER) {
        return Err(ActionError::NoHeader);
    }
    let how = match action.as_str() {
        "retry" => Reopen::Retry,
        "unblock" => Reopen::Unblock,
        _ => return Err(ActionError::Unknown(action)),
    };
    let run = RunId::from(run.as_str());
    let reopened = app.source.queue.reopen(&run, &task, how).await?;
    let payload = json!({ "action": action, "by": "dashboard", "reopened": reopened });
    app.source
        .store()
        .append_event(&run, Some(&task), None, "dashboard.action", &payload.to_string())
        .await
        .map_err(QueueError::from)?;
    tracing::info!(%run, %task, %action, ?reopened, "dashboard action");
    Ok(Json(json!({ "run": run, "task": task, "action": how.action(), "reopened": reopened })))
}
