//! Every key `.orca/config.toml` may hold, with its one-line meaning. The
//! unknown-key check, the default template and the docs test all read this
//! list, so a key cannot be added to one and forgotten in another.

/// One table of the config file and the keys it allows.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The table header as written, e.g. `run` or `agents.<name>`.
    pub name: &'static str,
    /// What the table is for.
    pub doc: &'static str,
    pub keys: &'static [Key],
}

/// One key and what it means.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub doc: &'static str,
}

const fn key(name: &'static str, doc: &'static str) -> Key {
    Key { name, doc }
}

pub const RUN: Section = Section {
    name: "run",
    doc: "How `orca run` schedules work.",
    keys: &[
        key("agents", "The most agents working at the same time."),
        key("agent", "The agent (a table under [agents]) for tasks whose plan names none."),
        key("max_attempts", "Attempts per task before it fails and its dependents are blocked."),
        key(
            "keep_branches",
            "Keep the attempt branches after a run completes (else they are pruned).",
        ),
        key("resolver", "Send merge conflicts to a resolver agent; false fails the task instead."),
        key(
            "budget_usd",
            "The most money (US dollars) the run's task attempts may spend together; when spent, \
             nothing new starts and the run stops, resumable with a higher budget (unset: no limit).",
        ),
        key(
            "budget_tokens",
            "The most tokens (fresh input plus output, cache reads not counted) the run's task \
             attempts may use together (unset: no limit).",
        ),
        key(
            "on_budget",
            "When the run's budget is spent: `finish` lets running attempts finish, `stop` stops \
             them (their work is kept on their branches).",
        ),
    ],
};

pub const ROLES: Section = Section {
    name: "roles",
    doc: "The roles a plan's tasks may name in their `role` field.",
    keys: &[
        key("known", "The allowed roles; `orca plan check` rejects any other."),
        key(
            "instructions",
            "Extra prompt instructions for the tasks of a role, one `role = \"text\"` line each.",
        ),
    ],
};

/// `[roles.<role>]`, one table per routed role.
pub const ROLE_ROUTE: Section = Section {
    name: "roles.<role>",
    doc: "Where the tasks of one role go (also `planner` and `reviewer`, the stages' own agents).",
    keys: &[
        key("agent", "The agent for the role's tasks whose plan names none."),
        key("model", "The model to ask that agent for, instead of its own `model`."),
    ],
};

pub const STORE: Section = Section {
    name: "store",
    doc: "Where runs, tasks and leases are kept.",
    keys: &[key(
        "url",
        "A SQLite file (relative to the repository root) or a postgres:// URL to share one queue \
         between machines. The ORCA_STORE environment variable overrides it.",
    )],
};

pub const LEASE: Section = Section {
    name: "lease",
    doc: "How long a claimed task stays with whoever claimed it.",
    keys: &[
        key("ttl", "An `orca run` worker's lease expires this long after its last heartbeat."),
        key("heartbeat", "How often `orca run` workers renew their leases; well under ttl."),
        key(
            "session_ttl",
            "The lease of an agent session (`orca task`, `orca mcp`), which can only heartbeat \
             between its tool calls.",
        ),
    ],
};

pub const LIMITS: Section = Section {
    name: "limits",
    doc: "Usage limits and retries.",
    keys: &[
        key(
            "usage_limit_margin",
            "After an agent's usage limit resets, wait this much longer before dispatching again.",
        ),
        key(
            "retry_backoff_base",
            "The first retry of a failed attempt waits this long; each next one twice as long.",
        ),
        key("retry_backoff_max", "No retry waits longer than this."),
    ],
};

pub const ANALYZE: Section = Section {
    name: "analyze",
    doc: "The analyze stage: the map of the repository it writes for agents.",
    keys: &[key(
        "budget_tokens",
        "The most tokens analysis.md may take in an agent's prompt; the most central files come first.",
    )],
};

pub const PLAN: Section = Section {
    name: "plan",
    doc: "The plan stage: an agent writes the run's plan, orca checks it and sends back what is wrong.",
    keys: &[
        key("agent", "The planner agent (a table under [agents]); unset: the run's agent."),
        key("max_rounds", "Rounds of write, check and feedback before the stage fails."),
    ],
};

pub const GATES: Section = Section {
    name: "gates",
    doc: "The quality gates after implement (security, test, cleanup, review).",
    keys: &[
        key(
            "max_fix_rounds",
            "Fix rounds a gate may send back to implement before it stops the run.",
        ),
        key("advisory", "Gates whose findings are reported but never stop the run."),
    ],
};

pub const SECURITY: Section = Section {
    name: "security",
    doc: "The security gate and `orca scan`: secrets and dangerous patterns in the run's changes.",
    keys: &[
        key(
            "threshold",
            "Findings at or above this severity fail the gate: note, warning or error.",
        ),
        key(
            "rules",
            "A gitleaks-format rule file (relative to the repository root); with `[extend] \
             useDefault = true` it adds to orca's rules, else it replaces them.",
        ),
        key("external", "Also run semgrep, bandit and gitleaks when they are installed."),
    ],
};

pub const TEST: Section = Section {
    name: "test",
    doc: "The test gate: the suites it runs on the integration branch after implement and \
          security; failing tests become fix tasks.",
    keys: &[
        key(
            "commands",
            "The test suites, each an argv array, e.g. [[\"cargo\", \"test\"]]; empty: those \
             the analyze stage found.",
        ),
        key("timeout", "The time limit of each suite."),
    ],
};

pub const REVIEW: Section = Section {
    name: "review",
    doc: "The review gate: an agent reviews the run's whole diff against the plan; requested \
          changes at or above the threshold become fix tasks.",
    keys: &[
        key("agent", "The reviewer agent (a table under [agents]); unset: the run's agent."),
        key(
            "threshold",
            "Requested changes at or above this severity (note, warning, error) become fix tasks.",
        ),
    ],
};

pub const COMPLETE: Section = Section {
    name: "complete",
    doc: "The final validation of the integration branch before the report.",
    keys: &[
        key(
            "commands",
            "Commands that must pass, each an argv array, e.g. [[\"cargo\", \"test\"]]; empty: the \
             build and test commands the analyze stage found.",
        ),
        key("timeout", "The time limit of each command."),
    ],
};

pub const AGENT: Section = Section {
    name: "agents.<name>",
    doc: "One table per agent orca can start. claude, codex, gemini and opencode are built in; \
          add your own under any other name.",
    keys: &[
        key(
            "adapter",
            "How orca drives it: claude, codex, gemini, opencode or command. Defaults to the \
             table's name for the built-in agents, else command.",
        ),
        key(
            "command",
            "The program to run, as a string or an argv array. For command agents an argv \
             template with {prompt}, {prompt_file}, {workdir}, {task_id} and {model}; never a shell.",
        ),
        key(
            "max_concurrent",
            "The most tasks this agent works at once (unset: only [run] agents caps it).",
        ),
        key("model", "The model to ask for (unset: the agent's own default)."),
        key(
            "stall_timeout",
            "No output for this long: the agent is interrupted, then killed, and the attempt retried.",
        ),
        key("timeout", "The hard limit for one attempt."),
        key("args", "Extra arguments appended to the agent's command line."),
        key(
            "permission_mode",
            "claude only: Claude Code's --permission-mode (acceptEdits, auto, bypassPermissions, \
             default, dontAsk, plan).",
        ),
        key(
            "base_url",
            "Send the agent's model requests to this server instead of its vendor's, e.g. \
             `orca model-server` for token-free runs (unset: the agent's own default).",
        ),
        key(
            "api_key_env",
            "With base_url: the environment variable holding the key sent to that server (the \
             key itself never goes in this file).",
        ),
        key(
            "isolate",
            "Give each attempt its own HOME and TMPDIR (under .orca/runs/), so the agent sees no \
             user settings or logins.",
        ),
    ],
};

pub const PRICE: Section = Section {
    name: "pricing.<model>",
    doc: "What tokens cost, for agents whose CLI reports no cost (claude and opencode report \
          their own): one table per model name, or per agent name when the agent sets no model.",
    keys: &[
        key("input", "US dollars per million input tokens."),
        key("output", "US dollars per million output tokens."),
        key("cached", "US dollars per million input tokens read from the provider's cache."),
    ],
};

/// The section of the tables under a top-level name that holds one table
/// per chosen name (`[agents.<name>]`, `[pricing.<model>]`).
pub(crate) fn named_tables(top: &str) -> Option<&'static Section> {
    match top {
        "agents" => Some(&AGENT),
        "pricing" => Some(&PRICE),
        _ => None,
    }
}

/// The top-level tables, in the order the template writes them.
pub const TOP_LEVEL: [Section; 12] =
    [RUN, ROLES, STORE, LEASE, LIMITS, ANALYZE, PLAN, GATES, SECURITY, TEST, REVIEW, COMPLETE];

/// Every section, agents and pricing last.
pub const ALL: [Section; 15] = [
    RUN, ROLES, ROLE_ROUTE, STORE, LEASE, LIMITS, ANALYZE, PLAN, GATES, SECURITY, TEST, REVIEW,
    COMPLETE, AGENT, PRICE,
];

/// The names allowed at the top of the file.
pub const TOP_LEVEL_KEYS: [&str; 14] = [
    "run", "roles", "store", "lease", "limits", "analyze", "plan", "gates", "security", "test",
    "review", "complete", "agents", "pricing",
];

impl Section {
    pub fn key_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().map(|key| key.name)
    }

    pub fn doc_of(&self, name: &str) -> &'static str {
        self.keys.iter().find(|key| key.name == name).map_or("", |key| key.doc)
    }
}
