use orca_store::{Stage, StageState};
use proptest::prelude::*;

use super::*;

fn policy() -> Policy {
    Policy { max_fix_rounds: 2, advisory: Vec::new(), needs_approval: false, approved: false }
}

fn passed() -> Outcome {
    Outcome::Passed { note: None }
}

/// Drives a ledger to the end with `outcome_of` deciding each stage's
/// outcome; returns the stages run, in order, and how it ended.
fn drive(
    ledger: &mut Ledger,
    selection: &Selection,
    policy: &Policy,
    mut outcome_of: impl FnMut(Stage, usize) -> Outcome,
) -> (Vec<Stage>, Next) {
    let mut ran = Vec::new();
    for step in 0..1000 {
        match next(ledger, selection, policy) {
            Next::Run(stage) => {
                ran.push(stage);
                ledger.apply(&[Change {
                    stage,
                    state: StageState::Running,
                    note: None,
                    rounds: None,
                }]);
                let step = after(ledger, stage, outcome_of(stage, step), policy);
                ledger.apply(&step.changes);
                if let Some(stop) = step.stop {
                    return (ran, stop);
                }
            }
            end => return (ran, end),
        }
    }
    panic!("the pipeline did not end within 1000 steps: {ran:?}");
}

#[test]
fn a_clean_run_goes_through_every_stage_once_in_order() {
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &Selection::default(), &policy(), |_, _| passed());
    assert_eq!(ran, Stage::ALL);
    assert_eq!(end, Next::Succeeded);
}

#[test]
fn a_given_plan_starts_at_parallel_and_skipped_stages_say_why() {
    let selection =
        Selection { from: Stage::Parallel, skip: vec![Stage::Review], ..Selection::default() };
    let mut ledger = Ledger::default();
    let first = initial(&selection, "ana");
    assert_eq!(
        first.iter().map(|c| c.stage).collect::<Vec<_>>(),
        [Stage::Analyze, Stage::Plan, Stage::Review]
    );
    assert_eq!(first[2].note.as_deref(), Some("skipped with --skip by ana"));
    ledger.apply(&first);
    let (ran, end) = drive(&mut ledger, &selection, &policy(), |_, _| passed());
    assert_eq!(
        ran,
        [
            Stage::Parallel,
            Stage::Implement,
            Stage::Security,
            Stage::Test,
            Stage::Cleanup,
            Stage::Complete
        ]
    );
    assert_eq!(end, Next::Succeeded);
}

#[test]
fn until_pauses_the_run_and_resuming_continues_after_it() {
    let selection = Selection { until: Stage::Plan, ..Selection::default() };
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &selection, &policy(), |_, _| passed());
    assert_eq!(
        (ran, end),
        (vec![Stage::Analyze, Stage::Plan], Next::Paused { after: Stage::Plan })
    );
    let (ran, end) = drive(&mut ledger, &Selection::default(), &policy(), |_, _| passed());
    assert_eq!(ran.first(), Some(&Stage::Parallel));
    assert_eq!(end, Next::Succeeded);
}

#[test]
fn a_written_plan_waits_for_approval() {
    let mut waiting = Policy { needs_approval: true, ..policy() };
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &Selection::default(), &waiting, |_, _| passed());
    assert_eq!((ran, end), (vec![Stage::Analyze, Stage::Plan], Next::AwaitingApproval));
    waiting.approved = true;
    let (ran, end) = drive(&mut ledger, &Selection::default(), &waiting, |_, _| passed());
    assert_eq!(ran.len(), 7);
    assert_eq!(end, Next::Succeeded);
}

#[test]
fn a_gate_loops_back_to_implement_until_its_bound_then_fails() {
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &Selection::default(), &policy(), |stage, _| {
        if stage == Stage::Test {
            Outcome::FixTasks { added: 1, note: "1 failing test".into() }
        } else {
            passed()
        }
    });
    let implements = ran.iter().filter(|s| **s == Stage::Implement).count();
    assert_eq!(implements, 3, "the first implement and two fix rounds: {ran:?}");
    assert_eq!(ledger.rounds(Stage::Test), 2);
    let Next::Failed { stage: Stage::Test, reason } = end else { panic!("{end:?}") };
    assert!(reason.contains("1 failing test") && reason.contains("2 fix round"), "{reason}");
    assert_eq!(ledger.state(Stage::Test), StageState::Failed);
}

#[test]
fn an_advisory_gate_passes_with_a_note_once_out_of_rounds() {
    let advisory = Policy { advisory: vec![Stage::Review], max_fix_rounds: 0, ..policy() };
    let mut ledger = Ledger::default();
    let (_, end) = drive(&mut ledger, &Selection::default(), &advisory, |stage, _| {
        if stage == Stage::Review {
            Outcome::FixTasks { added: 2, note: "2 changes requested".into() }
        } else {
            passed()
        }
    });
    assert_eq!(end, Next::Succeeded);
    assert_eq!(ledger.state(Stage::Review), StageState::Passed);
}

#[test]
fn a_failed_stage_ends_the_run_and_runs_again_on_resume() {
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &Selection::default(), &policy(), |stage, _| {
        if stage == Stage::Complete {
            Outcome::Failed { reason: "tests fail".into() }
        } else {
            passed()
        }
    });
    assert_eq!(ran.len(), 9);
    assert_eq!(end, Next::Failed { stage: Stage::Complete, reason: "tests fail".into() });
    assert_eq!(next(&ledger, &Selection::default(), &policy()), Next::Run(Stage::Complete));
}

#[test]
fn an_interrupted_stage_is_where_the_run_continues() {
    let mut ledger = Ledger::default();
    let (ran, end) = drive(&mut ledger, &Selection::default(), &policy(), |stage, _| {
        if stage == Stage::Implement { Outcome::Interrupted } else { passed() }
    });
    assert_eq!(end, Next::Interrupted { stage: Stage::Implement });
    assert_eq!(ran.len(), 4);
    assert_eq!(next(&ledger, &Selection::default(), &policy()), Next::Run(Stage::Implement));
}

fn any_stage() -> impl Strategy<Value = Stage> {
    (0..9usize).prop_map(|i| Stage::ALL[i])
}

fn any_outcome() -> impl Strategy<Value = u8> {
    0..6u8
}

proptest! {
    /// Whatever the stages do: the run ends; stages run in order except
    /// for a jump back to implement after a gate's fix round; a stage the
    /// selection leaves out never runs, nor one after `until`; no gate uses
    /// more fix rounds than allowed; success means every stage up to
    /// `until` passed or was skipped; parallel never runs unapproved.
    #[test]
    fn the_pipeline_keeps_its_rules(
        from in any_stage(),
        until in any_stage(),
        skip in proptest::collection::vec(any_stage(), 0..3),
        outcomes in proptest::collection::vec(any_outcome(), 1..60),
        max_fix_rounds in 0..3u32,
        needs_approval in any::<bool>(),
        approved in any::<bool>(),
    ) {
        let selection = Selection { from, until, skip };
        let policy = Policy { max_fix_rounds, advisory: vec![Stage::Cleanup], needs_approval, approved };
        let mut ledger = Ledger::default();
        ledger.apply(&initial(&selection, "tester"));
        let (ran, end) = drive(&mut ledger, &selection, &policy, |stage, step| {
            match outcomes[step % outcomes.len()] {
                0..=2 => passed(),
                3 => Outcome::FixTasks { added: 1, note: "found".into() },
                4 => Outcome::Skipped { reason: "nothing to do".into() },
                _ if stage == Stage::Complete => Outcome::Failed { reason: "broken".into() },
                _ => passed(),
            }
        });
        for pair in ran.windows(2) {
            let (a, b) = (position(pair[0]), position(pair[1]));
            prop_assert!(b > a || pair[1] == Stage::Implement, "order broken: {ran:?}");
            if b <= a {
                prop_assert!(is_gate(pair[0]), "only a gate loops back: {ran:?}");
            }
        }
        for stage in &ran {
            prop_assert!(selection.includes(*stage), "{stage} is not selected: {ran:?}");
            prop_assert!(position(*stage) <= position(selection.until), "{stage} is after until");
            if *stage == Stage::Parallel {
                prop_assert!(!needs_approval || approved, "parallel ran unapproved");
            }
        }
        for stage in Stage::ALL {
            prop_assert!(ledger.rounds(*stage) <= max_fix_rounds);
        }
        match end {
            Next::Succeeded => {
                for stage in &Stage::ALL[..=position(selection.until)] {
                    let state = ledger.state(*stage);
                    prop_assert!(matches!(state, StageState::Passed | StageState::Skipped), "{stage} {state}");
                }
            }
            Next::Failed { stage, .. } => prop_assert_eq!(ledger.state(stage), StageState::Failed),
            Next::Paused { after } => prop_assert_eq!(after, selection.until),
            Next::AwaitingApproval => prop_assert!(needs_approval && !approved),
            Next::Run(_) | Next::Interrupted { .. } | Next::Halted { .. } => {
                prop_assert!(false, "nothing here interrupts or halts")
            }
        }
    }
}
