//! Rules a well-typed config must also follow: ranges, names that must
//! refer to something, and keys whose values depend on each other.

use std::time::Duration;

use crate::diagnostic::{ConfigDiagnostic, Location, did_you_mean};
use crate::duration::DisplayDuration;
use crate::load::Spans;
use crate::model::{Adapter, COMMAND_PLACEHOLDERS, Config};

/// Appends a diagnostic for every rule `config` breaks.
pub(crate) fn check(config: &Config, spans: &Spans<'_>, out: &mut Vec<ConfigDiagnostic>) {
    let mut report = |location: Option<Location>, message: String, hint: Option<String>| {
        out.push(ConfigDiagnostic { message, location, hint });
    };

    if config.run.agents == 0 {
        report(
            spans.value(&["run", "agents"]),
            "`agents` must be at least 1".to_owned(),
            Some("it is the most agents working at once; 4 is a good start".to_owned()),
        );
    }
    if config.run.max_attempts == 0 {
        report(
            spans.value(&["run", "max_attempts"]),
            "`max_attempts` must be at least 1".to_owned(),
            Some("1 means no retries".to_owned()),
        );
    }
    if let Some(usd) = config.run.budget_usd
        && !(usd.is_finite() && usd > 0.0)
    {
        report(
            spans.value(&["run", "budget_usd"]),
            format!("`budget_usd` must be more than 0, got {usd}"),
            Some("leave it out for no money limit".to_owned()),
        );
    }
    if config.run.budget_tokens == Some(0) {
        report(
            spans.value(&["run", "budget_tokens"]),
            "`budget_tokens` must be more than 0".to_owned(),
            Some("leave it out for no token limit".to_owned()),
        );
    }
    for (model, price) in &config.pricing {
        for (key, value) in
            [("input", price.input), ("output", price.output), ("cached", price.cached)]
        {
            if !(value.is_finite() && value >= 0.0) {
                report(
                    spans.value(&["pricing", model, key]),
                    format!("`{key}` of [pricing.{model}] must be 0 or more, got {value}"),
                    Some("prices are US dollars per million tokens".to_owned()),
                );
            }
        }
    }
    if let Some(planner) = &config.plan.agent
        && !config.agents.contains_key(planner)
    {
        report(
            spans.value(&["plan", "agent"]),
            format!("`agent` names `{planner}`, which is not an agent"),
            Some(did_you_mean(planner, config.agents.keys().map(String::as_str), "agents")),
        );
    }
    if let Some(reviewer) = &config.review.agent
        && !config.agents.contains_key(reviewer)
    {
        report(
            spans.value(&["review", "agent"]),
            format!("`agent` names `{reviewer}`, which is not an agent"),
            Some(did_you_mean(reviewer, config.agents.keys().map(String::as_str), "agents")),
        );
    }
    if !crate::model::SEVERITIES.contains(&config.review.threshold.as_str()) {
        report(
            spans.value(&["review", "threshold"]),
            format!("`threshold` is `{}`, which is not a severity", config.review.threshold),
            Some(did_you_mean(&config.review.threshold, crate::model::SEVERITIES, "severities")),
        );
    }
    if config.plan.max_rounds == 0 {
        report(
            spans.value(&["plan", "max_rounds"]),
            "`max_rounds` must be at least 1".to_owned(),
            Some("1 means the planner's first plan must be valid".to_owned()),
        );
    }
    for gate in &config.gates.advisory {
        if !crate::model::GATES.contains(&gate.as_str()) {
            report(
                spans.value(&["gates", "advisory"]),
                format!("`advisory` names `{gate}`, which is not a gate"),
                Some(did_you_mean(gate, crate::model::GATES, "gates")),
            );
        }
    }
    if !crate::model::SEVERITIES.contains(&config.security.threshold.as_str()) {
        report(
            spans.value(&["security", "threshold"]),
            format!("`threshold` is `{}`, which is not a severity", config.security.threshold),
            Some(did_you_mean(&config.security.threshold, crate::model::SEVERITIES, "severities")),
        );
    }
    let tables = [("test", &config.test.commands), ("complete", &config.complete.commands)];
    for (table, commands) in tables {
        for (index, command) in commands.iter().enumerate() {
            if !command.first().is_none_or(|program| program.trim().is_empty()) {
                continue;
            }
            report(
                spans.value(&[table, "commands"]),
                format!("command #{} of `[{table}] commands` names no program", index + 1),
                Some("each command is an argv array, e.g. [\"cargo\", \"test\"]".to_owned()),
            );
        }
    }
    if !config.agents.contains_key(&config.run.agent) {
        report(
            spans.value(&["run", "agent"]),
            format!("`agent` names `{}`, which is not an agent", config.run.agent),
            Some(did_you_mean(
                &config.run.agent,
                config.agents.keys().map(String::as_str),
                "agents",
            )),
        );
    }

    check_roles(config, spans, &mut report);

    if let Some(problem) = store_url_problem(&config.store.url) {
        report(
            spans.value(&["store", "url"]),
            problem,
            Some("use a file path such as \".orca/orca.db\" or a postgres:// URL".to_owned()),
        );
    }

    let lease = &config.lease;
    for (key, value) in
        [("ttl", lease.ttl), ("heartbeat", lease.heartbeat), ("session_ttl", lease.session_ttl)]
    {
        positive(&mut report, spans.value(&["lease", key]), key, value);
    }
    if !lease.heartbeat.is_zero() && lease.heartbeat >= lease.ttl {
        report(
            spans.first_value(&[&["lease", "heartbeat"], &["lease", "ttl"]]),
            format!(
                "`heartbeat` ({}) must be shorter than `ttl` ({})",
                DisplayDuration(lease.heartbeat),
                DisplayDuration(lease.ttl)
            ),
            Some(
                "a third of ttl or less lets a worker miss two heartbeats without losing its lease"
                    .to_owned(),
            ),
        );
    }

    let limits = &config.limits;
    for (key, value) in [
        ("retry_backoff_base", limits.retry_backoff_base),
        ("retry_backoff_max", limits.retry_backoff_max),
    ] {
        positive(&mut report, spans.value(&["limits", key]), key, value);
    }
    if limits.retry_backoff_base > limits.retry_backoff_max {
        report(
            spans.first_value(&[
                &["limits", "retry_backoff_base"],
                &["limits", "retry_backoff_max"],
            ]),
            format!(
                "`retry_backoff_base` ({}) is longer than `retry_backoff_max` ({})",
                DisplayDuration(limits.retry_backoff_base),
                DisplayDuration(limits.retry_backoff_max)
            ),
            Some("the base is the first wait and the max caps every wait".to_owned()),
        );
    }

    check_agents(config, spans, &mut report);
}

type Report<'r> = dyn FnMut(Option<Location>, String, Option<String>) + 'r;

fn positive(report: &mut Report<'_>, at: Option<Location>, key: &str, value: Duration) {
    if value.is_zero() {
        report(at, format!("`{key}` must be longer than 0s"), None);
    }
}

fn check_roles(config: &Config, spans: &Spans<'_>, report: &mut Report<'_>) {
    let known = &config.roles.known;
    if known.is_empty() {
        report(
            spans.value(&["roles", "known"]),
            "`known` lists no roles, so no task could have one".to_owned(),
            Some("list at least one, e.g. [\"backend\", \"test\"]".to_owned()),
        );
    }
    for (index, role) in known.iter().enumerate() {
        let well_formed = !role.is_empty()
            && role.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            report(
                spans.value(&["roles", "known"]),
                format!("role `{role}` is not a plain name"),
                Some("roles are lowercase letters, digits and `-`, e.g. \"backend\"".to_owned()),
            );
        } else if known[..index].contains(role) {
            report(
                spans.value(&["roles", "known"]),
                format!("role `{role}` is listed twice"),
                None,
            );
        }
    }
    for role in config.roles.instructions.keys() {
        if !config.roles.is_known(role) {
            report(
                spans.key(&["roles", "instructions", role]),
                format!("instructions for `{role}`, which is not a known role"),
                Some(did_you_mean(role, known.iter().map(String::as_str), "known roles")),
            );
        }
    }
    for (role, route) in &config.roles.routes {
        if !config.roles.is_known(role) && !crate::model::STAGE_ROLES.contains(&role.as_str()) {
            let routable = known.iter().map(String::as_str).chain(crate::model::STAGE_ROLES);
            report(
                spans.key(&["roles", role]),
                format!("[roles.{role}] routes `{role}`, which is not a known role"),
                Some(did_you_mean(role, routable, "roles (and planner, reviewer)")),
            );
        }
        if let Some(agent) = &route.agent
            && !config.agents.contains_key(agent)
        {
            report(
                spans.value(&["roles", role, "agent"]),
                format!("`agent` names `{agent}`, which is not an agent"),
                Some(did_you_mean(agent, config.agents.keys().map(String::as_str), "agents")),
            );
        }
    }
}

fn check_agents(config: &Config, spans: &Spans<'_>, report: &mut Report<'_>) {
    for (name, agent) in &config.agents {
        let at = |key: &str| spans.value(&["agents", name, key]);
        let table = spans.key(&["agents", name]);
        let well_formed = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !well_formed {
            report(
                table.clone(),
                format!("agent name `{name}` is not a plain name"),
                Some("use letters, digits, `-` and `_`".to_owned()),
            );
        }
        match agent.command.first() {
            None if agent.adapter == Adapter::Command => report(
                at("command").or(table.clone()),
                format!("agent `{name}` is a command agent without a `command`"),
                Some(
                    "e.g. command = [\"my-agent\", \"--prompt-file\", \"{prompt_file}\"]"
                        .to_owned(),
                ),
            ),
            None => report(at("command"), format!("agent `{name}` has an empty `command`"), None),
            Some(program) if program.trim().is_empty() => report(
                at("command"),
                format!("agent `{name}`'s program is empty"),
                Some("the first element of `command` is the program to run".to_owned()),
            ),
            Some(_) => {}
        }
        for argument in &agent.command {
            check_placeholders(argument, name, at("command"), report);
        }
        if agent.max_concurrent == Some(0) {
            report(
                at("max_concurrent"),
                "`max_concurrent` must be at least 1".to_owned(),
                Some("remove the key to let only [run] agents cap this agent".to_owned()),
            );
        }
        if agent.model.as_deref().is_some_and(|model| model.trim().is_empty()) {
            report(
                at("model"),
                "`model` is empty".to_owned(),
                Some("remove the key to use the agent's default".to_owned()),
            );
        }
        positive(report, at("stall_timeout"), "stall_timeout", agent.stall_timeout);
        positive(report, at("timeout"), "timeout", agent.timeout);
        if agent.permission_mode.is_some() && agent.adapter != Adapter::Claude {
            report(
                spans.key(&["agents", name, "permission_mode"]),
                format!(
                    "`permission_mode` is for claude agents; `{name}` uses the {} adapter",
                    agent.adapter.as_str()
                ),
                Some("remove the key".to_owned()),
            );
        }
    }
}

/// Every `{...}` in a command argument must be a known placeholder.
fn check_placeholders(argument: &str, agent: &str, at: Option<Location>, report: &mut Report<'_>) {
    let mut rest = argument;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let placeholder = &rest[open..open + close + 1];
        if !COMMAND_PLACEHOLDERS.contains(&placeholder) {
            report(
                at.clone(),
                format!("agent `{agent}`: unknown placeholder `{placeholder}` in `command`"),
                Some(did_you_mean(placeholder, COMMAND_PLACEHOLDERS, "placeholders")),
            );
        }
        rest = &rest[open + close + 1..];
    }
}

/// Why a store URL cannot be used, if it cannot.
pub(crate) fn store_url_problem(url: &str) -> Option<String> {
    if url.trim().is_empty() {
        return Some("the store `url` is empty".to_owned());
    }
    let supported = ["postgres://", "postgresql://", "sqlite:"];
    match url.split_once("://") {
        Some((scheme, _)) if !supported.iter().any(|prefix| url.starts_with(prefix)) => {
            Some(format!("`{scheme}://` stores are not supported; orca uses SQLite or PostgreSQL"))
        }
        _ => None,
    }
}
