//! Ready sets and dispatch order, for a scheduler that learns about task
//! states one event at a time.

use serde::{Deserialize, Serialize};

use crate::graph::{PlanGraph, TaskIndex};

/// Where a task stands in a run. The plan never stores this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not started.
    #[default]
    Pending,
    /// An agent is working on it.
    Running,
    /// Finished and verified.
    Done,
    /// Gave up on; its dependents are blocked.
    Failed,
}

/// Why a ready task is not started now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "task")]
pub enum HoldReason {
    /// It shares files with this running (or just started) task.
    FileConflict(TaskIndex),
    /// Every agent slot is taken.
    NoSlot,
}

/// What to start now: see [`PlanGraph::dispatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dispatch {
    /// Ready tasks to start, in dispatch order.
    pub start: Vec<TaskIndex>,
    /// Ready tasks held back, in dispatch order, with the reason.
    pub held: Vec<(TaskIndex, HoldReason)>,
}

impl PlanGraph {
    /// Pending tasks whose deps are all done, in dispatch order.
    pub fn ready(&self, state: impl Fn(TaskIndex) -> TaskState) -> Vec<TaskIndex> {
        let mut ready: Vec<TaskIndex> = self
            .indices()
            .filter(|&t| {
                state(t) == TaskState::Pending
                    && self.deps(t).iter().all(|&d| state(d) == TaskState::Done)
            })
            .collect();
        self.sort_for_dispatch(&mut ready);
        ready
    }

    /// Pending tasks that can never run because a task they depend on,
    /// directly or not, has failed. In document order.
    pub fn blocked_by_failure(&self, state: impl Fn(TaskIndex) -> TaskState) -> Vec<TaskIndex> {
        let mut blocked = vec![false; self.len()];
        for &t in self.topological_order() {
            blocked[t.index()] =
                self.deps(t).iter().any(|&d| state(d) == TaskState::Failed || blocked[d.index()]);
        }
        self.indices().filter(|&t| blocked[t.index()] && state(t) == TaskState::Pending).collect()
    }

    /// The ready set split into what to start now and what to hold: walks
    /// the ready tasks in dispatch order and starts each one that shares no
    /// files with a running task or one started before it, while `slots`
    /// (free agent slots) last.
    pub fn dispatch(&self, state: impl Fn(TaskIndex) -> TaskState, slots: usize) -> Dispatch {
        let mut busy: Vec<TaskIndex> =
            self.indices().filter(|&t| state(t) == TaskState::Running).collect();
        let mut out = Dispatch { start: Vec::new(), held: Vec::new() };
        // Each busy task's place in `busy`: a held task names the first
        // busy task it conflicts with. With the complete pair list, a
        // task's conflicts are its neighbours there (O(degree) per ready
        // task instead of comparing files with every busy task).
        let complete = !self.conflict_pairs_truncated();
        let mut busy_at = if complete { vec![u32::MAX; self.len()] } else { Vec::new() };
        if complete {
            for (at, &b) in busy.iter().enumerate() {
                busy_at[b.index()] = u32::try_from(at).unwrap_or(u32::MAX);
            }
        }
        for t in self.ready(&state) {
            let conflict = if complete {
                self.conflicting(t)
                    .iter()
                    .filter(|&&other| busy_at[other.index()] != u32::MAX)
                    .min_by_key(|&&other| busy_at[other.index()])
                    .copied()
            } else {
                busy.iter().find(|&&b| self.conflicts(t, b)).copied()
            };
            if let Some(other) = conflict {
                out.held.push((t, HoldReason::FileConflict(other)));
            } else if out.start.len() >= slots {
                out.held.push((t, HoldReason::NoSlot));
            } else {
                if complete {
                    busy_at[t.index()] = u32::try_from(busy.len()).unwrap_or(u32::MAX);
                }
                out.start.push(t);
                busy.push(t);
            }
        }
        out
    }
}

/// Task states with O(degree) updates: how many deps each task still
/// waits for, so finishing a task yields the tasks it makes ready without
/// scanning the plan.
#[derive(Debug, Clone)]
pub struct Progress<'g> {
    graph: &'g PlanGraph,
    state: Vec<TaskState>,
    waiting: Vec<u32>,
}

impl<'g> Progress<'g> {
    /// Every task pending.
    pub fn new(graph: &'g PlanGraph) -> Self {
        Progress::with_states(graph, |_| TaskState::Pending)
    }

    /// Starts from known states.
    pub fn with_states(graph: &'g PlanGraph, state: impl Fn(TaskIndex) -> TaskState) -> Self {
        let state: Vec<TaskState> = graph.indices().map(&state).collect();
        let waiting = graph
            .indices()
            .map(|t| {
                let open =
                    graph.deps(t).iter().filter(|d| state[d.index()] != TaskState::Done).count();
                u32::try_from(open).unwrap_or(u32::MAX)
            })
            .collect();
        Progress { graph, state, waiting }
    }

    /// A task's state.
    pub fn state(&self, task: TaskIndex) -> TaskState {
        self.state[task.index()]
    }

    /// Whether a task is pending with every dep done.
    pub fn is_ready(&self, task: TaskIndex) -> bool {
        self.state[task.index()] == TaskState::Pending && self.waiting[task.index()] == 0
    }

    /// All ready tasks, in dispatch order.
    pub fn ready(&self) -> Vec<TaskIndex> {
        let mut ready: Vec<TaskIndex> =
            self.graph.indices().filter(|&t| self.is_ready(t)).collect();
        self.graph.sort_for_dispatch(&mut ready);
        ready
    }

    /// Marks a task running.
    pub fn start(&mut self, task: TaskIndex) {
        self.state[task.index()] = TaskState::Running;
    }

    /// Marks a task failed.
    pub fn fail(&mut self, task: TaskIndex) {
        self.state[task.index()] = TaskState::Failed;
    }

    /// Marks a task done; returns the tasks that became ready, in dispatch
    /// order.
    pub fn finish(&mut self, task: TaskIndex) -> Vec<TaskIndex> {
        if self.state[task.index()] == TaskState::Done {
            return Vec::new();
        }
        self.state[task.index()] = TaskState::Done;
        let mut newly = Vec::new();
        for &d in self.graph.dependents(task) {
            let waiting = &mut self.waiting[d.index()];
            *waiting = waiting.saturating_sub(1);
            if self.is_ready(d) {
                newly.push(d);
            }
        }
        self.graph.sort_for_dispatch(&mut newly);
        newly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dispatch as it was written first: every ready task compared with
    /// every busy one, file by file.
    fn pairwise(
        graph: &PlanGraph,
        state: impl Fn(TaskIndex) -> TaskState,
        slots: usize,
    ) -> Dispatch {
        let mut busy: Vec<TaskIndex> =
            graph.indices().filter(|&t| state(t) == TaskState::Running).collect();
        let mut out = Dispatch { start: Vec::new(), held: Vec::new() };
        for t in graph.ready(&state) {
            if let Some(&other) = busy.iter().find(|&&b| graph.conflicts(t, b)) {
                out.held.push((t, HoldReason::FileConflict(other)));
            } else if out.start.len() >= slots {
                out.held.push((t, HoldReason::NoSlot));
            } else {
                out.start.push(t);
                busy.push(t);
            }
        }
        out
    }

    #[test]
    fn dispatch_by_conflict_neighbours_matches_the_pairwise_check() {
        let plan = crate::synthetic::plan(400, 3);
        let graph = PlanGraph::new(&plan).unwrap();
        assert!(!graph.conflict_pairs().is_empty() && !graph.conflict_pairs_truncated());
        let mut seed = 11u64;
        for round in 0..40 {
            let states: Vec<TaskState> = graph
                .indices()
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    match (seed >> 33) % 10 {
                        0..=3 => TaskState::Done,
                        4 => TaskState::Running,
                        5 if round % 2 == 0 => TaskState::Failed,
                        _ => TaskState::Pending,
                    }
                })
                .collect();
            let state = |t: TaskIndex| states[t.index()];
            for slots in [0, 3, usize::MAX] {
                let fast = graph.dispatch(state, slots);
                assert_eq!(fast, pairwise(&graph, state, slots), "round {round}, {slots} slots");
                if round == 0 && slots == usize::MAX {
                    assert!(
                        fast.held.iter().any(|(_, r)| matches!(r, HoldReason::FileConflict(_)))
                    );
                }
            }
        }
    }
}
