//! The versions the adapters are tested with match the CLIs the test suite
//! installs (tools/agent-clis/package.json), and the installed ones.

use std::path::PathBuf;

use orca_agents::adapters::claude::{CLAUDE_TESTED, ClaudeAdapter};
use orca_agents::adapters::codex::{CODEX_TESTED, CodexAdapter};
use orca_agents::adapters::gemini::{GEMINI_TESTED, GeminiAdapter};
use orca_agents::adapters::opencode::{OPENCODE_TESTED, OpencodeAdapter};
use orca_agents::adapters::qwen::{QWEN_TESTED, QwenAdapter};
use orca_agents::{Adapter, HostEnv, TestedVersions, VersionStatus, probe};
use orca_model_server::{
    MissingAgentCli, claude_bin, codex_bin, gemini_bin, opencode_bin, qwen_bin,
};

/// Each adapter with its npm package, tested versions and pinned program.
fn adapters() -> Vec<(&'static str, TestedVersions, Box<dyn Adapter>)> {
    let program = |found: Result<PathBuf, MissingAgentCli>| found.unwrap();
    vec![
        (
            "@anthropic-ai/claude-code",
            CLAUDE_TESTED,
            Box::new(ClaudeAdapter::default().with_program(program(claude_bin()))),
        ),
        (
            "@openai/codex",
            CODEX_TESTED,
            Box::new(CodexAdapter::default().with_program(program(codex_bin()))),
        ),
        (
            "@google/gemini-cli",
            GEMINI_TESTED,
            Box::new(GeminiAdapter::default().with_program(program(gemini_bin()))),
        ),
        (
            "opencode-ai",
            OPENCODE_TESTED,
            Box::new(OpencodeAdapter::default().with_program(program(opencode_bin()))),
        ),
        (
            "@qwen-code/qwen-code",
            QWEN_TESTED,
            Box::new(QwenAdapter::default().with_program(program(qwen_bin()))),
        ),
    ]
}

fn pinned() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/agent-clis/package.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tested_versions_start_at_the_pinned_ones() {
    let pinned = pinned();
    let dependencies = pinned["dependencies"].as_object().unwrap();
    let adapters = adapters();
    assert_eq!(dependencies.len(), adapters.len(), "one adapter per pinned CLI");
    for (package, tested, adapter) in adapters {
        assert_eq!(dependencies[package], tested.pinned, "{package}");
        assert_eq!(adapter.tested_versions(), Some(tested));
        assert_eq!(tested.classify(Some(tested.newest)), VersionStatus::Tested, "{package}");
    }
}

/// What `scripts/test-agents-latest` runs against is whatever it installed;
/// the suite itself runs the pinned CLIs.
#[tokio::test]
async fn installed_clis_report_a_tested_version() {
    let host = HostEnv::current();
    let latest = std::env::var_os("ORCA_TEST_AGENTS_LATEST").is_some();
    for (package, tested, adapter) in adapters() {
        let probe = probe(adapter.as_ref(), &host).await;
        assert!(probe.installed(), "{probe:?}");
        assert!(probe.version.is_some(), "{probe:?}");
        if !latest {
            assert_eq!(probe.version.as_deref(), Some(tested.pinned), "{package}: {probe:?}");
            assert_eq!(probe.version_status(), VersionStatus::Tested);
            assert_eq!(probe.warning(), None);
        }
    }
}

#[tokio::test]
async fn a_version_outside_the_tested_ones_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("claude");
    std::fs::write(&fake, "#!/bin/sh\necho '99.9.9 (Claude Code)'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let adapter = ClaudeAdapter::default().with_program(&fake);
    let probe = probe(&adapter, &HostEnv::current()).await;
    assert_eq!(probe.version.as_deref(), Some("99.9.9"));
    assert_eq!(probe.version_status(), VersionStatus::NewerThanTested);
    let warning = probe.warning().expect("a warning");
    assert!(warning.contains("99.9.9") && warning.contains(CLAUDE_TESTED.pinned), "{warning}");
}
