//! A virtual-time simulation of the scheduler, for benchmarks: how long a
//! plan takes with k agents under orca's policy versus a wave barrier.
//! Uses the real [`Schedule`], so the figures describe the code that runs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use orca_plan::{Estimate, Plan, PlanGraph, Task, TaskId};

use crate::schedule::{Caps, Schedule, ScheduledTask, dispatch_ranks};

/// One task of a simulated plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimTask {
    /// Indices of tasks that must finish first; all smaller than this
    /// task's own index.
    pub deps: Vec<usize>,
    /// How long the task really takes (virtual time units).
    pub duration: u64,
    /// Indices of tasks it shares files with (no order between them): the
    /// scheduler never runs two of them at once, as in a real run.
    pub conflicts: Vec<usize>,
}

/// How tasks are released to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// orca: a task starts as soon as its own dependencies are done.
    Continuous,
    /// Phase-based peers: wave n+1 starts only when all of wave n is done.
    WaveBarrier,
}

/// The makespan of running `tasks` on `agents` agents in `ranks` order
/// (lower rank first) under `policy`.
///
/// # Panics
/// If a dependency does not point to an earlier task.
pub fn makespan(tasks: &[SimTask], ranks: &[u64], agents: usize, policy: Policy) -> u64 {
    let scheduled = tasks
        .iter()
        .zip(ranks)
        .map(|(task, &rank)| ScheduledTask {
            deps: task.deps.clone(),
            conflicts: task.conflicts.clone(),
            agent: 0,
            rank,
        })
        .collect();
    let mut schedule = Schedule::new(scheduled, Caps { global: agents, per_agent: vec![None] });
    let waves = waves(tasks);
    let mut wave_left = vec![0usize; waves.iter().max().map_or(0, |w| w + 1)];
    for &wave in &waves {
        wave_left[wave] += 1;
    }
    let mut current_wave = 0;
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut now = 0;
    loop {
        let started = match policy {
            Policy::Continuous => schedule.start_ready(),
            Policy::WaveBarrier => {
                let eligible: Vec<usize> =
                    schedule.ready().filter(|&index| waves[index] == current_wave).collect();
                eligible
                    .into_iter()
                    .filter(|&index| schedule.can_start(index) && schedule.start(index))
                    .collect()
            }
        };
        for index in started {
            running.push(Reverse((now + tasks[index].duration, index)));
        }
        let Some(Reverse((finish, index))) = running.pop() else { break };
        now = finish;
        schedule.merged(index);
        wave_left[waves[index]] -= 1;
        while current_wave < wave_left.len() && wave_left[current_wave] == 0 {
            current_wave += 1;
        }
    }
    assert!(schedule.is_finished(), "simulation ended with work left");
    now
}

/// The ranks `orca run` dispatches `tasks` in: the plan's real dispatch
/// order ([`dispatch_ranks`]) for a plan with these dependencies and, per
/// task, the estimate in seconds (`None`: the plan has no estimates, so
/// every task weighs 1).
///
/// # Panics
/// If a dependency does not point to an earlier task, or `estimates` has
/// the wrong length.
pub fn plan_ranks(tasks: &[SimTask], estimates: Option<&[u64]>) -> Vec<u64> {
    let id = |index: usize| TaskId::parse(&format!("T{}", index + 1)).expect("a valid task ID");
    let plan = Plan {
        title: "simulated".to_owned(),
        tasks: tasks
            .iter()
            .enumerate()
            .map(|(index, sim)| {
                let mut task = Task::new(id(index), format!("task {}", index + 1), "backend");
                task.deps = sim
                    .deps
                    .iter()
                    .map(|&dep| {
                        assert!(dep < index, "task {index}: dependency {dep} must come earlier");
                        id(dep)
                    })
                    .collect();
                task.estimate = estimates.map(|all| Estimate::Seconds(all[index]));
                task
            })
            .collect(),
        ..Plan::default()
    };
    let graph = PlanGraph::new(&plan).expect("an acyclic plan");
    dispatch_ranks(&graph)
}

/// max(critical path, total work / agents): no schedule can beat it. It
/// leaves file conflicts out, so with them it may sit below the best
/// makespan there is.
pub fn lower_bound(tasks: &[SimTask], agents: usize) -> f64 {
    let mut finish = vec![0u64; tasks.len()];
    for (index, task) in tasks.iter().enumerate() {
        let start = task.deps.iter().map(|&dep| finish[dep]).max().unwrap_or(0);
        finish[index] = start + task.duration;
    }
    let critical_path = finish.iter().copied().max().unwrap_or(0) as f64;
    let total: u64 = tasks.iter().map(|task| task.duration).sum();
    critical_path.max(total as f64 / agents as f64)
}

/// Each task's wave: 0 for tasks without deps, else one more than the
/// deepest dependency.
fn waves(tasks: &[SimTask]) -> Vec<usize> {
    let mut wave = vec![0usize; tasks.len()];
    for (index, task) in tasks.iter().enumerate() {
        for &dep in &task.deps {
            assert!(dep < index, "task {index}: dependency {dep} must come earlier");
            wave[index] = wave[index].max(wave[dep] + 1);
        }
    }
    wave
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(deps: &[&[usize]], durations: &[u64]) -> Vec<SimTask> {
        deps.iter()
            .zip(durations)
            .map(|(deps, &duration)| SimTask {
                deps: deps.to_vec(),
                duration,
                ..SimTask::default()
            })
            .collect()
    }

    #[test]
    fn continuous_beats_the_barrier_when_one_branch_is_slow() {
        // 0 (long) and 1 (short) are wave 0; 2 depends on 1 only.
        let tasks = sim(&[&[], &[], &[1]], &[10, 1, 5]);
        let ranks = [0, 1, 2];
        assert_eq!(makespan(&tasks, &ranks, 2, Policy::Continuous), 10);
        assert_eq!(makespan(&tasks, &ranks, 2, Policy::WaveBarrier), 15);
        assert_eq!(lower_bound(&tasks, 2), 10.0);
    }

    #[test]
    fn plan_ranks_put_the_longest_remaining_chain_first() {
        // 0 → 1 is a long chain; 2 is long alone; 3 is short alone.
        let tasks = sim(&[&[], &[0], &[], &[]], &[1, 1, 1, 1]);
        assert_eq!(plan_ranks(&tasks, Some(&[5, 5, 8, 1])), vec![0, 2, 1, 3]);
        // Without estimates the chain (2 tasks) still goes first, then ID
        // order.
        assert_eq!(plan_ranks(&tasks, None), vec![0, 1, 2, 3]);
    }

    #[test]
    fn tasks_that_share_files_never_run_together() {
        // 0 and 1 could run side by side but share a file.
        let mut tasks = sim(&[&[], &[]], &[4, 3]);
        assert_eq!(makespan(&tasks, &[0, 1], 2, Policy::Continuous), 4);
        tasks[0].conflicts = vec![1];
        tasks[1].conflicts = vec![0];
        assert_eq!(makespan(&tasks, &[0, 1], 2, Policy::Continuous), 7);
    }

    #[test]
    fn one_agent_runs_everything_back_to_back() {
        let tasks = sim(&[&[], &[0], &[], &[2]], &[3, 4, 5, 6]);
        assert_eq!(makespan(&tasks, &[0, 1, 2, 3], 1, Policy::Continuous), 18);
        assert_eq!(makespan(&tasks, &[0, 1, 2, 3], 1, Policy::WaveBarrier), 18);
        assert_eq!(lower_bound(&tasks, 1), 18.0);
    }
}
