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

/// How `orca run` orders a plan's tasks: per task, its dispatch rank and
/// what the scheduler weighs a file conflict by (see [`ScheduledTask`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOrder {
    /// Dispatch rank: lower starts first.
    pub rank: Vec<u64>,
    /// Remaining path, by the estimates (0: unknown).
    pub remaining: Vec<u64>,
    /// Own weight, by the estimates.
    pub weight: Vec<u64>,
}

impl PlanOrder {
    /// Ranks alone: no remaining paths, so no task ever waits for a more
    /// critical one.
    pub fn ranks(ranks: &[u64]) -> PlanOrder {
        PlanOrder {
            rank: ranks.to_vec(),
            remaining: vec![0; ranks.len()],
            weight: vec![0; ranks.len()],
        }
    }
}

/// The makespan of running `tasks` on `agents` agents in `order` under
/// `policy`. The wave barrier takes the ranks only (the baseline: each
/// wave in dispatch order, nothing held back for a later wave's task).
///
/// # Panics
/// If a dependency does not point to an earlier task.
pub fn makespan(tasks: &[SimTask], order: &PlanOrder, agents: usize, policy: Policy) -> u64 {
    let continuous = policy == Policy::Continuous;
    let scheduled = tasks
        .iter()
        .enumerate()
        .map(|(index, task)| ScheduledTask {
            deps: task.deps.clone(),
            conflicts: task.conflicts.clone(),
            agent: 0,
            rank: order.rank[index],
            remaining: if continuous { order.remaining[index] } else { 0 },
            weight: order.weight[index],
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

/// The order `orca run` dispatches `tasks` in: the plan's real dispatch
/// order ([`dispatch_ranks`]) and remaining paths for a plan with these
/// dependencies and, per task, the estimate in seconds (`None`: the plan
/// has no estimates, so every task weighs 1).
///
/// # Panics
/// If a dependency does not point to an earlier task, or `estimates` has
/// the wrong length.
pub fn plan_order(tasks: &[SimTask], estimates: Option<&[u64]>) -> PlanOrder {
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
    PlanOrder {
        rank: dispatch_ranks(&graph),
        remaining: graph.indices().map(|t| graph.remaining_path(t)).collect(),
        weight: graph.indices().map(|t| graph.weight(t)).collect(),
    }
}

/// A lower bound on the makespan of `tasks` on `agents` agents that no
/// schedule can beat, file conflicts included: [`LowerBound::at`].
pub fn lower_bound(tasks: &[SimTask], agents: usize) -> f64 {
    LowerBound::new(tasks).at(agents)
}

/// What a lower bound needs from a plan, computed once for every k.
///
/// Notation: `d(t)` is a task's duration; `head(t)` the longest chain of
/// durations of tasks `t` depends on, directly or not (no schedule can
/// start `t` earlier: its deps run one after another); `tail(t)` the
/// longest chain of durations of tasks that depend on `t` (once `t`
/// finishes, at least that much work is still to run, one task after
/// another). Each of the following is at most the makespan of every
/// schedule that respects the dependencies, the file conflicts and the k
/// agents, so their maximum is too:
///
/// 1. **Critical path**: `head(t) + d(t) + tail(t)` for every task.
/// 2. **Work**: for any threshold `r`, the tasks with `head(t) ≥ r` cannot
///    start before `r` and share k agents, so the makespan is at least
///    `r + (their total duration) / k`; symmetrically `(total duration
///    of the tasks with tail(t) ≥ q) / k + q`. With `r = 0` this is the
///    plain total work / k.
/// 3. **One at a time** (file conflicts): a set of tasks in which every
///    two share a file (the scheduler never runs them together) or are
///    joined by a dependency path (one finishes before the other starts)
///    runs one task at a time, like a single machine. For any subset `J`
///    of such a set, the first of `J` starts no earlier than the smallest
///    `head` in `J`, they then take at least their total duration one
///    after another, and after the last of them finishes at least the
///    smallest `tail` in `J` remains: `min head + Σ d + min tail` is a
///    bound (the classic one-machine bound with release and delivery
///    times; it holds even if tasks could be paused and resumed, so all
///    the more without). It is taken over the subsets
///    `{t : head(t) ≥ a, tail(t) ≥ b}` for every `a`, `b` in the set.
///    The sets are cliques of the conflict graph (plus dependency paths),
///    grown greedily from each conflicting pair; any such set is sound,
///    the greedy choice only decides how strong the bound is.
/// 4. **Ordering the shared files**: a makespan `T` is impossible when
///    supposing a schedule that ends by `T` leads to a contradiction
///    (`Relaxation::refutes`: each pair that shares files must run one way
///    round; where one way would end after `T`, the other is forced, which
///    raises heads and tails, which forces more pairs). The largest `T`
///    shown impossible, plus one, is a bound (durations are whole units).
///    It ignores k (any number of agents), so it holds for every k.
#[derive(Debug, Clone)]
pub struct LowerBound {
    /// Bounds 1, 3 and 4, the same for every k.
    fixed: f64,
    /// `(head, duration)` by head, descending, for bound 2.
    by_head: Vec<(u64, u64)>,
    /// `(tail, duration)` by tail, descending.
    by_tail: Vec<(u64, u64)>,
}

impl LowerBound {
    /// # Panics
    /// If a dependency does not point to an earlier task, or a conflict
    /// index is out of range.
    pub fn new(tasks: &[SimTask]) -> LowerBound {
        let n = tasks.len();
        let duration: Vec<u64> = tasks.iter().map(|task| task.duration).collect();
        let mut head = vec![0u64; n];
        for (index, task) in tasks.iter().enumerate() {
            for &dep in &task.deps {
                assert!(dep < index, "task {index}: dependency {dep} must come earlier");
                head[index] = head[index].max(head[dep] + duration[dep]);
            }
        }
        let mut tail = vec![0u64; n];
        for (index, task) in tasks.iter().enumerate().rev() {
            for &dep in &task.deps {
                tail[dep] = tail[dep].max(duration[index] + tail[index]);
            }
        }
        let critical_path = (0..n).map(|t| head[t] + duration[t] + tail[t]).max().unwrap_or(0);
        let (sets, unordered) = exclusive_sets(tasks);
        let one_at_a_time = sets
            .iter()
            .map(|set| {
                let jobs: Vec<(u64, u64, u64)> =
                    set.iter().map(|&t| (head[t], duration[t], tail[t])).collect();
                one_machine_bound(&jobs)
            })
            .max()
            .unwrap_or(0);
        let mut by_head: Vec<(u64, u64)> = (0..n).map(|t| (head[t], duration[t])).collect();
        by_head.sort_unstable_by(|a, b| b.cmp(a));
        let mut by_tail: Vec<(u64, u64)> = (0..n).map(|t| (tail[t], duration[t])).collect();
        by_tail.sort_unstable_by(|a, b| b.cmp(a));
        let mut fixed = critical_path.max(one_at_a_time);
        // (A zero bound means no work at all: nothing to order.)
        if !unordered.is_empty() && fixed > 0 {
            // Bound 4: the largest makespan that ordering the shared files
            // proves impossible, plus one (durations are whole units).
            // Refuting is monotone in the limit, so a binary search finds it
            // between the bounds above and the total work (always possible:
            // one task after another).
            let mut dependents = vec![Vec::new(); n];
            for (index, task) in tasks.iter().enumerate() {
                for &dep in &task.deps {
                    dependents[dep].push(index);
                }
            }
            let relaxation = Relaxation {
                duration: &duration,
                deps: tasks.iter().map(|task| task.deps.as_slice()).collect(),
                dependents,
                sets: &sets,
                unordered: &unordered,
            };
            // Below the bounds above nothing is possible; the total work
            // always is (one task after another).
            let (mut refuted, mut possible) = (fixed - 1, duration.iter().sum::<u64>());
            while refuted + 1 < possible {
                let middle = refuted + (possible - refuted) / 2;
                if relaxation.refutes(middle, &head, &tail) {
                    refuted = middle;
                } else {
                    possible = middle;
                }
            }
            fixed = fixed.max(refuted + 1);
        }
        LowerBound { fixed: fixed as f64, by_head, by_tail }
    }

    /// The bound for `agents` agents.
    pub fn at(&self, agents: usize) -> f64 {
        let k = agents.max(1) as f64;
        let work = |sorted: &[(u64, u64)]| {
            // Walking thresholds from the largest down: the tasks at or
            // above each threshold are a prefix.
            let mut total = 0u64;
            let mut best = 0f64;
            for &(threshold, duration) in sorted {
                total += duration;
                best = best.max(threshold as f64 + total as f64 / k);
            }
            best
        };
        self.fixed.max(work(&self.by_head)).max(work(&self.by_tail))
    }
}

/// The one-machine bound of a set of tasks that run one at a time, each
/// as `(head, duration, tail)`: the largest `min head + Σ duration + min
/// tail` over the subsets `{head ≥ a, tail ≥ b}`.
fn one_machine_bound(jobs: &[(u64, u64, u64)]) -> u64 {
    let mut heads: Vec<u64> = jobs.iter().map(|&(head, _, _)| head).collect();
    heads.sort_unstable();
    heads.dedup();
    let mut best = 0;
    for &a in &heads {
        // The subset's tasks by tail, longest first: each prefix is one
        // `tail ≥ b` subset, and its smallest tail is the last one's.
        let mut subset: Vec<(u64, u64)> = jobs
            .iter()
            .filter(|&&(head, _, _)| head >= a)
            .map(|&(_, duration, tail)| (tail, duration))
            .collect();
        subset.sort_unstable_by(|x, y| y.cmp(x));
        let mut total = 0;
        for &(tail, duration) in &subset {
            total += duration;
            best = best.max(a + total + tail);
        }
    }
    best
}

/// Sets of tasks that can only run one at a time: every two of a set
/// conflict (share files) or are joined by a dependency path. One set per
/// conflicting pair, grown greedily from the tasks that conflict with
/// both (largest duration first); duplicates removed.
fn exclusive_sets(tasks: &[SimTask]) -> (Vec<Vec<usize>>, Vec<(usize, usize)>) {
    let n = tasks.len();
    let conflicts =
        crate::schedule::symmetric_conflicts(tasks.iter().map(|task| task.conflicts.as_slice()));
    if conflicts.iter().all(Vec::is_empty) {
        return (Vec::new(), Vec::new());
    }
    // reach[t]: the tasks t depends on, directly or not (a bit set).
    let words = n.div_ceil(64);
    let mut reach = vec![0u64; n * words];
    for (index, task) in tasks.iter().enumerate() {
        for &dep in &task.deps {
            reach[index * words + dep / 64] |= 1 << (dep % 64);
            for w in 0..words {
                reach[index * words + w] |= reach[dep * words + w];
            }
        }
    }
    let depends = |a: usize, b: usize| reach[a * words + b / 64] & (1 << (b % 64)) != 0;
    let exclusive = |a: usize, b: usize| {
        conflicts[a].binary_search(&b).is_ok() || depends(a, b) || depends(b, a)
    };
    let mut seen = std::collections::HashSet::new();
    let mut sets = Vec::new();
    let mut unordered = Vec::new();
    for a in 0..n {
        for &b in conflicts[a].iter().filter(|&&b| b > a) {
            if !depends(a, b) && !depends(b, a) {
                unordered.push((a, b));
            }
            let mut set = vec![a, b];
            let mut candidates: Vec<usize> = conflicts[a]
                .iter()
                .chain(&conflicts[b])
                .copied()
                .filter(|&c| c != a && c != b)
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            candidates.sort_by_key(|&c| Reverse(tasks[c].duration));
            for c in candidates {
                if set.iter().all(|&member| exclusive(member, c)) {
                    set.push(c);
                }
            }
            set.sort_unstable();
            if seen.insert(set.clone()) {
                sets.push(set);
            }
        }
    }
    (sets, unordered)
}

/// The problem as the bound sees it: durations, dependencies both ways,
/// the sets that run one at a time and the pairs that share files with no
/// dependency path between them.
struct Relaxation<'a> {
    duration: &'a [u64],
    deps: Vec<&'a [usize]>,
    dependents: Vec<Vec<usize>>,
    sets: &'a [Vec<usize>],
    unordered: &'a [(usize, usize)],
}

impl Relaxation<'_> {
    /// Whether no schedule, with any number of agents, ends by `limit`
    /// (`true` proves the optimum is above `limit`; `false` proves
    /// nothing). Suppose one did. Then every task starts at or after its
    /// `head` and is followed by at least its `tail` of work. For a pair
    /// that shares files, one of the two runs entirely before the other:
    /// if `a` first would end after `limit` (`b` cannot start before `a`
    /// ends, nor before its own head: max(head a + d a, head b) + d b +
    /// tail b > limit), then `b` goes first in that schedule, so `a`
    /// cannot start before `head b + d b` and `b` is followed by at least
    /// `d a + tail a`. These facts are added as an order between the two
    /// and spread along the dependencies (and the orders found), each
    /// still true of the supposed schedule. A contradiction — a task whose
    /// `head + d + tail` exceeds `limit`, a pair that fits neither way, a
    /// one-at-a-time set whose bound exceeds `limit`, or orders that go
    /// round in a circle — shows that no such schedule exists.
    fn refutes(&self, limit: u64, head0: &[u64], tail0: &[u64]) -> bool {
        let n = self.duration.len();
        let d = self.duration;
        let (mut head, mut tail) = (head0.to_vec(), tail0.to_vec());
        let mut before: Vec<Vec<usize>> = vec![Vec::new(); n]; // found: x before t
        let mut after: Vec<Vec<usize>> = vec![Vec::new(); n]; // found: t before x
        let mut decided = vec![false; self.unordered.len()];
        loop {
            // Spread heads and tails to a fixed point; with orders that go
            // round in a circle it never settles (each round adds at least
            // one unit), which is itself a contradiction.
            let mut settled = false;
            for _ in 0..=n {
                let mut changed = false;
                for t in 0..n {
                    for &p in self.deps[t].iter().chain(&before[t]) {
                        let start = head[p] + d[p];
                        if start > head[t] {
                            head[t] = start;
                            changed = true;
                        }
                    }
                }
                for t in (0..n).rev() {
                    for &s in self.dependents[t].iter().chain(&after[t]) {
                        let rest = d[s] + tail[s];
                        if rest > tail[t] {
                            tail[t] = rest;
                            changed = true;
                        }
                    }
                }
                if (0..n).any(|t| head[t] + d[t] + tail[t] > limit) {
                    return true;
                }
                if !changed {
                    settled = true;
                    break;
                }
            }
            if !settled {
                return true;
            }
            for set in self.sets {
                let jobs: Vec<(u64, u64, u64)> =
                    set.iter().map(|&t| (head[t], d[t], tail[t])).collect();
                if one_machine_bound(&jobs) > limit {
                    return true;
                }
            }
            let mut found = false;
            for (k, &(a, b)) in self.unordered.iter().enumerate() {
                if decided[k] {
                    continue;
                }
                let end = |x: usize, y: usize| (head[x] + d[x]).max(head[y]) + d[y] + tail[y];
                match (end(a, b) <= limit, end(b, a) <= limit) {
                    (false, false) => return true,
                    (true, true) => continue,
                    (a_first, _) => {
                        let (x, y) = if a_first { (a, b) } else { (b, a) };
                        before[y].push(x);
                        after[x].push(y);
                        decided[k] = true;
                        found = true;
                    }
                }
            }
            if !found {
                return false;
            }
        }
    }
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
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&ranks), 2, Policy::Continuous), 10);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&ranks), 2, Policy::WaveBarrier), 15);
        assert_eq!(lower_bound(&tasks, 2), 10.0);
    }

    #[test]
    fn tasks_that_share_a_file_add_up_in_the_bound() {
        // Three independent tasks on three agents: 5 without conflicts.
        let mut tasks = sim(&[&[], &[], &[]], &[5, 4, 3]);
        assert_eq!(lower_bound(&tasks, 3), 5.0);
        // 0 and 1 share a file: they run one after the other.
        tasks[0].conflicts = vec![1];
        assert_eq!(lower_bound(&tasks, 3), 9.0);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1, 2]), 3, Policy::Continuous), 9);
    }

    #[test]
    fn the_one_at_a_time_bound_counts_what_comes_before_and_after() {
        // 0 → 1 and 2 → 3, with 1 and 3 sharing a file: whichever of them
        // goes first, the other waits; 0 and 2 take 2, 1 and 3 take 5.
        let mut tasks = sim(&[&[], &[0], &[], &[2]], &[2, 5, 2, 5]);
        tasks[1].conflicts = vec![3];
        assert_eq!(lower_bound(&tasks, 4), 12.0);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1, 2, 3]), 4, Policy::Continuous), 12);
        // A dependency path joins tasks as surely as a shared file: 0 → 1,
        // and 2 conflicts with both.
        let mut tasks = sim(&[&[], &[0], &[]], &[3, 3, 3]);
        tasks[2].conflicts = vec![0, 1];
        assert_eq!(lower_bound(&tasks, 3), 9.0);
    }

    /// A seeded generator: `next(m)` is in `0..m`.
    fn lcg(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        }
    }

    /// `n` tasks, each depending on up to two earlier ones, lasting 1 to
    /// `max_duration`, and `conflicts` random pairs sharing files.
    fn random_plan(
        next: &mut impl FnMut(u64) -> u64,
        n: usize,
        max_duration: u64,
        conflicts: u64,
    ) -> Vec<SimTask> {
        let mut tasks: Vec<SimTask> = (0..n)
            .map(|index| {
                let mut deps: Vec<usize> = (0..next(3))
                    .filter(|_| index > 0)
                    .map(|_| next(index as u64) as usize)
                    .collect();
                deps.sort_unstable();
                deps.dedup();
                SimTask { deps, duration: 1 + next(max_duration), conflicts: Vec::new() }
            })
            .collect();
        for _ in 0..conflicts {
            let (a, b) = (next(n as u64) as usize, next(n as u64) as usize);
            tasks[a].conflicts.push(b);
        }
        tasks
    }

    #[test]
    fn the_bound_never_exceeds_a_real_schedule() {
        // Random small plans with random conflicts: every schedule the real
        // scheduler makes, in any order and with any k, is at least the
        // bound (a schedule's makespan is at least the optimum).
        let mut next = lcg(0x5eed);
        for _ in 0..300 {
            let n = 2 + next(14) as usize;
            let conflicts = next(2 * n as u64);
            let tasks = random_plan(&mut next, n, 20, conflicts);
            let ranks: Vec<u64> = (0..n).map(|_| next(1000)).collect();
            for k in 1..=5 {
                let bound = lower_bound(&tasks, k);
                let made =
                    makespan(&tasks, &PlanOrder::ranks(&ranks), k, Policy::Continuous) as f64;
                assert!(
                    bound <= made,
                    "bound {bound} above a schedule of {made}: {tasks:?}, k = {k}"
                );
            }
        }
    }

    /// The best makespan with as many agents as tasks: every way round for
    /// each conflicting pair, each the longest path it leaves (orders that
    /// go round in a circle are skipped).
    fn optimum_with_every_agent(tasks: &[SimTask]) -> u64 {
        let n = tasks.len();
        let mut pairs: Vec<(usize, usize)> = tasks
            .iter()
            .enumerate()
            .flat_map(|(a, task)| task.conflicts.iter().map(move |&b| (a.min(b), a.max(b))))
            .filter(|&(a, b)| a != b)
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut best = u64::MAX;
        for mask in 0u32..(1 << pairs.len()) {
            let mut preds: Vec<Vec<usize>> = tasks.iter().map(|task| task.deps.clone()).collect();
            for (bit, &(a, b)) in pairs.iter().enumerate() {
                if mask >> bit & 1 == 1 { preds[b].push(a) } else { preds[a].push(b) }
            }
            // Longest path by relaxation; a circle never settles.
            let mut finish = vec![0u64; n];
            let mut settled = false;
            for _ in 0..=n {
                let mut changed = false;
                for t in 0..n {
                    let start = preds[t].iter().map(|&p| finish[p]).max().unwrap_or(0);
                    if start + tasks[t].duration > finish[t] {
                        finish[t] = start + tasks[t].duration;
                        changed = true;
                    }
                }
                if !changed {
                    settled = true;
                    break;
                }
            }
            if settled {
                best = best.min(finish.iter().copied().max().unwrap_or(0));
            }
        }
        best
    }

    #[test]
    fn the_bound_never_exceeds_the_optimum() {
        // Small plans whose optimum (any number of agents) can be found by
        // trying every order of the pairs that share files.
        let mut next = lcg(0xb0);
        let mut raised = 0;
        for _ in 0..400 {
            let n = 2 + next(7) as usize;
            let conflicts = next(6);
            let tasks = random_plan(&mut next, n, 30, conflicts);
            let optimum = optimum_with_every_agent(&tasks);
            let bound = lower_bound(&tasks, n);
            assert!(
                bound <= optimum as f64,
                "bound {bound} above the optimum {optimum}: {tasks:?}"
            );
            let plain = {
                let mut finish = vec![0u64; n];
                for (i, task) in tasks.iter().enumerate() {
                    finish[i] =
                        task.deps.iter().map(|&d| finish[d]).max().unwrap_or(0) + task.duration;
                }
                finish.into_iter().max().unwrap_or(0)
            };
            raised += usize::from(bound > plain as f64);
        }
        assert!(raised > 50, "conflicts raise the bound above the critical path often: {raised}");
    }

    #[test]
    fn work_that_cannot_start_early_raises_the_bound() {
        // 0 takes 10; 1..=4 each take 10 after it; 2 agents: 10 + 40 / 2.
        let tasks = sim(&[&[], &[0], &[0], &[0], &[0]], &[10, 10, 10, 10, 10]);
        assert_eq!(lower_bound(&tasks, 2), 30.0);
        assert_eq!(
            makespan(&tasks, &PlanOrder::ranks(&[0, 1, 2, 3, 4]), 2, Policy::Continuous),
            30
        );
    }

    #[test]
    fn plan_order_puts_the_longest_remaining_chain_first() {
        // 0 → 1 is a long chain; 2 is long alone; 3 is short alone.
        let tasks = sim(&[&[], &[0], &[], &[]], &[1, 1, 1, 1]);
        assert_eq!(plan_order(&tasks, Some(&[5, 5, 8, 1])).rank, vec![0, 2, 1, 3]);
        // Without estimates the chain (2 tasks) still goes first, then ID
        // order.
        assert_eq!(plan_order(&tasks, None).rank, vec![0, 1, 2, 3]);
    }

    #[test]
    fn tasks_that_share_files_never_run_together() {
        // 0 and 1 could run side by side but share a file.
        let mut tasks = sim(&[&[], &[]], &[4, 3]);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1]), 2, Policy::Continuous), 4);
        tasks[0].conflicts = vec![1];
        tasks[1].conflicts = vec![0];
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1]), 2, Policy::Continuous), 7);
    }

    #[test]
    fn one_agent_runs_everything_back_to_back() {
        let tasks = sim(&[&[], &[0], &[], &[2]], &[3, 4, 5, 6]);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1, 2, 3]), 1, Policy::Continuous), 18);
        assert_eq!(makespan(&tasks, &PlanOrder::ranks(&[0, 1, 2, 3]), 1, Policy::WaveBarrier), 18);
        assert_eq!(lower_bound(&tasks, 1), 18.0);
    }
}
