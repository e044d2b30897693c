//! The HTML pages (the runs, a run, the token prompt) and the embedded
//! script and style. Pages are drawn complete on the server, so a run's page
//! shows its state before the script runs; the script then keeps it live.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use orca_report::html::{duration, escape, state_class};

use crate::App;
use crate::view::{ViewError, collect, view_json};

const SCRIPT: &str = include_str!("../assets/dashboard.js");
const TOKEN_SCRIPT: &str = include_str!("../assets/token.js");
const STYLE: &str = include_str!("../assets/dashboard.css");

/// Scripts and styles come from this server only; the report's SVG and
/// legend carry style attributes.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/report.css\">\
         <link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head><body>\n{body}</body></html>\n",
        escape(title)
    );
    let mut response = Html(html).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (kind, text) = match name.as_str() {
        "dashboard.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "token.js" => ("text/javascript; charset=utf-8", TOKEN_SCRIPT),
        "dashboard.css" => ("text/css; charset=utf-8", STYLE),
        "report.css" => ("text/css; charset=utf-8", orca_report::html::STYLE),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], text).into_response()
}

/// The runs, newest first: what `orca runs` lists.
pub(crate) async fn index(State(app): State<Arc<App>>) -> Result<Response, ViewError> {
    let runs = app.source.store().runs(app.source.queue.scope(), 200).await?;
    let mut body = String::from("<h1>orca runs</h1>\n");
    if runs.is_empty() {
        body.push_str(
            "<p class=\"muted\">no runs yet; start one with <code>orca run \"GOAL\"</code></p>",
        );
    } else {
        body.push_str("<table id=\"runs\"><thead><tr><th>run</th><th>state</th><th>stage</th><th>tasks</th><th>started</th><th>took</th><th>title</th></tr></thead><tbody>\n");
        for summary in &runs {
            let run = &summary.run;
            let state = run.state.to_string();
            let _ = writeln!(
                body,
                "<tr id=\"run-{id}\"><td><a href=\"/runs/{id}\"><code>{id}</code></a></td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td><a href=\"/runs/{id}\">{}</a></td></tr>",
                state_class(&state),
                escape(&state),
                run.stage.map_or_else(|| "-".to_owned(), |stage| stage.to_string()),
                summary.tasks_succeeded,
                summary.tasks_total,
                escape(&orca_store::utc_timestamp(run.created_ms)),
                duration(run.updated_ms - run.created_ms),
                escape(&run.title),
                id = escape(run.id.as_str()),
            );
        }
        body.push_str("</tbody></table>\n");
    }
    Ok(page("orca dashboard", &body))
}

/// A run's page, drawn with its state now; the script follows its events.
pub(crate) async fn run(
    State(app): State<Arc<App>>,
    Path(run): Path<String>,
) -> Result<Response, ViewError> {
    let report = collect(&app, &run).await?;
    let view = view_json(&report);
    let text = |key: &str| view[key].as_str().unwrap_or_default().to_owned();
    let body = format!(
        "<p class=\"muted\"><a href=\"/\">runs</a> · <span id=\"live\" class=\"badge wait\">connecting</span>{actions} <span id=\"dispatch\"></span></p>\n\
         <h1 id=\"title\">{title} <span id=\"run-state\" class=\"badge {class}\">{state}</span></h1>\n\
         <div class=\"muted\">run <code>{id}</code> · result on <code>{branch}</code></div>\n\
         <h2>Stages</h2>\n<div id=\"stage-bar\">{stages}</div>\n<div class=\"cards\" id=\"cards\">{cards}</div>\n\
         <div class=\"split\"><div class=\"main\">\n\
         <h2>Agents</h2>\n<div id=\"lanes\"><p class=\"muted\">no agent is running</p></div>\n\
         <h2>Task graph</h2>\n<div class=\"legend muted\"><span><i style=\"background:var(--ok)\"></i>merged</span><span><i style=\"background:var(--busy)\"></i>running</span><span><i style=\"background:var(--wait)\"></i>waiting</span><span><i style=\"background:var(--bad)\"></i>failed</span><span><i style=\"background:var(--held)\"></i>blocked</span> · click a task for its detail</div>\n\
         <div class=\"scroll\" id=\"graph\">{graph}</div>\n\
         <h2>Timeline</h2>\n<div class=\"scroll\" id=\"timeline\">{timeline}</div>\n\
         <h2>Merge queue</h2>\n<div id=\"merges\">{merges}</div>\n\
         <h2>Gates</h2>\n<div id=\"gates\">{gates}</div>\n\
         </div>\n<aside id=\"detail\" hidden></aside></div>\n\
         <dialog id=\"confirm\"><form method=\"dialog\"><p id=\"confirm-text\"></p>\
         <button value=\"cancel\" id=\"confirm-no\">Cancel</button> <button value=\"yes\" id=\"confirm-yes\">Confirm</button></form></dialog>\n\
         <script type=\"module\" src=\"/assets/dashboard.js\" id=\"dashboard\" data-run=\"{id}\" data-actions=\"{allowed}\"></script>\n",
        actions = if app.options.allow_actions {
            " · <span class=\"badge held\">actions on</span>"
        } else {
            " · read-only"
        },
        title = escape(&report.run.title),
        class = state_class(&report.run.state),
        state = escape(&report.run.state),
        id = escape(&report.run.id),
        branch = escape(&report.run.integration_branch),
        stages = text("stages"),
        cards = text("cards"),
        graph = text("graph"),
        timeline = text("timeline"),
        merges = text("merges"),
        gates = text("gates"),
        allowed = app.options.allow_actions,
    );
    Ok(page(&format!("orca run {} — {}", report.run.id, report.run.title), &body))
}

/// What a browser without the token sees.
pub(crate) fn token_page() -> String {
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>orca dashboard: token</title><link rel=\"icon\" href=\"data:,\">\
     <link rel=\"stylesheet\" href=\"/assets/report.css\"></head><body>\
     <h1>orca dashboard</h1><p>This dashboard is reachable from other machines, so it asks for the \
     token <code>orca dashboard</code> printed when it started.</p>\
     <p><input id=\"token\" type=\"password\" autocomplete=\"off\" placeholder=\"token\"> \
     <button id=\"send\">Open</button></p><script src=\"/assets/token.js\"></script></body></html>\n"
        .to_owned()
}
