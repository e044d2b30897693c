//! The agent CLI `orca demo` drives, at the version orca pins and tests
//! (tools/agent-clis/package.json), installed with npm into orca's cache
//! on first use: `$ORCA_AGENT_CLIS`, else `$XDG_CACHE_HOME/orca/agent-clis`
//! (`~/.cache/orca/agent-clis`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::failure::Failure;
use crate::output::Output;

/// The pinned versions, as the tests install them.
const PINNED: &str = include_str!("../../../tools/agent-clis/package.json");
const CLAUDE_PACKAGE: &str = "@anthropic-ai/claude-code";

/// The pinned Claude Code's `claude`, installed first when missing.
pub(crate) fn claude(out: &Output) -> Result<PathBuf, Failure> {
    let version = pinned_version(CLAUDE_PACKAGE);
    let dir = cache_dir()?;
    let bin = dir.join("node_modules/.bin/claude");
    if installed_version(&dir, CLAUDE_PACKAGE).as_deref() == Some(version.as_str()) && bin.is_file()
    {
        return Ok(bin);
    }
    install(&dir, CLAUDE_PACKAGE, &version, "Claude Code", out)?;
    if !bin.is_file() {
        return Err(Failure::failed(format!(
            "npm installed {CLAUDE_PACKAGE}@{version} but {} is missing",
            bin.display()
        )));
    }
    Ok(bin)
}

fn pinned_version(package: &str) -> String {
    let pinned: serde_json::Value = serde_json::from_str(PINNED).expect("the pinned package.json");
    pinned["dependencies"][package].as_str().expect("the package is pinned").to_owned()
}

fn cache_dir() -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("ORCA_AGENT_CLIS").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or_else(|| {
            Failure::usage(
                "cannot tell where orca's cache is: neither HOME nor XDG_CACHE_HOME is set",
            )
            .with_hint("set ORCA_AGENT_CLIS to a directory for the agent CLIs")
        })?;
    Ok(cache.join("orca/agent-clis"))
}

/// The version of `package` installed in `dir`, if any.
fn installed_version(dir: &Path, package: &str) -> Option<String> {
    let manifest = dir.join("node_modules").join(package).join("package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

/// `npm install package@version` into `dir`, with a spinner on a terminal.
fn install(
    dir: &Path,
    package: &str,
    version: &str,
    name: &str,
    out: &Output,
) -> Result<(), Failure> {
    for program in ["node", "npm"] {
        if which(program).is_none() {
            return Err(Failure::usage(format!(
                "installing {name} {version} needs `{program}`, which is not on PATH"
            ))
            .with_hint(
                "install Node.js 18 or newer (it comes with npm), then run the command again",
            ));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
    let message =
        format!("installing {name} {version} from npm into {} (first use only)", dir.display());
    let spinner = if out.is_json() {
        ProgressBar::hidden()
    } else {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template"),
        );
        spinner.set_message(message.clone());
        spinner.enable_steady_tick(Duration::from_millis(120));
        if spinner.is_hidden() {
            // Not a terminal: one line instead of a spinner.
            eprintln!("{message}");
        }
        spinner
    };
    let result = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(dir)
        .arg(format!("{package}@{version}"))
        .stdin(Stdio::null())
        .output();
    spinner.finish_and_clear();
    let output = result.map_err(|e| Failure::failed(format!("cannot run npm: {e}")))?;
    if !output.status.success() {
        return Err(Failure::failed(format!(
            "npm could not install {package}@{version}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
        .with_hint("check the network access to the npm registry, or set ORCA_AGENT_CLIS to a directory where it is installed"));
    }
    if !out.is_json() {
        eprintln!("installed {name} {version}");
    }
    Ok(())
}

pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|file| file.is_file())
}
