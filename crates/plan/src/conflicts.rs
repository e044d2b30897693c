//! Which tasks touch overlapping files: the exact pairwise test and the
//! list of all overlapping pairs, found through an index of literal path
//! prefixes instead of comparing every pair.

use crate::fast_hash::{FastMap, fast_map};
use crate::graph::TaskIndex;
use crate::model::Plan;
use crate::paths::CompiledPattern;

/// The pair list stops growing at this many pairs (and
/// `plan::conflict-limit` is reported); [`crate::PlanGraph::conflicts`]
/// stays exact.
pub const MAX_CONFLICT_PAIRS: usize = 200_000;

/// At most this many pattern comparisons are made while listing pairs.
const MAX_CHECKS: usize = 20_000_000;

/// Every task's compiled `files` patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileSets {
    start: Vec<u32>,
    patterns: Vec<CompiledPattern>,
}

impl FileSets {
    pub(crate) fn new(plan: &Plan) -> Self {
        let mut start = Vec::with_capacity(plan.tasks.len() + 1);
        let mut patterns = Vec::new();
        start.push(0);
        for task in &plan.tasks {
            for pattern in task.files.iter().flatten() {
                patterns.push(CompiledPattern::new(pattern.shared()));
            }
            start.push(u32::try_from(patterns.len()).unwrap_or(u32::MAX));
        }
        FileSets { start, patterns }
    }

    pub(crate) fn of(&self, task: usize) -> &[CompiledPattern] {
        &self.patterns[self.start[task] as usize..self.start[task + 1] as usize]
    }

    pub(crate) fn conflict(&self, a: usize, b: usize) -> bool {
        let theirs = self.of(b);
        self.of(a).iter().any(|p| theirs.iter().any(|q| p.overlaps(q)))
    }

    fn task_of(&self, pattern: usize) -> usize {
        // `start` is sorted; the owner is the last task starting at or before.
        self.start.partition_point(|&s| s as usize <= pattern) - 1
    }
}

/// All pairs of tasks with overlapping files, and each task's neighbours.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConflictPairs {
    pairs: Vec<(TaskIndex, TaskIndex)>,
    truncated: bool,
    start: Vec<u32>,
    neighbours: Vec<TaskIndex>,
}

/// `prefix` and each of its ancestor directories, including "".
fn ancestors_or_self(prefix: &str) -> impl Iterator<Item = &str> {
    std::iter::once("")
        .chain(prefix.match_indices('/').map(move |(i, _)| &prefix[..i]))
        .chain((!prefix.is_empty()).then_some(prefix))
}

impl ConflictPairs {
    pub(crate) fn enumerate(files: &FileSets) -> Self {
        // Patterns by their literal prefix. Below another pattern's prefix
        // only a possible directory or a glob can overlap it, so those are
        // also kept apart, with the lengths of their prefixes: most plans
        // list files only, and then no ancestor needs looking up at all.
        // Same-prefix groups as one list in group order (no list per
        // prefix): `group_start[g]..group_start[g + 1]` indexes `members`.
        let mut group_of_prefix: FastMap<&str, u32> = fast_map(files.patterns.len());
        let mut group_of: Vec<u32> = Vec::with_capacity(files.patterns.len());
        let mut group_start: Vec<u32> = vec![0];
        let mut covering: FastMap<&str, Vec<usize>> = fast_map(0);
        let mut covering_lengths: Vec<bool> = Vec::new();
        for (id, pattern) in files.patterns.iter().enumerate() {
            let next = u32::try_from(group_start.len() - 1).unwrap_or(u32::MAX);
            let group = *group_of_prefix.entry(pattern.prefix()).or_insert(next);
            if group == next {
                group_start.push(0);
            }
            group_of.push(group);
            group_start[group as usize + 1] += 1;
            if pattern.is_directory() || pattern.is_glob() {
                covering.entry(pattern.prefix()).or_default().push(id);
                let len = pattern.prefix().len();
                if covering_lengths.len() <= len {
                    covering_lengths.resize(len + 1, false);
                }
                covering_lengths[len] = true;
            }
        }
        for g in 1..group_start.len() {
            group_start[g] += group_start[g - 1];
        }
        let mut fill = group_start.clone();
        let mut members = vec![0usize; files.patterns.len()];
        for (id, &group) in group_of.iter().enumerate() {
            members[fill[group as usize] as usize] = id;
            fill[group as usize] += 1;
        }
        let owners: Vec<usize> = (0..files.patterns.len()).map(|p| files.task_of(p)).collect();
        let mut found: Vec<(u32, u32)> = Vec::new();
        let mut checks = 0usize;
        let mut truncated = false;
        'patterns: for (p, pattern) in files.patterns.iter().enumerate() {
            let own = pattern.prefix();
            let ancestors = ancestors_or_self(own).filter(|a| a.len() < own.len());
            let above = ancestors
                .filter(|a| covering_lengths.get(a.len()).copied().unwrap_or(false))
                .filter_map(|a| covering.get(a).map(|c| (false, c.as_slice())));
            let group = group_of[p] as usize;
            let here = std::iter::once((
                true,
                &members[group_start[group] as usize..group_start[group + 1] as usize],
            ));
            for (same_node, candidates) in above.chain(here) {
                for &q in candidates {
                    if same_node && q >= p {
                        break; // each same-node pair once; candidates are ascending
                    }
                    let (a, b) = (owners[p], owners[q]);
                    if a == b {
                        continue;
                    }
                    checks += 1;
                    // A directory at an ancestor of this prefix covers
                    // everything below it: no further check needed.
                    let certain = !same_node && files.patterns[q].is_directory();
                    if certain || pattern.overlaps(&files.patterns[q]) {
                        found
                            .push((TaskIndex::new(a.min(b)).raw(), TaskIndex::new(a.max(b)).raw()));
                    }
                    if found.len() > MAX_CONFLICT_PAIRS * 2 || checks > MAX_CHECKS {
                        truncated = true;
                        break 'patterns;
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        if found.len() > MAX_CONFLICT_PAIRS {
            found.truncate(MAX_CONFLICT_PAIRS);
            truncated = true;
        }
        let pairs: Vec<(TaskIndex, TaskIndex)> = found
            .iter()
            .map(|&(a, b)| (TaskIndex::new(a as usize), TaskIndex::new(b as usize)))
            .collect();
        let tasks = files.start.len().saturating_sub(1);
        let mut degree = vec![0u32; tasks + 1];
        for &(a, b) in &found {
            degree[a as usize + 1] += 1;
            degree[b as usize + 1] += 1;
        }
        for i in 0..tasks {
            degree[i + 1] += degree[i];
        }
        let mut fill = degree.clone();
        let mut neighbours = vec![TaskIndex::new(0); found.len() * 2];
        for &(a, b) in &found {
            neighbours[fill[a as usize] as usize] = TaskIndex::new(b as usize);
            fill[a as usize] += 1;
            neighbours[fill[b as usize] as usize] = TaskIndex::new(a as usize);
            fill[b as usize] += 1;
        }
        ConflictPairs { pairs, truncated, start: degree, neighbours }
    }

    pub(crate) fn pairs(&self) -> &[(TaskIndex, TaskIndex)] {
        &self.pairs
    }

    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    pub(crate) fn neighbours(&self, task: TaskIndex) -> &[TaskIndex] {
        let i = task.index();
        match (self.start.get(i), self.start.get(i + 1)) {
            (Some(&from), Some(&to)) => &self.neighbours[from as usize..to as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_include_root_and_self() {
        assert_eq!(ancestors_or_self("a/b/c").collect::<Vec<_>>(), ["", "a", "a/b", "a/b/c"]);
        assert_eq!(ancestors_or_self("").collect::<Vec<_>>(), [""]);
    }
}
