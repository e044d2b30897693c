//! "Tasks touching the same file without a dependency path between them
//! run one at a time": which ready tasks share files with running ones.
//!
//! The store knows nothing of files, so the check reads the specs of the
//! running tasks and of the next few candidates and asks orca-plan, whose
//! glob-aware overlap rule `orca run` uses too. Tasks joined by a
//! dependency path never run together anyway, so dependencies are dropped.

use orca_plan::{Plan, PlanGraph, Task, TaskIndex};

/// The running tasks' file claims, ready to test candidates against.
pub(crate) struct BusyFiles {
    running: Vec<Task>,
}

impl BusyFiles {
    /// From the specs of the running tasks; tasks whose spec states no
    /// files claim none.
    pub(crate) fn new(running: impl IntoIterator<Item = Option<Task>>) -> BusyFiles {
        let running = running
            .into_iter()
            .flatten()
            .filter(|task| task.files.as_ref().is_some_and(|files| !files.is_empty()))
            .collect();
        BusyFiles { running }
    }

    /// Nothing running claims a file: every candidate is fine.
    pub(crate) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// The ID of a running task that shares a file with `candidate`.
    pub(crate) fn conflict(&self, candidate: &Task) -> Option<String> {
        if self.running.is_empty() || candidate.files.as_ref().is_none_or(Vec::is_empty) {
            return None;
        }
        let mut tasks = Vec::with_capacity(self.running.len() + 1);
        tasks.push(candidate.clone());
        tasks.extend(self.running.iter().filter(|task| task.id != candidate.id).cloned());
        for task in &mut tasks {
            task.deps.clear();
            task.phase = None;
        }
        let plan = Plan { tasks, ..Plan::default() };
        let graph = PlanGraph::new(&plan).ok()?;
        let mut indices = graph.indices();
        let me: TaskIndex = indices.next()?;
        indices.find(|&other| graph.conflicts(me, other)).map(|other| graph.id(other).to_string())
    }
}

#[cfg(test)]
mod tests {
    use orca_plan::{FilePattern, TaskId};

    use super::*;

    fn task(id: &str, files: Option<&[&str]>) -> Task {
        let mut task = Task::new(TaskId::parse(id).unwrap(), id, "backend");
        task.files = files.map(|f| f.iter().map(|p| FilePattern::parse(p).unwrap()).collect());
        task
    }

    #[test]
    fn shared_files_and_globs_conflict_others_do_not() {
        let busy = BusyFiles::new([
            Some(task("T1", Some(&["src/a.rs", "tests/a.rs"]))),
            Some(task("T2", Some(&["docs/**"]))),
            Some(task("T3", None)),
            None,
        ]);
        assert!(!busy.is_empty());
        assert_eq!(busy.conflict(&task("T4", Some(&["src/a.rs"]))), Some("T1".to_owned()));
        assert_eq!(busy.conflict(&task("T5", Some(&["docs/guide.md"]))), Some("T2".to_owned()));
        assert_eq!(busy.conflict(&task("T6", Some(&["src/b.rs"]))), None);
        assert_eq!(busy.conflict(&task("T7", None)), None);
        assert!(BusyFiles::new([Some(task("T3", None))]).is_empty());
    }
}
