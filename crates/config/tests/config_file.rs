//! `.orca/config.toml`: the default template, loading, and the errors a
//! user sees for a wrong file.

use std::path::Path;
use std::time::Duration;

use orca_config::{
    Adapter, Config, ConfigError, Layout, PermissionMode, StoreLocation, render_default_config,
    schema,
};

fn parse(text: &str) -> Result<Config, String> {
    Config::from_toml(text, Path::new(".orca/config.toml")).map_err(|error| error.to_string())
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(error) => error,
    }
}

#[test]
fn the_rendered_template_parses_back_to_the_defaults() {
    let template = render_default_config();
    assert_eq!(parse(&template), Ok(Config::default()));
}

#[test]
fn the_template_shows_and_documents_every_key() {
    let template = render_default_config();
    for section in schema::ALL {
        for key in section.keys {
            let written = template.lines().any(|line| {
                let line = line.trim_start_matches("# ");
                line.starts_with(&format!("{} = ", key.name))
                    || line.starts_with(&format!("[{}.{}]", section.name, key.name))
            });
            assert!(
                written,
                "{}.{} is missing from the template:\n{template}",
                section.name, key.name
            );
            let first_words: String =
                key.doc.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
            let flat = template.replace("\n#", "").replace("\n", " ");
            let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(&first_words), "{}.{}'s doc is missing", section.name, key.name);
        }
    }
    assert!(template.lines().all(|line| line.len() <= 100), "long line in:\n{template}");
}

#[test]
fn every_key_is_documented_in_docs_configuration_md() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    for section in schema::ALL {
        assert!(docs.contains(&format!("[{}]", section.name)), "docs lack [{}]", section.name);
        for key in section.keys {
            assert!(
                docs.contains(&format!("`{}`", key.name)),
                "docs lack {}.{}",
                section.name,
                key.name
            );
        }
    }
}

#[test]
fn an_empty_file_is_all_defaults() {
    assert_eq!(parse(""), Ok(Config::default()));
}

#[test]
fn values_override_defaults_key_by_key() {
    let config = parse(
        r#"
[run]
agents = 8
keep_branches = true

[lease]
ttl = "2m"
heartbeat = "20s"

[roles]
known = ["backend", "docs"]
[roles.instructions]
docs = "Write for beginners."

[agents.claude]
model = "sonnet"
permission_mode = "bypassPermissions"

[agents.fast]
adapter = "claude"
model = "haiku"
max_concurrent = 2

[agents.mine]
command = ["my-agent", "--in", "{prompt_file}"]
timeout = "1h30m"
"#,
    )
    .unwrap();
    assert_eq!(config.run.agents, 8);
    assert_eq!(config.run.max_attempts, 3, "untouched keys keep their default");
    assert!(config.run.keep_branches);
    assert_eq!(config.lease.ttl, Duration::from_secs(120));
    assert_eq!(config.lease.session_ttl, Duration::from_secs(600));
    assert_eq!(config.roles.known, ["backend", "docs"]);
    assert_eq!(config.roles.instructions["docs"], "Write for beginners.");

    let claude = &config.agents["claude"];
    assert_eq!(claude.model.as_deref(), Some("sonnet"));
    assert_eq!(claude.command, ["claude"]);
    assert_eq!(claude.permission_mode, Some(PermissionMode::BypassPermissions));

    let fast = &config.agents["fast"];
    assert_eq!(fast.adapter, Adapter::Claude);
    assert_eq!(fast.command, ["claude"], "a user-named claude agent gets claude's defaults");
    assert_eq!(fast.max_concurrent, Some(2));
    assert_eq!(fast.permission_mode, Some(PermissionMode::AcceptEdits));

    let mine = &config.agents["mine"];
    assert_eq!(mine.adapter, Adapter::Command);
    assert_eq!(mine.command, ["my-agent", "--in", "{prompt_file}"]);
    assert_eq!(mine.timeout, Duration::from_secs(5400));
    assert_eq!(mine.stall_timeout, Duration::from_secs(300));
    assert_eq!(mine.permission_mode, None);

    assert_eq!(config.agents.len(), 6, "the built-in agents stay");
}

#[test]
fn load_uses_defaults_without_a_file_and_reads_one_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path());
    assert_eq!(Config::load_file(&layout).unwrap(), Config::default());

    layout.ensure().unwrap();
    std::fs::write(layout.config_file(), "[run]\nagents = 2\n").unwrap();
    assert_eq!(Config::load_file(&layout).unwrap().run.agents, 2);

    std::fs::write(layout.config_file(), "[run]\nagnets = 2\n").unwrap();
    let error = Config::load_file(&layout).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid(_)));
    // Named relative to the repository, as the user would type it.
    assert!(error.to_string().starts_with(".orca/config.toml:2:1: "), "{error}");
}

#[test]
fn orca_store_in_the_environment_overrides_the_file() {
    let mut config = parse("[store]\nurl = \"other.db\"\n").unwrap();
    let root = Path::new("/repo");
    assert_eq!(config.store.location(root), StoreLocation::Sqlite("/repo/other.db".into()));

    config.apply_env(|_| None).unwrap();
    assert_eq!(config.store.url, "other.db");

    let url = "postgres://orca@db.example/orca";
    config.apply_env(|var| (var == "ORCA_STORE").then(|| url.to_owned())).unwrap();
    assert_eq!(config.store.location(root), StoreLocation::Postgres(url.to_owned()));

    let error = config.apply_env(|_| Some("mysql://x".to_owned())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the environment variable ORCA_STORE is invalid: \
         `mysql://` stores are not supported; orca uses SQLite or PostgreSQL"
    );
}

#[test]
fn unknown_keys_say_where_and_suggest_the_right_one() {
    insta::assert_snapshot!(error_of(
        "[run]\nagents = 4\nmax_attempt = 5\n\n[agents.claude]\ntimout = \"5m\"\n"
    ));
}

#[test]
fn an_unknown_table_lists_the_known_ones_when_nothing_is_close() {
    insta::assert_snapshot!(error_of("[colours]\nred = 1\n\n[leas]\nttl = \"1m\"\n"));
}

#[test]
fn syntax_errors_point_at_the_line() {
    insta::assert_snapshot!(error_of("[run]\nagents = 4\nagent = \"claude\n"));
}

#[test]
fn wrong_types_and_bad_durations_point_at_the_value() {
    insta::assert_snapshot!(error_of("[run]\nagents = \"four\"\n"));
    insta::assert_snapshot!(error_of("[lease]\nttl = \"1 minute\"\n"));
    insta::assert_snapshot!(error_of("[agents.claude]\ntimeout = 45\n"));
}

#[test]
fn rules_between_keys_are_checked_and_all_reported() {
    insta::assert_snapshot!(error_of(
        r#"
[run]
agents = 0
agent = "cluade"

[roles]
known = ["backend", "Docs"]
[roles.instructions]
frontend = "Use the design system."

[lease]
ttl = "10s"
heartbeat = "30s"

[limits]
retry_backoff_base = "10m"
retry_backoff_max = "1m"

[agents.codex]
permission_mode = "plan"

[agents.mine]
args = ["-v"]

[agents.other]
command = ["other", "{prompt_fiel}"]
"#
    ));
}

/// Unknown keys, values of the wrong type and broken rules, all in one report.
#[test]
fn every_kind_of_problem_is_reported_at_once() {
    let report = error_of(
        "[run]\nagents = \"four\"\nmax_attemps = 3\n\n[lease]\nttl = \"1 minute\"\n\n\
         [agents.claude]\ntimeout = 45\n\n[gates]\nmax_fix_rounds = -1\n",
    );
    for expected in ["max_attemps", "four", "1 minute", "timeout", "max_fix_rounds"] {
        assert!(report.contains(expected), "{expected} missing from:\n{report}");
    }
    let problems = report.lines().filter(|line| line.starts_with(".orca/config.toml:")).count();
    assert_eq!(problems, 5, "{report}");
}

#[test]
fn adapter_and_permission_mode_typos_are_caught() {
    insta::assert_snapshot!(error_of(
        "[agents.x]\nadapter = \"clade\"\n\n[agents.claude]\npermission_mode = \"acceptedits\"\n"
    ));
}

#[test]
fn unsupported_store_urls_are_rejected() {
    insta::assert_snapshot!(error_of("[store]\nurl = \"mysql://db/orca\"\n"));
}

#[test]
fn roles_route_to_an_agent_and_a_model() {
    let config = parse(
        "[roles.test]\nagent = \"codex\"\nmodel = \"fast-1\"\n\n[roles.planner]\nmodel = \"strong-1\"\n\n[roles.instructions]\ntest = \"Keep tests fast.\"\n",
    )
    .unwrap();
    assert_eq!(config.roles.agent_for("test"), Some("codex"));
    assert_eq!(config.roles.model_for("test"), Some("fast-1"));
    assert_eq!(config.roles.agent_for("planner"), None);
    assert_eq!(config.roles.model_for("planner"), Some("strong-1"));
    assert_eq!(config.roles.routes.len(), 2, "instructions is not a route");
    assert_eq!(config.roles.instructions["test"], "Keep tests fast.");
}

#[test]
fn a_wrong_route_is_named_with_all_its_problems() {
    let error = error_of("[roles.tset]\nagent = \"codx\"\n\n[roles.backend]\nmodle = \"x\"\n");
    assert!(error.contains("[roles.tset] routes `tset`, which is not a known role"), "{error}");
    assert!(error.contains("did you mean `test`"), "{error}");
    assert!(error.contains("`agent` names `codx`, which is not an agent"), "{error}");
    assert!(error.contains("unknown key `modle` in [roles.backend]"), "{error}");
}

#[test]
fn budgets_and_prices_are_read() {
    let config = parse(
        "[run]\nbudget_usd = 2.5\nbudget_tokens = 400000\non_budget = \"stop\"\n\n[pricing.\"gemini-2.5-pro\"]\ninput = 1.25\noutput = 10\n",
    )
    .unwrap();
    assert_eq!(config.run.budget_usd, Some(2.5));
    assert_eq!(config.run.budget_tokens, Some(400_000));
    assert_eq!(config.run.on_budget, orca_config::OnBudget::Stop);
    let price = config.pricing["gemini-2.5-pro"];
    assert_eq!((price.input, price.output, price.cached), (1.25, 10.0, 0.0));
    // 1M input, 100k output, 1M cached at the prices above.
    assert!((price.cost(1_000_000, 100_000, 1_000_000) - 2.25).abs() < 1e-9);
    assert_eq!(Config::default().run.budget_usd, None);
}

#[test]
fn bad_budgets_and_prices_are_all_named() {
    let error = error_of(
        "[run]\nbudget_usd = -1.0\nbudget_tokens = 0\non_budget = \"pause\"\n\n[pricing.x]\ninptu = 1.0\n",
    );
    assert!(error.contains("unknown key `inptu` in [pricing.x]"), "{error}");
    assert!(error.contains("did you mean `input`"), "{error}");
    assert!(error.contains("on_budget"), "{error}");
    let error =
        error_of("[run]\nbudget_usd = -1.0\nbudget_tokens = 0\n\n[pricing.x]\noutput = -2.0\n");
    assert!(error.contains("`budget_usd` must be more than 0, got -1"), "{error}");
    assert!(error.contains("`budget_tokens` must be more than 0"), "{error}");
    assert!(error.contains("`output` of [pricing.x] must be 0 or more, got -2"), "{error}");
}
