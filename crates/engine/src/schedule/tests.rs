use proptest::prelude::*;

use super::*;

fn task(deps: &[usize], rank: u64) -> ScheduledTask {
    ScheduledTask { deps: deps.to_vec(), rank, ..ScheduledTask::default() }
}

fn caps(global: usize) -> Caps {
    Caps { global, per_agent: vec![None] }
}

#[test]
fn diamond_starts_the_root_then_both_sides_then_the_join() {
    // 0 -> {1, 2} -> 3
    let tasks = vec![task(&[], 0), task(&[0], 1), task(&[0], 2), task(&[1, 2], 3)];
    let mut schedule = Schedule::new(tasks, caps(4));
    assert_eq!(schedule.start_ready(), vec![0]);
    assert_eq!(schedule.start_ready(), Vec::<usize>::new());
    assert_eq!(schedule.merged(0), vec![1, 2]);
    assert_eq!(schedule.start_ready(), vec![1, 2]);
    assert_eq!(schedule.merged(2), Vec::<usize>::new());
    assert_eq!(schedule.phase(3), TaskPhase::Waiting);
    assert_eq!(schedule.merged(1), vec![3]);
    assert_eq!(schedule.start_ready(), vec![3]);
    schedule.merged(3);
    assert!(schedule.is_finished());
    assert_eq!(schedule.counts(), Counts { merged: 4, ..Counts::default() });
}

#[test]
fn a_task_waiting_for_its_merge_gives_its_slot_away_but_not_its_files() {
    // 0 and 1 independent, 2 depends on 0, 3 touches 0's files.
    let mut overlapping = task(&[], 3);
    overlapping.conflicts = vec![0];
    let tasks = vec![task(&[], 0), task(&[], 1), task(&[0], 2), overlapping];
    let mut schedule = Schedule::new(tasks, caps(1));
    assert_eq!(schedule.start_ready(), vec![0]);
    assert_eq!(schedule.start_ready(), Vec::<usize>::new(), "the one slot is taken");
    schedule.release_slot(0);
    schedule.release_slot(0); // twice is once
    assert_eq!(schedule.phase(0), TaskPhase::InFlight);
    assert_eq!(schedule.start_ready(), vec![1], "1 takes the slot; 3 waits for 0's files");
    assert_eq!(schedule.phase(2), TaskPhase::Waiting, "2 waits for 0's merge");
    // 0 merges while 1 holds the slot: 0 leaving frees no second slot.
    assert_eq!(schedule.merged(0), vec![2]);
    assert_eq!(schedule.start_ready(), Vec::<usize>::new());
    schedule.merged(1);
    assert_eq!(schedule.start_ready(), vec![2]);
    schedule.release_slot(2);
    assert_eq!(schedule.start_ready(), vec![3]);
    // A merge that fails after the slot went back frees nothing twice.
    schedule.failed(2);
    schedule.merged(3);
    assert!(schedule.is_finished());
}

#[test]
fn rank_decides_who_gets_the_last_slot() {
    let tasks = vec![task(&[], 5), task(&[], 1), task(&[], 3)];
    let mut schedule = Schedule::new(tasks, caps(2));
    assert_eq!(schedule.start_ready(), vec![1, 2]);
    schedule.merged(2);
    assert_eq!(schedule.start_ready(), vec![0]);
}

#[test]
fn no_wave_barrier_a_task_starts_when_its_own_deps_merge() {
    // Chain 0 -> 1 beside a long independent task 2.
    let tasks = vec![task(&[], 0), task(&[0], 1), task(&[], 2)];
    let mut schedule = Schedule::new(tasks, caps(2));
    assert_eq!(schedule.start_ready(), vec![0, 2]);
    schedule.merged(0);
    // Task 2 (same wave as 0) is still running; 1 starts anyway.
    assert_eq!(schedule.start_ready(), vec![1]);
}

#[test]
fn conflicting_tasks_never_overlap_and_lower_ranks_fill_the_slot() {
    let mut a = task(&[], 0);
    a.conflicts = vec![1];
    let tasks = vec![a, task(&[], 1), task(&[], 2)];
    let mut schedule = Schedule::new(tasks, caps(3));
    // 1 conflicts with 0 (named on 0's side only), so 2 takes its place.
    assert_eq!(schedule.start_ready(), vec![0, 2]);
    assert!(!schedule.can_start(1));
    schedule.merged(0);
    assert_eq!(schedule.start_ready(), vec![1]);
}

#[test]
fn a_task_with_slack_leaves_a_shared_file_to_a_more_critical_task_about_to_need_it() {
    // 0 → 1 (the critical chain); 2 is ready at once and shares files with
    // 1. Remaining paths: 0: 10, 1: 8 (weight 3), 2: its own.
    let build = |remaining_of_2: u64| {
        let mut tasks = vec![task(&[], 0), task(&[0], 1), task(&[], 2)];
        (tasks[0].remaining, tasks[0].weight) = (10, 2);
        (tasks[1].remaining, tasks[1].weight) = (8, 3);
        (tasks[2].remaining, tasks[2].weight) = (remaining_of_2, remaining_of_2);
        tasks[1].conflicts = vec![2];
        Schedule::new(tasks, caps(3))
    };
    // 4 + 3 ≤ 8: after 1, task 2 still ends before the chain does; started
    // first, it would hold up 1. It waits while 0 (1's last dep) runs.
    let mut schedule = build(4);
    assert_eq!(schedule.start_ready(), vec![0]);
    assert!(!schedule.can_start(2));
    assert_eq!(schedule.merged(0), vec![1]);
    assert_eq!(schedule.start_ready(), vec![1]);
    schedule.merged(1);
    assert_eq!(schedule.start_ready(), vec![2]);
    // If 0 goes back (interrupted), 1 is no longer about to start: 2 goes.
    let mut schedule = build(4);
    assert_eq!(schedule.start_ready(), vec![0]);
    schedule.returned(0);
    assert_eq!(schedule.start_ready(), vec![0]);
    schedule.hold(0);
    assert_eq!(schedule.start_ready(), vec![2]);
    // 6 + 3 > 8: task 2 has no such slack and starts at once.
    let mut schedule = build(6);
    assert_eq!(schedule.start_ready(), vec![0, 2]);
    // Unknown remaining paths (0) never hold anything back.
    let mut schedule = build(0);
    schedule.tasks[1].remaining = 0;
    assert_eq!(schedule.start_ready(), vec![0, 2]);
}

#[test]
fn a_task_with_twice_the_slack_leaves_a_shared_file_to_a_critical_task_further_off() {
    // 0 → 1 → 2 (the critical chain: remaining 20, 15, 10; 2 weighs 4);
    // 3 is ready at once and shares files with 2, two dependencies away.
    let build = |remaining_of_3: u64| {
        let mut tasks = vec![task(&[], 0), task(&[0], 1), task(&[1], 2), task(&[], 3)];
        for (index, (remaining, weight)) in [(20, 5), (15, 5), (10, 4)].into_iter().enumerate() {
            (tasks[index].remaining, tasks[index].weight) = (remaining, weight);
        }
        (tasks[3].remaining, tasks[3].weight) = (remaining_of_3, remaining_of_3);
        tasks[3].conflicts = vec![2];
        Schedule::new(tasks, caps(4))
    };
    // 2 × 3 + 4 ≤ 10: task 3 waits for 2, even while 1 has not started.
    let mut schedule = build(3);
    assert_eq!(schedule.start_ready(), vec![0]);
    assert!(!schedule.can_start(3));
    assert_eq!(schedule.merged(0), vec![1]);
    assert_eq!(schedule.start_ready(), vec![1]);
    assert_eq!(schedule.merged(1), vec![2]);
    assert_eq!(schedule.start_ready(), vec![2]);
    schedule.merged(2);
    assert_eq!(schedule.start_ready(), vec![3]);
    // With nothing in flight it never waits (0 held: no stall).
    let mut schedule = build(3);
    assert_eq!(schedule.start_ready(), vec![0]);
    schedule.hold(0);
    assert_eq!(schedule.start_ready(), vec![3]);
    // 2 × 4 + 4 > 10: slack enough for a task about to be ready, not for
    // one further off, so task 3 starts at once.
    let mut schedule = build(4);
    assert_eq!(schedule.start_ready(), vec![0, 3]);
}

#[test]
fn per_agent_caps_hold_while_other_agents_run() {
    let mut tasks: Vec<ScheduledTask> = (0..4).map(|i| task(&[], i)).collect();
    tasks[2].agent = 1;
    tasks[3].agent = 1;
    let mut schedule = Schedule::new(tasks, Caps { global: 4, per_agent: vec![Some(1), None] });
    assert_eq!(schedule.start_ready(), vec![0, 2, 3]);
    schedule.merged(0);
    assert_eq!(schedule.start_ready(), vec![1]);
}

#[test]
fn failure_blocks_every_transitive_dependent_and_nothing_else() {
    // 0 -> 1 -> 2, 0 -> 3, 4 independent
    let tasks = vec![task(&[], 0), task(&[0], 1), task(&[1], 2), task(&[0], 3), task(&[], 4)];
    let mut schedule = Schedule::new(tasks, caps(2));
    assert_eq!(schedule.start_ready(), vec![0, 4]);
    assert_eq!(schedule.failed(0), vec![1, 2, 3]);
    assert_eq!(schedule.phase(2), TaskPhase::Blocked { by: 0 });
    assert!(!schedule.is_finished());
    schedule.merged(4);
    assert!(schedule.is_finished());
    assert_eq!(schedule.counts(), Counts { merged: 1, failed: 1, blocked: 3, ..Counts::default() });
}

#[test]
fn a_returned_task_frees_its_slot_and_is_ready_again() {
    let tasks = vec![task(&[], 0), task(&[], 1)];
    let mut schedule = Schedule::new(tasks, caps(1));
    assert_eq!(schedule.start_ready(), vec![0]);
    schedule.returned(0);
    assert_eq!(schedule.phase(0), TaskPhase::Ready);
    assert_eq!(schedule.start_ready(), vec![0]);
}

#[test]
fn a_held_task_waits_until_unheld_and_does_not_finish_the_run() {
    let tasks = vec![task(&[], 0), task(&[], 1)];
    let mut schedule = Schedule::new(tasks, caps(2));
    assert_eq!(schedule.start_ready(), vec![0, 1]);
    schedule.hold(0);
    schedule.merged(1);
    assert_eq!(schedule.start_ready(), Vec::<usize>::new());
    assert!(!schedule.is_finished());
    assert_eq!(schedule.counts().held, 1);
    schedule.unhold(0);
    assert_eq!(schedule.start_ready(), vec![0]);
}

#[test]
fn resuming_replays_merged_tasks_in_dependency_order() {
    let tasks = vec![task(&[], 0), task(&[0], 1), task(&[1], 2)];
    let mut schedule = Schedule::new(tasks, caps(2));
    for index in [0, 1] {
        assert!(schedule.start(index));
        schedule.merged(index);
    }
    assert_eq!(schedule.start_ready(), vec![2]);
}

/// A random DAG: each task depends on some earlier tasks; random conflicts
/// and agent kinds.
fn arbitrary_schedule() -> impl Strategy<Value = (Vec<ScheduledTask>, Caps)> {
    (1usize..40, 1usize..6).prop_flat_map(|(n, global)| {
        let deps =
            prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..4), n);
        let conflicts =
            prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..2), n);
        let agents = prop::collection::vec(0usize..2, n);
        let agent_caps = prop::collection::vec(prop::option::of(1usize..3), 2);
        let ranks = Just((0..n as u64).collect::<Vec<_>>()).prop_shuffle();
        // Remaining paths and weights at random: waiting for a more
        // critical task must never stall a run or break an invariant.
        let weights = prop::collection::vec((0u64..50, 1u64..10), n);
        (deps, conflicts, agents, agent_caps, ranks, weights).prop_map(
            move |(deps, conflicts, agents, agent_caps, ranks, weights)| {
                let tasks = (0..n)
                    .map(|i| ScheduledTask {
                        deps: if i == 0 {
                            Vec::new()
                        } else {
                            deps[i].iter().map(|d| d.index(i)).collect()
                        },
                        conflicts: conflicts[i].iter().map(|c| c.index(n)).collect(),
                        agent: agents[i],
                        rank: ranks[i],
                        remaining: weights[i].0,
                        weight: weights[i].1,
                    })
                    .collect();
                (tasks, Caps { global, per_agent: agent_caps })
            },
        )
    })
}

fn check_invariants(schedule: &Schedule, tasks: &[ScheduledTask], caps: &Caps) {
    let in_flight: Vec<usize> = schedule.in_flight().collect();
    assert!(in_flight.len() <= caps.global, "global cap exceeded");
    for (agent, cap) in caps.per_agent.iter().enumerate() {
        if let Some(cap) = cap {
            let count = in_flight.iter().filter(|&&i| tasks[i].agent == agent).count();
            assert!(count <= *cap, "agent {agent} cap exceeded");
        }
    }
    for &a in &in_flight {
        for &dep in &tasks[a].deps {
            assert_eq!(
                schedule.phase(dep),
                TaskPhase::Merged,
                "{a} in flight before dep {dep} merged"
            );
        }
        for &b in &in_flight {
            assert!(
                !tasks[a].conflicts.contains(&b) || a == b,
                "conflicting {a} and {b} both in flight"
            );
        }
    }
    // Work-conserving: nothing ready could have started.
    for index in schedule.ready() {
        assert!(!schedule.can_start(index), "task {index} ready with a free slot but not started");
    }
}

proptest! {
    #[test]
    fn random_runs_respect_caps_conflicts_and_deps(
        (tasks, caps) in arbitrary_schedule(),
        outcomes in prop::collection::vec(0u8..10, 64),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 256),
    ) {
        let mut schedule = Schedule::new(tasks.clone(), caps.clone());
        let mut step = 0;
        loop {
            schedule.start_ready();
            check_invariants(&schedule, &tasks, &caps);
            let in_flight: Vec<usize> = schedule.in_flight().collect();
            if in_flight.is_empty() {
                break;
            }
            let index = in_flight[picks[step % picks.len()].index(in_flight.len())];
            match outcomes[step % outcomes.len()] {
                0 => {
                    let blocked = schedule.failed(index);
                    for b in blocked {
                        prop_assert_eq!(schedule.phase(b), TaskPhase::Blocked { by: index });
                    }
                }
                1 => schedule.returned(index),
                2 => { schedule.hold(index); schedule.unhold(index); }
                _ => { schedule.merged(index); }
            }
            step += 1;
            prop_assert!(step < 10_000, "no progress");
        }
        // With nothing in flight, the run is over: nothing is left ready or waiting.
        prop_assert!(schedule.is_finished(), "stuck: {:?}", schedule.counts());
    }
}
