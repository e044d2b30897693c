//! `orca dashboard`: a live web view of the runs in a store. The index
//! lists the runs; a run's page shows its stage bar, task graph and
//! timeline (the report's own rendering, [`orca_report::html`]), a lane per
//! running agent, the merge queue, the gates and a task's detail with its
//! agent's events as they happen.
//!
//! Live updates are server-sent events read from the store's event log:
//! each open page follows the log from the last sequence number it saw
//! (one small query per poll, never the whole state); the page fetches the
//! rendered state again only when an event says a task or stage changed.
//!
//! Served on 127.0.0.1 unless told otherwise; any other address needs the
//! token ([`access`]). Read-only unless actions are allowed; the actions
//! (pause/resume dispatch, cancel a running attempt, retry a failed task,
//! unblock a blocked one) call the library operations orca's commands use
//! (orca_engine::control, orca-queue's reopen) and are recorded as events.

mod access;
mod actions;
mod live;
mod pages;
mod view;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use orca_config::Layout;
use orca_queue::Queue;
use orca_store::Store;

pub use access::new_token;

/// How the dashboard serves.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Required for every request when set; [`DashboardOptions::needs_token`]
    /// says when it must be.
    pub token: Option<String>,
    /// Whether the page may retry and unblock tasks.
    pub allow_actions: bool,
    /// How often an open page's event stream looks for new events.
    pub poll: Duration,
}

impl DashboardOptions {
    /// A non-loopback address is reachable from other machines: only with
    /// a token.
    pub fn needs_token(&self) -> bool {
        !self.bind.is_loopback()
    }
}

/// Where the runs come from: the queue on the store (whose settings say
/// which runs are this repository's; its operations are the actions) and
/// the repository's `.orca/` (prompts, diffs, gate files).
#[derive(Debug, Clone)]
pub struct Source {
    pub queue: Queue,
    pub layout: Option<Layout>,
}

impl Source {
    fn store(&self) -> &Store {
        self.queue.store()
    }
}

/// Why the dashboard cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("a dashboard on {bind} is reachable from other machines and needs a token")]
    TokenRequired { bind: IpAddr },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the dashboard's server stopped")]
    Serve(#[source] std::io::Error),
}

pub(crate) struct App {
    source: Source,
    options: DashboardOptions,
}

/// A dashboard listening on its address, not serving yet.
pub struct Dashboard {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Dashboard {
    /// Listens on the options' address.
    pub async fn bind(source: Source, options: DashboardOptions) -> Result<Self, DashboardError> {
        if options.needs_token() && options.token.is_none() {
            return Err(DashboardError::TokenRequired { bind: options.bind });
        }
        let addr = SocketAddr::new(options.bind, options.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DashboardError::Bind { addr, source })?;
        let app = Arc::new(App { source, options });
        Ok(Dashboard { listener, router: router(app) })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, DashboardError> {
        self.listener.local_addr().map_err(DashboardError::Serve)
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DashboardError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(DashboardError::Serve)
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/runs/{run}", get(pages::run))
        .route("/assets/{name}", get(pages::asset))
        .route("/api/runs/{run}/view", get(view::run_view))
        .route("/api/runs/{run}/events", get(live::events))
        .route("/api/runs/{run}/tasks/{task}", get(view::task_detail))
        .route("/api/runs/{run}/tasks/{task}/{action}", post(actions::act))
        .route("/api/runs/{run}/dispatch/{action}", post(actions::dispatch))
        .layer(axum::middleware::from_fn_with_state(app.clone(), access::check))
        .with_state(app)
}
