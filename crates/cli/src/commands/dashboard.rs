//! `orca dashboard`: serves the live view of this repository's runs
//! (orca-dashboard) until Ctrl-C.

use std::net::IpAddr;
use std::time::Duration;

use orca_dashboard::{Dashboard, DashboardOptions, Source};
use orca_queue::{Queue, QueueSettings};
use orca_store::{OpenError, StoreOptions};
use orca_workspace::Workspace;

use crate::command_error::{describe, open_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

/// How often an open page looks for new events: well under the second a
/// watcher notices, a small query each time.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    /// The port; 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,

    /// The address to listen on. Any address but a loopback one is
    /// reachable from other machines and requires the token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,

    /// The token a non-loopback dashboard asks for [default: a new random one, printed].
    #[arg(long, value_name = "TOKEN", env = "ORCA_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Let the page pause and resume dispatch, cancel running attempts,
    /// retry failed tasks and unblock blocked ones (each behind a
    /// confirmation, recorded as an event). Read-only without it.
    #[arg(long)]
    allow_actions: bool,

    /// Every run in the store, of any repository.
    #[arg(long)]
    all: bool,

    /// Open the dashboard in the browser.
    #[arg(long)]
    open: bool,

    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &DashboardArgs, out: &Output) -> Result<ExitCode, Failure> {
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let repo = workspace.repo_ref().map_err(|e| Failure::failed(describe(&e)))?;
    let mut options = DashboardOptions {
        bind: args.bind,
        port: args.port,
        token: args.token.clone().filter(|token| !token.is_empty()),
        allow_actions: args.allow_actions,
        poll: POLL,
    };
    if options.needs_token() && options.token.is_none() {
        let token = orca_dashboard::new_token()
            .map_err(|e| Failure::failed(format!("cannot make a token: {e}")))?;
        options.token = Some(token);
    }
    let runtime = crate::runtime::runtime()?;
    runtime.block_on(async {
        let store_options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = match workspace.open_store(&store_options).await {
            Ok(store) => store,
            Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
                return Err(Failure::usage("no runs yet in this repository, nothing to show")
                    .with_hint("start one with `orca run \"GOAL\"`, then `orca dashboard`"));
            }
            Err(error) => return Err(open_failure(&error)),
        };
        let mut settings = QueueSettings::from_config(workspace.config());
        settings.repo = if args.all { None } else { repo };
        settings.legacy_runs = workspace.store_is_sqlite();
        let source =
            Source { queue: Queue::new(store.clone(), settings), layout: workspace.layout().cloned() };
        let token = options.token.clone();
        let allow_actions = options.allow_actions;
        let dashboard = Dashboard::bind(source, options).await.map_err(|e| {
            Failure::usage(describe(&e)).with_hint("choose another --port, or omit it for a free one")
        })?;
        let addr = dashboard.local_addr().map_err(|e| Failure::failed(describe(&e)))?;
        let shown = match addr.ip() {
            ip if ip.is_unspecified() => std::net::SocketAddr::new([127, 0, 0, 1].into(), addr.port()),
            _ => addr,
        };
        let url = format!("http://{shown}/");
        let open_url = match &token {
            Some(token) => format!("{url}?token={token}"),
            None => url.clone(),
        };
        if out.is_json() {
            out.json(&serde_json::json!({
                "url": url,
                "addr": addr.to_string(),
                "token": token,
                "actions": allow_actions,
            }));
        } else {
            out.text(format!("orca dashboard on {url}"));
            if let Some(token) = &token {
                out.text(format!(
                    "  listening on {addr}: reachable from other machines; the page asks for the token {token}"
                ));
                out.text(format!("  or open {open_url}"));
            }
            out.text(if allow_actions {
                "  actions on: the page can pause and resume dispatch, cancel attempts, retry and unblock tasks"
            } else {
                "  read-only (--allow-actions lets the page pause dispatch, cancel attempts, retry and unblock tasks)"
            });
            out.text("stop it with Ctrl-C");
        }
        if args.open {
            open_url_in_browser(&open_url);
        }
        let served = dashboard.serve(stop_signal()).await;
        store.close().await;
        served.map_err(|e| Failure::failed(describe(&e)))
    })?;
    Ok(ExitCode::Success)
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// The desktop's opener; a failure only means the user opens it.
fn open_url_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(error) = started {
        eprintln!("cannot start {opener} ({error}); open {url} in a browser");
    }
}
