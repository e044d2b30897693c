//! `orca init`: the real binary in real temporary git repositories.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every file `orca init` writes, in the order it reports them.
const FILES: [&str; 13] = [
    "CLAUDE.md",
    "AGENTS.md",
    ".claude/agents/orca-planner.md",
    ".claude/agents/orca-implementer.md",
    ".claude/agents/orca-tester.md",
    ".claude/agents/orca-security.md",
    ".claude/agents/orca-reviewer.md",
    ".claude/commands/orca-plan.md",
    ".claude/commands/orca-next.md",
    ".claude/commands/orca-work.md",
    ".claude/commands/orca-status.md",
    ".claude/commands/orca-run.md",
    ".orca/config.toml",
];

/// A throwaway git repository.
struct Repo {
    dir: tempfile::TempDir,
}

/// What one run of orca printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout, stderr and the exit code together, for snapshots.
    fn transcript(&self) -> String {
        format!("exit code: {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", self.stdout))
    }
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let status = git(dir.path()).args(["init", "-q"]).status().unwrap();
        assert!(status.success());
        Repo { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn orca_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_orca"))
            .args(args)
            .current_dir(cwd)
            .env_remove("ORCA_STORE")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        let root = self.dir.path().canonicalize().unwrap();
        let clean = |bytes: Vec<u8>| {
            String::from_utf8(bytes)
                .unwrap()
                .replace(&root.display().to_string(), "[ROOT]")
                .replace(&format!("v{VERSION}"), "v[VERSION]")
                .replace(&format!("\"{VERSION}\""), "\"[VERSION]\"")
        };
        Run {
            code: output.status.code().unwrap(),
            stdout: clean(output.stdout),
            stderr: clean(output.stderr),
        }
    }

    fn orca(&self, args: &[&str]) -> Run {
        self.orca_in(self.dir.path(), args)
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Every file under the repository (not `.git`): path → (bytes, modified time).
    fn tree(&self) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
        let mut tree = BTreeMap::new();
        let mut pending = vec![self.dir.path().to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                if entry.file_name() == ".git" {
                    continue;
                }
                if entry.file_type().unwrap().is_dir() {
                    pending.push(path);
                } else {
                    let relative =
                        path.strip_prefix(self.dir.path()).unwrap().display().to_string();
                    let metadata = fs::metadata(&path).unwrap();
                    tree.insert(relative, (fs::read(&path).unwrap(), metadata.modified().unwrap()));
                }
            }
        }
        tree
    }
}

fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(dir).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null");
    command
}

/// The block this orca writes, with `eol` line endings, from a fresh repo.
fn current_block(eol: &str) -> String {
    let repo = Repo::new();
    assert_eq!(repo.orca(&["init"]).code, 0);
    let text = repo.read("AGENTS.md");
    text.strip_suffix('\n').unwrap().replace('\n', eol)
}

#[test]
fn a_fresh_repository_gets_every_file() {
    let repo = Repo::new();
    let run = repo.orca(&["init"]);
    insta::assert_snapshot!("fresh_output", run.transcript());
    assert_eq!(run.code, 0);
    for file in FILES {
        let name = file.trim_start_matches('.').replace(['/', '.'], "_");
        let contents = repo.read(file).replace(&format!("v{VERSION}"), "v[VERSION]");
        insta::assert_snapshot!(format!("fresh_file_{name}"), contents);
    }
    assert!(repo.path(".orca/.gitignore").exists(), "the state directory is set up");
    assert_eq!(repo.read("CLAUDE.md"), repo.read("AGENTS.md"), "both files carry the same block");
}

#[test]
fn json_output_lists_every_file_with_its_status() {
    let repo = Repo::new();
    let run = repo.orca(&["init", "--json"]);
    assert_eq!(run.code, 0);
    insta::assert_json_snapshot!("fresh_json", run.json());
}

#[test]
fn init_works_from_a_subdirectory_and_writes_at_the_top() {
    let repo = Repo::new();
    fs::create_dir_all(repo.path("src/deep")).unwrap();
    let run = repo.orca_in(&repo.path("src/deep"), &["init"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(repo.path("CLAUDE.md").exists());
    assert!(!repo.path("src/deep/CLAUDE.md").exists());
}

#[test]
fn text_above_and_below_the_block_is_kept_byte_for_byte() {
    let repo = Repo::new();
    let above = "# Project notes\n\nWrite small functions.\n\n";
    let below = "\n\n## After orca\n\n- keep me\n- no trailing newline";
    let old_block = "<!-- orca:begin v0.0.1 -->\nold rules\n<!-- orca:end -->";
    repo.write("CLAUDE.md", &format!("{above}{old_block}{below}"));

    let run = repo.orca(&["init"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let text = repo.read("CLAUDE.md");
    assert!(text.starts_with(above), "{text}");
    assert!(text.ends_with(below), "{text}");
    assert_eq!(text, format!("{above}{}{below}", current_block("\n")));
    assert!(
        run.stdout.contains("updated    CLAUDE.md  (block of orca v0.0.1 replaced)"),
        "{}",
        run.stdout
    );
}

#[test]
fn crlf_files_with_a_bom_keep_their_bytes_and_line_endings() {
    let repo = Repo::new();
    let above = "\u{feff}# Notes\r\n\r\nUse tabs.\r\n";
    let below = "\r\ntail line\r\nlast line without newline";
    let old_block = "<!-- orca:begin v0.0.1 -->\r\nold\r\n<!-- orca:end -->";
    repo.write("CLAUDE.md", &format!("{above}{old_block}{below}"));

    assert_eq!(repo.orca(&["init"]).code, 0);
    let bytes = fs::read(repo.path("CLAUDE.md")).unwrap();
    let expected = format!("{above}{}{below}", current_block("\r\n"));
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);

    let before = repo.tree();
    let again = repo.orca(&["init"]);
    assert!(again.stdout.contains("unchanged  CLAUDE.md"), "{}", again.stdout);
    assert_eq!(repo.tree(), before);
}

#[test]
fn a_file_without_a_block_gets_it_appended_after_a_blank_line() {
    let repo = Repo::new();
    repo.write("CLAUDE.md", "# Notes\nno newline at the end");
    repo.write("AGENTS.md", "# Agents\r\n");
    let run = repo.orca(&["init"]);
    assert!(run.stdout.contains("updated    CLAUDE.md  (block added)"), "{}", run.stdout);
    assert_eq!(
        repo.read("CLAUDE.md"),
        format!("# Notes\nno newline at the end\n\n{}\n", current_block("\n"))
    );
    assert_eq!(repo.read("AGENTS.md"), format!("# Agents\r\n\r\n{}\r\n", current_block("\r\n")));
}

#[test]
fn a_stale_block_is_replaced_in_place() {
    let repo = Repo::new();
    assert_eq!(repo.orca(&["init"]).code, 0);
    let current = repo.read("CLAUDE.md");
    // An older orca wrote a different block; the user wrote around it.
    let older = current
        .replace(&format!("orca:begin v{VERSION}"), "orca:begin v0.0.9")
        .replace("## Session rules", "## Old session rules");
    repo.write("CLAUDE.md", &format!("mine above\n\n{older}\nmine below\n"));
    // Same version, but someone edited inside the markers.
    repo.write("AGENTS.md", &current.replace("Work one task at a time", "Work fast"));

    let check = repo.orca(&["init", "--check"]);
    insta::assert_snapshot!("stale_check", check.transcript());
    assert_eq!(check.code, 1);

    let run = repo.orca(&["init"]);
    insta::assert_snapshot!("stale_output", run.transcript());
    assert_eq!(repo.read("CLAUDE.md"), format!("mine above\n\n{current}\nmine below\n"));
    assert_eq!(repo.read("AGENTS.md"), current);
}

#[test]
fn a_second_run_changes_nothing() {
    let repo = Repo::new();
    repo.write("CLAUDE.md", "# Mine\r\n");
    assert_eq!(repo.orca(&["init"]).code, 0);
    let before = repo.tree();

    let run = repo.orca(&["init"]);
    assert_eq!(run.code, 0);
    for file in FILES {
        assert!(run.stdout.contains(&format!("unchanged  {file}\n")), "{file}: {}", run.stdout);
    }
    assert!(run.stdout.ends_with("orca init: 0 created, 0 updated, 13 unchanged, 0 skipped\n"));
    assert_eq!(repo.tree(), before, "same bytes, and no file rewritten");
}

#[test]
fn check_exits_1_when_anything_is_missing_or_stale_and_0_when_current() {
    let repo = Repo::new();
    let missing = repo.orca(&["init", "--check"]);
    insta::assert_snapshot!("check_missing", missing.transcript());
    assert_eq!(missing.code, 1);
    assert!(repo.tree().is_empty(), "--check writes nothing");

    assert_eq!(repo.orca(&["init"]).code, 0);
    let current = repo.orca(&["init", "--check"]);
    assert_eq!(current.code, 0, "{}", current.transcript());
    assert!(current.stderr.is_empty());

    let json = repo.orca(&["init", "--check", "--json"]).json();
    assert_eq!(json["current"], true);
    assert_eq!(json["check"], true);

    // One generated file deleted: stale again, and JSON says which.
    fs::remove_file(repo.path(".claude/commands/orca-run.md")).unwrap();
    let run = repo.orca(&["init", "--check", "--json"]);
    assert_eq!(run.code, 1);
    let json = run.json();
    assert_eq!(json["current"], false);
    let not_current: Vec<_> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|file| file["status"] != "current")
        .map(|file| (file["path"].as_str().unwrap(), file["status"].as_str().unwrap()))
        .collect();
    assert_eq!(not_current, [(".claude/commands/orca-run.md", "missing")]);
}

#[test]
fn a_user_modified_role_file_is_skipped_until_forced() {
    let repo = Repo::new();
    assert_eq!(repo.orca(&["init"]).code, 0);
    let generated = repo.read(".claude/agents/orca-reviewer.md");
    let edited = generated.replace("You are orca's reviewer.", "You are our strict reviewer.");
    repo.write(".claude/agents/orca-reviewer.md", &edited);

    let run = repo.orca(&["init"]);
    insta::assert_snapshot!("user_modified_skipped", run.transcript());
    assert_eq!(run.code, 0);
    assert_eq!(repo.read(".claude/agents/orca-reviewer.md"), edited, "the user's edit is kept");

    let check = repo.orca(&["init", "--check"]);
    assert_eq!(check.code, 0, "an edited file is the user's, not stale: {}", check.transcript());
    assert!(check.stdout.contains("edited     .claude/agents/orca-reviewer.md"));

    let json = repo.orca(&["init", "--json"]).json();
    let reviewer = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["path"] == ".claude/agents/orca-reviewer.md")
        .unwrap()
        .clone();
    insta::assert_json_snapshot!("user_modified_json_entry", reviewer);

    let forced = repo.orca(&["init", "--force"]);
    assert_eq!(forced.code, 0);
    assert!(
        forced.stdout.contains(
            "updated    .claude/agents/orca-reviewer.md  (your changes were overwritten (--force))"
        ),
        "{}",
        forced.stdout
    );
    assert_eq!(repo.read(".claude/agents/orca-reviewer.md"), generated);
}

#[test]
fn a_hand_written_file_in_orcas_place_is_the_users() {
    let repo = Repo::new();
    repo.write(".claude/commands/orca-plan.md", "my own plan command\n");
    let run = repo.orca(&["init"]);
    assert!(run.stdout.contains("skipped    .claude/commands/orca-plan.md  (changed by you"));
    assert_eq!(repo.read(".claude/commands/orca-plan.md"), "my own plan command\n");
}

#[test]
fn a_generated_file_from_another_version_is_updated() {
    let repo = Repo::new();
    assert_eq!(repo.orca(&["init"]).code, 0);
    let older_body = "---\nname: orca-tester\ndescription: old\ntools: Read\n---\nOld prompt.\n";
    let older =
        orca_instructions::stamp::stamp(older_body, orca_instructions::stamp::CommentStyle::Html);
    repo.write(".claude/agents/orca-tester.md", &older);

    let run = repo.orca(&["init"]);
    assert!(
        run.stdout.contains(
            "updated    .claude/agents/orca-tester.md  (generated by another orca version)"
        ),
        "{}",
        run.stdout
    );
    assert!(repo.read(".claude/agents/orca-tester.md").contains("You are orca's tester."));
}

#[test]
fn a_crlf_checkout_of_generated_files_counts_as_unchanged() {
    let repo = Repo::new();
    assert_eq!(repo.orca(&["init"]).code, 0);
    // What git's core.autocrlf does on checkout.
    let crlf = repo.read(".claude/agents/orca-planner.md").replace('\n', "\r\n");
    repo.write(".claude/agents/orca-planner.md", &crlf);
    let run = repo.orca(&["init"]);
    assert!(run.stdout.contains("unchanged  .claude/agents/orca-planner.md"), "{}", run.stdout);
    assert_eq!(repo.read(".claude/agents/orca-planner.md"), crlf);
}

#[test]
fn malformed_markers_are_an_error_and_nothing_is_written() {
    let repo = Repo::new();
    let broken = "# Notes\n<!-- orca:begin v0.1.0 -->\nhalf a block\n";
    repo.write("CLAUDE.md", broken);
    let run = repo.orca(&["init"]);
    insta::assert_snapshot!("malformed_begin_without_end", run.transcript());
    assert_eq!(run.code, 1);
    assert_eq!(repo.tree().keys().collect::<Vec<_>>(), ["CLAUDE.md"], "nothing else written");
    assert_eq!(repo.read("CLAUDE.md"), broken);

    let two =
        "<!-- orca:begin v1 -->\n<!-- orca:end -->\n\n<!-- orca:begin v1 -->\n<!-- orca:end -->\n";
    repo.write("CLAUDE.md", "# fine\n");
    repo.write("AGENTS.md", two);
    let run = repo.orca(&["init", "--json"]);
    assert_eq!(run.code, 1);
    insta::assert_json_snapshot!("malformed_two_begins_json", run.json());
    assert_eq!(repo.read("CLAUDE.md"), "# fine\n", "not even the valid file is written");
    assert_eq!(repo.read("AGENTS.md"), two);
}

#[test]
fn an_invalid_config_is_reported_at_its_line_with_a_suggestion() {
    let repo = Repo::new();
    repo.write(".orca/config.toml", "[run]\nagnets = 8\n\n[lease]\nttl = \"5 minutes\"\n");
    let run = repo.orca(&["init"]);
    insta::assert_snapshot!("invalid_config", run.transcript());
    assert_eq!(run.code, 1);
    assert!(repo.path("CLAUDE.md").exists(), "the other files are still written");

    let json = repo.orca(&["init", "--check", "--json"]).json();
    insta::assert_json_snapshot!("invalid_config_json", json["config"]);
}

#[test]
fn an_agents_md_symlinked_to_claude_md_gets_one_block() {
    let repo = Repo::new();
    repo.write("CLAUDE.md", "# Shared\n");
    std::os::unix::fs::symlink("CLAUDE.md", repo.path("AGENTS.md")).unwrap();
    let run = repo.orca(&["init"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("updated    AGENTS.md  (same file as CLAUDE.md)"),
        "{}",
        run.stdout
    );
    assert!(fs::symlink_metadata(repo.path("AGENTS.md")).unwrap().file_type().is_symlink());
    assert_eq!(repo.read("CLAUDE.md").matches("orca:begin").count(), 1);
    assert_eq!(repo.orca(&["init", "--check"]).code, 0);
}

#[test]
fn outside_a_git_repository_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["init"])
        .current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("not_a_repository", String::from_utf8(output.stderr).unwrap());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn check_and_force_together_is_a_usage_error() {
    let repo = Repo::new();
    let run = repo.orca(&["init", "--check", "--force"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
}
