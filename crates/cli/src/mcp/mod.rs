//! `orca mcp`: the session queue as an MCP server on stdio, built on rmcp
//! (the official Rust SDK). The tools call the same [`Queue`] operations as
//! the `orca task` commands and answer with the same text; a failure reads
//! as the CLI's (`crate::command_error`), its hints naming tools.
//!
//! The server implements [`ServerHandler`] by hand instead of with rmcp's
//! `#[tool]` macros: the schemas stay exactly as small as written in
//! [`tools`], and the macro crates stay out of the build.

pub(crate) mod tools;

use std::path::PathBuf;
use std::sync::OnceLock;

use orca_plan::{PlanOptions, PlanSource, RenderOptions, RenderStyle};
use orca_store::RunId;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeRequestParams, InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde::Deserialize;

use orca_queue::{NextTask, Queue, QueueError, SessionName};

use crate::command_error::{Via, queue_failure};
use crate::failure::Failure;

/// How `orca mcp` was started.
#[derive(Debug, Clone, Default)]
pub(crate) struct McpOptions {
    /// Work on this run instead of the newest active one.
    pub(crate) run: Option<RunId>,
    /// The session's name (`--as`, `ORCA_AS`). Without one, the client's
    /// name from `initialize` plus this server's pid is used.
    pub(crate) session: Option<SessionName>,
    /// Allowed task roles, for `validate_plan`.
    pub(crate) roles: Vec<String>,
    /// Where relative plan paths are read from (the repository).
    pub(crate) root: PathBuf,
}

/// Why the server stopped other than by the client hanging up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum McpError {
    #[error("the MCP handshake failed: {0}")]
    Handshake(String),
    #[error("the MCP server task failed: {0}")]
    Task(String),
}

/// The MCP server of one session.
#[derive(Debug)]
pub(crate) struct McpServer {
    queue: Queue,
    options: McpOptions,
    session: OnceLock<SessionName>,
}

impl McpServer {
    pub(crate) fn new(queue: Queue, options: McpOptions) -> McpServer {
        let session = OnceLock::new();
        if let Some(name) = &options.session {
            let _ = session.set(name.clone());
        }
        McpServer { queue, options, session }
    }

    /// Serves on stdin and stdout until the client closes the connection.
    pub(crate) async fn serve_stdio(self) -> Result<(), McpError> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Handshake(e.to_string()))?;
        running.waiting().await.map_err(|e| McpError::Task(e.to_string()))?;
        Ok(())
    }

    async fn call(&self, name: &str, arguments: JsonObject) -> Result<String, Failure> {
        match name {
            "next_task" => {
                let run = self.run().await?;
                Ok(next_text(&self.queue.next(&run).await?))
            }
            "claim_task" => {
                let args: IdArg = parse(arguments)?;
                let me = self.me()?;
                let run = self.run().await?;
                let next = match &args.id {
                    Some(id) => self.queue.claim(&run, id, me).await?,
                    None => self.queue.claim_next(&run, me).await?,
                };
                Ok(next_text(&next))
            }
            "heartbeat" => {
                let args: TaskArg = parse(arguments)?;
                let run = self.run().await?;
                Ok(self.queue.heartbeat(&run, &args.id, self.me()?).await?.to_string())
            }
            "complete_task" => {
                let args: CompleteArgs = parse(arguments)?;
                let run = self.run().await?;
                let done =
                    self.queue.done(&run, &args.id, self.me()?, args.summary.as_deref()).await?;
                Ok(done.to_string())
            }
            "fail_task" => {
                let args: FailArgs = parse(arguments)?;
                if args.reason.trim().is_empty() {
                    return Err(Failure::failed("`reason` is empty").with_hint("say why"));
                }
                let run = self.run().await?;
                let me = self.me()?;
                if args.blocked {
                    Ok(self.queue.block(&run, &args.id, me, &args.reason).await?.to_string())
                } else {
                    Ok(self.queue.fail(&run, &args.id, me, &args.reason).await?.to_string())
                }
            }
            "plan_status" => {
                let run = self.run().await?;
                Ok(self.queue.status(&run).await?.to_string())
            }
            "validate_plan" => {
                let args: PathArg = parse(arguments)?;
                self.validate(&args.path)
            }
            other => Err(Failure::failed(format!("no tool `{other}`"))
                .with_hint(format!("the tools are {}", tools::TOOL_NAMES.join(", ")))),
        }
    }

    async fn run(&self) -> Result<RunId, Failure> {
        Ok(self.queue.resolve_run(self.options.run.as_ref()).await?.id)
    }

    fn me(&self) -> Result<&SessionName, Failure> {
        self.session.get().ok_or_else(|| {
            Failure::failed("this MCP server has no session name")
                .with_hint("start it as `orca mcp --as NAME` (or set ORCA_AS)")
        })
    }

    fn validate(&self, path: &str) -> Result<String, Failure> {
        let full = self.options.root.join(path);
        let bytes = std::fs::read(&full)
            .map_err(|e| Failure::failed(format!("cannot read {path}: {e}")))?;
        let text =
            orca_plan::decode(&bytes).map_err(|e| Failure::failed(format!("{path}: {e}")))?;
        let options = if self.options.roles.is_empty() {
            PlanOptions::default()
        } else {
            PlanOptions { roles: self.options.roles.clone() }
        };
        let checked = orca_plan::check(text, &options);
        let verdict = if checked.is_valid() { "valid" } else { "invalid" };
        let mut out = format!(
            "{path}: {verdict} ({} tasks, {} errors, {} warnings)\n",
            checked.plan.tasks.len(),
            checked.errors(),
            checked.warnings()
        );
        if !checked.diagnostics.is_empty() {
            let plain = RenderOptions { style: RenderStyle::Plain, width: 100 };
            out.push_str(&PlanSource::new(path, text).render(&checked.diagnostics, plain));
        }
        Ok(out)
    }

    /// The session name when none was given: the client's name (e.g.
    /// `claude-code`) and this server's pid, so two clients of the same
    /// kind never share leases.
    fn name_from_client(client: &str) -> SessionName {
        let cleaned: String = client
            .chars()
            .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
            .take(40)
            .collect();
        let base = if cleaned.is_empty() { "mcp".to_owned() } else { cleaned };
        SessionName::new(&format!("{base}-{}", std::process::id()))
            .unwrap_or_else(|_| SessionName::new("mcp-session").expect("a valid name"))
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("orca", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "orca's task queue. Claim a task before working (claim_task), heartbeat while \
                 working, finish with complete_task or fail_task. The rules are in CLAUDE.md / \
                 AGENTS.md.",
            )
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        if self.session.get().is_none() {
            let name = Self::name_from_client(&request.client_info.name);
            tracing::info!(session = %name, "no --as given; named the session after the client");
            let _ = self.session.set(name);
        }
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match self.call(&request.name, arguments).await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text.trim_end())]),
            Err(failure) => CallToolResult::error(vec![ContentBlock::text(failure.to_string())]),
        };
        Ok(result.into())
    }
}

impl From<QueueError> for Failure {
    fn from(error: QueueError) -> Failure {
        queue_failure(&error, Via::Mcp)
    }
}

fn next_text(next: &NextTask) -> String {
    let mut text = next.to_string();
    match next {
        NextTask::Idle { idle } if idle.finished() => {
            text.push_str("hint: every task of this run is finished");
        }
        NextTask::Idle { .. } => text.push_str(
            "hint: try again when a running task finishes; do not start work the queue did not give you",
        ),
        NextTask::Ready { task } => {
            text.push_str(&format!("hint: call claim_task to take it ({})", task.key));
        }
        NextTask::Claimed { task } | NextTask::Held { task } => text.push_str(&format!(
            "hint: call heartbeat with id {0} while you work; finish with complete_task or fail_task",
            task.key
        )),
    }
    text
}

fn parse<T: for<'de> Deserialize<'de>>(arguments: JsonObject) -> Result<T, Failure> {
    serde_json::from_value(serde_json::Value::Object(arguments))
        .map_err(|e| Failure::failed(format!("bad arguments: {e}")))
}

#[derive(Deserialize)]
struct IdArg {
    id: Option<String>,
}

#[derive(Deserialize)]
struct TaskArg {
    id: String,
}

#[derive(Deserialize)]
struct CompleteArgs {
    id: String,
    summary: Option<String>,
}

#[derive(Deserialize)]
struct FailArgs {
    id: String,
    reason: String,
    #[serde(default)]
    blocked: bool,
}

#[derive(Deserialize)]
struct PathArg {
    path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_become_session_names_with_the_pid() {
        let name = McpServer::name_from_client("claude-code");
        assert_eq!(name.as_str(), format!("claude-code-{}", std::process::id()));
        let odd = McpServer::name_from_client("My Client (beta)");
        assert!(odd.as_str().starts_with("My-Client--beta--"), "{odd}");
        assert!(McpServer::name_from_client("").as_str().starts_with("mcp-"));
    }
}
