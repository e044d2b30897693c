//! What `orca init` writes: the managed block for CLAUDE.md and AGENTS.md,
//! Claude Code role subagents and slash commands, and the default config.

use crate::stamp::CommentStyle;

/// The text between the markers, the same in CLAUDE.md and AGENTS.md.
pub const MANAGED_BLOCK: &str = include_str!("../templates/managed-block.md");

/// The files that carry the managed block, relative to the repository root.
pub const BLOCK_FILES: [&str; 2] = ["CLAUDE.md", "AGENTS.md"];

/// A whole file orca generates, and the comment style of its footer.
#[derive(Debug, Clone, Copy)]
pub struct GeneratedFile<'a> {
    /// Relative to the repository root, `/`-separated.
    pub path: &'a str,
    pub body: &'a str,
    pub style: CommentStyle,
}

macro_rules! markdown {
    ($dir:literal, $name:literal) => {
        GeneratedFile {
            path: concat!(".claude/", $dir, "/", $name, ".md"),
            body: include_str!(concat!("../templates/", $dir, "/", $name, ".md")),
            style: CommentStyle::Html,
        }
    };
}

/// Claude Code subagents, one per role (`.claude/agents/orca-<role>.md`).
pub const SUBAGENTS: [GeneratedFile<'static>; 5] = [
    markdown!("agents", "orca-planner"),
    markdown!("agents", "orca-implementer"),
    markdown!("agents", "orca-tester"),
    markdown!("agents", "orca-security"),
    markdown!("agents", "orca-reviewer"),
];

/// Claude Code slash commands for the common flows (`.claude/commands/orca-*.md`).
pub const COMMANDS: [GeneratedFile<'static>; 5] = [
    markdown!("commands", "orca-plan"),
    markdown!("commands", "orca-next"),
    markdown!("commands", "orca-work"),
    markdown!("commands", "orca-status"),
    markdown!("commands", "orca-run"),
];

/// Where the config file goes, relative to the repository root.
pub const CONFIG_PATH: &str = ".orca/config.toml";

#[cfg(test)]
mod tests {
    use super::*;

    /// Claude Code's built-in tool names a generated file may grant.
    const TOOLS: [&str; 6] = ["Read", "Grep", "Glob", "Edit", "Write", "Bash"];

    /// The `key: value` lines between the leading `---` lines.
    fn frontmatter(text: &str) -> Vec<(&str, &str)> {
        let rest = text.strip_prefix("---\n").expect("frontmatter opens the file");
        let (head, body) = rest.split_once("\n---\n").expect("frontmatter is closed");
        assert!(!body.trim().is_empty(), "a prompt follows the frontmatter");
        head.lines()
            .map(|line| line.split_once(": ").unwrap_or_else(|| panic!("not `key: value`: {line}")))
            .collect()
    }

    /// A YAML plain scalar may not start with an indicator character.
    fn plain_yaml_scalar_is_safe(value: &str) {
        let first = value.chars().next().unwrap();
        let quoted = value.starts_with('"') && value.ends_with('"');
        assert!(quoted || !"[]{}&*!|>'\"%@`#,?:-".contains(first), "quote {value}");
        assert!(quoted || !value.contains(": ") && !value.contains(" #"), "quote {value}");
    }

    #[test]
    fn subagents_are_in_claude_codes_format() {
        for file in SUBAGENTS {
            let fields = frontmatter(file.body);
            let keys: Vec<&str> = fields.iter().map(|(key, _)| *key).collect();
            assert_eq!(keys, ["name", "description", "tools"], "{}", file.path);
            let name = fields[0].1;
            assert_eq!(format!(".claude/agents/{name}.md"), file.path);
            for (_, value) in &fields {
                plain_yaml_scalar_is_safe(value);
            }
            let tools: Vec<&str> = fields[2].1.split(", ").collect();
            assert!(tools.iter().all(|tool| TOOLS.contains(tool)), "{}: {tools:?}", file.path);
            let read_only = name.ends_with("security") || name.ends_with("reviewer");
            let writes = tools.contains(&"Edit") || tools.contains(&"Write");
            assert_eq!(writes, !read_only, "{}: only reviewers are read-only", file.path);
        }
    }

    #[test]
    fn commands_are_in_claude_codes_format() {
        for file in COMMANDS {
            let fields = frontmatter(file.body);
            let keys: Vec<&str> = fields.iter().map(|(key, _)| *key).collect();
            assert!(
                keys.contains(&"description") && keys.contains(&"allowed-tools"),
                "{}",
                file.path
            );
            assert!(
                keys.iter()
                    .all(|key| ["description", "argument-hint", "allowed-tools"].contains(key))
            );
            for (_, value) in &fields {
                plain_yaml_scalar_is_safe(value);
            }
            let takes_arguments = file.body.contains("$ARGUMENTS");
            assert_eq!(keys.contains(&"argument-hint"), takes_arguments, "{}", file.path);
            for tool in
                fields.iter().find(|(key, _)| *key == "allowed-tools").unwrap().1.split(", ")
            {
                let base = tool.split('(').next().unwrap();
                assert!(TOOLS.contains(&base), "{}: {tool}", file.path);
            }
        }
    }

    #[test]
    fn the_block_documents_every_in_session_command_and_mcp_tool() {
        for command in [
            "`orca task load PLAN`",
            "`orca task next [--claim] [--as NAME]`",
            "`orca task show ID`",
            "`orca task heartbeat ID`",
            "`orca task done ID [--summary TEXT]`",
            "`orca task fail ID --reason TEXT`",
            "`orca task block ID --reason TEXT`",
            "ORCA_AS",
            "`orca mcp`",
        ] {
            assert!(MANAGED_BLOCK.contains(command), "the block lacks {command}");
        }
        for tool in [
            "next_task",
            "claim_task",
            "heartbeat",
            "complete_task",
            "fail_task",
            "plan_status",
            "validate_plan",
        ] {
            assert!(MANAGED_BLOCK.contains(&format!("`{tool}`")), "the block lacks {tool}");
        }
        for stage in [
            "analyze",
            "plan",
            "parallel",
            "implement",
            "security",
            "test",
            "cleanup",
            "review",
            "complete",
        ] {
            assert!(MANAGED_BLOCK.contains(&format!("| {stage} |")), "the block lacks {stage}");
        }
        assert!(MANAGED_BLOCK.lines().count() <= 150, "the block must stay short");
        assert!(!MANAGED_BLOCK.contains("orca:begin") && !MANAGED_BLOCK.contains("orca:end"));
    }
}
