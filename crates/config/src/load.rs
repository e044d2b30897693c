//! Reading `.orca/config.toml`: TOML syntax, then unknown keys, then types,
//! then the rules that tie keys together. Every problem found in a stage is
//! reported at once, each at its line and column.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{ConfigDiagnostic, InvalidConfig, Location, did_you_mean};
use crate::duration::serde_human;
use crate::layout::Layout;
use crate::model::{
    Adapter, AgentConfig, AnalyzeConfig, CommandsConfig, Config, GatesConfig, LeaseConfig,
    LimitsConfig, PermissionMode, PlanConfig, Price, ReviewConfig, RolesConfig, RunConfig,
    STORE_ENV, SecurityConfig, StoreConfig,
};
use crate::{schema, validate};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Invalid(InvalidConfig),
    #[error("the environment variable {var} is invalid: {message}")]
    Environment { var: &'static str, message: String },
}

/// The file as serde reads it; agents are merged with their adapter's defaults afterwards.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    run: RunConfig,
    roles: RolesConfig,
    store: StoreConfig,
    lease: LeaseConfig,
    limits: LimitsConfig,
    analyze: AnalyzeConfig,
    plan: PlanConfig,
    gates: GatesConfig,
    security: SecurityConfig,
    test: CommandsConfig,
    review: ReviewConfig,
    complete: CommandsConfig,
    agents: BTreeMap<String, RawAgent>,
    pricing: BTreeMap<String, Price>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAgent {
    adapter: Option<String>,
    command: Option<CommandSpec>,
    max_concurrent: Option<u32>,
    model: Option<String>,
    #[serde(deserialize_with = "optional_duration")]
    stall_timeout: Option<Duration>,
    #[serde(deserialize_with = "optional_duration")]
    timeout: Option<Duration>,
    args: Option<Vec<String>>,
    permission_mode: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    isolate: Option<bool>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Duration>, D::Error> {
    serde_human::deserialize(de).map(Some)
}

/// `command = "claude"` or `command = ["my-agent", "{prompt_file}"]`.
#[derive(Debug)]
struct CommandSpec(Vec<String>);

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a program name or an array of arguments")
            }
            fn visit_str<E: serde::de::Error>(self, program: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec(vec![program.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CommandSpec, A::Error> {
                let mut argv = Vec::new();
                while let Some(argument) = seq.next_element::<String>()? {
                    argv.push(argument);
                }
                Ok(CommandSpec(argv))
            }
        }
        de.deserialize_any(Visitor)
    }
}

impl Config {
    /// Loads `.orca/config.toml` (defaults when it does not exist), then
    /// applies the environment (`ORCA_STORE`).
    pub fn load(layout: &Layout) -> Result<Config, ConfigError> {
        let mut config = Config::load_file(layout)?;
        config.apply_env(|var| std::env::var(var).ok())?;
        Ok(config)
    }

    /// Loads `.orca/config.toml` alone, ignoring the environment; defaults
    /// when the file does not exist.
    pub fn load_file(layout: &Layout) -> Result<Config, ConfigError> {
        let path = layout.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let shown = path.strip_prefix(layout.root()).unwrap_or(&path);
        Config::from_toml(&text, shown).map_err(ConfigError::Invalid)
    }

    /// Parses config text; `path` is only used to name the file in diagnostics.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, InvalidConfig> {
        let invalid = |diagnostics| InvalidConfig::new(path, text, diagnostics);
        let document = DeTable::parse(text).map_err(|error| {
            let mut diagnostic = toml_error(text, &error);
            diagnostic.hint = Some(
                "this is not valid TOML here: strings need double quotes, and each line is \
                 `key = value` or a `[table]` header"
                    .to_owned(),
            );
            invalid(vec![diagnostic])
        })?;

        // Every problem at once: unknown keys, then each key of a wrong type,
        // then the rules between keys (checked on what could be read).
        let mut diagnostics = unknown_keys(text, document.get_ref());
        let spans = Spans { text, document: document.get_ref() };
        let known = only_known_keys(document.get_ref());
        let whole = Spanned::new(0..text.len(), known.clone());
        let raw = match RawConfig::deserialize(toml::de::Deserializer::from(whole)) {
            Ok(raw) => raw,
            Err(_) => {
                diagnostics.extend(type_errors(text, &known, &spans));
                return Err(invalid(diagnostics));
            }
        };
        let config = resolve(raw, &spans, &mut diagnostics);
        validate::check(&config, &spans, &mut diagnostics);
        if diagnostics.is_empty() { Ok(config) } else { Err(invalid(diagnostics)) }
    }

    /// Applies environment overrides; `lookup` reads a variable.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(url) = lookup(STORE_ENV).filter(|url| !url.is_empty()) {
            if let Some(problem) = validate::store_url_problem(&url) {
                return Err(ConfigError::Environment { var: STORE_ENV, message: problem });
            }
            self.store.url = url;
        }
        Ok(())
    }
}

fn toml_error(text: &str, error: &toml::de::Error) -> ConfigDiagnostic {
    ConfigDiagnostic {
        message: error.message().trim_end().replace('\n', "; "),
        location: error.span().map(|span| Location::of(text, span)),
        hint: None,
    }
}

/// Finds where keys and values are in the file, for diagnostics about them.
pub(crate) struct Spans<'a> {
    text: &'a str,
    document: &'a DeTable<'a>,
}

impl Spans<'_> {
    /// The location of the value at `path`, e.g. `["lease", "ttl"]`.
    pub(crate) fn value(&self, path: &[&str]) -> Option<Location> {
        self.entry(path).map(|(_, value)| Location::of(self.text, value))
    }

    /// The location of the key at `path`.
    pub(crate) fn key(&self, path: &[&str]) -> Option<Location> {
        self.entry(path).map(|(key, _)| Location::of(self.text, key))
    }

    /// The location of the first of `paths` present in the file.
    pub(crate) fn first_value(&self, paths: &[&[&str]]) -> Option<Location> {
        paths.iter().find_map(|path| self.value(path))
    }

    /// What the key whose value holds byte `offset` means, from the schema.
    pub(crate) fn meaning_at(&self, offset: usize) -> Option<String> {
        let (section, key) = self.document.iter().find_map(|(name, value)| {
            let table = as_table(value)?;
            if let Some(named) = schema::named_tables(name.get_ref()) {
                let key = table
                    .values()
                    .filter_map(as_table)
                    .find_map(|entry| key_holding(entry, offset))?;
                Some((named, key))
            } else {
                let section =
                    schema::TOP_LEVEL.iter().find(|known| known.name == name.get_ref())?;
                Some((section, key_holding(table, offset)?))
            }
        })?;
        let doc = section.keys.iter().find(|known| known.name == key)?.doc;
        Some(format!("`{key}`: {doc}"))
    }

    fn entry(&self, path: &[&str]) -> Option<(Range<usize>, Range<usize>)> {
        let (last, parents) = path.split_last()?;
        let mut table = self.document;
        for name in parents {
            table = table.get(*name)?.get_ref().as_table()?;
        }
        let (key, value) = table.get_key_value(*last)?;
        Some((key.span(), value.span()))
    }
}

fn as_table<'t, 'i>(value: &'t Spanned<DeValue<'i>>) -> Option<&'t DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(table),
        _ => None,
    }
}

/// The key of `table` whose value spans byte `offset`. (A table's own span
/// covers only its header, so only values are looked at.)
fn key_holding<'t>(table: &'t DeTable<'_>, offset: usize) -> Option<&'t str> {
    table
        .iter()
        .find(|(_, value)| value.span().contains(&offset))
        .map(|(key, _)| key.get_ref().as_ref())
}

/// Keys the schema does not know, with a "did you mean" hint each.
fn unknown_keys(text: &str, document: &DeTable<'_>) -> Vec<ConfigDiagnostic> {
    let mut found = Vec::new();
    let mut unknown = |key: &Spanned<std::borrow::Cow<'_, str>>, table: &str, known: &[&str]| {
        let what = if table.is_empty() {
            format!("unknown table `{}`", key.get_ref())
        } else {
            format!("unknown key `{}` in [{table}]", key.get_ref())
        };
        let choices = if table.is_empty() { "known tables" } else { "known keys" };
        found.push(ConfigDiagnostic {
            message: what,
            location: Some(Location::of(text, key.span())),
            hint: Some(did_you_mean(key.get_ref(), known.iter().copied(), choices)),
        });
    };
    let route_keys: Vec<&str> = schema::ROLE_ROUTE.key_names().collect();
    for (key, value) in document {
        let name = key.get_ref().as_ref();
        // A known name holding the wrong type of value is serde's to report.
        let DeValue::Table(table) = value.get_ref() else {
            if !schema::TOP_LEVEL_KEYS.contains(&name) {
                unknown(key, "", &schema::TOP_LEVEL_KEYS);
            }
            continue;
        };
        if let Some(named) = schema::named_tables(name) {
            let known: Vec<&str> = named.key_names().collect();
            for (entry, settings) in table {
                let DeValue::Table(settings) = settings.get_ref() else { continue };
                let table_name = format!("{name}.{}", entry.get_ref());
                for (inner, _) in settings {
                    if !known.contains(&inner.get_ref().as_ref()) {
                        unknown(inner, &table_name, &known);
                    }
                }
            }
            continue;
        }
        let Some(section) = schema::TOP_LEVEL.iter().find(|section| section.name == name) else {
            unknown(key, "", &schema::TOP_LEVEL_KEYS);
            continue;
        };
        let known: Vec<&str> = section.key_names().collect();
        for (inner, value) in table {
            let inner_name = inner.get_ref().as_ref();
            if let Some(route) = role_route(name, inner_name, value) {
                let table_name = format!("roles.{inner_name}");
                for (setting, _) in route {
                    if !route_keys.contains(&setting.get_ref().as_ref()) {
                        unknown(setting, &table_name, &route_keys);
                    }
                }
            } else if !known.contains(&inner_name) {
                unknown(inner, section.name, &known);
            }
        }
    }
    found
}

/// The table of `[roles.<role>]` when `section`'s key `key` is one: any
/// table in `[roles]` but `instructions`.
fn role_route<'t, 'i>(
    section: &str,
    key: &str,
    value: &'t Spanned<DeValue<'i>>,
) -> Option<&'t DeTable<'i>> {
    (section == "roles" && key != "instructions").then(|| as_table(value)).flatten()
}

/// The entries of `table` whose key `keep` accepts, each possibly changed by `change`.
fn filtered<'i>(
    table: &DeTable<'i>,
    keep: impl Fn(&str) -> bool,
    change: impl Fn(&str, Spanned<DeValue<'i>>) -> Spanned<DeValue<'i>>,
) -> DeTable<'i> {
    table
        .iter()
        .filter(|(key, _)| keep(key.get_ref()))
        .map(|(key, value)| (key.clone(), change(key.get_ref(), value.clone())))
        .collect()
}

/// `value` with its table (if it is one) replaced by `make(table)`.
fn with_table<'i>(
    value: Spanned<DeValue<'i>>,
    make: impl FnOnce(&DeTable<'i>) -> DeTable<'i>,
) -> Spanned<DeValue<'i>> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(table) => Spanned::new(span, DeValue::Table(make(&table))),
        other => Spanned::new(span, other),
    }
}

/// The document without the keys the schema does not know (reported
/// apart), so that what remains can be read.
fn only_known_keys<'i>(document: &DeTable<'i>) -> DeTable<'i> {
    let route_keys: Vec<&str> = schema::ROLE_ROUTE.key_names().collect();
    filtered(
        document,
        |name| schema::TOP_LEVEL_KEYS.contains(&name),
        |name, value| {
            if let Some(named) = schema::named_tables(name) {
                let keys: Vec<&str> = named.key_names().collect();
                with_table(value, |entries| {
                    filtered(
                        entries,
                        |_| true,
                        |_, settings| {
                            with_table(settings, |settings| {
                                filtered(settings, |key| keys.contains(&key), |_, v| v)
                            })
                        },
                    )
                })
            } else if let Some(section) = schema::TOP_LEVEL.iter().find(|s| s.name == name) {
                let keys: Vec<&str> = section.key_names().collect();
                with_table(value, |table| {
                    let kept = filtered(
                        table,
                        |key| {
                            keys.contains(&key)
                                || table
                                    .get(key)
                                    .is_some_and(|v| role_route(name, key, v).is_some())
                        },
                        |_, v| v,
                    );
                    // A route keeps only the keys a route has.
                    filtered(
                        &kept,
                        |_| true,
                        |key, v| {
                            if role_route(name, key, &v).is_some() {
                                with_table(v, |route| {
                                    filtered(route, |k| route_keys.contains(&k), |_, v| v)
                                })
                            } else {
                                v
                            }
                        },
                    )
                })
            } else {
                value
            }
        },
    )
}

/// Every key whose value cannot be read, found by reading each key alone
/// (serde stops at the first error of a document).
fn type_errors<'i>(text: &str, known: &DeTable<'i>, spans: &Spans<'_>) -> Vec<ConfigDiagnostic> {
    let mut found = Vec::new();
    let mut check = |alone: DeTable<'i>| {
        let deserializer = toml::de::Deserializer::from(Spanned::new(0..text.len(), alone));
        if let Err(error) = RawConfig::deserialize(deserializer) {
            let mut diagnostic = toml_error(text, &error);
            diagnostic.hint = error.span().and_then(|span| spans.meaning_at(span.start));
            found.push(diagnostic);
        }
    };
    for (section, value) in known {
        let section = section.get_ref().as_ref();
        let only_section = |make: &dyn Fn(&DeTable<'i>) -> DeTable<'i>| -> DeTable<'i> {
            filtered(known, |name| name == section, |_, value| with_table(value, |t| make(t)))
        };
        let DeValue::Table(table) = value.get_ref() else {
            check(only_section(&|t| t.clone()));
            continue;
        };
        for (key, entry) in table {
            let key = key.get_ref().as_ref();
            match (schema::named_tables(section), entry.get_ref()) {
                (Some(_), DeValue::Table(settings)) => {
                    for setting in settings.keys() {
                        let setting = setting.get_ref().as_ref();
                        check(only_section(&|entries| {
                            filtered(
                                entries,
                                |entry| entry == key,
                                |_, settings| {
                                    with_table(settings, |s| {
                                        filtered(s, |k| k == setting, |_, v| v)
                                    })
                                },
                            )
                        }));
                    }
                }
                _ => check(only_section(&|t| filtered(t, |k| k == key, |_, v| v))),
            }
        }
    }
    found
}

/// Merges each agent table with the defaults of its adapter.
fn resolve(raw: RawConfig, spans: &Spans<'_>, diagnostics: &mut Vec<ConfigDiagnostic>) -> Config {
    let mut agents = Config::default().agents;
    for (name, settings) in raw.agents {
        let path = |key: &'static str| [String::from("agents"), name.clone(), key.to_owned()];
        let at = |key: &'static str| {
            let path = path(key);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            spans.value(&path)
        };
        let adapter = match settings.adapter.as_deref() {
            None => Adapter::from_name(&name)
                .filter(|adapter| *adapter != Adapter::Command)
                .unwrap_or(Adapter::Command),
            Some(text) => match Adapter::from_name(text) {
                Some(adapter) => adapter,
                None => {
                    diagnostics.push(ConfigDiagnostic {
                        message: format!("unknown adapter `{text}`"),
                        location: at("adapter"),
                        hint: Some(did_you_mean(
                            text,
                            Adapter::ALL.iter().map(|adapter| adapter.as_str()),
                            "adapters",
                        )),
                    });
                    // Checking the rest against a guessed adapter would only add noise.
                    continue;
                }
            },
        };
        // A built-in agent re-pointed at another adapter starts from that adapter's defaults.
        let mut agent = match agents.remove(&name) {
            Some(existing) if existing.adapter == adapter => existing,
            _ => AgentConfig::defaults_for(adapter),
        };
        if let Some(CommandSpec(argv)) = settings.command {
            agent.command = argv;
        }
        if settings.max_concurrent.is_some() {
            agent.max_concurrent = settings.max_concurrent;
        }
        if settings.model.is_some() {
            agent.model = settings.model;
        }
        if let Some(stall) = settings.stall_timeout {
            agent.stall_timeout = stall;
        }
        if let Some(timeout) = settings.timeout {
            agent.timeout = timeout;
        }
        if let Some(args) = settings.args {
            agent.args = args;
        }
        if settings.base_url.is_some() {
            agent.base_url = settings.base_url;
        }
        if settings.api_key_env.is_some() {
            agent.api_key_env = settings.api_key_env;
        }
        if let Some(isolate) = settings.isolate {
            agent.isolate = isolate;
        }
        if let Some(mode) = settings.permission_mode {
            match PermissionMode::from_name(&mode) {
                Some(mode) => agent.permission_mode = Some(mode),
                None => diagnostics.push(ConfigDiagnostic {
                    message: format!("unknown permission_mode `{mode}`"),
                    location: at("permission_mode"),
                    hint: Some(did_you_mean(
                        &mode,
                        PermissionMode::ALL.iter().map(|mode| mode.as_str()),
                        "Claude Code's modes",
                    )),
                }),
            }
        }
        agents.insert(name, agent);
    }
    Config {
        run: raw.run,
        roles: raw.roles,
        store: raw.store,
        lease: raw.lease,
        limits: raw.limits,
        analyze: raw.analyze,
        plan: raw.plan,
        gates: raw.gates,
        security: raw.security,
        test: raw.test,
        review: raw.review,
        complete: raw.complete,
        agents,
        pricing: raw.pricing,
    }
}
