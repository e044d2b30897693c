//! The typed configuration: what every part of orca reads, with the
//! defaults that apply when `.orca/config.toml` leaves a key out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::duration::serde_human;

/// orca's configuration for one repository (`.orca/config.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub run: RunConfig,
    pub roles: RolesConfig,
    pub store: StoreConfig,
    pub lease: LeaseConfig,
    pub limits: LimitsConfig,
    pub analyze: AnalyzeConfig,
    pub plan: PlanConfig,
    pub gates: GatesConfig,
    pub security: SecurityConfig,
    pub test: CommandsConfig,
    pub review: ReviewConfig,
    pub complete: CommandsConfig,
    /// Every agent orca can start, by name: the four built-in ones plus any
    /// the file adds.
    pub agents: BTreeMap<String, AgentConfig>,
    /// `[pricing.<model>]`: what tokens cost, for agents whose CLI reports
    /// no cost, by model name (or agent name when the agent sets no model).
    pub pricing: BTreeMap<String, Price>,
}

/// `[pricing.<model>]`: US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    /// Per million input tokens (not counting cache reads).
    pub input: f64,
    /// Per million output tokens.
    pub output: f64,
    /// Per million input tokens read from the provider's cache.
    pub cached: f64,
}

impl Price {
    /// The cost of these token counts.
    pub fn cost(&self, input: u64, output: u64, cached: u64) -> f64 {
        (input as f64 * self.input + output as f64 * self.output + cached as f64 * self.cached)
            / 1e6
    }
}

/// `[run] on_budget`: what running attempts do when the run's budget is spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBudget {
    /// Let them finish (and merge); start nothing new.
    #[default]
    Finish,
    /// Stop them now, their work committed on their branches.
    Stop,
}

impl OnBudget {
    pub fn as_str(self) -> &'static str {
        match self {
            OnBudget::Finish => "finish",
            OnBudget::Stop => "stop",
        }
    }
}

/// `[analyze]`: the repository map the analyze stage writes for agents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeConfig {
    /// The most tokens `analysis.md` may take in an agent's prompt.
    pub budget_tokens: u32,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        AnalyzeConfig { budget_tokens: 2_000 }
    }
}

/// `[plan]`: the plan stage, where an agent writes the run's plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanConfig {
    /// The planner agent (a key of [`Config::agents`]); unset: the run's agent.
    pub agent: Option<String>,
    /// Rounds of write, check and feedback before the stage fails.
    pub max_rounds: u32,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig { agent: None, max_rounds: 3 }
    }
}

/// `[review]`: the review gate, where an agent reviews the run's whole diff.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// The reviewer agent (a key of [`Config::agents`]); unset: the run's agent.
    pub agent: Option<String>,
    /// Requested changes at or above this severity become fix tasks.
    pub threshold: String,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig { agent: None, threshold: "error".to_owned() }
    }
}

/// The pipeline stages that may send fix tasks back to implement.
pub const GATES: [&str; 4] = ["security", "test", "cleanup", "review"];

/// `[gates]`: the quality gates after implement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatesConfig {
    /// Fix rounds a gate may send back to implement before it stops the run.
    pub max_fix_rounds: u32,
    /// Gates whose findings are reported but never stop the run.
    pub advisory: Vec<String>,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig { max_fix_rounds: 2, advisory: Vec::new() }
    }
}

/// Severity names a gate threshold takes, lowest first.
pub const SEVERITIES: [&str; 3] = ["note", "warning", "error"];

/// `[security]`: the security gate and `orca scan`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Findings at or above this severity fail the gate: note, warning or error.
    pub threshold: String,
    /// A gitleaks-format rule file (relative to the repository root) that
    /// extends orca's rules (`[extend] useDefault = true`) or replaces them.
    pub rules: Option<String>,
    /// Run semgrep, bandit and gitleaks too when they are installed.
    pub external: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig { threshold: "warning".to_owned(), rules: None, external: true }
    }
}

/// `[test]` (the test gate's suites) and `[complete]` (the final
/// validation): commands run on the integration branch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandsConfig {
    /// The commands (each an argv array); empty: those the analyze stage
    /// found (the test suites for `[test]`, the build and test commands
    /// for `[complete]`).
    pub commands: Vec<Vec<String>>,
    /// The time limit of each command.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub timeout: Duration,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig { commands: Vec::new(), timeout: Duration::from_secs(30 * 60) }
    }
}

/// `[run]`: how `orca run` schedules work.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// The most agents working at the same time.
    pub agents: u32,
    /// The agent (a key of [`Config::agents`]) for tasks that name none.
    pub agent: String,
    /// Attempts per task before it fails and its dependents are blocked.
    pub max_attempts: u32,
    /// Keep attempt branches after the run completes.
    pub keep_branches: bool,
    /// Send merge conflicts to a resolver agent (else the task fails).
    pub resolver: bool,
    /// The most money (US dollars) the run's agents may spend together.
    pub budget_usd: Option<f64>,
    /// The most tokens (input plus output) the run's agents may use together.
    pub budget_tokens: Option<u64>,
    /// What running attempts do when the run's budget is spent.
    pub on_budget: OnBudget,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            agents: 4,
            agent: "claude".to_owned(),
            max_attempts: 3,
            keep_branches: false,
            resolver: true,
            budget_usd: None,
            budget_tokens: None,
            on_budget: OnBudget::Finish,
        }
    }
}

/// `[roles]`: the roles a plan's tasks may have, and where each is routed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RolesConfig {
    /// The allowed values of a task's `role` field.
    pub known: Vec<String>,
    /// Extra prompt instructions for tasks of a role, by role.
    pub instructions: BTreeMap<String, String>,
    /// `[roles.<role>]`: the agent and model for the tasks of a role (and
    /// for the `planner` and `reviewer`), by role. Unknown keys never get
    /// here: the schema check reports them first.
    #[serde(flatten)]
    pub routes: BTreeMap<String, RoleRoute>,
}

/// `[roles.<role>]`: where the tasks of one role go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleRoute {
    /// The agent (a key of [`Config::agents`]) for the role's tasks whose
    /// plan names none.
    pub agent: Option<String>,
    /// The model to ask that agent for, instead of its own `model`.
    pub model: Option<String>,
}

/// The roles of the stages' own agents, routable like a task's role.
pub const STAGE_ROLES: [&str; 2] = ["planner", "reviewer"];

/// The roles a fresh repository allows.
pub const DEFAULT_ROLES: [&str; 8] =
    ["backend", "frontend", "test", "security", "docs", "infra", "refactor", "review"];

impl Default for RolesConfig {
    fn default() -> Self {
        RolesConfig {
            known: DEFAULT_ROLES.iter().map(|role| (*role).to_owned()).collect(),
            instructions: BTreeMap::new(),
            routes: BTreeMap::new(),
        }
    }
}

impl RolesConfig {
    /// Whether `role` is one of [`RolesConfig::known`].
    pub fn is_known(&self, role: &str) -> bool {
        self.known.iter().any(|known| known == role)
    }

    /// The agent `[roles.<role>]` routes the role to, if any.
    pub fn agent_for(&self, role: &str) -> Option<&str> {
        self.routes.get(role).and_then(|route| route.agent.as_deref())
    }

    /// The model `[roles.<role>]` asks for, if any.
    pub fn model_for(&self, role: &str) -> Option<&str> {
        self.routes.get(role).and_then(|route| route.model.as_deref())
    }
}

/// `[store]`: where runs, tasks and leases are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A SQLite file path (relative to the repository root) or a
    /// `postgres://` URL. The `ORCA_STORE` environment variable overrides it.
    pub url: String,
}

/// The environment variable that overrides `[store] url`.
pub const STORE_ENV: &str = "ORCA_STORE";

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { url: ".orca/orca.db".to_owned() }
    }
}

/// Which database a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its connection URL.
    Postgres(String),
}

impl StoreConfig {
    /// Resolves the URL: `postgres://` and `postgresql://` URLs name a
    /// server; `sqlite://PATH`, `sqlite:PATH` or a bare path name a SQLite
    /// file, relative to `root` unless absolute.
    pub fn location(&self, root: &Path) -> StoreLocation {
        let url = self.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return StoreLocation::Postgres(url.to_owned());
        }
        let path =
            url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        StoreLocation::Sqlite(root.join(path))
    }
}

/// `[lease]`: how long a claimed task stays with its worker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseConfig {
    /// A lease held by an `orca run` worker expires this long after its last heartbeat.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub ttl: Duration,
    /// How often `orca run` workers renew their leases.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub heartbeat: Duration,
    /// The lease time for agent sessions (`orca task ... --as NAME`, `orca
    /// mcp`): longer, because a session can only heartbeat between tool calls.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub session_ttl: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            ttl: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            session_ttl: Duration::from_secs(10 * 60),
        }
    }
}

/// `[limits]`: waiting on usage limits and retrying failures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Extra wait after an agent's usage limit resets, before dispatching again.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub usage_limit_margin: Duration,
    /// The first retry waits this long; each further retry doubles it.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub retry_backoff_base: Duration,
    /// No retry waits longer than this.
    #[serde(deserialize_with = "serde_human::deserialize")]
    pub retry_backoff_max: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            usage_limit_margin: Duration::from_secs(2 * 60),
            retry_backoff_base: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(5 * 60),
        }
    }
}

/// Which adapter drives an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Adapter {
    Claude,
    Codex,
    Gemini,
    Opencode,
    /// Any program, started with an argv template.
    Command,
}

impl Adapter {
    /// Every adapter, built-in ones first.
    pub const ALL: [Adapter; 5] =
        [Adapter::Claude, Adapter::Codex, Adapter::Gemini, Adapter::Opencode, Adapter::Command];

    /// The adapters with a built-in default agent of the same name.
    pub const BUILT_IN: [Adapter; 4] =
        [Adapter::Claude, Adapter::Codex, Adapter::Gemini, Adapter::Opencode];

    /// The name written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Claude => "claude",
            Adapter::Codex => "codex",
            Adapter::Gemini => "gemini",
            Adapter::Opencode => "opencode",
            Adapter::Command => "command",
        }
    }

    /// The adapter named `name` in a config file.
    pub fn from_name(name: &str) -> Option<Adapter> {
        Adapter::ALL.into_iter().find(|adapter| adapter.as_str() == name)
    }
}

/// Claude Code's `--permission-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionMode {
    AcceptEdits,
    Auto,
    BypassPermissions,
    Default,
    DontAsk,
    Plan,
}

impl PermissionMode {
    pub const ALL: [PermissionMode; 6] = [
        PermissionMode::AcceptEdits,
        PermissionMode::Auto,
        PermissionMode::BypassPermissions,
        PermissionMode::Default,
        PermissionMode::DontAsk,
        PermissionMode::Plan,
    ];

    /// The value Claude Code takes after `--permission-mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Auto => "auto",
            PermissionMode::BypassPermissions => "bypassPermissions",
            PermissionMode::Default => "default",
            PermissionMode::DontAsk => "dontAsk",
            PermissionMode::Plan => "plan",
        }
    }

    pub fn from_name(name: &str) -> Option<PermissionMode> {
        PermissionMode::ALL.into_iter().find(|mode| mode.as_str() == name)
    }
}

/// The placeholders a `command` agent's argv may use; orca substitutes each
/// whole argument, never through a shell.
pub const COMMAND_PLACEHOLDERS: [&str; 5] =
    ["{prompt}", "{prompt_file}", "{workdir}", "{task_id}", "{model}"];

/// `[agents.<name>]`: one agent orca can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub adapter: Adapter,
    /// argv: the program (for built-in adapters, the CLI binary), then for
    /// `command` agents the argument template.
    pub command: Vec<String>,
    /// The most tasks this agent works at once (None: only `[run] agents` caps it).
    pub max_concurrent: Option<u32>,
    /// The model to ask for (None: the agent CLI's own default).
    pub model: Option<String>,
    /// No output for this long → the agent is interrupted, then killed.
    pub stall_timeout: Duration,
    /// The hard limit for one attempt.
    pub timeout: Duration,
    /// Extra arguments orca appends to the agent's command line.
    pub args: Vec<String>,
    /// Claude Code's permission mode (claude adapter only).
    pub permission_mode: Option<PermissionMode>,
    /// Where the agent sends its model requests instead of its vendor.
    pub base_url: Option<String>,
    /// The environment variable holding the key for `base_url`.
    pub api_key_env: Option<String>,
    /// A fresh HOME and TMPDIR per attempt.
    pub isolate: bool,
}

impl AgentConfig {
    /// The defaults for an agent driven by `adapter`. A `command` agent has
    /// no default command: the config must give one.
    pub fn defaults_for(adapter: Adapter) -> AgentConfig {
        let command = match adapter {
            Adapter::Command => Vec::new(),
            built_in => vec![built_in.as_str().to_owned()],
        };
        AgentConfig {
            adapter,
            command,
            max_concurrent: None,
            model: None,
            stall_timeout: Duration::from_secs(5 * 60),
            timeout: Duration::from_secs(45 * 60),
            args: Vec::new(),
            permission_mode: (adapter == Adapter::Claude).then_some(PermissionMode::AcceptEdits),
            base_url: None,
            api_key_env: None,
            isolate: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            run: RunConfig::default(),
            roles: RolesConfig::default(),
            store: StoreConfig::default(),
            lease: LeaseConfig::default(),
            limits: LimitsConfig::default(),
            analyze: AnalyzeConfig::default(),
            plan: PlanConfig::default(),
            gates: GatesConfig::default(),
            security: SecurityConfig::default(),
            test: CommandsConfig::default(),
            review: ReviewConfig::default(),
            complete: CommandsConfig::default(),
            agents: Adapter::BUILT_IN
                .into_iter()
                .map(|adapter| (adapter.as_str().to_owned(), AgentConfig::defaults_for(adapter)))
                .collect(),
            pricing: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The agent tasks use when they name none (`[run] agent`).
    pub fn default_agent(&self) -> Option<&AgentConfig> {
        self.agents.get(&self.run.agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_url_forms() {
        let root = Path::new("/repo");
        let at = |url: &str| StoreConfig { url: url.to_owned() }.location(root);
        assert_eq!(at(".orca/orca.db"), StoreLocation::Sqlite("/repo/.orca/orca.db".into()));
        assert_eq!(at("/var/orca.db"), StoreLocation::Sqlite("/var/orca.db".into()));
        assert_eq!(at("sqlite://x.db"), StoreLocation::Sqlite("/repo/x.db".into()));
        assert_eq!(at("sqlite:x.db"), StoreLocation::Sqlite("/repo/x.db".into()));
        assert_eq!(
            at("postgres://u@h/db"),
            StoreLocation::Postgres("postgres://u@h/db".to_owned())
        );
        assert_eq!(
            at("postgresql://u@h/db"),
            StoreLocation::Postgres("postgresql://u@h/db".to_owned())
        );
    }

    #[test]
    fn defaults_have_the_four_built_in_agents() {
        let config = Config::default();
        let names: Vec<_> = config.agents.keys().map(String::as_str).collect();
        assert_eq!(names, ["claude", "codex", "gemini", "opencode"]);
        assert_eq!(config.default_agent().map(|agent| agent.adapter), Some(Adapter::Claude));
        assert_eq!(config.agents["codex"].permission_mode, None);
    }
}
