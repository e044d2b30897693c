//! Which CLI is installed, at which version, and whether orca was tested
//! with that version.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use crate::adapter::Adapter;
use crate::environment::HostEnv;
use crate::program::locate;

/// How long `--version` may take before the CLI counts as broken.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// The versions of a CLI an adapter is tested with: from the one the test
/// suite pins (tools/agent-clis/package.json, run in CI) up to the newest
/// one `scripts/test-agents-latest` passed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TestedVersions {
    /// The version the test suite installs and CI runs; the oldest tested.
    pub pinned: &'static str,
    /// The newest version the real-CLI tests passed with.
    pub newest: &'static str,
}

/// Where an installed version stands against the tested ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Between the pinned and the newest tested version (inclusive).
    Tested,
    /// Newer than any version orca was tested with.
    NewerThanTested,
    /// Older than the pinned version.
    OlderThanTested,
    /// The version is not known or not a `1.2.3`-like number.
    Unknown,
}

impl VersionStatus {
    /// The name used in JSON (`newer_than_tested`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Tested => "tested",
            VersionStatus::NewerThanTested => "newer_than_tested",
            VersionStatus::OlderThanTested => "older_than_tested",
            VersionStatus::Unknown => "unknown",
        }
    }
}

impl TestedVersions {
    /// Where `version` (as `--version` or the CLI's start event reports
    /// it) stands against the tested versions.
    pub fn classify(&self, version: Option<&str>) -> VersionStatus {
        let Some(installed) = version.and_then(numbers) else {
            return VersionStatus::Unknown;
        };
        let (Some(pinned), Some(newest)) = (numbers(self.pinned), numbers(self.newest)) else {
            return VersionStatus::Unknown;
        };
        if compare(&installed, &pinned) == Ordering::Less {
            VersionStatus::OlderThanTested
        } else if compare(&installed, &newest) == Ordering::Greater {
            VersionStatus::NewerThanTested
        } else {
            VersionStatus::Tested
        }
    }

    /// `2.1.197` or `2.1.197 to 2.1.332`.
    pub fn describe(&self) -> String {
        if self.pinned == self.newest {
            self.pinned.to_string()
        } else {
            format!("{} to {}", self.pinned, self.newest)
        }
    }

    /// A warning for a CLI at `version` that was not tested, else `None`.
    pub fn warning(&self, cli: &str, version: &str) -> Option<String> {
        let relation = match self.classify(Some(version)) {
            VersionStatus::Tested | VersionStatus::Unknown => return None,
            VersionStatus::NewerThanTested => "newer",
            VersionStatus::OlderThanTested => "older",
        };
        Some(format!(
            "{cli} {version} is installed; orca's {cli} adapter is tested with {} (this one is {relation})",
            self.describe()
        ))
    }
}

/// The numeric parts of `1.2.3` (a pre-release or build suffix after `-`
/// or `+` is ignored); `None` unless it starts with two numbers.
fn numbers(version: &str) -> Option<Vec<u64>> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let parts: Vec<u64> = core.split('.').map(|part| part.parse().ok()).collect::<Option<_>>()?;
    (parts.len() >= 2).then_some(parts)
}

/// Compares numerically; a missing part counts as 0 (`1.2` == `1.2.0`).
fn compare(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| a.get(i).copied().unwrap_or(0).cmp(&b.get(i).copied().unwrap_or(0)))
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

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
    /// The versions the adapter is tested with; `None` for `command`.
    pub tested: Option<TestedVersions>,
    /// Why the version could not be read, when it could not.
    pub error: Option<String>,
}

impl ProgramProbe {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    /// Where the installed version stands; `Unknown` when it could not be
    /// read or the adapter has no tested versions.
    pub fn version_status(&self) -> VersionStatus {
        match self.tested {
            Some(tested) => tested.classify(self.version.as_deref()),
            None => VersionStatus::Unknown,
        }
    }

    /// A warning when the installed version is outside the tested ones.
    pub fn warning(&self) -> Option<String> {
        self.tested?.warning(&self.adapter, self.version.as_deref()?)
    }
}

/// Looks for the adapter's program and asks it for its version.
pub async fn probe(adapter: &dyn Adapter, host: &HostEnv) -> ProgramProbe {
    let mut probe = ProgramProbe {
        adapter: adapter.name().to_string(),
        program: adapter.program().to_path_buf(),
        path: locate(adapter.program(), host.get("PATH")),
        version: None,
        tested: adapter.tested_versions(),
        error: None,
    };
    let Some(path) = probe.path.clone() else {
        return probe;
    };
    if probe.tested.is_none() {
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

    const RANGE: TestedVersions = TestedVersions { pinned: "2.1.197", newest: "2.1.332" };

    #[test]
    fn parses_each_cli_version_line() {
        assert_eq!(parse_version("2.1.197 (Claude Code)\n").as_deref(), Some("2.1.197"));
        assert_eq!(parse_version("codex-cli 0.169.0\n").as_deref(), Some("0.169.0"));
        assert_eq!(parse_version("0.61.0").as_deref(), Some("0.61.0"));
        assert_eq!(parse_version("v1.18.33").as_deref(), Some("1.18.33"));
        assert_eq!(parse_version("no version here"), None);
    }

    #[test]
    fn classifies_against_the_tested_range() {
        let cases = [
            ("2.1.197", VersionStatus::Tested),
            ("2.1.250", VersionStatus::Tested),
            ("2.1.332", VersionStatus::Tested),
            // Numbers, not text: 2.1.40 is older than 2.1.197.
            ("2.1.40", VersionStatus::OlderThanTested),
            ("2.0.999", VersionStatus::OlderThanTested),
            ("2.1.333", VersionStatus::NewerThanTested),
            ("2.2", VersionStatus::NewerThanTested),
            ("10.0.0", VersionStatus::NewerThanTested),
            ("2.1.332-beta.1", VersionStatus::Tested),
            ("latest", VersionStatus::Unknown),
            ("3", VersionStatus::Unknown),
        ];
        for (version, status) in cases {
            assert_eq!(RANGE.classify(Some(version)), status, "{version}");
        }
        assert_eq!(RANGE.classify(None), VersionStatus::Unknown);
        assert_eq!(RANGE.describe(), "2.1.197 to 2.1.332");
        let one = TestedVersions { pinned: "0.61.0", newest: "0.61.0" };
        assert_eq!(one.describe(), "0.61.0");
        assert_eq!(one.classify(Some("0.61")), VersionStatus::Tested);
    }

    #[test]
    fn warns_only_outside_the_tested_range() {
        let mut probe = ProgramProbe {
            adapter: "claude".into(),
            program: "claude".into(),
            path: Some("/bin/claude".into()),
            version: Some("2.1.300".into()),
            tested: Some(RANGE),
            error: None,
        };
        assert_eq!(probe.version_status(), VersionStatus::Tested);
        assert_eq!(probe.warning(), None);
        probe.version = Some("2.2.0".into());
        assert_eq!(probe.version_status(), VersionStatus::NewerThanTested);
        assert_eq!(
            probe.warning().unwrap(),
            "claude 2.2.0 is installed; orca's claude adapter is tested with 2.1.197 to 2.1.332 (this one is newer)"
        );
        probe.version = Some("1.0.0".into());
        assert!(probe.warning().unwrap().ends_with("(this one is older)"));
        probe.version = None;
        assert_eq!((probe.version_status(), probe.warning()), (VersionStatus::Unknown, None));
        probe.tested = None;
        probe.version = Some("9.9.9".into());
        assert_eq!((probe.version_status(), probe.warning()), (VersionStatus::Unknown, None));
    }
}
