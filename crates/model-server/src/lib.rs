//! orca's scripted model server: it speaks the Anthropic
//! Messages API, the OpenAI Responses and Chat Completions APIs and the
//! Gemini API on 127.0.0.1, so tests run the real agent CLIs end to end
//! with canned model turns, and `orca model-server` gives users
//! deterministic, token-free runs.
//!
//! ```no_run
//! use orca_model_server::{ModelServer, Rule, Script, ToolCall};
//!
//! let script = Script::new()
//!     .rule(Rule::tool(ToolCall::write_file("hello.txt", "hi\n")).tool_result(false))
//!     .rule(Rule::text("Done.").tool_result(true));
//! let server = ModelServer::start(script).unwrap();
//! // Point the CLI at server.base_url() (Claude) or server.openai_base_url() (Codex),
//! // run it, then assert on server.requests().
//! ```

mod agent_clis;
mod api;
mod body;
mod conversation;
mod exchange;
mod log;
mod matching;
mod render;
mod script;
mod server;
mod stop_signals;

pub use agent_clis::{
    MissingAgentCli, claude_bin, codex_bin, gemini_bin, opencode_bin, qwen_bin, test_tools_dir,
};
pub use api::Api;
pub use log::LoggedRequest;
pub use script::{Conditions, Fault, Reply, Rule, Script, ScriptError, ToolCall, Usage};
pub use server::{ModelServer, ModelServerHandle, ServerOptions, StartError};
pub use stop_signals::StopSignals;
