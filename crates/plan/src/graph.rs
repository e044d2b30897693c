//! The dependency graph of a valid plan and what can be computed from it
//! once: topological order, waves, critical path, dispatch keys, file
//! conflicts. Everything a scheduler asks per event is O(1) or
//! O(degree) from here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use serde::Serialize;

use crate::conflicts::{ConflictPairs, FileSets};
use crate::fast_hash::{FastMap, fast_map};
use crate::id::TaskId;
use crate::model::{Estimate, Plan};

/// A task's position in [`Plan::tasks`] (document order); every per-task
/// query on [`PlanGraph`] takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskIndex(u32);

impl TaskIndex {
    /// The index into [`Plan::tasks`].
    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub(crate) fn new(index: usize) -> Self {
        TaskIndex(u32::try_from(index).expect("plans have fewer than 2^32 tasks"))
    }

    pub(crate) fn raw(self) -> u32 {
        self.0
    }
}

/// What the critical path is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Every task has a duration estimate; lengths are seconds.
    Seconds,
    /// Every task has a points estimate; lengths are points.
    Points,
    /// Estimates are missing or mixed; every task weighs 1.
    Unit,
}

/// Why a plan has no graph. [`crate::validate`] reports these (and more)
/// as diagnostics; this is for plans that come from elsewhere, e.g. JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Two tasks share an ID.
    #[error("two tasks have the ID `{0}`")]
    DuplicateId(TaskId),
    /// A dependency names no task.
    #[error("task `{task}` depends on `{dep}`, which does not exist")]
    UnknownDep {
        /// The task.
        task: TaskId,
        /// The missing dependency.
        dep: TaskId,
    },
    /// A task depends on itself.
    #[error("task `{0}` depends on itself")]
    SelfDep(TaskId),
    /// Dependencies form a cycle (`a` depends on `b` ... depends on `a`).
    #[error("dependency cycle: {}", .0.iter().map(TaskId::as_str).collect::<Vec<_>>().join(" → "))]
    Cycle(Vec<TaskId>),
}

/// The critical path: the chain of dependent tasks with the largest total
/// weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriticalPath {
    /// First task to last; each depends on the one before.
    pub tasks: Vec<TaskIndex>,
    /// Total weight, in [`CriticalPath::weights`] units.
    pub length: u64,
    /// What the length measures.
    pub weights: Weights,
}

/// The most agents that could be busy at once, with the tasks that achieve
/// it (see [`PlanGraph::max_parallelism`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parallelism {
    /// How many tasks.
    pub agents: usize,
    /// Tasks that can all run at the same time: no dependency path between
    /// any two of them and no shared files.
    pub tasks: Vec<TaskIndex>,
}

/// Sort key for dispatch: smaller dispatches first. Compares, in order,
/// the longest remaining path to a sink (longer first), priority (higher
/// first), direct dependents (more first), then the ID in natural order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DispatchKey {
    remaining: Reverse<u64>,
    priority: Reverse<u8>,
    dependents: Reverse<u32>,
    id_rank: u32,
}

impl DispatchKey {
    /// Weight of the heaviest chain from this task to the end of the plan,
    /// the task included.
    pub fn remaining_path(&self) -> u64 {
        self.remaining.0
    }

    /// The task's priority, 0–100.
    pub fn priority(&self) -> u8 {
        self.priority.0
    }

    /// How many tasks list this one in `deps`.
    pub fn dependents(&self) -> u32 {
        self.dependents.0
    }
}

/// The dependency graph of a valid plan. Edges point from a task to the
/// tasks that depend on it.
#[derive(Debug, Clone)]
pub struct PlanGraph {
    ids: Vec<TaskId>,
    lookup: FastMap<TaskId, TaskIndex>,
    dep_start: Vec<u32>,
    dep_list: Vec<TaskIndex>,
    out_start: Vec<u32>,
    out_list: Vec<TaskIndex>,
    order: Vec<TaskIndex>,
    /// Each task's wave; [`NO_WAVE`] for a task the plan marks done.
    wave: Vec<u32>,
    late_wave: Vec<u32>,
    wave_count: u32,
    weights: Weights,
    weight: Vec<u64>,
    remaining: Vec<u64>,
    priority: Vec<u8>,
    id_rank: Vec<u32>,
    files: FileSets,
    pairs: ConflictPairs,
}

/// The wave of a task the plan marks `status: done`: it is in none.
const NO_WAVE: u32 = u32::MAX;

/// Targets per block of [`PlanGraph::ordered`], in 64-bit words.
const ORDERED_BLOCK_WORDS: usize = 8;

/// Both adjacency lists from `(dep, task)` edges grouped by task (as
/// validation produces them): each task's few deps are sorted in place
/// instead of sorting every edge, and the dependents lists come out
/// ascending from a counting pass. Same lists as sorting and deduplicating.
fn grouped_by_task(
    n: usize,
    edges: &mut [(usize, usize)],
) -> (Vec<u32>, Vec<TaskIndex>, Vec<u32>, Vec<TaskIndex>) {
    let mut dep_start = vec![0u32; n + 1];
    let mut dep_list = Vec::with_capacity(edges.len());
    let mut out_count = vec![0u32; n + 1];
    let mut rest = &mut edges[..];
    while let Some(&(_, task)) = rest.first() {
        let len = rest.iter().take_while(|e| e.1 == task).count();
        let (group, next) = rest.split_at_mut(len);
        rest = next;
        group.sort_unstable();
        let mut last = None;
        for &(dep, _) in group.iter() {
            if last != Some(dep) {
                last = Some(dep);
                dep_list.push(TaskIndex::new(dep));
                out_count[dep + 1] += 1;
            }
        }
        dep_start[task + 1] = u32::try_from(dep_list.len()).unwrap_or(u32::MAX);
    }
    // Tasks without deps start where the previous task ended.
    for i in 0..n {
        dep_start[i + 1] = dep_start[i + 1].max(dep_start[i]);
    }
    for i in 0..n {
        out_count[i + 1] += out_count[i];
    }
    let mut fill = out_count.clone();
    let mut out_list = vec![TaskIndex(0); dep_list.len()];
    for task in 0..n {
        for &dep in &dep_list[dep_start[task] as usize..dep_start[task + 1] as usize] {
            out_list[fill[dep.index()] as usize] = TaskIndex::new(task);
            fill[dep.index()] += 1;
        }
    }
    (dep_start, dep_list, out_count, out_list)
}

/// Kahn's algorithm, smallest index first among ready nodes so the order
/// follows the document. Returns the order (shorter than `n` when there
/// is a cycle).
fn topological_order(
    n: usize,
    out_start: &[u32],
    out_list: &[TaskIndex],
    indegree: &mut [u32],
) -> Vec<TaskIndex> {
    let mut heap: BinaryHeap<Reverse<u32>> =
        (0..n).filter(|&i| indegree[i] == 0).map(|i| Reverse(TaskIndex::new(i).0)).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = heap.pop() {
        order.push(TaskIndex(i));
        for &next in &out_list[out_start[i as usize] as usize..out_start[i as usize + 1] as usize] {
            indegree[next.index()] -= 1;
            if indegree[next.index()] == 0 {
                heap.push(Reverse(next.0));
            }
        }
    }
    order
}

/// Every dependency cycle, one per strongly connected component, as a
/// path of task indices that starts and ends at the component's first
/// task in document order; each element depends on the next.
/// `deps[i]` lists the indices task `i` depends on.
pub(crate) fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    use petgraph::graph::{DiGraph, NodeIndex};
    let mut graph = DiGraph::<(), ()>::with_capacity(deps.len(), 0);
    for _ in 0..deps.len() {
        graph.add_node(());
    }
    for (task, list) in deps.iter().enumerate() {
        for &dep in list {
            graph.add_edge(NodeIndex::new(task), NodeIndex::new(dep), ());
        }
    }
    let mut cycles = Vec::new();
    for component in petgraph::algo::tarjan_scc(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: std::collections::HashSet<usize> =
            component.iter().map(|n| n.index()).collect();
        let start = *members.iter().min().expect("component is not empty");
        // Shortest way around: breadth-first from `start` back to it.
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(node) = queue.pop_front() {
            let mut next: Vec<usize> =
                deps[node].iter().copied().filter(|d| members.contains(d)).collect();
            next.sort_unstable();
            for dep in next {
                if dep == start {
                    closing = Some(node);
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(dep) {
                    e.insert(node);
                    queue.push_back(dep);
                }
            }
        }
        let Some(mut node) = closing else { continue };
        let mut path = vec![start, node];
        while node != start {
            node = parent[&node];
            path.push(node);
        }
        path.reverse();
        cycles.push(path);
    }
    cycles.sort();
    cycles
}

/// Resolved edges in both directions and a topological order: what both
/// validation and [`PlanGraph`] need, computed once.
pub(crate) struct Skeleton {
    dep_start: Vec<u32>,
    dep_list: Vec<TaskIndex>,
    out_start: Vec<u32>,
    out_list: Vec<TaskIndex>,
    order: Vec<TaskIndex>,
}

impl Skeleton {
    /// `edges` are `(dep, task)` pairs; duplicates are fine.
    pub(crate) fn new(n: usize, mut edges: Vec<(usize, usize)>) -> Skeleton {
        if !edges.windows(2).all(|w| w[0].1 <= w[1].1) {
            edges.sort_unstable_by_key(|&(dep, task)| (task, dep));
        }
        let (dep_start, dep_list, out_start, out_list) = grouped_by_task(n, &mut edges);
        // Deps listed before their tasks (the usual plan): document order
        // is what Kahn's algorithm with smallest index first would give.
        let forward = edges.iter().all(|&(dep, task)| dep < task);
        let order = if forward {
            (0..n).map(TaskIndex::new).collect()
        } else {
            let mut indegree: Vec<u32> = (0..n).map(|i| dep_start[i + 1] - dep_start[i]).collect();
            topological_order(n, &out_start, &out_list, &mut indegree)
        };
        Skeleton { dep_start, dep_list, out_start, out_list, order }
    }

    pub(crate) fn is_acyclic(&self) -> bool {
        self.order.len() + 1 == self.dep_start.len()
    }

    /// Each task's deps as indices.
    pub(crate) fn dep_lists(&self) -> Vec<Vec<usize>> {
        (0..self.dep_start.len() - 1)
            .map(|i| {
                self.dep_list[self.dep_start[i] as usize..self.dep_start[i + 1] as usize]
                    .iter()
                    .map(|d| d.index())
                    .collect()
            })
            .collect()
    }
}

impl PlanGraph {
    /// Builds the graph of a plan whose IDs are unique and whose
    /// dependencies exist and form no cycle.
    pub fn new(plan: &Plan) -> Result<PlanGraph, GraphError> {
        let n = plan.tasks.len();
        let mut lookup = fast_map(n);
        for (i, task) in plan.tasks.iter().enumerate() {
            if lookup.insert(task.id.clone(), TaskIndex::new(i)).is_some() {
                return Err(GraphError::DuplicateId(task.id.clone()));
            }
        }
        let mut edges = Vec::with_capacity(plan.tasks.iter().map(|t| t.deps.len()).sum());
        for (i, task) in plan.tasks.iter().enumerate() {
            for dep in &task.deps {
                let Some(&d) = lookup.get(dep) else {
                    return Err(GraphError::UnknownDep { task: task.id.clone(), dep: dep.clone() });
                };
                if d.index() == i {
                    return Err(GraphError::SelfDep(task.id.clone()));
                }
                edges.push((d.index(), i));
            }
        }
        let skeleton = Skeleton::new(n, edges);
        if !skeleton.is_acyclic() {
            let cycle = find_cycles(&skeleton.dep_lists()).into_iter().next().unwrap_or_default();
            return Err(GraphError::Cycle(
                cycle.into_iter().map(|i| plan.tasks[i].id.clone()).collect(),
            ));
        }
        Ok(PlanGraph::from_skeleton(plan, lookup, skeleton))
    }

    /// Finishes a graph from resolved parts; `skeleton` must be acyclic and
    /// `lookup` must map every ID to its first task.
    pub(crate) fn from_skeleton(
        plan: &Plan,
        lookup: FastMap<TaskId, TaskIndex>,
        skeleton: Skeleton,
    ) -> PlanGraph {
        let n = plan.tasks.len();
        let Skeleton { dep_start, dep_list, out_start, out_list, order } = skeleton;
        let mut graph = PlanGraph {
            ids: plan.tasks.iter().map(|t| t.id.clone()).collect(),
            lookup,
            dep_start,
            dep_list,
            out_start,
            out_list,
            order,
            wave: vec![0; n],
            late_wave: vec![0; n],
            wave_count: 0,
            weights: Weights::Unit,
            weight: vec![1; n],
            remaining: vec![0; n],
            priority: plan.tasks.iter().map(|t| t.priority.value()).collect(),
            id_rank: vec![0; n],
            files: FileSets::new(plan),
            pairs: ConflictPairs::default(),
        };
        let done: Vec<bool> = plan.tasks.iter().map(|t| t.status.is_done()).collect();
        graph.compute_levels(&done);
        graph.compute_weights(plan, &done);
        graph.compute_ranks();
        graph.pairs = ConflictPairs::enumerate(&graph.files);
        graph
    }

    /// Waves of the work left: a task the plan marks done is in no wave
    /// and holds back none of its dependents (they wait for nothing that
    /// is done), so waves, lengths and parallelism count pending tasks only.
    fn compute_levels(&mut self, done: &[bool]) {
        for &t in &self.order {
            if done[t.index()] {
                self.wave[t.index()] = NO_WAVE;
                continue;
            }
            let level = self
                .deps(t)
                .iter()
                .filter(|d| !done[d.index()])
                .map(|d| self.wave[d.index()] + 1)
                .max()
                .unwrap_or(0);
            self.wave[t.index()] = level;
        }
        self.wave_count = self.wave.iter().filter(|&&w| w != NO_WAVE).max().map_or(0, |m| m + 1);
        // As late as possible: the last wave a task can sit in without
        // delaying anything after it.
        let last = self.wave_count.saturating_sub(1);
        for &t in self.order.iter().rev() {
            if done[t.index()] {
                self.late_wave[t.index()] = NO_WAVE;
                continue;
            }
            let level = self
                .dependents(t)
                .iter()
                .filter(|d| !done[d.index()])
                .map(|d| self.late_wave[d.index()] - 1)
                .min()
                .unwrap_or(last);
            self.late_wave[t.index()] = level;
        }
    }

    fn compute_weights(&mut self, plan: &Plan, done: &[bool]) {
        // Done tasks need no estimate: only the work left decides the unit.
        let mut pending = plan.tasks.iter().zip(done).filter(|&(_, &d)| !d).map(|(t, _)| t);
        let (mut any, mut all_seconds, mut all_points) = (false, true, true);
        for task in &mut pending {
            any = true;
            all_seconds &= matches!(task.estimate, Some(Estimate::Seconds(_)));
            all_points &= matches!(task.estimate, Some(Estimate::Points(_)));
        }
        self.weights = if !any {
            Weights::Unit
        } else if all_seconds {
            Weights::Seconds
        } else if all_points {
            Weights::Points
        } else {
            Weights::Unit
        };
        if self.weights != Weights::Unit {
            for (i, task) in plan.tasks.iter().enumerate() {
                self.weight[i] = match task.estimate {
                    Some(Estimate::Seconds(v) | Estimate::Points(v)) => v,
                    None => 1,
                };
            }
        }
        // A done task's remaining path is 0, so it adds nothing to the
        // tasks before it.
        for &t in self.order.iter().rev() {
            if done[t.index()] {
                continue;
            }
            let after =
                self.dependents(t).iter().map(|d| self.remaining[d.index()]).max().unwrap_or(0);
            self.remaining[t.index()] = self.weight[t.index()].saturating_add(after);
        }
    }

    fn compute_ranks(&mut self) {
        let mut by_id: Vec<usize> = (0..self.ids.len()).collect();
        // Plans usually list tasks in ID order already.
        let sorted = self.ids.windows(2).all(|w| w[0].natural_cmp(&w[1]).is_le());
        if !sorted {
            by_id.sort_by(|&a, &b| self.ids[a].natural_cmp(&self.ids[b]));
        }
        for (rank, i) in by_id.into_iter().enumerate() {
            self.id_rank[i] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the plan has no tasks.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All task indices in document order.
    pub fn indices(&self) -> impl ExactSizeIterator<Item = TaskIndex> + use<> {
        (0..TaskIndex::new(self.ids.len()).0).map(TaskIndex)
    }

    /// The index of the task with this ID.
    pub fn index_of(&self, id: &str) -> Option<TaskIndex> {
        self.lookup.get(id).copied()
    }

    /// The ID of a task.
    pub fn id(&self, task: TaskIndex) -> &TaskId {
        &self.ids[task.index()]
    }

    /// The tasks `task` depends on.
    pub fn deps(&self, task: TaskIndex) -> &[TaskIndex] {
        let i = task.index();
        &self.dep_list[self.dep_start[i] as usize..self.dep_start[i + 1] as usize]
    }

    /// The tasks that list `task` in their `deps`.
    pub fn dependents(&self, task: TaskIndex) -> &[TaskIndex] {
        let i = task.index();
        &self.out_list[self.out_start[i] as usize..self.out_start[i + 1] as usize]
    }

    /// A deterministic topological order: every task after its deps, ties
    /// broken by document order.
    pub fn topological_order(&self) -> &[TaskIndex] {
        &self.order
    }

    /// The task's wave, 0-based: 0 for tasks without pending deps, else
    /// one more than the latest wave among its pending deps. `None` for a
    /// task the plan marks `status: done`: it is in no wave.
    pub fn wave_of(&self, task: TaskIndex) -> Option<u32> {
        let wave = self.wave[task.index()];
        (wave != NO_WAVE).then_some(wave)
    }

    /// The pending tasks grouped by wave; within a wave, in dispatch order.
    /// Tasks the plan marks done are in none.
    pub fn waves(&self) -> Vec<Vec<TaskIndex>> {
        let mut waves = vec![Vec::new(); self.wave_count as usize];
        for t in self.indices() {
            if let Some(wave) = self.wave_of(t) {
                waves[wave as usize].push(t);
            }
        }
        for wave in &mut waves {
            self.sort_for_dispatch(wave);
        }
        waves
    }

    /// What the critical path and remaining-path lengths measure.
    pub fn weights(&self) -> Weights {
        self.weights
    }

    /// The weight of a task on the critical path (its estimate, or 1).
    pub fn weight(&self, task: TaskIndex) -> u64 {
        self.weight[task.index()]
    }

    /// The heaviest chain of pending tasks from `task` to the end of the
    /// plan, `task` included; 0 for a task the plan marks done.
    pub fn remaining_path(&self, task: TaskIndex) -> u64 {
        self.remaining[task.index()]
    }

    /// The critical path of the work left: start from the pending task
    /// with the longest remaining path and follow the heaviest pending
    /// dependent each step (ties: dispatch order). Empty when every task
    /// is done.
    pub fn critical_path(&self) -> CriticalPath {
        let pending = |t: &TaskIndex| self.wave[t.index()] != NO_WAVE;
        let first = self.indices().filter(pending).min_by_key(|&t| self.dispatch_key(t));
        let mut tasks = Vec::new();
        let length = first.map_or(0, |t| self.remaining_path(t));
        let mut current = first;
        while let Some(t) = current {
            tasks.push(t);
            current = self
                .dependents(t)
                .iter()
                .copied()
                .filter(pending)
                .min_by_key(|&d| self.dispatch_key(d));
        }
        CriticalPath { tasks, length, weights: self.weights }
    }

    /// The dispatch key of a task; sort any ready subset by it.
    pub fn dispatch_key(&self, task: TaskIndex) -> DispatchKey {
        let i = task.index();
        DispatchKey {
            remaining: Reverse(self.remaining[i]),
            priority: Reverse(self.priority[i]),
            dependents: Reverse(self.out_start[i + 1] - self.out_start[i]),
            id_rank: self.id_rank[i],
        }
    }

    /// Sorts tasks into dispatch order (see [`DispatchKey`]).
    pub fn sort_for_dispatch(&self, tasks: &mut [TaskIndex]) {
        tasks.sort_by_cached_key(|&t| self.dispatch_key(t));
    }

    /// Whether two tasks may touch a common file (glob-aware; see
    /// [`crate::paths`]). Tasks without a `files` field conflict with
    /// nothing. Exact, whatever the pair-list limit.
    pub fn conflicts(&self, a: TaskIndex, b: TaskIndex) -> bool {
        a != b && self.files.conflict(a.index(), b.index())
    }

    /// Every pair of tasks whose files overlap, each as `(earlier, later)`
    /// in document order, sorted. Complete unless
    /// [`PlanGraph::conflict_pairs_truncated`].
    pub fn conflict_pairs(&self) -> &[(TaskIndex, TaskIndex)] {
        self.pairs.pairs()
    }

    /// Whether the pair list stopped at [`crate::conflicts::MAX_CONFLICT_PAIRS`].
    pub fn conflict_pairs_truncated(&self) -> bool {
        self.pairs.truncated()
    }

    /// A task's compiled `files` patterns, in the order the plan lists them.
    pub(crate) fn patterns(&self, task: TaskIndex) -> &[crate::paths::CompiledPattern] {
        self.files.of(task.index())
    }

    /// The tasks whose files overlap `task`'s, from the pair list.
    pub fn conflicting(&self, task: TaskIndex) -> &[TaskIndex] {
        self.pairs.neighbours(task)
    }

    /// For each pair, whether a dependency path joins the two tasks (in
    /// either direction). Bit-parallel reachability over blocks of targets:
    /// targets are taken in topological order, and a block only looks at
    /// the stretch of the order between its earliest source and its last
    /// target (nothing outside can lie on a path between them), so plans
    /// whose conflicts are local cost time in proportion to their size.
    pub fn ordered(&self, pairs: &[(TaskIndex, TaskIndex)]) -> Vec<bool> {
        self.ordered_in_blocks(pairs, ORDERED_BLOCK_WORDS)
    }

    fn ordered_in_blocks(&self, pairs: &[(TaskIndex, TaskIndex)], max_words: usize) -> Vec<bool> {
        let n = self.len();
        let mut position = vec![0u32; n];
        for (p, t) in self.order.iter().enumerate() {
            position[t.index()] = u32::try_from(p).unwrap_or(u32::MAX);
        }
        // Orient each pair so only `from` can reach `to`: (to, from, pair)
        // in positions, sorted by target.
        let mut oriented: Vec<(u32, u32, u32)> = pairs
            .iter()
            .enumerate()
            .map(|(k, &(a, b))| {
                let (pa, pb) = (position[a.index()], position[b.index()]);
                let k = u32::try_from(k).unwrap_or(u32::MAX);
                if pa < pb { (pb, pa, k) } else { (pa, pb, k) }
            })
            .collect();
        oriented.sort_unstable();
        let mut answer = vec![false; pairs.len()];
        let block = max_words.max(1) * 64;
        let mut slot = vec![u32::MAX; n];
        let mut reach: Vec<u64> = Vec::new();
        let mut rest = &oriented[..];
        while !rest.is_empty() {
            // The longest run of pairs with at most `block` distinct targets.
            let mut targets = 0usize;
            let mut len = 0;
            while len < rest.len() {
                if len == 0 || rest[len].0 != rest[len - 1].0 {
                    if targets == block {
                        break;
                    }
                    targets += 1;
                }
                len += 1;
            }
            let (chunk, next) = rest.split_at(len);
            rest = next;
            let words = targets.div_ceil(64);
            let hi = chunk[len - 1].0 as usize;
            let lo = chunk.iter().map(|&(_, from, _)| from as usize).min().unwrap_or(hi);
            let mut k = 0u32;
            for (i, &(to, _, _)) in chunk.iter().enumerate() {
                if i == 0 || to != chunk[i - 1].0 {
                    slot[to as usize] = k;
                    k += 1;
                }
            }
            reach.clear();
            reach.resize((hi - lo + 1) * words, 0);
            for pos in (lo..=hi).rev() {
                let row = (pos - lo) * words;
                for &d in self.dependents(self.order[pos]) {
                    // Dependents come later in the order; past `hi` none
                    // of this block's targets can be reached.
                    let dp = position[d.index()] as usize;
                    if dp > hi {
                        continue;
                    }
                    let s = slot[dp];
                    if s != u32::MAX {
                        reach[row + s as usize / 64] |= 1 << (s % 64);
                    }
                    let from_row = (dp - lo) * words;
                    for w in 0..words {
                        reach[row + w] |= reach[from_row + w];
                    }
                }
            }
            for &(to, from, pair) in chunk {
                let s = slot[to as usize] as usize;
                let row = (from as usize - lo) * words;
                answer[pair as usize] = to != from && reach[row + s / 64] & (1 << (s % 64)) != 0;
            }
            for &(to, _, _) in chunk {
                slot[to as usize] = u32::MAX;
            }
        }
        answer
    }

    /// The most agents that could be busy at once, as computed (pending
    /// tasks only): for every wave, both as early as possible ([`PlanGraph::wave_of`]) and as late
    /// as possible, the tasks of that wave taken greedily in dispatch order
    /// while they share no files; the largest such set wins. Every set is
    /// really achievable (no dependency path joins two tasks of one wave),
    /// so this is a lower bound on the true maximum (the largest antichain
    /// of the dependency order without file conflicts), and equal to it for
    /// plans built in layers.
    pub fn max_parallelism(&self) -> Parallelism {
        let mut best = Parallelism { agents: 0, tasks: Vec::new() };
        for levels in [&self.wave, &self.late_wave] {
            let mut groups = vec![Vec::new(); self.wave_count as usize];
            for t in self.indices() {
                if let Some(group) = groups.get_mut(levels[t.index()] as usize) {
                    group.push(t);
                }
            }
            for mut group in groups {
                if group.len() <= best.agents {
                    continue;
                }
                self.sort_for_dispatch(&mut group);
                let chosen = self.greedy_compatible(&group);
                if chosen.len() > best.agents {
                    best = Parallelism { agents: chosen.len(), tasks: chosen };
                }
            }
        }
        best
    }

    /// Takes tasks in the given order while they conflict with none taken.
    fn greedy_compatible(&self, tasks: &[TaskIndex]) -> Vec<TaskIndex> {
        let mut blocked = std::collections::HashSet::new();
        let mut chosen = Vec::new();
        for &t in tasks {
            if blocked.contains(&t) {
                continue;
            }
            chosen.push(t);
            blocked.extend(self.conflicting(t).iter().copied());
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Task;

    #[test]
    fn done_tasks_are_in_no_wave_and_off_the_critical_path() {
        // T1 → T2 → T4 → T5 and T1 → T3 → T5; T1 and T2 are done, T6 stands
        // alone. Done tasks have no estimate (they need none).
        let mut plan = Plan::default();
        let estimates = [None, None, Some(3600), Some(7200), Some(3600), Some(1800)];
        let deps: [&[usize]; 6] = [&[], &[0], &[0], &[1], &[2, 3], &[]];
        for (i, (estimate, deps)) in estimates.iter().zip(deps).enumerate() {
            let mut task =
                Task::new(TaskId::parse(&format!("T{}", i + 1)).unwrap(), "t", "backend");
            task.deps = deps.iter().map(|&d| plan.tasks[d].id.clone()).collect::<Vec<TaskId>>();
            task.estimate = estimate.map(Estimate::Seconds);
            if i < 2 {
                task.status = crate::model::Status::Done;
            }
            plan.tasks.push(task);
        }
        let graph = PlanGraph::new(&plan).unwrap();
        let t = TaskIndex::new;
        assert_eq!(graph.wave_of(t(0)), None);
        assert_eq!(graph.wave_of(t(1)), None);
        assert_eq!(graph.waves(), [vec![t(3), t(2), t(5)], vec![t(4)]]);
        let critical = graph.critical_path();
        assert_eq!(critical.weights, Weights::Seconds);
        assert_eq!((critical.tasks, critical.length), (vec![t(3), t(4)], 10_800));
        assert_eq!(graph.remaining_path(t(0)), 0);
        assert_eq!(graph.max_parallelism().agents, 3);
        // All done: nothing left to show.
        for task in &mut plan.tasks {
            task.status = crate::model::Status::Done;
        }
        let graph = PlanGraph::new(&plan).unwrap();
        assert!(graph.waves().is_empty());
        assert!(graph.critical_path().tasks.is_empty());
        assert_eq!(graph.max_parallelism().agents, 0);
    }

    #[test]
    fn ordering_in_small_blocks_matches_a_search() {
        // 300 tasks, each depending on a few earlier ones, some far back.
        let n = 300;
        let mut plan = Plan::default();
        let mut state = 7u64;
        let mut next = |m: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % m
        };
        for i in 0..n {
            let id = TaskId::parse(&format!("T{}", n - i)).unwrap();
            let mut task = Task::new(id, "t", "backend");
            for _ in 0..(if i == 0 { 0 } else { next(3) }) {
                let window = if next(4) == 0 { i } else { i.min(20) };
                let back = 1 + next(window);
                let dep = plan.tasks[i - back].id.clone();
                if !task.deps.contains(&dep) {
                    task.deps.push(dep);
                }
            }
            plan.tasks.push(task);
        }
        let graph = PlanGraph::new(&plan).unwrap();
        let mut reach = vec![vec![false; n]; n];
        for &t in graph.topological_order().iter().rev() {
            for &d in graph.dependents(t) {
                reach[t.index()][d.index()] = true;
                let below = reach[d.index()].clone();
                for (r, b) in reach[t.index()].iter_mut().zip(below) {
                    *r |= b;
                }
            }
        }
        let pairs: Vec<(TaskIndex, TaskIndex)> =
            (0..2000).map(|_| (TaskIndex::new(next(n)), TaskIndex::new(next(n)))).collect();
        let expected: Vec<bool> = pairs
            .iter()
            .map(|&(a, b)| reach[a.index()][b.index()] || reach[b.index()][a.index()])
            .collect();
        assert_eq!(graph.ordered_in_blocks(&pairs, 1), expected);
        assert_eq!(graph.ordered_in_blocks(&pairs, 3), expected);
        assert_eq!(graph.ordered(&pairs), expected);
    }
}
