//! `orca doctor`: everything a run needs, checked at once, each problem
//! with what to do about it. Exit 0 only when a run can start.

use std::path::Path;
use std::process::Command;

use orca_agents::{HostEnv, locate};
use orca_config::Adapter;
use orca_engine::profiles::AgentProfiles;
use orca_store::{OpenError, StoreOptions};
use orca_workspace::{Workspace, WorkspaceError};
use serde::Serialize;

use crate::command_error::{describe, open_failure, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;

/// git's `merge-tree --write-tree`, which the merge queue uses, came in 2.38.
const GIT_MIN: (u32, u32) = (2, 38);
/// Below this much free space under `.orca/`, worktrees may not fit.
const DISK_WARN_BYTES: u64 = 2 << 30;
const DISK_FAIL_BYTES: u64 = 200 << 20;

#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// The store [default: `[store] url`, .orca/orca.db].
    #[arg(long, value_name = "URL", env = "ORCA_STORE")]
    store: Option<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ok,
    /// Worth knowing; a run can still start.
    Warn,
    /// A run cannot start until it is fixed.
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status, detail: detail.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }
}

pub(crate) fn run(args: &DoctorArgs, out: &Output) -> Result<ExitCode, Failure> {
    let mut checks = vec![git_version()];
    let workspace = match Workspace::discover(args.store.as_deref()) {
        Ok(workspace) => {
            checks.push(Check::new(
                "config",
                Status::Ok,
                "`.orca/config.toml` is valid (or absent: defaults)",
            ));
            Some(workspace)
        }
        Err(error) => {
            let failure = workspace_failure(&error);
            let name =
                if matches!(error, WorkspaceError::Config(_)) { "config" } else { "workspace" };
            let mut check = Check::new(name, Status::Fail, failure.message);
            check.hint = failure.hints.into_iter().next();
            checks.push(check);
            None
        }
    };
    // The checks of the repository itself need no config: a broken config
    // should not hide a missing git identity as well.
    let root = match &workspace {
        Some(workspace) => workspace.root().map(Path::to_owned),
        None => std::env::current_dir().ok().and_then(|dir| Workspace::repository_root(&dir)),
    };
    if let Some(root) = &root {
        checks.push(git_identity(root));
        checks.push(repository(root));
        checks.push(disk_space(&root.join(".orca")));
    }
    match &workspace {
        Some(workspace) => {
            checks.push(store(workspace)?);
            checks.extend(agents(workspace));
        }
        None if root.is_some() => checks.push(
            Check::new("store, agents", Status::Fail, "not checked: they are read from the config")
                .hint("fix the config first, then run `orca doctor` again"),
        ),
        None => {}
    }
    checks.push(node());
    let ok = checks.iter().all(|check| check.status != Status::Fail);
    if out.is_json() {
        out.json(&serde_json::json!({ "ok": ok, "checks": checks }));
    } else {
        let mut lines = Vec::new();
        for check in &checks {
            let mark = match check.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            lines.push(format!("{mark}  {:<18} {}", check.name, check.detail));
            if let Some(hint) = &check.hint {
                lines.push(format!("      {:<18} hint: {hint}", ""));
            }
        }
        lines.push(if ok {
            "a run can start".to_owned()
        } else {
            "a run cannot start until the FAIL lines are fixed".to_owned()
        });
        out.text(lines.join("\n"));
    }
    Ok(if ok { ExitCode::Success } else { ExitCode::Failure })
}

fn git_version() -> Check {
    let version = Command::new("git").arg("--version").output();
    let text = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => {
            return Check::new("git", Status::Fail, "git is not installed (or not on PATH)")
                .hint("install git 2.38 or newer");
        }
    };
    let number = text.split_whitespace().nth(2).unwrap_or("");
    let mut parts = number.split('.').filter_map(|part| part.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= GIT_MIN {
        Check::new("git", Status::Ok, text)
    } else {
        Check::new(
            "git",
            Status::Fail,
            format!("{text}: orca needs {}.{} or newer", GIT_MIN.0, GIT_MIN.1),
        )
        .hint("install a newer git")
    }
}

fn git_identity(root: &Path) -> Check {
    let get = |key: &str| {
        Command::new("git")
            .args(["config", "--get", key])
            .current_dir(root)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => {
            Check::new("git identity", Status::Ok, format!("{name} <{email}>"))
        }
        _ => Check::new(
            "git identity",
            Status::Warn,
            "no user.name/user.email: orca's commits are made as `orca <orca@localhost>`",
        )
        .hint("git config user.name \"Your Name\"; git config user.email you@example.com"),
    }
}

fn repository(root: &Path) -> Check {
    let head = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .current_dir(root)
        .output();
    match head {
        Ok(out) if out.status.success() => {
            Check::new("repository", Status::Ok, root.display().to_string())
        }
        _ => Check::new("repository", Status::Fail, format!("{}: no commit yet", root.display()))
            .hint("commit something first: a run starts from HEAD"),
    }
}

fn disk_space(state_dir: &Path) -> Check {
    let probe =
        if state_dir.exists() { state_dir } else { state_dir.parent().unwrap_or(state_dir) };
    match nix::sys::statvfs::statvfs(probe) {
        Ok(stat) => {
            let free = stat.blocks_available() * stat.fragment_size();
            let detail = format!(
                "{:.1} GiB free for worktrees under .orca/",
                free as f64 / f64::from(1u32 << 30)
            );
            if free < DISK_FAIL_BYTES {
                Check::new("disk", Status::Fail, detail)
                    .hint("free some disk space: each agent works in a worktree")
            } else if free < DISK_WARN_BYTES {
                Check::new("disk", Status::Warn, detail)
                    .hint("several agents at once need a worktree each")
            } else {
                Check::new("disk", Status::Ok, detail)
            }
        }
        Err(error) => {
            Check::new("disk", Status::Warn, format!("cannot tell the free space: {error}"))
        }
    }
}

fn store(workspace: &Workspace) -> Result<Check, Failure> {
    let shown = orca_store::redact_url(workspace.store_url());
    let opened = crate::runtime::runtime()?.block_on(async {
        let options = StoreOptions { create: false, ..StoreOptions::default() };
        let store = workspace.open_store(&options).await;
        if let Ok(store) = &store {
            store.close().await;
        }
        store.map(|_| ())
    });
    Ok(match opened {
        Ok(()) => Check::new(
            "store",
            Status::Ok,
            format!("{shown}: schema {}", orca_store::SCHEMA_VERSION),
        ),
        Err(OpenError::Missing { .. }) if workspace.store_is_default() => {
            Check::new("store", Status::Ok, format!("{shown}: made at the first run"))
        }
        Err(error) => {
            let failure = open_failure(&error);
            let mut check = Check::new("store", Status::Fail, failure.message);
            check.hint = failure.hints.into_iter().next();
            check
        }
    })
}

/// Each configured agent's program: the ones a run starts by default (the
/// run's agent, the planner, the reviewer, as routed) must work; the
/// others only warn.
fn agents(workspace: &Workspace) -> Vec<Check> {
    let config = workspace.config();
    let host = HostEnv::current();
    let profiles = match AgentProfiles::from_config(config, &host) {
        Ok(profiles) => profiles,
        Err(error) => {
            return vec![
                Check::new("agents", Status::Fail, describe(&error))
                    .hint("agents are defined under [agents] in .orca/config.toml"),
            ];
        }
    };
    let needed: Vec<&str> = [
        Some(config.run.agent.as_str()),
        config.plan.agent.as_deref().or_else(|| config.roles.agent_for("planner")),
        config.review.agent.as_deref().or_else(|| config.roles.agent_for("reviewer")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Ok(runtime) = crate::runtime::runtime() else { return Vec::new() };
    profiles
        .names()
        .into_iter()
        .filter_map(|name| profiles.get(&name).ok().map(|profile| (name, profile)))
        .map(|(name, profile)| {
            let severity =
                if needed.contains(&name.as_str()) { Status::Fail } else { Status::Warn };
            let label = format!("agent {name}");
            let program = profile.adapter.program().to_path_buf();
            let Some(path) = locate(&program, host.get("PATH")) else {
                return Check::new(
                    label,
                    severity,
                    format!("`{}` is not installed (not on PATH)", program.display()),
                )
                .hint(if severity == Status::Fail {
                    "install it, or choose another agent with [run] agent in .orca/config.toml"
                } else {
                    "only needed by tasks that name this agent"
                });
            };
            if profile.config.adapter == Adapter::Command {
                return Check::new(label, Status::Ok, format!("command agent: {}", path.display()));
            }
            let probe = runtime.block_on(orca_agents::probe(profile.adapter.as_ref(), &host));
            match (&probe.error, probe.warning()) {
                (Some(error), _) => Check::new(label, severity, error.clone()),
                (None, Some(warning)) => Check::new(label, Status::Warn, warning),
                (None, None) => Check::new(
                    label,
                    Status::Ok,
                    format!("{} {}", path.display(), probe.version.unwrap_or_default()),
                ),
            }
        })
        .collect()
}

fn node() -> Check {
    let version = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match (version("node"), version("npm")) {
        (Some(node), Some(npm)) => {
            Check::new("node/npm", Status::Ok, format!("node {node}, npm {npm}"))
        }
        _ => Check::new("node/npm", Status::Warn, "node or npm is missing").hint(
            "`orca demo` installs the pinned Claude Code CLI with npm; install Node.js 18 or newer",
        ),
    }
}
