//! A run's state as the page draws it: the report's model read from the
//! store, with the stage bar, graph and timeline rendered by the report's
//! own functions; and one task's detail (prompt, attempts, verify output,
//! the diff of its attempt).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orca_report::html::{escape, graph_svg, stages_html, state_class, timeline_svg};
use orca_report::{ReportData, TaskReport};
use orca_store::{RunId, StoreError};
use serde_json::json;

use crate::App;

/// The most of a prompt or a diff the detail pane shows.
const MAX_TEXT: usize = 100_000;

/// Why a view cannot be given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {run} has no task {task}")]
    NoTask { run: String, task: String },
}

impl IntoResponse for ViewError {
    fn into_response(self) -> Response {
        let status = match &self {
            ViewError::Store(StoreError::RunNotFound(_) | StoreError::TaskNotFound { .. })
            | ViewError::NoTask { .. } => StatusCode::NOT_FOUND,
            ViewError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut text = self.to_string();
        let mut source = std::error::Error::source(&self);
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        (status, Json(json!({ "error": text }))).into_response()
    }
}

/// `.orca/runs/<run>/`, when the dashboard knows the repository.
pub(crate) fn run_dir(app: &App, run: &str) -> PathBuf {
    app.source.layout.as_ref().map_or_else(PathBuf::new, |layout| layout.run_dir(run))
}

pub(crate) async fn collect(app: &App, run: &str) -> Result<ReportData, StoreError> {
    orca_report::collect(app.source.store(), &RunId::from(run), &run_dir(app, run)).await
}

pub(crate) async fn run_view(
    State(app): State<Arc<App>>,
    Path(run): Path<String>,
) -> Result<Json<serde_json::Value>, ViewError> {
    let report = collect(&app, &run).await?;
    Ok(Json(view_json(&report)))
}

/// Everything the run's page replaces when the run changes.
pub(crate) fn view_json(report: &ReportData) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = report
        .tasks
        .iter()
        .map(|task| {
            let last = task.attempts.last();
            json!({
                "id": task.id,
                "title": task.title,
                "state": task.state,
                "attempts": task.attempts.len(),
                "agent": last.and_then(|a| a.agent.clone()).or_else(|| task.agent.clone()),
                "worker": last.map(|a| a.worker.clone()),
                "started_ms": last.map(|a| a.started_ms),
                "problem": task.blocked_reason.clone().or_else(|| task.last_error.clone()),
            })
        })
        .collect();
    json!({
        "run": {
            "id": report.run.id,
            "title": report.run.title,
            "state": report.run.state,
            "class": state_class(&report.run.state),
        },
        "stages": stages_html(&report.stages),
        "cards": orca_report::html::totals_cards(&report.totals),
        "graph": graph_svg(&report.tasks),
        "timeline": timeline_svg(&report.tasks),
        "merges": merges_html(&report.tasks),
        "gates": gates_html(report),
        "tasks": tasks,
    })
}

/// The merge queue: verified attempts waiting to merge, then what merged.
fn merges_html(tasks: &[TaskReport]) -> String {
    let waiting: Vec<&TaskReport> = tasks
        .iter()
        .filter(|task| {
            task.merge.is_none()
                && task.state == "leased"
                && task.attempts.last().is_some_and(|a| a.end.as_deref() == Some("verified"))
        })
        .collect();
    let merged: Vec<&TaskReport> = tasks.iter().filter(|task| task.merge.is_some()).collect();
    if waiting.is_empty() && merged.is_empty() {
        return "<p class=\"muted\">nothing verified yet</p>".to_owned();
    }
    let mut out = String::from(
        "<table id=\"merge-table\"><thead><tr><th>task</th><th>merge</th></tr></thead><tbody>",
    );
    for task in waiting {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><span class=\"badge busy\">waiting to merge</span></td></tr>",
            escape(&task.id)
        );
    }
    for task in merged {
        let Some(merge) = &task.merge else { continue };
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><code>{}</code>{}</td></tr>",
            escape(&task.id),
            escape(&merge.commit[..merge.commit.len().min(10)]),
            if merge.resolved_conflict { " (conflict resolved)" } else { "" }
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn gates_html(report: &ReportData) -> String {
    let gates: Vec<_> = report.gates.iter().filter(|g| g.state != "pending").collect();
    if gates.is_empty() {
        return "<p class=\"muted\">no gate has run yet</p>".to_owned();
    }
    let mut out = String::from(
        "<table id=\"gate-table\"><thead><tr><th>gate</th><th>state</th><th>fix rounds</th><th>failing, each check</th><th>fix tasks</th><th>note</th></tr></thead><tbody>",
    );
    for gate in gates {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&gate.gate),
            state_class(&gate.state),
            escape(&gate.state),
            gate.rounds,
            escape(&orca_report::before_after(&gate.checks)),
            escape(&gate.fix_tasks.join(", ")),
            escape(gate.note.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>");
    out
}

pub(crate) async fn task_detail(
    State(app): State<Arc<App>>,
    Path((run, task)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ViewError> {
    let report = collect(&app, &run).await?;
    let Some(found) = report.tasks.iter().find(|t| t.id == task) else {
        return Err(ViewError::NoTask { run, task });
    };
    let attempts = app.source.store().run_attempts(&RunId::from(run.as_str())).await?;
    let last = attempts.iter().rev().find(|(key, _)| *key == task).map(|(_, a)| a);
    let prompt = last.and_then(|attempt| {
        let dir = run_dir(&app, &run)
            .join("tasks")
            .join(orca_git::ref_component(&task))
            .join(format!("a{}", attempt.attempt));
        ["agent-fresh", "agent"]
            .iter()
            .find_map(|log| std::fs::read_to_string(dir.join(log).join("prompt.md")).ok())
            .map(|text| cut(&text))
    });
    let diff = match (last, app.source.layout.as_ref()) {
        (Some(attempt), Some(layout)) => {
            let base: Option<String> = attempt
                .details_json
                .as_deref()
                .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
                .and_then(|details| details["base"].as_str().map(str::to_owned));
            match (base, attempt.commit_sha.clone()) {
                (Some(base), Some(head)) => {
                    let root = layout.root().to_owned();
                    tokio::task::spawn_blocking(move || {
                        let repo = orca_git::Repo::discover(&root).ok()?;
                        repo.diff_text(&base, &head).ok().map(|text| cut(&text))
                    })
                    .await
                    .ok()
                    .flatten()
                }
                _ => None,
            }
        }
        _ => None,
    };
    Ok(Json(json!({
        "task": found,
        "class": state_class(&found.state),
        "prompt": prompt,
        "diff": diff,
        "actions": app.options.allow_actions,
    })))
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &text[..end], text.len() - end)
}
