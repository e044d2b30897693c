use std::fs;

use orca_git::{ChangeKind, FileChange};

use crate::support::{Fixture, commit_file, git, write};

/// A branch with one commit per kind of change; returns (base, tip).
fn varied_branch(fx: &Fixture) -> (String, String) {
    let wt = fx.repo.add_worktree(&fx.wt("w"), "varied", "main").unwrap();
    let base = fx.rev("main");
    commit_file(&wt.path, "docs/guide.md", "one\ntwo\nthree\n", "Add the guide");
    write(wt.path.join("README.md"), "# demo\n\nline one\nline 2\nline three\nline four\n");
    git(&wt.path, &["mv", "src/lib.rs", "src/core.rs"]);
    fs::remove_file(wt.path.join(".gitignore")).unwrap();
    fs::write(wt.path.join("logo.png"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    git(&wt.path, &["add", "--all"]);
    git(&wt.path, &["commit", "-q", "-m", "Rework the readme, move lib, add a logo"]);
    let tip = git(&wt.path, &["rev-parse", "HEAD"]);
    (base, tip)
}

fn change(kind: ChangeKind, path: &str, old: Option<&str>) -> FileChange {
    FileChange { kind, path: path.into(), old_path: old.map(Into::into) }
}

#[test]
fn changed_files_lists_every_kind_of_change() {
    let fx = Fixture::new();
    let (base, tip) = varied_branch(&fx);
    let changes = fx.repo.changed_files(&base, &tip).unwrap();
    assert_eq!(
        changes,
        [
            change(ChangeKind::Deleted, ".gitignore", None),
            change(ChangeKind::Modified, "README.md", None),
            change(ChangeKind::Added, "docs/guide.md", None),
            change(ChangeKind::Added, "logo.png", None),
            change(ChangeKind::Renamed, "src/core.rs", Some("src/lib.rs")),
        ]
    );
    assert!(fx.repo.changed_files(&tip, &tip).unwrap().is_empty());
    assert!(fx.repo.changed_files("nope", &tip).is_err());
}

#[test]
fn diff_stat_counts_lines_and_marks_binaries() {
    let fx = Fixture::new();
    let (base, tip) = varied_branch(&fx);
    let stat = fx.repo.diff_stat(&base, &tip).unwrap();
    let rows: Vec<_> = stat
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.old_path.as_deref(), f.added, f.deleted))
        .collect();
    assert_eq!(
        rows,
        [
            (".gitignore", None, Some(0), Some(1)),
            ("README.md", None, Some(2), Some(1)),
            ("docs/guide.md", None, Some(3), Some(0)),
            ("logo.png", None, None, None),
            ("src/core.rs", Some("src/lib.rs"), Some(0), Some(0)),
        ]
    );
    assert_eq!(stat.insertions(), 5);
    assert_eq!(stat.deletions(), 2);
}

#[test]
fn a_range_summary_names_files_counts_and_commits() {
    let fx = Fixture::new();
    let (base, tip) = varied_branch(&fx);
    let summary = fx.repo.summarize_range(&base, &tip).unwrap();
    assert_eq!(summary.commit_count, 2);
    insta::assert_snapshot!(summary.render(2000), @r"
    5 files changed, +5 -2, 2 commits
      D .gitignore (+0 -1)
      M README.md (+2 -1)
      A docs/guide.md (+3 -0)
      A logo.png (binary)
      R src/lib.rs -> src/core.rs (+0 -0)
    Commits:
      Rework the readme, move lib, add a logo
      Add the guide
    ");
    insta::assert_snapshot!(summary.render(120), @r"
    5 files changed, +5 -2, 2 commits
      D .gitignore (+0 -1)
      M README.md (+2 -1)
      ... and 3 more files
    ");
}

/// A range of one commit on its base is summarized from that commit alone
/// (one git process); it must read as the whole range's diff and log do.
#[test]
fn a_one_commit_range_reads_as_the_range_does() {
    let fx = Fixture::new();
    let (base, tip) = varied_branch(&fx);
    let one = |parents: &[&str], message: &str| {
        let mut args = vec!["commit-tree".to_string(), format!("{tip}^{{tree}}")];
        for parent in parents {
            args.extend(["-p".to_string(), parent.to_string()]);
        }
        args.extend(["-m".to_string(), message.to_string()]);
        git(&fx.root, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let squashed = one(&[&base], "Everything at once\n\nwith a body");
    let summary = fx.repo.summarize_range(&base, &squashed).unwrap();
    let by_range = fx.repo.summarize_range(&base, &tip).unwrap();
    assert_eq!(summary.files, by_range.files, "every kind of change, counted alike");
    assert_eq!(
        (summary.commits.as_slice(), summary.commit_count),
        (["Everything at once".to_string()].as_slice(), 1)
    );
    assert!(summary.render(2000).starts_with("5 files changed, +5 -2, 1 commit\n"));

    // A commit that changed nothing, and one without a subject.
    let empty =
        git(&fx.root, &["commit-tree", &format!("{base}^{{tree}}"), "-p", &base, "-m", "Nothing"]);
    let summary = fx.repo.summarize_range(&base, &empty).unwrap();
    assert_eq!(
        (summary.files.len(), summary.commits, summary.commit_count),
        (0, vec!["Nothing".to_string()], 1)
    );
    let silent = one(&[&base], "");
    let summary = fx.repo.summarize_range(&base, &silent).unwrap();
    assert_eq!((summary.files.len(), summary.commits.len(), summary.commit_count), (5, 0, 1));

    // Its parent is not the range's start: the range is more than it.
    let on_tip = one(&[&tip], "On top");
    let summary = fx.repo.summarize_range(&base, &on_tip).unwrap();
    assert_eq!(summary.commit_count, 3);
    assert_eq!(summary.files, by_range.files);
    // A merge of the start and another line: both parents' work counts.
    let merge = one(&[&base, &tip], "Merge");
    let summary = fx.repo.summarize_range(&base, &merge).unwrap();
    assert_eq!((summary.commit_count, summary.files.len()), (3, 5));
}

#[test]
fn a_summary_of_a_big_range_stays_bounded() {
    let fx = Fixture::new();
    let wt = fx.repo.add_worktree(&fx.wt("w"), "big", "main").unwrap();
    for i in 0..60 {
        write(wt.path.join(format!("gen/file_{i:03}.txt")), &"line\n".repeat(i + 1));
        git(&wt.path, &["add", "--all"]);
        git(&wt.path, &["commit", "-q", "-m", &format!("Generate file {i}")]);
    }
    let summary = fx.repo.summarize_range("main", "big").unwrap();
    assert_eq!(summary.files.len(), 60);
    assert_eq!(summary.commit_count, 60);
    assert_eq!(summary.commits.len(), orca_git::MAX_SUMMARY_COMMITS);
    assert_eq!(summary.commits[0], "Generate file 59", "newest first");
    let text = summary.render(1500);
    assert!(text.chars().count() <= 1500, "{}", text.len());
    assert!(text.starts_with("60 files changed, +1830 -0, 60 commits"), "{text}");
    assert!(text.contains("more files"), "{text}");
    assert!(text.contains("more commits") || !text.contains("Commits:"), "{text}");
}

#[test]
fn a_range_summary_takes_names_and_refuses_unknown_ones() {
    let fx = Fixture::new();
    let (_, tip) = varied_branch(&fx);
    let by_name = fx.repo.summarize_range("main", "varied").unwrap();
    let by_sha = fx.repo.summarize_range(&fx.rev("main"), &tip).unwrap();
    assert_eq!(by_name.render(2000), by_sha.render(2000));
    let err = fx.repo.summarize_range("nope", "varied").unwrap_err();
    assert!(
        matches!(err, orca_git::RefError::UnknownRevision { ref rev } if rev == "nope"),
        "{err:?}"
    );
    // A full name that names nothing is git's error, not a summary.
    assert!(fx.repo.summarize_range(&"0".repeat(40), &tip).is_err());
}
