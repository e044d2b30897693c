//! `orca model-server`: the scripted model server from orca-model-server, for
//! deterministic, token-free runs of agent CLIs (docs/model-server.md).

use std::path::PathBuf;

use orca_model_server::{ModelServer, Script, ServerOptions, StopSignals};

use crate::command_error::describe;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ModelServerArgs {
    /// The script deciding every reply: TOML, or JSON when the name ends in `.json`.
    #[arg(long, value_name = "FILE")]
    script: PathBuf,

    /// The port on 127.0.0.1; 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,

    /// Append every request, one JSON object per line, to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

pub(crate) fn run(args: &ModelServerArgs, out: &Output) -> Result<ExitCode, Failure> {
    let script = Script::from_path(&args.script).map_err(|error| {
        Failure::usage(describe(&error))
            .with_hint("docs/model-server.md describes the script format")
    })?;
    // Before the address is printed: whoever reads it may signal at once.
    let signals = StopSignals::install()
        .map_err(|error| Failure::usage(format!("cannot handle Ctrl-C: {}", describe(&error))))?;
    let options = ServerOptions { port: args.port, log_file: args.log.clone() };
    let server = ModelServer::start_with(script, options).map_err(|error| {
        Failure::usage(describe(&error))
            .with_hint("choose another --port, or omit it to get a free one")
    })?;
    let base_url = server.base_url();
    if out.is_json() {
        out.json(&serde_json::json!({
            "addr": server.addr().to_string(),
            "base_url": base_url,
            "openai_base_url": server.openai_base_url(),
        }));
    } else {
        out.text(format!("model server listening on {base_url}"));
        out.text(format!("  claude:   ANTHROPIC_BASE_URL={base_url}"));
        out.text(format!("  codex:    model provider base_url = \"{}\"", server.openai_base_url()));
        out.text("stop it with Ctrl-C");
    }
    signals.wait();
    let served = server.requests().len();
    server.shutdown();
    if !out.is_json() {
        eprintln!("model server stopped after {served} requests");
    }
    Ok(ExitCode::Success)
}
