//! The versions the adapters are tested with match the CLIs the test suite
//! installs (tools/agent-clis/package.json), and the installed ones.

use orca_agents::adapters::claude::{CLAUDE_TESTED_VERSION, ClaudeAdapter};
use orca_agents::adapters::codex::{CODEX_TESTED_VERSION, CodexAdapter};
use orca_agents::{Adapter, HostEnv, probe};

fn pinned() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/agent-clis/package.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tested_versions_are_the_pinned_ones() {
    let pinned = pinned();
    assert_eq!(pinned["dependencies"]["@anthropic-ai/claude-code"], CLAUDE_TESTED_VERSION);
    assert_eq!(pinned["dependencies"]["@openai/codex"], CODEX_TESTED_VERSION);
}

#[tokio::test]
async fn installed_clis_report_the_tested_versions() {
    let host = HostEnv::current();
    let adapters: [Box<dyn Adapter>; 2] = [
        Box::new(ClaudeAdapter::default().with_program(orca_model_server::claude_bin().unwrap())),
        Box::new(CodexAdapter::default().with_program(orca_model_server::codex_bin().unwrap())),
    ];
    for adapter in adapters {
        let probe = probe(adapter.as_ref(), &host).await;
        assert!(probe.installed(), "{probe:?}");
        assert_eq!(probe.version.as_deref(), adapter.tested_version(), "{probe:?}");
        assert_eq!(probe.warning(), None);
    }
}

#[tokio::test]
async fn a_different_version_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("claude");
    std::fs::write(&fake, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let adapter = ClaudeAdapter::default().with_program(&fake);
    let probe = probe(&adapter, &HostEnv::current()).await;
    assert_eq!(probe.version.as_deref(), Some("9.9.9"));
    let warning = probe.warning().expect("a warning");
    assert!(warning.contains("9.9.9") && warning.contains(CLAUDE_TESTED_VERSION), "{warning}");
}
