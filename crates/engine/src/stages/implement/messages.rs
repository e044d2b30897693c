//! What the dispatcher hears from its attempts and its merge queue: the
//! one channel into the owner of the run's state.

use orca_agents::Usage;

use super::attempt::AttemptReport;
use super::merge::MergeReport;
use crate::budget::Spend;
use crate::events::RunEvent;

#[derive(Debug)]
pub(super) enum Msg {
    Event(RunEvent),
    /// A running attempt's agent named its session: stored at once, so a
    /// `kill -9` of orca cannot lose it and `orca resume` continues it.
    Session {
        index: usize,
        attempt: i64,
        session: String,
    },
    /// Something a running attempt's agent did that watchers want to see
    /// (a tool call, a message, an error): recorded in the store's event
    /// log, where `orca dashboard` reads it, also from other machines.
    Agent {
        task: String,
        attempt: i64,
        kind: &'static str,
        payload: serde_json::Value,
    },
    /// What a running attempt has spent so far, as its usage arrives
    /// (`spend`), and the counts and cost it comes from (a worker records
    /// them on the attempt, where the coordinator's run budget reads them).
    Spend {
        index: usize,
        attempt: i64,
        spend: Spend,
        usage: Usage,
        cost_usd: Option<f64>,
    },
    AttemptDone(Box<AttemptReport>),
    MergeDone(Box<MergeReport>),
}
