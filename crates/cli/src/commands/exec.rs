//! `orca exec`: run one agent once, with live progress and a summary.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use orca_agents::adapters::claude::{ClaudeAdapter, ClaudePermissionMode};
use orca_agents::adapters::codex::{CodexAdapter, CodexSandbox};
use orca_agents::adapters::command::CommandAdapter;
use orca_agents::adapters::gemini::GeminiAdapter;
use orca_agents::adapters::opencode::OpencodeAdapter;
use orca_agents::adapters::qwen::QwenAdapter;
use orca_agents::adapters::{BUILTIN_NAMES, program_variable};
use orca_agents::{
    Adapter, AgentEvent, AgentOutcome, AgentRequest, CancelLevel, CancelToken, ErrorKind, Finish,
    HostEnv, RunError, SupervisionPolicy, Usage, format_duration, parse_duration, run_agent,
};

use crate::command_error::describe;
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub(crate) struct ExecArgs {
    /// The adapter: claude, codex, gemini, opencode, qwen, or command (then the
    /// program and its arguments follow `--`).
    #[arg(long)]
    agent: String,

    /// The task text.
    #[arg(long, conflicts_with = "prompt_file", required_unless_present = "prompt_file")]
    prompt: Option<String>,

    /// Read the task text from this file.
    #[arg(long)]
    prompt_file: Option<PathBuf>,

    /// The directory the agent works in.
    #[arg(long)]
    workdir: PathBuf,

    /// The model, passed to the CLI unchanged.
    #[arg(long)]
    model: Option<String>,

    /// Talk to this model server instead of the CLI's default (e.g. `orca
    /// model-server`); also turns the CLI's own retries off.
    #[arg(long)]
    base_url: Option<String>,

    /// The API key for --base-url.
    #[arg(long, env = "ORCA_API_KEY", hide_env_values = true, requires = "base_url")]
    api_key: Option<String>,

    /// Stop the agent when it prints nothing for this long (0: never).
    #[arg(long, value_parser = parse_duration, default_value = "15m")]
    stall_timeout: Duration,

    /// Stop the agent when it runs longer than this (0: never).
    #[arg(long, value_parser = parse_duration, default_value = "60m")]
    timeout: Duration,

    /// Between the stop signal and SIGKILL.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    grace: Duration,

    /// Resume this agent session.
    #[arg(long)]
    resume: Option<String>,

    /// Where the run's logs go (default: <workdir>/.orca/exec/<agent>-<time>/).
    #[arg(long)]
    log_dir: Option<PathBuf>,

    /// Give the agent its own HOME and TMPDIR inside the log directory.
    #[arg(long)]
    isolated: bool,

    /// The program to run instead of the adapter's default (also:
    /// ORCA_AGENT_<NAME>).
    #[arg(long)]
    program: Option<PathBuf>,

    /// claude: --permission-mode (default bypassPermissions).
    #[arg(long)]
    permission_mode: Option<String>,

    /// codex: read-only, workspace-write (default), danger-full-access, bypass.
    #[arg(long)]
    sandbox: Option<String>,

    /// The task id, for `{task_id}` in a command template.
    #[arg(long)]
    task_id: Option<String>,

    /// For `command`: the program and its arguments, with {prompt_file},
    /// {workdir} and {task_id}. For the others: extra CLI arguments.
    #[arg(last = true)]
    args: Vec<OsString>,
}

pub(crate) fn run(args: &ExecArgs, out: &Output) -> Result<ExitCode, Failure> {
    let host = HostEnv::current();
    let adapter = adapter(args, &host)?;
    let request = request(args)?;
    let policy = SupervisionPolicy {
        stall_timeout: (!args.stall_timeout.is_zero()).then_some(args.stall_timeout),
        timeout: (!args.timeout.is_zero()).then_some(args.timeout),
        grace: args.grace,
        ..SupervisionPolicy::default()
    };
    let log_dir = match &args.log_dir {
        Some(dir) => std::path::absolute(dir).map_err(|e| {
            Failure::usage(format!("cannot resolve the log directory {}: {e}", dir.display()))
        })?,
        None => default_log_dir(&request.workdir, adapter.name())?,
    };
    let request = if args.isolated {
        request.with_isolation(log_dir.join("home"), log_dir.join("tmp"))
    } else {
        request
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(supervise(adapter, request, host, policy, log_dir, out))
}

async fn supervise(
    adapter: Arc<dyn Adapter>,
    request: AgentRequest,
    host: HostEnv,
    policy: SupervisionPolicy,
    log_dir: PathBuf,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let progress = Progress::new(adapter.name());
    let probe = orca_agents::probe(adapter.as_ref(), &host).await;
    if let Some(warning) = probe.warning() {
        progress.warn(format!("warning: {warning}"));
    }
    let cancel = CancelToken::new();
    let mut run =
        run_agent(Arc::clone(&adapter), &request, &host, policy, &log_dir, cancel.clone())
            .map_err(|error| run_failure(&error, adapter.name()))?;
    let mut progress = progress;
    loop {
        tokio::select! {
            event = run.next_event() => match event {
                Some(event) => {
                    if out.is_json() {
                        out.json(&event);
                    }
                    progress.event(&event);
                }
                None => break,
            },
            interrupted = tokio::signal::ctrl_c() => {
                if interrupted.is_ok() {
                    match cancel.escalate() {
                        CancelLevel::Stop => progress.warn("stopping the agent (Ctrl-C again to kill it)"),
                        _ => progress.warn("killing the agent"),
                    }
                }
            }
        }
    }
    let outcome = run.outcome().await.map_err(|error| run_failure(&error, adapter.name()))?;
    progress.finish();
    if out.is_json() {
        let mut value = serde_json::to_value(&outcome)
            .map_err(|e| Failure::failed(format!("cannot encode the outcome: {e}")))?;
        value["type"] = "outcome".into();
        out.json(&value);
    } else {
        out.text(summary(&outcome));
    }
    Ok(match outcome.status.error_kind() {
        None => ExitCode::Success,
        Some(ErrorKind::Cancelled) => ExitCode::Interrupted,
        Some(_) => ExitCode::Failure,
    })
}

fn adapter(args: &ExecArgs, host: &HostEnv) -> Result<Arc<dyn Adapter>, Failure> {
    let program = args
        .program
        .clone()
        .or_else(|| host.get(&program_variable(&args.agent)).map(PathBuf::from));
    let only_for = |flag: &str, agent: &str| {
        Failure::usage(format!("{flag} applies to the {agent} adapter only"))
    };
    if args.permission_mode.is_some() && args.agent != "claude" {
        return Err(only_for("--permission-mode", "claude"));
    }
    if args.sandbox.is_some() && args.agent != "codex" {
        return Err(only_for("--sandbox", "codex"));
    }
    let adapter: Arc<dyn Adapter> = match args.agent.as_str() {
        "claude" => {
            let mut adapter = ClaudeAdapter::default();
            if let Some(mode) = &args.permission_mode {
                let mode = ClaudePermissionMode::parse(mode).ok_or_else(|| {
                    Failure::usage(format!("unknown permission mode {mode:?}")).with_hint(
                        "use default, acceptEdits, auto, bypassPermissions, dontAsk or plan",
                    )
                })?;
                adapter = adapter.with_permission_mode(mode);
            }
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "codex" => {
            let mut adapter = CodexAdapter::default();
            if let Some(sandbox) = &args.sandbox {
                let sandbox = CodexSandbox::parse(sandbox).ok_or_else(|| {
                    Failure::usage(format!("unknown sandbox {sandbox:?}"))
                        .with_hint("use read-only, workspace-write, danger-full-access or bypass")
                })?;
                adapter = adapter.with_sandbox(sandbox);
            }
            Arc::new(match program {
                Some(program) => adapter.with_program(program),
                None => adapter,
            })
        }
        "gemini" => Arc::new(match program {
            Some(program) => GeminiAdapter::default().with_program(program),
            None => GeminiAdapter::default(),
        }),
        "opencode" => Arc::new(match program {
            Some(program) => OpencodeAdapter::default().with_program(program),
            None => OpencodeAdapter::default(),
        }),
        "qwen" => Arc::new(match program {
            Some(program) => QwenAdapter::default().with_program(program),
            None => QwenAdapter::default(),
        }),
        "command" => {
            let template = args
                .args
                .iter()
                .map(|arg| arg.to_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| Failure::usage("the command template is not valid UTF-8"))?;
            let adapter = CommandAdapter::new(template).map_err(|_| {
                Failure::usage("the command adapter needs a program")
                    .with_hint("orca exec --agent command --prompt TEXT --workdir DIR -- PROGRAM {prompt_file}")
            })?;
            Arc::new(adapter)
        }
        other => {
            return Err(Failure::usage(format!("unknown agent {other:?}"))
                .with_hint(format!("use one of {}, or command", BUILTIN_NAMES.join(", "))));
        }
    };
    Ok(adapter)
}

fn request(args: &ExecArgs) -> Result<AgentRequest, Failure> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| {
            Failure::usage(format!("cannot read the prompt file {}: {e}", file.display()))
        })?,
        (None, None) => return Err(Failure::usage("give --prompt or --prompt-file")),
    };
    let workdir = std::path::absolute(&args.workdir).map_err(|e| {
        Failure::usage(format!(
            "cannot resolve the working directory {}: {e}",
            args.workdir.display()
        ))
    })?;
    let mut request = AgentRequest::new(prompt, workdir);
    request.model = args.model.clone();
    request.resume_session = args.resume.clone();
    request.task_id = args.task_id.clone();
    if args.agent != "command" {
        request.extra_args = args.args.clone();
    }
    if let Some(base_url) = &args.base_url {
        let key = args.api_key.clone().unwrap_or_else(|| "orca-model-server".to_string());
        request = request.with_endpoint(base_url, key);
    }
    Ok(request)
}

fn default_log_dir(workdir: &std::path::Path, agent: &str) -> Result<PathBuf, Failure> {
    let layout = orca_config::Layout::new(workdir);
    layout.ensure().map_err(|e| Failure::usage(describe(&e)).with_hint("pass --log-dir DIR"))?;
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Ok(layout.state_dir().join("exec").join(format!("{agent}-{millis}")))
}

fn run_failure(error: &RunError, agent: &str) -> Failure {
    let failure = match error {
        RunError::Supervisor(_) | RunError::Wait(_) => Failure::failed(describe(error)),
        _ => Failure::usage(describe(error)),
    };
    match error {
        RunError::ProgramNotFound { .. } => failure.with_hint(format!(
            "install it, or point orca at it with --program PATH or {}=PATH",
            program_variable(agent)
        )),
        RunError::Build(orca_agents::BuildError::RootBypass) => failure.with_hint(
            "when this machine is a sandbox, set IS_SANDBOX=1; else pass --permission-mode acceptEdits",
        ),
        _ => failure,
    }
}

/// The live status line on stderr; hidden when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    agent: String,
    tool: Option<String>,
    usage: Usage,
}

impl Progress {
    fn new(agent: &str) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        let progress =
            Progress { bar, agent: agent.to_string(), tool: None, usage: Usage::default() };
        progress.redraw();
        progress
    }

    /// Progress detail: shown on a terminal only.
    fn note(&self, line: impl AsRef<str>) {
        self.bar.println(line.as_ref());
    }

    /// Shown on stderr always (above the status line on a terminal).
    fn warn(&self, line: impl AsRef<str>) {
        if self.bar.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line.as_ref());
        }
    }

    fn event(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::Started { session_id, .. } => {
                self.note(format!("session {session_id}"));
                self.tool = Some("working".into());
            }
            AgentEvent::ToolUse { name, summary, .. } => {
                let tool =
                    if summary.is_empty() { name.clone() } else { format!("{name} {summary}") };
                self.note(format!("→ {tool}"));
                self.tool = Some(tool);
            }
            AgentEvent::ToolResult { ok: false, summary, .. } => {
                self.note(format!("  ✗ {}", summary.as_deref().unwrap_or("failed")));
            }
            AgentEvent::Text { text } => {
                let first = text.trim().lines().next().unwrap_or_default();
                self.note(format!("  {first}"));
            }
            AgentEvent::Usage(usage) => self.usage.add(usage),
            AgentEvent::Limited(limit) => self.note(format!("limited: {}", limit.message)),
            AgentEvent::Warning { message } => self.warn(format!("warning: {message}")),
            AgentEvent::Stopping { reason, signal } => {
                self.note(format!("stopping ({}): {signal}", reason.as_str()));
            }
            _ => {}
        }
        self.redraw();
    }

    fn redraw(&self) {
        let tool = self.tool.as_deref().unwrap_or("starting");
        self.bar.set_message(format!(
            "{} · {tool} · {} in / {} out tokens",
            self.agent, self.usage.input_tokens, self.usage.output_tokens
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The human summary of a run.
fn summary(outcome: &AgentOutcome) -> String {
    let took = format_duration(outcome.duration);
    let mut lines = vec![match &outcome.status {
        Finish::Success => format!("{}: success in {took}", outcome.adapter),
        Finish::Failed { kind: ErrorKind::Failed, message } => {
            format!("{}: failed after {took}: {message}", outcome.adapter)
        }
        Finish::Failed { kind, message } => {
            format!("{}: failed after {took} ({kind}): {message}", outcome.adapter)
        }
    }];
    if let Some(session) = &outcome.session_id {
        lines.push(format!("  session: {session}"));
    }
    let usage = &outcome.usage;
    if !usage.is_zero() {
        lines.push(format!(
            "  tokens:  {} in ({} cached), {} out",
            usage.input_tokens, usage.cached_tokens, usage.output_tokens
        ));
    }
    if let Some(usd) = outcome.cost_usd {
        lines.push(format!("  cost:    ${usd:.4}"));
    }
    if let Some(limit) = &outcome.limit
        && let Some(resets_at) = limit.resets_at
    {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let wait = format_duration(Duration::from_secs(resets_at.saturating_sub(now)));
        lines.push(format!("  limit:   resets at unix {resets_at} (in {wait})"));
    }
    if outcome.leftovers_killed > 0 {
        lines.push(format!(
            "  killed {} leftover process(es) of the agent",
            outcome.leftovers_killed
        ));
    }
    lines.push(format!("  logs:    {}", outcome.log_dir.display()));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_match_the_library_policy() {
        let policy = SupervisionPolicy::default();
        assert_eq!(Some(parse_duration("15m").unwrap()), policy.stall_timeout);
        assert_eq!(Some(parse_duration("60m").unwrap()), policy.timeout);
        assert_eq!(parse_duration("5s").unwrap(), policy.grace);
    }
}
