//! The documented default `.orca/config.toml` that `orca init` writes: every
//! key with its meaning and default, rendered from [`Config::default`] so
//! the two cannot drift apart.

use std::fmt::Write as _;
use std::time::Duration;

use crate::duration::format_duration;
use crate::model::{Adapter, AgentConfig, Config};
use crate::schema::{self, Section};

/// Renders the default config file, every key present and commented. Keys
/// without a default value (an agent's `model`, `max_concurrent`) appear
/// commented out with an example.
pub fn render_default_config() -> String {
    let config = Config::default();
    let mut out = String::new();
    out.push_str(
        "# orca's settings for this repository. Every key is shown with its default;\n\
         # remove a key (or this file) to get the default back. Durations read like\n\
         # \"90s\", \"5m\" or \"1h30m\". `orca init --check` validates this file.\n",
    );

    let run = &config.run;
    section(&mut out, &schema::RUN);
    entry(&mut out, &schema::RUN, "agents", run.agents.to_string());
    entry(&mut out, &schema::RUN, "agent", string(&run.agent));
    entry(&mut out, &schema::RUN, "max_attempts", run.max_attempts.to_string());
    entry(&mut out, &schema::RUN, "keep_branches", run.keep_branches.to_string());
    entry(&mut out, &schema::RUN, "resolver", run.resolver.to_string());
    comment(&mut out, schema::RUN.doc_of("budget_usd"));
    out.push_str("# budget_usd = 20.0\n");
    comment(&mut out, schema::RUN.doc_of("budget_tokens"));
    out.push_str("# budget_tokens = 5000000\n");
    entry(&mut out, &schema::RUN, "on_budget", string(run.on_budget.as_str()));

    section(&mut out, &schema::ROLES);
    entry(&mut out, &schema::ROLES, "known", strings(&config.roles.known));
    comment(&mut out, schema::ROLES.doc_of("instructions"));
    out.push_str("[roles.instructions]\n");
    out.push_str("# security = \"Treat every input as hostile; never log secrets.\"\n");
    comment(&mut out, schema::ROLE_ROUTE.doc);
    out.push_str("# [roles.planner]\n");
    comment(&mut out, schema::ROLE_ROUTE.doc_of("agent"));
    out.push_str("# agent = \"claude\"\n");
    comment(&mut out, schema::ROLE_ROUTE.doc_of("model"));
    out.push_str("# model = \"opus\"\n");

    section(&mut out, &schema::STORE);
    entry(&mut out, &schema::STORE, "url", string(&config.store.url));

    let lease = &config.lease;
    section(&mut out, &schema::LEASE);
    entry(&mut out, &schema::LEASE, "ttl", duration(lease.ttl));
    entry(&mut out, &schema::LEASE, "heartbeat", duration(lease.heartbeat));
    entry(&mut out, &schema::LEASE, "session_ttl", duration(lease.session_ttl));

    let limits = &config.limits;
    section(&mut out, &schema::LIMITS);
    entry(&mut out, &schema::LIMITS, "usage_limit_margin", duration(limits.usage_limit_margin));
    entry(&mut out, &schema::LIMITS, "retry_backoff_base", duration(limits.retry_backoff_base));
    entry(&mut out, &schema::LIMITS, "retry_backoff_max", duration(limits.retry_backoff_max));

    section(&mut out, &schema::ANALYZE);
    entry(&mut out, &schema::ANALYZE, "budget_tokens", config.analyze.budget_tokens.to_string());

    section(&mut out, &schema::PLAN);
    comment(&mut out, schema::PLAN.doc_of("agent"));
    out.push_str("# agent = \"claude\"\n");
    entry(&mut out, &schema::PLAN, "max_rounds", config.plan.max_rounds.to_string());

    section(&mut out, &schema::GATES);
    entry(&mut out, &schema::GATES, "max_fix_rounds", config.gates.max_fix_rounds.to_string());
    entry(&mut out, &schema::GATES, "advisory", strings(&config.gates.advisory));

    let security = &config.security;
    section(&mut out, &schema::SECURITY);
    entry(&mut out, &schema::SECURITY, "threshold", string(&security.threshold));
    comment(&mut out, schema::SECURITY.doc_of("rules"));
    out.push_str("# rules = \".orca/secrets.toml\"\n");
    entry(&mut out, &schema::SECURITY, "external", security.external.to_string());

    section(&mut out, &schema::TEST);
    comment(&mut out, schema::TEST.doc_of("commands"));
    out.push_str("commands = []\n");
    entry(&mut out, &schema::TEST, "timeout", duration(config.test.timeout));

    section(&mut out, &schema::REVIEW);
    comment(&mut out, schema::REVIEW.doc_of("agent"));
    out.push_str("# agent = \"claude\"\n");
    entry(&mut out, &schema::REVIEW, "threshold", string(&config.review.threshold));

    section(&mut out, &schema::COMPLETE);
    comment(&mut out, schema::COMPLETE.doc_of("commands"));
    out.push_str("commands = []\n");
    entry(&mut out, &schema::COMPLETE, "timeout", duration(config.complete.timeout));

    out.push('\n');
    comment(&mut out, schema::AGENT.doc);
    for key in schema::AGENT.keys {
        wrapped(&mut out, &format!("#   {}:", key.name), "#     ", key.doc);
    }
    for adapter in Adapter::BUILT_IN {
        let agent = &config.agents[adapter.as_str()];
        agent_table(&mut out, adapter.as_str(), agent);
    }
    out.push_str(
        "\n# A command agent: any program, run in the task's worktree with this argv.\n\
         # [agents.my-agent]\n\
         # adapter = \"command\"\n\
         # command = [\"my-agent\", \"--prompt-file\", \"{prompt_file}\", \"--dir\", \"{workdir}\"]\n",
    );

    out.push('\n');
    comment(&mut out, schema::PRICE.doc);
    out.push_str("# [pricing.\"gemini-2.5-pro\"]\n");
    for (key, example) in [("input", "1.25"), ("output", "10.0"), ("cached", "0.31")] {
        comment(&mut out, schema::PRICE.doc_of(key));
        let _ = writeln!(out, "# {key} = {example}");
    }
    out
}

fn agent_table(out: &mut String, name: &str, agent: &AgentConfig) {
    let _ = writeln!(out, "\n[agents.{name}]");
    let _ = writeln!(out, "adapter = {}", string(agent.adapter.as_str()));
    let command = match agent.command.as_slice() {
        [program] => string(program),
        argv => strings(argv),
    };
    let _ = writeln!(out, "command = {command}");
    match agent.max_concurrent {
        Some(cap) => writeln!(out, "max_concurrent = {cap}"),
        None => writeln!(out, "# max_concurrent = 2"),
    }
    .ok();
    match &agent.model {
        Some(model) => writeln!(out, "model = {}", string(model)),
        None => writeln!(out, "# model = \"...\""),
    }
    .ok();
    let _ = writeln!(out, "stall_timeout = {}", duration(agent.stall_timeout));
    let _ = writeln!(out, "timeout = {}", duration(agent.timeout));
    let _ = writeln!(out, "args = {}", strings(&agent.args));
    if let Some(mode) = agent.permission_mode {
        let _ = writeln!(out, "permission_mode = {}", string(mode.as_str()));
    }
    match &agent.base_url {
        Some(url) => writeln!(out, "base_url = {}", string(url)),
        None => writeln!(out, "# base_url = \"http://127.0.0.1:8080\""),
    }
    .ok();
    match &agent.api_key_env {
        Some(name) => writeln!(out, "api_key_env = {}", string(name)),
        None => writeln!(out, "# api_key_env = \"MY_SERVER_KEY\""),
    }
    .ok();
    let _ = writeln!(out, "isolate = {}", agent.isolate);
}

fn section(out: &mut String, section: &Section) {
    out.push('\n');
    comment(out, section.doc);
    let _ = writeln!(out, "[{}]", section.name);
}

fn entry(out: &mut String, section: &Section, key: &str, value: String) {
    comment(out, section.doc_of(key));
    let _ = writeln!(out, "{key} = {value}");
}

/// Writes `text` as `# ` comment lines of at most 78 columns.
fn comment(out: &mut String, text: &str) {
    wrapped(out, "# ", "# ", text);
}

/// Wraps `text` at 78 columns: `first` starts the first line, `next` the others.
fn wrapped(out: &mut String, first: &str, next: &str, text: &str) {
    let mut line = first.to_owned();
    let mut words_on_line = 0;
    for word in text.split_whitespace() {
        if words_on_line > 0 && line.len() + 1 + word.len() > 78 {
            out.push_str(&line);
            out.push('\n');
            line = next.to_owned();
            words_on_line = 0;
        }
        if !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
        words_on_line += 1;
    }
    out.push_str(&line);
    out.push('\n');
}

fn string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| string(item)).collect();
    format!("[{}]", quoted.join(", "))
}

fn duration(value: Duration) -> String {
    string(&format_duration(value))
}
