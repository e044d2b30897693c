//! The pipeline's rules, as a pure function of where a run stands: which
//! stage runs next, and what a stage's outcome changes. The driver
//! ([`super`]) persists what this decides; nothing here does I/O.
//!
//! Stages run in order. A stage outside the selected range, or skipped on
//! request, is skipped; a failed stage ends the run. A gate that found
//! problems sends fix tasks back to implement: implement and every stage
//! after it run again, and the gate counts a fix round. Past its bound a
//! gate fails the run, or passes with a note when it is advisory.

use orca_store::{Stage, StageState};
use serde::{Deserialize, Serialize};

/// Where each stage stands, in pipeline order (as the store holds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub states: [StageState; 9],
    /// Fix rounds each gate has used.
    pub rounds: [u32; 9],
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger { states: [StageState::Pending; 9], rounds: [0; 9] }
    }
}

impl Ledger {
    pub fn state(&self, stage: Stage) -> StageState {
        self.states[position(stage)]
    }

    pub fn rounds(&self, stage: Stage) -> u32 {
        self.rounds[position(stage)]
    }

    /// Applies changes as the driver writes them to the store.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            let at = position(change.stage);
            self.states[at] = change.state;
            if let Some(rounds) = change.rounds {
                self.rounds[at] = rounds;
            }
        }
    }
}

/// Which stages a run goes through, as the user chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// The first stage to run; earlier ones are skipped.
    pub from: Stage,
    /// The last stage to run now; the run stops after it, still active.
    pub until: Stage,
    /// Stages skipped on request.
    pub skip: Vec<Stage>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { from: Stage::Analyze, until: Stage::Complete, skip: Vec::new() }
    }
}

impl Selection {
    /// Whether `stage` is to run at all.
    pub fn includes(&self, stage: Stage) -> bool {
        position(stage) >= position(self.from) && !self.skip.contains(&stage)
    }
}

/// What the driver knows besides the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Fix rounds a gate may send back to implement.
    pub max_fix_rounds: u32,
    /// Gates whose findings never stop the run.
    pub advisory: Vec<Stage>,
    /// A plan written by the planner waits for the user's yes before it runs.
    pub needs_approval: bool,
    pub approved: bool,
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed {
        note: Option<String>,
    },
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
    /// A gate found problems and added this many fix tasks to the run.
    FixTasks {
        added: usize,
        note: String,
    },
    /// Stopped by the user; the stage runs again on resume.
    Interrupted,
    /// Stopped for a reason outside the stage's work (a stale git lock,
    /// a branch checked out elsewhere); the stage runs again on resume.
    Halted {
        reason: String,
    },
}

/// One stage's new state, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub stage: Stage,
    pub state: StageState,
    pub note: Option<String>,
    pub rounds: Option<u32>,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Run(Stage),
    /// Every selected stage passed or was skipped: the run succeeded.
    Succeeded,
    /// A stage failed: the run failed (resumable after a fix).
    Failed {
        stage: Stage,
        reason: String,
    },
    /// Stopped after `until`; the run stays active for `orca resume`.
    Paused {
        after: Stage,
    },
    /// The plan waits for the user's yes (`orca resume --yes`).
    AwaitingApproval,
    /// Interrupted by the user in this stage.
    Interrupted {
        stage: Stage,
    },
    /// Stopped in this stage until something outside it is fixed.
    Halted {
        stage: Stage,
        reason: String,
    },
}

/// Where a stage sits in the pipeline (0 for analyze).
pub fn position(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// The quality gates: they may send fix tasks back to implement.
pub fn is_gate(stage: Stage) -> bool {
    matches!(stage, Stage::Security | Stage::Test | Stage::Cleanup | Stage::Review)
}

/// What to record for stages the selection leaves out, before anything runs.
pub fn initial(selection: &Selection, skipped_by: &str) -> Vec<Change> {
    Stage::ALL
        .iter()
        .filter(|stage| !selection.includes(**stage))
        .map(|&stage| Change {
            stage,
            state: StageState::Skipped,
            note: Some(if selection.skip.contains(&stage) {
                format!("skipped with --skip by {skipped_by}")
            } else {
                format!("before {} (--from {0})", selection.from)
            }),
            rounds: None,
        })
        .collect()
}

/// The next step for a run that stands at `ledger`.
pub fn next(ledger: &Ledger, selection: &Selection, policy: &Policy) -> Next {
    for &stage in Stage::ALL {
        if !selection.includes(stage) {
            continue;
        }
        match ledger.state(stage) {
            StageState::Passed | StageState::Skipped => continue,
            StageState::Pending | StageState::Running | StageState::Failed => {}
        }
        if position(stage) > position(selection.until) {
            return Next::Paused { after: selection.until };
        }
        if stage == Stage::Parallel && policy.needs_approval && !policy.approved {
            return Next::AwaitingApproval;
        }
        return Next::Run(stage);
    }
    Next::Succeeded
}

/// What an outcome changes, and whether the run stops there (else
/// [`next`] on the changed ledger says what follows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub changes: Vec<Change>,
    pub stop: Option<Next>,
}

/// What `outcome` of `stage` changes.
pub fn after(ledger: &Ledger, stage: Stage, outcome: Outcome, policy: &Policy) -> Step {
    let change = |state, note: Option<String>| Change { stage, state, note, rounds: None };
    let go_on = |changes| Step { changes, stop: None };
    match outcome {
        Outcome::Passed { note } => go_on(vec![change(StageState::Passed, note)]),
        Outcome::Skipped { reason } => go_on(vec![change(StageState::Skipped, Some(reason))]),
        Outcome::Failed { reason } => Step {
            changes: vec![change(StageState::Failed, Some(reason.clone()))],
            stop: Some(Next::Failed { stage, reason }),
        },
        // Stopped, not done: the stage waits to run again, and says why
        // (a run that is not running shows no stage as running).
        Outcome::Interrupted => Step {
            changes: vec![Change {
                stage,
                state: StageState::Pending,
                note: Some("interrupted; `orca resume` continues".to_owned()),
                rounds: None,
            }],
            stop: Some(Next::Interrupted { stage }),
        },
        Outcome::Halted { reason } => Step {
            changes: vec![Change {
                stage,
                state: StageState::Pending,
                note: Some(format!("halted: {reason}")),
                rounds: None,
            }],
            stop: Some(Next::Halted { stage, reason }),
        },
        Outcome::FixTasks { added, note } => {
            let used = ledger.rounds(stage);
            // Fix tasks need implement; a run that skips it cannot fix anything.
            let can_fix = ledger.state(Stage::Implement) != StageState::Skipped;
            if added > 0 && is_gate(stage) && can_fix && used < policy.max_fix_rounds {
                let round = used + 1;
                let mut changes = vec![Change {
                    stage,
                    state: StageState::Pending,
                    note: Some(format!("fix round {round}: {added} fix task(s): {note}")),
                    rounds: Some(round),
                }];
                // Implement takes the fix tasks; every later stage checks the result again.
                for &later in &Stage::ALL[position(Stage::Implement)..] {
                    if later != stage && ledger.state(later) != StageState::Skipped {
                        changes.push(Change {
                            stage: later,
                            state: StageState::Pending,
                            note: None,
                            rounds: None,
                        });
                    }
                }
                go_on(changes)
            } else if policy.advisory.contains(&stage) {
                go_on(vec![change(
                    StageState::Passed,
                    Some(format!("advisory, not enforced: {note}")),
                )])
            } else {
                let reason = if is_gate(stage) {
                    format!(
                        "{note} (after {used} fix round(s), the most [gates] max_fix_rounds allows)"
                    )
                } else {
                    note
                };
                Step {
                    changes: vec![change(StageState::Failed, Some(reason.clone()))],
                    stop: Some(Next::Failed { stage, reason }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
