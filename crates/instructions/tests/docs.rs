//! The human docs carry the same text the agents read.

use std::path::Path;

#[test]
fn docs_agent_sessions_md_holds_the_managed_block_verbatim() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/agent-sessions.md"),
    )
    .unwrap();
    // The block's first line is a comment for people editing CLAUDE.md.
    let (_, body) = orca_instructions::content::MANAGED_BLOCK.split_once('\n').unwrap();
    assert!(
        docs.contains(body),
        "docs/agent-sessions.md must end with the managed block's text; copy it from \
         crates/instructions/templates/managed-block.md"
    );
}
