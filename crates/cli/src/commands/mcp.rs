//! `orca mcp`: the task queue as an MCP server on stdin/stdout, for agents
//! that prefer tools to shell commands (`claude mcp add orca -- orca mcp`).

use orca_queue::SessionName;

use orca_store::RunId;

use orca_workspace::Workspace;

use crate::command_error::workspace_failure;
use crate::commands::task::session::open_in;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::mcp::{McpOptions, McpServer};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct McpArgs {
    /// This session's name, the holder of the tasks it claims [default: the
    /// MCP client's name and this server's pid, e.g. claude-code-4242]
    #[arg(long = "as", value_name = "NAME", env = "ORCA_AS")]
    session: Option<String>,

    /// Work on this run [default: the newest run that is still active, at each call]
    #[arg(long, value_name = "ID")]
    run: Option<String>,

    /// The store: a SQLite path, `sqlite:PATH` or `postgres://...`
    /// [default: `[store] url` of .orca/config.toml, else .orca/orca.db in
    /// the repository's main worktree]
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

pub(crate) fn run(args: &McpArgs, _out: &Output) -> Result<ExitCode, Failure> {
    let session = args
        .session
        .as_deref()
        .map(SessionName::new)
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()).with_hint("e.g. `orca mcp --as alice-1`"))?;
    let workspace =
        Workspace::discover(args.store.as_deref()).map_err(|e| workspace_failure(&e))?;
    let root = match workspace.root() {
        Some(root) => root.to_owned(),
        None => std::env::current_dir().map_err(|e| Failure::usage(e.to_string()))?,
    };
    let options = McpOptions {
        run: args.run.as_deref().map(RunId::from),
        session,
        roles: workspace.config().roles.known.clone(),
        root,
    };
    crate::runtime::runtime()?.block_on(async {
        // The store is created if need be: the tools then say "load a plan"
        // instead of the server failing to start.
        let queue = open_in(&workspace, true).await?;
        McpServer::new(queue, options)
            .serve_stdio()
            .await
            .map_err(|e| Failure::failed(e.to_string()))
    })?;
    Ok(ExitCode::Success)
}
