//! orca's engine: the pipeline state machine, the scheduler that keeps
//! agents busy, the implement stage and the merge queue.

pub mod prompt;
pub mod run;
pub mod schedule;
pub mod simulate;
pub mod verify;
