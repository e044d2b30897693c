use std::path::Path;
use std::process::Command;

use super::*;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn repo(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    // The message names the directory: two repositories made in the same
    // second would otherwise share their root commit.
    let message = format!("init {}", dir.display());
    git(dir, &["commit", "-q", "--allow-empty", "-m", &message]);
    dir.canonicalize().unwrap()
}

#[test]
fn linked_worktrees_share_the_main_worktrees_root() {
    let dir = tempfile::tempdir().unwrap();
    let main = repo(&dir.path().join("repo"));
    git(&main, &["worktree", "add", "-q", "../repo-alice", "-b", "alice"]);
    let linked = dir.path().join("repo-alice").canonicalize().unwrap();
    assert_eq!(discover::worktree_root(&main), Some(main.clone()));
    assert_eq!(discover::worktree_root(&linked), Some(main.clone()));
    assert_eq!(discover::worktree_root(dir.path()), None);
    let from_linked = Workspace::discover_from(&linked.join("."), None).unwrap();
    assert_eq!(from_linked.root(), Some(main.as_path()));
    assert!(from_linked.store_is_default());
    assert_eq!(from_linked.store_url(), main.join(".orca/orca.db").display().to_string());
    // git agrees.
    let git_says = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .current_dir(&linked)
        .output()
        .unwrap();
    let common = std::path::PathBuf::from(String::from_utf8_lossy(&git_says.stdout).trim());
    assert_eq!(common.parent(), Some(main.as_path()));
}

#[test]
fn an_empty_dot_git_directory_is_not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    std::fs::create_dir_all(inner.join(".git")).unwrap();
    assert_eq!(discover::worktree_root(&inner), None);
    git(&inner, &["init", "-q"]);
    assert_eq!(discover::worktree_root(&inner), Some(inner.clone()));
}

#[test]
fn outside_a_repository_only_an_explicit_store_will_do() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("plain");
    std::fs::create_dir_all(&nowhere).unwrap();
    let err = Workspace::discover_from(&nowhere, None).unwrap_err();
    assert!(matches!(err, WorkspaceError::NotARepository { .. }), "{err}");
    let ws = Workspace::discover_from(&nowhere, Some("postgres://db/orca")).unwrap();
    assert_eq!(
        (ws.root(), ws.store_url(), ws.store_is_default()),
        (None, "postgres://db/orca", false)
    );
    assert!(ws.repo_ref().unwrap().is_none());
    assert!(matches!(ws.run_scope(None), RunScope::All));
}

#[test]
fn the_config_names_the_store_unless_a_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let main = repo(&dir.path().join("repo"));
    std::fs::create_dir_all(main.join(".orca")).unwrap();
    std::fs::write(main.join(".orca/config.toml"), "[store]\nurl = \"state/shared.db\"\n").unwrap();
    let ws = Workspace::discover_from(&main, None).unwrap();
    assert_eq!(ws.store_url(), main.join("state/shared.db").display().to_string());
    assert!(!ws.store_is_default());
    let flagged = Workspace::discover_from(&main, Some("/elsewhere.db")).unwrap();
    assert_eq!(flagged.store_url(), "/elsewhere.db");
}

#[test]
fn every_problem_of_the_config_is_an_error_here() {
    let dir = tempfile::tempdir().unwrap();
    let main = repo(&dir.path().join("repo"));
    std::fs::create_dir_all(main.join(".orca")).unwrap();
    std::fs::write(main.join(".orca/config.toml"), "[run]\nagents = \"many\"\n").unwrap();
    let err = Workspace::discover_from(&main, None).unwrap_err();
    assert!(matches!(err, WorkspaceError::Config(_)), "{err}");
}

#[test]
fn clones_share_the_identity_but_not_the_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let main = repo(&dir.path().join("a"));
    git(dir.path(), &["clone", "-q", "a", "b"]);
    let other = repo(&dir.path().join("c"));
    let refs: Vec<RepoRef> = [&main, &dir.path().join("b"), &other]
        .into_iter()
        .map(|root| {
            std::fs::create_dir_all(root.join(".orca")).unwrap();
            Workspace::discover_from(root, None).unwrap().repo_ref().unwrap().unwrap()
        })
        .collect();
    assert_eq!(refs[0].id, refs[1].id);
    assert_ne!(refs[0].checkout, refs[1].checkout);
    assert_ne!(refs[0].id, refs[2].id);
    assert!(refs[0].checkout.ends_with(&main.display().to_string()), "{}", refs[0].checkout);
    // Kept in .orca/repo-id, so later commands read a file.
    let cached = std::fs::read_to_string(main.join(".orca/repo-id")).unwrap();
    assert_eq!(cached.trim(), refs[0].id);
    let ws = Workspace::discover_from(&main, None).unwrap();
    assert!(matches!(ws.run_scope(Some(&refs[0])), RunScope::Repo { legacy: true, .. }));
}

#[test]
fn a_repository_without_commits_has_no_identity_yet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("empty");
    std::fs::create_dir_all(root.join(".orca")).unwrap();
    git(&root, &["init", "-q"]);
    let ws = Workspace::discover_from(&root, None).unwrap();
    assert!(ws.repo_ref().unwrap().is_none());
}
