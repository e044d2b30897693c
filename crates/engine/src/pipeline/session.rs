//! Runs that agent sessions work (`orca task`, `orca mcp`) move through the
//! same stages, recorded here, by the driver's rules: their plan is loaded
//! by `orca task load`, the sessions implement it, and the stages after
//! implement are left to `orca run`, which drives the gates.

use orca_store::{RunId, RunState, Stage, StageChange, StageState, Store, StoreError};

use super::transition::position;

/// Why a session run's later stages did not run.
const NOT_DRIVEN: &str = "an agent-session run: the gates run under `orca run`";

/// Records that `orca task load` gave a new run its plan: analyze and plan
/// skipped, parallel passed, implement running.
pub async fn loaded(store: &Store, run: &RunId) -> Result<(), StoreError> {
    let skipped = "the plan was loaded with `orca task load`";
    for stage in [Stage::Analyze, Stage::Plan] {
        let change = StageChange {
            state: Some(StageState::Skipped),
            note: Some(skipped.to_owned()),
            rounds: None,
        };
        store.set_stage_with(run, stage, &change).await?;
    }
    store.set_stage(run, Stage::Parallel, StageState::Passed).await?;
    store.set_stage(run, Stage::Implement, StageState::Running).await
}

/// Records that the sessions finished the last task of a run: implement
/// passed (every task succeeded) or failed, the later stages skipped, and
/// the run ended. Returns how it ended.
pub async fn finished(
    store: &Store,
    run: &RunId,
    all_succeeded: bool,
) -> Result<RunState, StoreError> {
    let (state, stage) = if all_succeeded {
        (RunState::Succeeded, StageState::Passed)
    } else {
        (RunState::Failed, StageState::Failed)
    };
    store.set_stage(run, Stage::Implement, stage).await?;
    if all_succeeded {
        for &later in &Stage::ALL[position(Stage::Implement) + 1..] {
            let change = StageChange {
                state: Some(StageState::Skipped),
                note: Some(NOT_DRIVEN.to_owned()),
                rounds: None,
            };
            store.set_stage_with(run, later, &change).await?;
        }
    }
    store.finish_run(run, state).await?;
    Ok(state)
}

/// Records that tasks of a run were reopened (`orca task retry`/`unblock`):
/// the run is active again, and a session run's implement stage runs
/// again. (A run `orca run` drives goes on with `orca resume`, which runs
/// its failed implement stage again.)
pub async fn reopened(store: &Store, run: &RunId, session_run: bool) -> Result<(), StoreError> {
    if store.run(run).await?.state != RunState::Active {
        store.finish_run(run, RunState::Active).await?;
    }
    if session_run {
        store.set_stage(run, Stage::Implement, StageState::Running).await?;
    }
    Ok(())
}
