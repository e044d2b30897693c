//! The one place where library errors become what the user reads: a
//! message, the hints that say what to do, and an exit code. The CLI's
//! commands and the MCP server's tools both use it.

use orca_engine::EngineError;
use orca_queue::{QueueError, Refusal, RefusalKind};
use orca_store::{LockError, OpenError, StorageProblem, StoreError, TaskState};
use orca_workspace::WorkspaceError;

use crate::failure::Failure;

/// Renders an error and its chain of causes as one message.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The repository, its configuration or the store could not be found.
pub(crate) fn workspace_failure(error: &WorkspaceError) -> Failure {
    match error {
        WorkspaceError::NotARepository { .. } => Failure::usage(describe(error))
            .with_hint("run orca inside the git repository to work on, or pass --store URL (or set ORCA_STORE)"),
        WorkspaceError::CurrentDir(_) => Failure::usage(describe(error)),
        WorkspaceError::Config(orca_config::ConfigError::Invalid(_)) => {
            Failure::usage(describe(error))
                .with_hint("fix .orca/config.toml; `orca init --check` validates it")
        }
        WorkspaceError::Config(_) => Failure::usage(describe(error)),
    }
}

/// The store could not be opened.
pub(crate) fn open_failure(error: &OpenError) -> Failure {
    let failure = Failure::usage(describe(error));
    match error {
        OpenError::Missing { .. } => failure
            .with_hint("no run has been started in this repository yet")
            .with_hint("pass --store URL (or set ORCA_STORE) to use another store"),
        OpenError::Corrupt { path, .. } => failure.with_hint(format!(
            "move {} aside to start with an empty store; orca never overwrites it",
            path.display()
        )),
        OpenError::NewerSchema { .. } => {
            failure.with_hint("install a newer orca to use this store; this one will not touch it")
        }
        OpenError::Connect { .. } => failure
            .with_hint("check the URL, that the server is running, and the user name and password"),
        OpenError::Sqlite { problem, .. } => storage_hint(failure, *problem),
        OpenError::Location(_) => {
            failure.with_hint("use a file path, `sqlite:PATH`, or `postgres://user@host/database`")
        }
        OpenError::NotAnOrcaStore { .. } => {
            failure.with_hint("point --store at a new file or an empty PostgreSQL database")
        }
        OpenError::Layout(_) => {
            failure.with_hint("check the permissions of the repository directory")
        }
        OpenError::Migrate { .. } => failure,
    }
}

/// A store operation failed.
pub(crate) fn store_failure(error: &StoreError) -> Failure {
    match error {
        StoreError::Database { problem, .. } => {
            storage_hint(Failure::usage(describe(error)), *problem)
        }
        StoreError::RunNotFound(_) | StoreError::TaskNotFound { .. } => {
            Failure::usage(describe(error)).with_hint("`orca runs` lists this repository's runs")
        }
        StoreError::NotReopenable { state: TaskState::Blocked, key, .. } => {
            Failure::failed(describe(error)).with_hint(format!("`orca task unblock {key}`"))
        }
        StoreError::NotReopenable { state: TaskState::Failed, key, .. } => {
            Failure::failed(describe(error)).with_hint(format!("`orca task retry {key}`"))
        }
        StoreError::NotReopenable { .. } => {
            Failure::failed(describe(error)).with_hint("`orca status` shows each task's state")
        }
        StoreError::HeldBack { dep, state, .. } => {
            let what = if *state == TaskState::Failed { "retry" } else { "unblock" };
            Failure::failed(describe(error)).with_hint(format!("`orca task {what} {dep}` first"))
        }
        StoreError::InvalidRun(_) | StoreError::BadData(_) => Failure::failed(describe(error)),
    }
}

/// A run's report could not be written.
pub(crate) fn report_failure(error: &orca_report::ReportError) -> Failure {
    match error {
        orca_report::ReportError::Store(error) => store_failure(error),
        orca_report::ReportError::Write { .. } => Failure::failed(describe(error)).with_hint(
            "check the space and permissions of .orca/runs, or write elsewhere with -o FILE",
        ),
    }
}

fn storage_hint(failure: Failure, problem: StorageProblem) -> Failure {
    match problem {
        StorageProblem::Full | StorageProblem::Io => failure
            .with_hint("free some disk space (or raise the file size limit) and try again; the store is unchanged"),
        StorageProblem::ReadOnly | StorageProblem::CannotOpen => {
            failure.with_hint("make the .orca directory and the store writable for this user")
        }
        StorageProblem::Unreachable => failure.with_hint(
            "check that the database server runs and is reachable from here, then try again",
        ),
        StorageProblem::Other => failure,
    }
}

/// A run could not start, go on or be resumed.
pub(crate) fn engine_failure(error: &EngineError) -> Failure {
    match error {
        EngineError::Locked(LockError::Held { holder, .. }) => {
            Failure::refused(format!("another orca is running in this repository: {holder}"))
                .with_hint("wait for it to finish, or stop it; `orca status` shows its run")
        }
        EngineError::Locked(_) => Failure::failed(describe(error)),
        EngineError::Store(error) => store_failure(error),
        EngineError::Profile(_) => Failure::usage(describe(error))
            .with_hint("agents are defined under [agents] in .orca/config.toml"),
        EngineError::GoalWithoutPlan { .. } => Failure::usage(describe(error)).with_hint(
            "let the plan stage run, or write the plan yourself and start from it: `orca run --plan FILE`",
        ),
        EngineError::NothingToResume => Failure::failed(describe(error))
            .with_hint("`orca runs` lists this repository's runs; `orca run` starts one"),
        EngineError::AlreadyFinished { run, failed_at, .. } => {
            let failure = Failure::failed(describe(error));
            match failed_at {
                Some(stage) => failure.with_hint(format!(
                    "it failed in {stage}; fix the cause, then `orca resume --run {run}` (with \
                     --retry-failed to give failed tasks fresh attempts)"
                )),
                None => failure.with_hint("`orca runs` lists this repository's runs"),
            }
        }
        EngineError::OtherRepository { .. } => Failure::refused(describe(error))
            .with_hint("resume it from its own repository; `orca runs` lists this one's runs"),
        EngineError::NoCommit | EngineError::NoRepository => Failure::usage(describe(error)),
        EngineError::Incompatible(_) => Failure::refused(describe(error)).with_hint(
            "`orca workers` lists every worker and coordinator with its orca version",
        ),
        EngineError::AgentsUnusable(_) => Failure::usage(describe(error)).with_hint(
            "install the missing programs (or fix `command` under [agents] in .orca/config.toml); \
             `orca doctor` checks everything a run needs",
        ),
        _ => Failure::failed(describe(error)),
    }
}

/// How the session that failed talks to orca: the hints name what it can
/// do next in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `orca task ...` commands in a shell.
    Shell,
    /// The tools of `orca mcp`.
    Mcp,
}

impl Via {
    /// How to take the next ready task.
    fn claim(self) -> &'static str {
        match self {
            Via::Shell => "`orca task next --claim`",
            Via::Mcp => "call claim_task",
        }
    }

    /// What to do to take the next ready task, as a sentence's verb phrase.
    fn claim_action(self) -> &'static str {
        match self {
            Via::Shell => "run `orca task next --claim`",
            Via::Mcp => "call claim_task",
        }
    }

    /// How to see the run's tasks.
    fn status(self) -> &'static str {
        match self {
            Via::Shell => "`orca status`",
            Via::Mcp => "call plan_status",
        }
    }
}

/// A queue operation of an agent session failed.
pub(crate) fn queue_failure(error: &QueueError, via: Via) -> Failure {
    match error {
        QueueError::NoRun => Failure::failed(describe(error))
            .with_hint("load a plan first: `orca task load PLAN` in a shell"),
        QueueError::OtherRepository { .. } => Failure::refused(describe(error)).with_hint(format!(
            "work on this repository's runs: leave out --run; {} shows the current one",
            via.status()
        )),
        QueueError::Refused(refusal) => refusal_failure(refusal, via),
        QueueError::NotReady { .. } => Failure::failed(describe(error))
            .with_hint(format!("{} takes the next task that is ready", via.claim())),
        QueueError::Store(error @ StoreError::TaskNotFound { .. }) => {
            Failure::usage(describe(error))
                .with_hint(format!("{} lists the run's tasks", via.status()))
        }
        QueueError::Store(error) => store_failure(error),
    }
}

/// A session acted on a task it does not hold.
pub(crate) fn refusal_failure(refusal: &Refusal, via: Via) -> Failure {
    let task = &refusal.task;
    let claim = via.claim();
    let stop = format!(
        "stop working on {task}: do not commit, push or report its work; set your changes aside with `git stash`"
    );
    match &refusal.kind {
        RefusalKind::Expired { now: TaskState::Ready | TaskState::Waiting, .. } => {
            Failure::refused(format!("{refusal}; {}", via.claim_action())).with_hint(stop)
        }
        RefusalKind::Expired { .. } | RefusalKind::LeasedToOther { yours_expired: Some(_), .. } => {
            Failure::refused(refusal.to_string())
                .with_hint(stop)
                .with_hint(format!("then {claim} for a task of your own"))
        }
        RefusalKind::LeasedToOther { .. } => Failure::refused(refusal.to_string())
            .with_hint(format!("work only on tasks you claimed: {claim} gives you one")),
        RefusalKind::NotClaimed { .. } => Failure::refused(refusal.to_string())
            .with_hint(format!("claim a task before working on it: {claim}")),
        RefusalKind::Finished { .. } => {
            Failure::refused(refusal.to_string()).with_hint(match via {
                Via::Shell => {
                    format!("`orca task show {task}` has the details; {claim} for other work")
                }
                Via::Mcp => format!("{claim} for other work"),
            })
        }
    }
}
