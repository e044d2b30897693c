//! `orca demo`: orca's whole pipeline, offline and token-free, on a small
//! Python project bundled with orca. The real Claude Code CLI (pinned,
//! installed from npm into orca's cache on first use) runs against orca's
//! scripted model server on 127.0.0.1: the planner's first plan has a
//! mistake orca refuses, the second is fixed from orca's diagnostics, the
//! tasks run in parallel worktrees and merge in order, the security gate
//! scans, the final validation runs the project's tests, and the report is
//! written.

use std::path::{Path, PathBuf};
use std::process::Command;

use orca_engine::{RunInput, RunRequest};
use orca_model_server::{ModelServer, Script};
use orca_workspace::Workspace;

use crate::command_error::{describe, workspace_failure};
use crate::exit_code::ExitCode;
use crate::failure::Failure;
use crate::output::Output;
use crate::pinned_clis;
use crate::run_session::RunCommonArgs;
use crate::run_session::{EngineCall, drive};

/// The project: a Python package that greets, still empty.
const PROJECT: [(&str, &str); 2] = [
    ("README.md", include_str!("../../../../examples/demo/project/README.md")),
    ("greet/__init__.py", include_str!("../../../../examples/demo/project/greet/__init__.py")),
];
/// The scripted model's replies (docs/model-server.md).
const MODEL_SCRIPT: &str = include_str!("../../../../examples/demo/model.toml");
/// What the user asks for.
const GOAL: &str = "Grow the greet package: a formal and a casual greeting, a command line \
                    (`python3 -m greet [--formal] NAME`), tests for each, and usage docs.";

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo repository (it is deleted otherwise; the report is kept).
    #[arg(long)]
    keep: bool,

    /// Open the report in the browser at the end.
    #[arg(long)]
    open: bool,

    /// Where to create the demo [default: a new directory in the system's
    /// temporary directory].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(args: &DemoArgs, out: &Output) -> Result<ExitCode, Failure> {
    for (program, why) in
        [("git", "orca works in git repositories"), ("python3", "the demo project is Python")]
    {
        if pinned_clis::which(program).is_none() {
            return Err(Failure::usage(format!("the demo needs `{program}` on PATH: {why}")));
        }
    }
    let claude = pinned_clis::claude(out)?;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
            dir.clone()
        }
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let dir = std::env::temp_dir().join(format!("orca-demo-{now}-{}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
            dir
        }
    };
    let repo = dir.join("greet");
    create_project(&repo)?;

    let script = Script::from_toml_str(MODEL_SCRIPT)
        .map_err(|e| Failure::failed(format!("the bundled model script: {}", describe(&e))))?;
    let server = ModelServer::start(script)
        .map_err(|e| Failure::failed(format!("cannot start the model server: {}", describe(&e))))?;
    write_config(&repo, &claude, &server.base_url())?;
    note(out, format!("demo repository: {}", repo.display()));
    note(out, format!("goal: {GOAL}"));
    note(
        out,
        format!(
            "agents: {} against orca's scripted model on {}",
            claude.display(),
            server.base_url()
        ),
    );

    let workspace = Workspace::discover_from(&repo, None).map_err(|e| workspace_failure(&e))?;
    let common = RunCommonArgs {
        agents: Some(3),
        agent: None,
        keep_branches: false,
        no_resolver: false,
        progress: true,
        merge: false,
        store: None,
        remote: None,
        budget_usd: None,
        budget_tokens: None,
    };
    let request = RunRequest {
        input: RunInput::Goal(GOAL.to_owned()),
        options: common.options(),
        from: None,
        until: None,
        skip: Vec::new(),
        yes: true,
        user: std::env::var("USER").unwrap_or_else(|_| "the user".to_owned()),
    };
    let code = drive(out, &common, workspace, EngineCall::Start(Box::new(request)), None);
    server.shutdown();
    let code = code?;

    let run_dir = latest_run_dir(&repo);
    let report = match (&run_dir, args.keep) {
        (Some(run_dir), true) => run_dir.join("report.html"),
        (Some(run_dir), false) => {
            // The repository goes; its report stays beside it.
            let kept = dir.join("report");
            copy_report(run_dir, &kept)?;
            remove_repository(&repo);
            kept.join("report.html")
        }
        (None, _) => return Ok(code),
    };
    if args.keep {
        note(out, format!("the demo repository is kept at {}", repo.display()));
    } else {
        note(
            out,
            "the demo repository is removed (--keep keeps it); its report is kept".to_owned(),
        );
    }
    if report.is_file() {
        note(out, format!("report: {}", report.display()));
    }
    if args.open && report.is_file() {
        crate::commands::report::open_in_browser(&report)?;
    }
    Ok(code)
}

/// Progress for people; nothing when the output is JSON.
fn note(out: &Output, line: String) {
    if !out.is_json() {
        eprintln!("{line}");
    }
}

/// The bundled project as a fresh repository with one commit.
fn create_project(repo: &Path) -> Result<(), Failure> {
    if repo.exists() {
        return Err(Failure::usage(format!("{} exists already", repo.display()))
            .with_hint("give --dir a new or empty directory"));
    }
    for (path, text) in PROJECT {
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().expect("a file in the project"))
            .and_then(|()| std::fs::write(&file, text))
            .map_err(|e| Failure::failed(format!("cannot write {}: {e}", file.display())))?;
    }
    let git = |args: &[&str]| -> Result<(), Failure> {
        let out = Command::new("git")
            .args(["-c", "user.name=orca demo", "-c", "user.email=demo@localhost"])
            .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(repo)
            .output()
            .map_err(|e| Failure::failed(format!("cannot run git: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Failure::failed(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    git(&["init", "-q"])?;
    git(&["add", "."])?;
    git(&["commit", "-qm", "greet: an empty package"])
}

/// `.orca/config.toml`: the pinned claude against the model server, each
/// task in its own HOME (no settings or logins of the user's are read).
fn write_config(repo: &Path, claude: &Path, base_url: &str) -> Result<(), Failure> {
    let config = format!(
        "[run]\nagent = \"claude\"\nagents = 3\n\n[agents.claude]\ncommand = {}\nbase_url = {}\n\
         isolate = true\npermission_mode = \"acceptEdits\"\nstall_timeout = \"2m\"\n",
        toml_string(&claude.display().to_string()),
        toml_string(base_url)
    );
    let dir = repo.join(".orca");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("config.toml"), config))
        .map_err(|e| Failure::failed(format!("cannot write the demo's config: {e}")))
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// The directory of the repository's only run.
fn latest_run_dir(repo: &Path) -> Option<PathBuf> {
    let runs = std::fs::read_dir(repo.join(".orca/runs")).ok()?;
    runs.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()).max()
}

fn copy_report(run_dir: &Path, to: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(to)
        .map_err(|e| Failure::failed(format!("cannot create {}: {e}", to.display())))?;
    for name in orca_report::FILES {
        let from = run_dir.join(name);
        if from.is_file() {
            std::fs::copy(&from, to.join(name))
                .map_err(|e| Failure::failed(format!("cannot copy {}: {e}", from.display())))?;
        }
    }
    Ok(())
}

/// Removes the demo repository; a failure only leaves files in a
/// temporary directory.
fn remove_repository(repo: &Path) {
    if let Err(error) = std::fs::remove_dir_all(repo) {
        tracing::warn!(%error, repo = %repo.display(), "cannot remove the demo repository");
    }
}
