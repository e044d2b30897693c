use std::fs;

use orca_git::{DiscoverError, RefError, Repo};

use crate::support::{Fixture, git, write};

#[test]
fn discover_finds_the_top_level_from_a_subdirectory() {
    let fx = Fixture::new();
    let repo = Repo::discover(fx.root.join("src")).unwrap();
    assert_eq!(Repo::discover(fx.root.join("src/lib.rs")).unwrap().root(), fx.root);
    assert_eq!(repo.root(), fx.root);
    assert_eq!(repo.common_dir(), fx.root.join(".git"));
}

#[test]
fn discover_explains_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Repo::discover(tmp.path()).unwrap_err();
    assert!(matches!(err, DiscoverError::NotARepository { .. }), "{err:?}");
    assert!(err.to_string().contains("is not inside a git repository"), "{err}");

    let missing = tmp.path().join("nope");
    let err = Repo::discover(&missing).unwrap_err();
    assert!(matches!(err, DiscoverError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");

    let bare = tmp.path().join("bare.git");
    fs::create_dir(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare"]);
    let err = Repo::discover(&bare).unwrap_err();
    assert!(matches!(err, DiscoverError::Bare { .. }), "{err:?}");

    let fx = Fixture::new();
    let err = Repo::discover(fx.root.join(".git")).unwrap_err();
    assert!(matches!(err, DiscoverError::NotAWorkTree { .. }), "{err:?}");
}

#[test]
fn head_and_branch_of_the_checkout() {
    let fx = Fixture::new();
    assert_eq!(fx.repo.head_commit().unwrap().as_str(), fx.rev("HEAD"));
    assert_eq!(fx.repo.current_branch().unwrap().as_deref(), Some("main"));
    fx.git(&["checkout", "-q", "--detach", "HEAD~1"]);
    assert_eq!(fx.repo.current_branch().unwrap(), None);
    assert_eq!(fx.repo.head_commit().unwrap().as_str(), fx.rev("main~1"));
}

#[test]
fn an_empty_repository_has_no_head_commit() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "trunk"]);
    let repo = Repo::discover(tmp.path()).unwrap();
    assert!(matches!(repo.head_commit(), Err(RefError::UnbornHead)));
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("trunk"));
}

#[test]
fn is_dirty_sees_every_kind_of_change_but_not_ignored_files() {
    let fx = Fixture::new();
    // `.orca/.gitignore` keeps orca's local state out of git.
    assert!(!fx.repo.is_dirty().unwrap());

    write(fx.root.join("debug.log"), "ignored\n");
    write(fx.layout.database(), "state");
    assert!(!fx.repo.is_dirty().unwrap(), "ignored files and .orca state are not changes");

    write(fx.root.join("new.txt"), "x\n");
    assert!(fx.repo.is_dirty().unwrap(), "untracked");
    fs::remove_file(fx.root.join("new.txt")).unwrap();

    write(fx.root.join("README.md"), "changed\n");
    assert!(fx.repo.is_dirty().unwrap(), "modified");
    fx.git(&["add", "README.md"]);
    assert!(fx.repo.is_dirty().unwrap(), "staged");
}

#[test]
fn is_dirty_never_rewrites_the_index() {
    let fx = Fixture::new();
    // Make the index's stat data stale: same content, new mtime. A plain
    // `git status` refreshes and rewrites the index in this state.
    let file = fs::File::options().write(true).open(fx.root.join("README.md")).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    drop(file);
    let before = fs::read(fx.root.join(".git/index")).unwrap();
    fx.repo.is_dirty().unwrap();
    assert_eq!(fs::read(fx.root.join(".git/index")).unwrap(), before);
}

#[test]
fn rev_parse_resolves_commits_and_rejects_the_rest() {
    let fx = Fixture::new();
    assert_eq!(fx.repo.rev_parse("main~1").unwrap().as_str(), fx.rev("main~1"));
    assert_eq!(fx.repo.rev_parse(&fx.rev("HEAD")).unwrap().as_str(), fx.rev("HEAD"));
    for bad in ["no-such-branch", "-h", "--all", "HEAD~9"] {
        let err = fx.repo.rev_parse(bad).unwrap_err();
        assert!(matches!(&err, RefError::UnknownRevision { rev } if rev == bad), "{bad}: {err:?}");
    }
    // A tree is not a commit.
    let tree = fx.rev("HEAD^{tree}");
    assert!(fx.repo.rev_parse(&tree).is_err());
}

#[test]
fn ancestry_and_parents() {
    let fx = Fixture::new();
    assert!(fx.repo.is_ancestor("main~1", "main").unwrap());
    assert!(fx.repo.is_ancestor("main", "main").unwrap());
    assert!(!fx.repo.is_ancestor("main", "main~1").unwrap());
    assert!(matches!(fx.repo.is_ancestor("nope", "main"), Err(RefError::UnknownRevision { .. })));
    let parents = fx.repo.parents("main").unwrap();
    assert_eq!(parents.len(), 1);
    assert_eq!(parents[0].as_str(), fx.rev("main~1"));
    assert!(fx.repo.parents("main~1").unwrap().is_empty());
}
