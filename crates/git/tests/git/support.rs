//! Temp repositories and a plain git for setting up and inspecting them.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use orca_config::Layout;
use orca_git::Repo;
use tempfile::TempDir;

/// Variables a surrounding git process (a hook running the tests) may
/// export; the tests' own git calls drop them like the library does.
const INHERITED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_PREFIX",
];

/// A plain git command for test setup, in `dir`.
pub(crate) fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(["-c", "commit.gpgSign=false", "-c", "core.hooksPath=/dev/null"]);
    for var in INHERITED {
        cmd.env_remove(var);
    }
    cmd.env("LC_ALL", "C").env("GIT_OPTIONAL_LOCKS", "0").env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// Runs git in `dir`, asserts success, returns trimmed stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

pub(crate) fn write(path: impl AsRef<Path>, contents: &str) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, contents).unwrap();
}

pub(crate) fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

/// Writes `file` in `dir` and commits it with plain git (an agent's commit).
pub(crate) fn commit_file(dir: &Path, file: &str, contents: &str, message: &str) -> String {
    write(dir.join(file), contents);
    git(dir, &["add", "--", file]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository in a temp dir with two commits on `main`, a local identity
/// and orca's `.orca/` state directory.
pub(crate) struct Fixture {
    _tmp: TempDir,
    pub root: PathBuf,
    pub repo: Repo,
    pub layout: Layout,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("repo");
        fs::create_dir(&root).unwrap();
        init_repo(&root, true);
        let layout = Layout::new(&root);
        layout.ensure().unwrap();
        // `.orca/.gitignore` keeps orca's local state out of git; a team
        // commits it. Here it is left out of the history (the tests count
        // commits), as a local exclude.
        write(root.join(".git/info/exclude"), "/.orca/.gitignore\n");
        let repo = Repo::discover(&root).unwrap();
        Fixture { _tmp: tmp, root, repo, layout }
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        git(&self.root, args)
    }

    /// A path for a worktree under `.orca/worktrees/`.
    pub(crate) fn wt(&self, name: &str) -> PathBuf {
        self.layout.worktrees_dir().join(name)
    }

    pub(crate) fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }

    /// A branch `name` off `main` with one commit writing `file`.
    pub(crate) fn branch_with_file(&self, name: &str, file: &str, contents: &str) -> String {
        let path = self.wt(&format!("setup-{}", name.replace('/', "-")));
        git(&self.root, &["worktree", "add", "-q", "-b", name, path.to_str().unwrap(), "main"]);
        let sha = commit_file(&path, file, contents, &format!("{name}: write {file}"));
        git(&self.root, &["worktree", "remove", "--force", path.to_str().unwrap()]);
        sha
    }
}

/// `git init` in `root` with a README and `src/lib.rs` over two commits.
/// With `identity`, the repository configures a user; without, commits
/// get one through `-c` and the repository has none.
pub(crate) fn init_repo(root: &Path, identity: bool) {
    git(root, &["init", "-q", "-b", "main"]);
    if identity {
        git(root, &["config", "user.name", "Test User"]);
        git(root, &["config", "user.email", "test@example.com"]);
    }
    let id: &[&str] = if identity {
        &[]
    } else {
        &["-c", "user.name=Setup", "-c", "user.email=setup@example.com"]
    };
    write(root.join("README.md"), "# demo\n\nline one\nline two\nline three\n");
    git(root, &["add", "README.md"]);
    git(root, &[id, &["commit", "-q", "-m", "initial"]].concat());
    write(root.join("src/lib.rs"), "pub fn one() -> u32 {\n    1\n}\n");
    write(root.join(".gitignore"), "*.log\n");
    git(root, &["add", "src/lib.rs", ".gitignore"]);
    git(root, &[id, &["commit", "-q", "-m", "add lib"]].concat());
}

/// Everything about a checkout the user could notice: every file's bytes
/// and mode (outside `.git` and orca's worktrees), the index file, HEAD,
/// the branch tips, the stash and `git status --porcelain=v2`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CheckoutSnapshot {
    files: BTreeMap<PathBuf, (u32, Vec<u8>)>,
    index: Vec<u8>,
    head: String,
    branches: String,
    stash: String,
    status: String,
}

impl CheckoutSnapshot {
    pub(crate) fn take(root: &Path) -> CheckoutSnapshot {
        // The index first: nothing below may have had a chance to rewrite it.
        let index = fs::read(root.join(".git/index")).unwrap();
        let mut files = BTreeMap::new();
        collect_files(root, root, &mut files);
        CheckoutSnapshot {
            files,
            index,
            head: read(root.join(".git/HEAD")),
            branches: git(
                root,
                &[
                    "for-each-ref",
                    "--format=%(refname) %(objectname)",
                    "refs/heads/main",
                    "refs/heads/feature",
                ],
            ),
            stash: git(root, &["stash", "list"]),
            status: git(root, &["status", "--porcelain=v2", "--branch", "--untracked-files=all"]),
        }
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        if rel == Path::new(".git") || rel == Path::new(".orca/worktrees") {
            continue;
        }
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            collect_files(root, &path, out);
        } else {
            out.insert(rel, (meta.permissions().mode(), fs::read(&path).unwrap()));
        }
    }
}

/// Makes the user's checkout dirty in every way: a modified tracked file,
/// a staged change, an untracked file, an ignored file.
pub(crate) fn make_checkout_dirty(root: &Path) {
    write(root.join("README.md"), "# demo\n\nline one EDITED BY USER\nline two\nline three\n");
    write(root.join("src/lib.rs"), "pub fn one() -> u32 {\n    1\n}\npub fn staged() {}\n");
    git(root, &["add", "src/lib.rs"]);
    write(
        root.join("src/lib.rs"),
        "pub fn one() -> u32 {\n    1\n}\npub fn staged() {}\n// and unstaged\n",
    );
    write(root.join("notes.txt"), "untracked user notes\n");
    write(root.join("debug.log"), "ignored\n");
}
