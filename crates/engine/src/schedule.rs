//! Which task runs next. Pure bookkeeping, no I/O: the dispatcher owns one
//! [`Schedule`] and feeds it what happened (a task merged, failed, was
//! interrupted); the schedule answers which tasks to start now.
//!
//! Policy: no wave barrier — a task becomes ready the moment its last
//! dependency is merged. Ready tasks start in the caller's rank order
//! (critical-path-first, then priority, then most-unblocking, then ID),
//! skipping a task whose files overlap a task still in flight or whose
//! agent kind is at its concurrency cap; a skipped task does not hold back
//! lower-ranked tasks that can run.
//!
//! One exception keeps a shared file free for the more critical of two
//! tasks: a ready task `t` waits while a better-ranked task `c` that shares
//! files with it is about to need them — `c` is ready but blocked by
//! another conflict, or waits only for dependencies that are already in
//! flight — and `t` has the slack to wait: its remaining path plus `c`'s
//! own weight is at most `c`'s remaining path, so even if `t` starts only
//! after `c`, it ends no later than the chain after `c` does (by the
//! estimates). Started first instead, `t` would delay `c`, and with it
//! everything after `c`. Something is always in flight while a task waits
//! this way (a dependency of `c`, or the task blocking it), so the run
//! never stalls on it.
//!
//! `t` also waits for a `c` further from ready (some dependency of `c` not
//! started yet) when it has twice that slack: twice its remaining path
//! plus `c`'s weight is at most `c`'s remaining path. However long `c`
//! takes to become ready, `t` after `c` still ends before the chain after
//! `c` by the estimates, with room for `t`'s own chain to take twice as
//! long as estimated; started now instead, a `t` that overruns its
//! estimate holds the file just when `c` needs it. It waits this way only
//! while some task is in flight, so the run never stalls on it either.

use std::collections::BTreeSet;

use orca_plan::PlanGraph;

/// How many times its own remaining path a ready task must be able to
/// wait for a more critical task that shares its files and is not about
/// to be ready yet (see the module docs).
const FAR_SLACK: u64 = 2;

/// One task as the scheduler sees it. Indices refer to positions in the
/// slice given to [`Schedule::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledTask {
    /// Tasks that must be merged before this one starts.
    pub deps: Vec<usize>,
    /// Tasks that must never be in flight at the same time as this one
    /// (their `files` overlap). Symmetry is not required: the schedule
    /// treats a conflict named on either side as mutual.
    pub conflicts: Vec<usize>,
    /// Which agent kind runs it (index into [`Caps::per_agent`]).
    pub agent: usize,
    /// Dispatch rank: lower starts first. Must be distinct per task for a
    /// deterministic order (the ID is the last tie-breaker).
    pub rank: u64,
    /// The heaviest chain of work from this task to the end of the plan,
    /// itself included (the plan's remaining path, in its estimates'
    /// unit); 0 when unknown, which turns off waiting for it (see the
    /// module docs).
    pub remaining: u64,
    /// The task's own weight in the same unit (its estimate).
    pub weight: u64,
}

/// Concurrency caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    /// The most tasks in flight at once.
    pub global: usize,
    /// The most tasks in flight per agent kind; `None` means only the
    /// global cap applies.
    pub per_agent: Vec<Option<usize>>,
}

/// Where a task is in its life, as far as scheduling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPhase {
    /// Some dependency is not merged yet.
    Waiting,
    /// All dependencies merged; may start.
    Ready,
    /// Started and not yet merged or failed (agent, verify, merge queue;
    /// only the first two take an agent slot).
    InFlight,
    /// Returned, but must not start again before the caller says so (a
    /// retry waiting out its backoff).
    Held,
    /// Merged into the integration branch.
    Merged,
    /// Failed for good.
    Failed,
    /// Will not run because the task at this index failed.
    Blocked { by: usize },
}

/// The scheduler's state. See the module docs for the policy.
#[derive(Debug, Clone)]
pub struct Schedule {
    tasks: Vec<ScheduledTask>,
    caps: Caps,
    phase: Vec<TaskPhase>,
    unmerged_deps: Vec<usize>,
    /// Dependencies neither in flight nor merged.
    unstarted_deps: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    conflicts: Vec<Vec<usize>>,
    /// Ready tasks keyed by (rank, index).
    ready: BTreeSet<(u64, usize)>,
    /// For each task, how many in-flight tasks conflict with it.
    blocked_by_conflict: Vec<usize>,
    /// Whether an in-flight task still holds an agent slot: it gives the
    /// slot back once its agent is done ([`Schedule::release_slot`]),
    /// while it waits for the merge queue.
    holds_slot: Vec<bool>,
    /// Agent slots taken, in all and per agent kind.
    in_flight: usize,
    in_flight_per_agent: Vec<usize>,
    /// Tasks in flight, with or without a slot.
    tasks_in_flight: usize,
}

/// A summary of where every task stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub waiting: usize,
    pub ready: usize,
    pub in_flight: usize,
    pub held: usize,
    pub merged: usize,
    pub failed: usize,
    pub blocked: usize,
}

/// Each task's conflicts, both ways round, sorted, without repeats or the
/// task itself, from the conflicts each task lists.
///
/// # Panics
/// If a conflict index is out of range: a caller bug.
pub(crate) fn symmetric_conflicts<'a>(
    listed: impl ExactSizeIterator<Item = &'a [usize]>,
) -> Vec<Vec<usize>> {
    let mut conflicts = vec![Vec::new(); listed.len()];
    let n = conflicts.len();
    for (index, others) in listed.enumerate() {
        for &other in others {
            assert!(other < n, "task {index}: conflict {other} out of range");
            if other != index {
                conflicts[index].push(other);
                conflicts[other].push(index);
            }
        }
    }
    for list in &mut conflicts {
        list.sort_unstable();
        list.dedup();
    }
    conflicts
}

impl Schedule {
    /// Builds the schedule with every task waiting or ready.
    ///
    /// # Panics
    /// If a dependency or conflict index is out of range, or an agent index
    /// has no entry in `caps.per_agent`: both are caller bugs.
    pub fn new(tasks: Vec<ScheduledTask>, caps: Caps) -> Self {
        let n = tasks.len();
        let mut dependents = vec![Vec::new(); n];
        let mut unmerged_deps = vec![0; n];
        for (index, task) in tasks.iter().enumerate() {
            assert!(task.agent < caps.per_agent.len(), "task {index}: unknown agent kind");
            let mut deps = task.deps.clone();
            deps.sort_unstable();
            deps.dedup();
            for &dep in &deps {
                assert!(dep < n, "task {index}: dependency {dep} out of range");
                dependents[dep].push(index);
            }
            unmerged_deps[index] = deps.len();
        }
        let conflicts = symmetric_conflicts(tasks.iter().map(|task| task.conflicts.as_slice()));
        let mut ready = BTreeSet::new();
        let phase = (0..n)
            .map(|index| {
                if unmerged_deps[index] == 0 {
                    ready.insert((tasks[index].rank, index));
                    TaskPhase::Ready
                } else {
                    TaskPhase::Waiting
                }
            })
            .collect();
        let agents = caps.per_agent.len();
        Schedule {
            tasks,
            caps,
            phase,
            unstarted_deps: unmerged_deps.clone(),
            unmerged_deps,
            dependents,
            conflicts,
            ready,
            blocked_by_conflict: vec![0; n],
            holds_slot: vec![false; n],
            in_flight: 0,
            in_flight_per_agent: vec![0; agents],
            tasks_in_flight: 0,
        }
    }

    /// How many tasks the schedule holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the schedule holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The phase of one task.
    pub fn phase(&self, index: usize) -> TaskPhase {
        self.phase[index]
    }

    /// Ready tasks in rank order (whether or not a slot is free for them).
    pub fn ready(&self) -> impl Iterator<Item = usize> + '_ {
        self.ready.iter().map(|&(_, index)| index)
    }

    /// Tasks currently in flight, in index order.
    pub fn in_flight(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.phase.len()).filter(|&i| self.phase[i] == TaskPhase::InFlight)
    }

    /// Starts as many ready tasks as the caps allow, best rank first, and
    /// returns them (now in flight).
    pub fn start_ready(&mut self) -> Vec<usize> {
        let mut started = Vec::new();
        if self.in_flight >= self.caps.global {
            return started;
        }
        let candidates: Vec<(u64, usize)> = self.ready.iter().copied().collect();
        for (rank, index) in candidates {
            if self.in_flight >= self.caps.global {
                break;
            }
            if !self.can_start(index) {
                continue;
            }
            self.ready.remove(&(rank, index));
            self.mark_in_flight(index);
            started.push(index);
        }
        started
    }

    /// Whether a ready task could start now (slot, agent cap, conflicts,
    /// and not waiting for a more critical task that shares its files).
    pub fn can_start(&self, index: usize) -> bool {
        if self.phase[index] != TaskPhase::Ready || self.in_flight >= self.caps.global {
            return false;
        }
        let agent = self.tasks[index].agent;
        if let Some(cap) = self.caps.per_agent[agent]
            && self.in_flight_per_agent[agent] >= cap
        {
            return false;
        }
        self.blocked_by_conflict[index] == 0 && !self.waits_for_critical(index)
    }

    /// Whether ready task `index` leaves its files to a better-ranked task
    /// that is about to need them (see the module docs).
    fn waits_for_critical(&self, index: usize) -> bool {
        let task = &self.tasks[index];
        self.conflicts[index].iter().any(|&other| {
            let critical = &self.tasks[other];
            critical.rank < task.rank
                && critical.remaining > 0
                && task.remaining.saturating_add(critical.weight) <= critical.remaining
                && match self.phase[other] {
                    TaskPhase::Ready => self.blocked_by_conflict[other] > 0,
                    TaskPhase::Waiting if self.unstarted_deps[other] == 0 => true,
                    // Further from ready: only with twice the slack, and
                    // never with nothing in flight (so never a stall).
                    TaskPhase::Waiting => {
                        self.tasks_in_flight > 0
                            && task
                                .remaining
                                .saturating_mul(FAR_SLACK)
                                .saturating_add(critical.weight)
                                <= critical.remaining
                    }
                    _ => false,
                }
        })
    }

    /// Marks a ready task in flight regardless of rank (e.g. when resuming
    /// a run whose task was already leased). Returns false if it was not
    /// ready.
    pub fn start(&mut self, index: usize) -> bool {
        if self.phase[index] != TaskPhase::Ready {
            return false;
        }
        self.ready.remove(&(self.tasks[index].rank, index));
        self.mark_in_flight(index);
        true
    }

    /// The task's agent is done and its work waits for the merge queue: it
    /// gives its agent slot to the next ready task but stays in flight (its
    /// files still count as busy, its dependents still wait).
    pub fn release_slot(&mut self, index: usize) {
        if self.phase[index] == TaskPhase::InFlight && self.holds_slot[index] {
            self.holds_slot[index] = false;
            self.in_flight -= 1;
            self.in_flight_per_agent[self.tasks[index].agent] -= 1;
        }
    }

    /// The task's work is merged: dependents whose last dependency this was
    /// become ready. Returns them.
    pub fn merged(&mut self, index: usize) -> Vec<usize> {
        assert_eq!(
            self.phase[index],
            TaskPhase::InFlight,
            "task {index} merged while not in flight"
        );
        self.leave_flight(index);
        self.phase[index] = TaskPhase::Merged;
        let mut unlocked = Vec::new();
        for dependent in self.dependents[index].clone() {
            self.unmerged_deps[dependent] -= 1;
            if self.unmerged_deps[dependent] == 0 && self.phase[dependent] == TaskPhase::Waiting {
                self.phase[dependent] = TaskPhase::Ready;
                self.ready.insert((self.tasks[dependent].rank, dependent));
                unlocked.push(dependent);
            }
        }
        unlocked
    }

    /// The task failed for good: every task that depends on it, directly or
    /// not, is blocked by it. Returns the newly blocked tasks.
    pub fn failed(&mut self, index: usize) -> Vec<usize> {
        match self.phase[index] {
            TaskPhase::InFlight => {
                self.leave_flight(index);
                self.unstart(index);
            }
            TaskPhase::Ready => {
                self.ready.remove(&(self.tasks[index].rank, index));
            }
            TaskPhase::Waiting | TaskPhase::Held => {}
            other => panic!("task {index} failed while {other:?}"),
        }
        self.phase[index] = TaskPhase::Failed;
        let mut blocked = Vec::new();
        let mut stack = self.dependents[index].clone();
        while let Some(dependent) = stack.pop() {
            // A dependent cannot be ready, in flight or merged while this
            // task was unmerged; blocked and failed ones stay as they are.
            if self.phase[dependent] == TaskPhase::Waiting {
                self.phase[dependent] = TaskPhase::Blocked { by: index };
                blocked.push(dependent);
                stack.extend(self.dependents[dependent].iter().copied());
            }
        }
        blocked.sort_unstable();
        blocked
    }

    /// The task stopped without a result (interrupted, lease lost, retry
    /// pending): it goes back to ready and frees its slot.
    pub fn returned(&mut self, index: usize) {
        assert_eq!(
            self.phase[index],
            TaskPhase::InFlight,
            "task {index} returned while not in flight"
        );
        self.leave_flight(index);
        self.unstart(index);
        self.phase[index] = TaskPhase::Ready;
        self.ready.insert((self.tasks[index].rank, index));
    }

    /// The task stopped without a result and may start again only after
    /// [`Schedule::unhold`]: it frees its slot but is not ready.
    pub fn hold(&mut self, index: usize) {
        assert_eq!(self.phase[index], TaskPhase::InFlight, "task {index} held while not in flight");
        self.leave_flight(index);
        self.unstart(index);
        self.phase[index] = TaskPhase::Held;
    }

    /// A held task becomes ready again.
    pub fn unhold(&mut self, index: usize) {
        if self.phase[index] == TaskPhase::Held {
            self.phase[index] = TaskPhase::Ready;
            self.ready.insert((self.tasks[index].rank, index));
        }
    }

    /// Whether nothing is left to do: every task merged, failed or blocked.
    pub fn is_finished(&self) -> bool {
        self.phase.iter().all(|phase| {
            matches!(phase, TaskPhase::Merged | TaskPhase::Failed | TaskPhase::Blocked { .. })
        })
    }

    /// Counts of tasks per phase.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for phase in &self.phase {
            match phase {
                TaskPhase::Waiting => counts.waiting += 1,
                TaskPhase::Ready => counts.ready += 1,
                TaskPhase::InFlight => counts.in_flight += 1,
                TaskPhase::Held => counts.held += 1,
                TaskPhase::Merged => counts.merged += 1,
                TaskPhase::Failed => counts.failed += 1,
                TaskPhase::Blocked { .. } => counts.blocked += 1,
            }
        }
        counts
    }

    fn mark_in_flight(&mut self, index: usize) {
        for &dependent in &self.dependents[index] {
            self.unstarted_deps[dependent] -= 1;
        }
        self.phase[index] = TaskPhase::InFlight;
        self.tasks_in_flight += 1;
        self.holds_slot[index] = true;
        self.in_flight += 1;
        self.in_flight_per_agent[self.tasks[index].agent] += 1;
        for &other in &self.conflicts[index] {
            self.blocked_by_conflict[other] += 1;
        }
    }

    /// The task left flight without being merged: its dependents wait
    /// for it to start again.
    fn unstart(&mut self, index: usize) {
        for &dependent in &self.dependents[index] {
            self.unstarted_deps[dependent] += 1;
        }
    }

    fn leave_flight(&mut self, index: usize) {
        self.tasks_in_flight -= 1;
        if std::mem::take(&mut self.holds_slot[index]) {
            self.in_flight -= 1;
            self.in_flight_per_agent[self.tasks[index].agent] -= 1;
        }
        for &other in &self.conflicts[index] {
            self.blocked_by_conflict[other] -= 1;
        }
    }
}

/// Each task's dispatch rank, by plan position: its place in dispatch
/// order (critical path first, then priority, then most-unblocking, then
/// ID; see [`PlanGraph::sort_for_dispatch`]). Feed it to
/// [`ScheduledTask::rank`].
pub fn dispatch_ranks(graph: &PlanGraph) -> Vec<u64> {
    let mut all: Vec<_> = graph.indices().collect();
    graph.sort_for_dispatch(&mut all);
    let mut rank = vec![0; all.len()];
    for (position, node) in all.into_iter().enumerate() {
        rank[node.index()] = position as u64;
    }
    rank
}

#[cfg(test)]
mod tests;
