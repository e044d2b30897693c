//! Which CLI is installed, at which version, and whether that is the one
//! orca was tested with.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use crate::adapter::Adapter;
use crate::environment::HostEnv;
use crate::program::locate;

/// How long `--version` may take before the CLI counts as broken.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// What is known about one adapter's program on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramProbe {
    pub adapter: String,
    /// The program as configured (a bare name or a path).
    pub program: PathBuf,
    /// Where it was found, if anywhere.
    pub path: Option<PathBuf>,
    /// What `--version` printed, reduced to the version number.
    pub version: Option<String>,
    pub tested_version: Option<&'static str>,
    /// Why the version could not be read, when it could not.
    pub error: Option<String>,
}

impl ProgramProbe {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    /// A warning when the installed version is not the tested one.
    pub fn warning(&self) -> Option<String> {
        let tested = self.tested_version?;
        let version = self.version.as_deref()?;
        (version != tested).then(|| {
            format!(
                "{} {version} is installed; orca's {} adapter is tested with {tested}",
                self.adapter, self.adapter
            )
        })
    }
}

/// Looks for the adapter's program and asks it for its version.
pub async fn probe(adapter: &dyn Adapter, host: &HostEnv) -> ProgramProbe {
    let mut probe = ProgramProbe {
        adapter: adapter.name().to_string(),
        program: adapter.program().to_path_buf(),
        path: locate(adapter.program(), host.get("PATH")),
        version: None,
        tested_version: adapter.tested_version(),
        error: None,
    };
    let Some(path) = probe.path.clone() else {
        return probe;
    };
    if adapter.tested_version().is_none() {
        // `command` runs any program; it has no version to compare.
        return probe;
    }
    let mut command = tokio::process::Command::new(&path);
    command
        .args(adapter.version_args())
        .env_clear()
        .envs(["PATH", "HOME"].iter().filter_map(|name| Some((*name, host.get(name)?))))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(VERSION_TIMEOUT, async { command.output().await }).await {
        Err(_) => probe.error = Some(format!("`{} --version` did not answer", path.display())),
        Ok(Err(error)) => probe.error = Some(format!("cannot run {}: {error}", path.display())),
        Ok(Ok(output)) => {
            let text = String::from_utf8_lossy(&output.stdout);
            probe.version = parse_version(&text);
            if probe.version.is_none() {
                probe.error = Some(format!(
                    "`{} --version` printed no version: {}",
                    path.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        }
    }
    probe
}

/// The first `1.2.3`-like word: `2.1.197 (Claude Code)`, `codex-cli 0.169.0`.
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .map(|word| word.trim_start_matches('v'))
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() >= 2
                && parts
                    .iter()
                    .take(3)
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_cli_version_line() {
        assert_eq!(parse_version("2.1.197 (Claude Code)\n").as_deref(), Some("2.1.197"));
        assert_eq!(parse_version("codex-cli 0.169.0\n").as_deref(), Some("0.169.0"));
        assert_eq!(parse_version("0.61.0").as_deref(), Some("0.61.0"));
        assert_eq!(parse_version("v1.18.33").as_deref(), Some("1.18.33"));
        assert_eq!(parse_version("no version here"), None);
    }

    #[test]
    fn warns_only_on_a_different_version() {
        let mut probe = ProgramProbe {
            adapter: "claude".into(),
            program: "claude".into(),
            path: Some("/bin/claude".into()),
            version: Some("2.1.197".into()),
            tested_version: Some("2.1.197"),
            error: None,
        };
        assert_eq!(probe.warning(), None);
        probe.version = Some("2.2.0".into());
        assert!(probe.warning().unwrap().contains("tested with 2.1.197"));
    }
}
