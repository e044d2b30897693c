//! git runs as child processes and its API is synchronous: the engine
//! calls it on tokio's blocking threads, never on the async ones.

use std::sync::Arc;

use orca_git::Repo;

/// Runs `work` with the repository on a blocking thread. A panic in it is
/// a bug and is passed on to the caller.
pub(crate) async fn on_git<T: Send + 'static>(
    repo: &Arc<Repo>,
    work: impl FnOnce(&Repo) -> T + Send + 'static,
) -> T {
    let repo = Arc::clone(repo);
    match tokio::task::spawn_blocking(move || work(&repo)).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
