//! Store errors as the user reads them: message, hints, exit code.

use orca_store::{OpenError, StorageProblem, StoreError};

use crate::failure::{Failure, describe};

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
            Failure::usage(describe(error)).with_hint("`orca status` shows the latest run")
        }
        StoreError::InvalidRun(_) | StoreError::BadData(_) => Failure::failed(describe(error)),
    }
}

fn storage_hint(failure: Failure, problem: StorageProblem) -> Failure {
    match problem {
        StorageProblem::Full | StorageProblem::Io => failure
            .with_hint("free some disk space (or raise the file size limit) and try again; the store is unchanged"),
        StorageProblem::ReadOnly | StorageProblem::CannotOpen => {
            failure.with_hint("make the .orca directory and the store writable for this user")
        }
        StorageProblem::Other => failure,
    }
}
