//! Checks that need the whole plan: IDs, roles, dependencies, cycles,
//! phases, estimates and file overlaps.

use std::fmt::Write as _;

use crate::diagnostic::{Code, Diagnostic, closest};
use crate::fast_hash::{FastMap, fast_map};
use crate::graph::{PlanGraph, Skeleton, TaskIndex, find_cycles};
use crate::id::TaskId;
use crate::model::{Estimate, Plan};
use crate::span::Span;

/// The roles a plan may use unless configured otherwise: the same default
/// as `[roles] known` in `.orca/config.toml`.
pub const DEFAULT_ROLES: &[&str] =
    &["backend", "frontend", "test", "security", "docs", "infra", "refactor", "review"];

/// How many unknown dependencies get a "did you mean" suggestion; past
/// that, suggestions would cost more than they help.
const MAX_SUGGESTIONS: usize = 200;

/// Settings that change what a valid plan is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Allowed values of `role`.
    pub roles: Vec<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { roles: DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect() }
    }
}

/// The result of [`validate`].
#[derive(Debug, Clone)]
pub struct Validated {
    /// The graph, when the checks here found no error.
    pub graph: Option<PlanGraph>,
    /// Problems found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a parsed plan as a whole. Reports every problem it finds.
pub fn validate(plan: &Plan, options: &PlanOptions) -> Validated {
    let mut diagnostics = Vec::new();
    let mut lookup: FastMap<TaskId, TaskIndex> = fast_map(plan.tasks.len());
    // The parser shares one allocation between a task's ID and every
    // reference to it, so most references are found by address without
    // reading or hashing the text. Only the first task with an ID is
    // entered, so an address found here means what the text would.
    let mut by_address: FastMap<usize, u32> = fast_map(plan.tasks.len());
    // For each task, the first task with its ID (itself unless repeated).
    let mut first_of: Vec<u32> = Vec::with_capacity(plan.tasks.len());
    for (i, task) in plan.tasks.iter().enumerate() {
        match lookup.entry(task.id.clone()) {
            std::collections::hash_map::Entry::Occupied(entry) => {
                let first = *entry.get();
                first_of.push(first.raw());
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateId,
                        format!("two tasks have the ID `{}`", task.id),
                        task.spans.id,
                        "used again here",
                    )
                    .with_label(plan.tasks[first.index()].spans.id, "first used here")
                    .with_help("give every task its own ID"),
                );
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                let index = TaskIndex::new(i);
                entry.insert(index);
                first_of.push(index.raw());
                by_address.insert(task.id.address(), index.raw());
            }
        }
    }

    check_roles(plan, options, &mut diagnostics);
    let edges = resolve_deps(plan, &lookup, &by_address, &first_of, &mut diagnostics);
    let skeleton = Skeleton::new(plan.tasks.len(), edges);
    if !skeleton.is_acyclic() {
        report_cycles(plan, &skeleton.dep_lists(), &mut diagnostics);
    }
    check_estimates(plan, &mut diagnostics);

    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let graph = (!has_errors).then(|| PlanGraph::from_skeleton(plan, lookup, skeleton));
    if let Some(graph) = &graph {
        check_file_conflicts(plan, graph, &mut diagnostics);
    }
    crate::diagnostic::sort(&mut diagnostics);
    Validated { graph, diagnostics }
}

fn check_roles(plan: &Plan, options: &PlanOptions, diagnostics: &mut Vec<Diagnostic>) {
    for task in &plan.tasks {
        if task.role.is_empty() || options.roles.contains(&task.role) {
            continue;
        }
        let span = task.spans.role.unwrap_or(task.spans.id);
        let known = options.roles.join(", ");
        let lower = task.role.to_lowercase();
        let help = match closest(&lower, options.roles.iter().map(String::as_str), usize::MAX) {
            Some(role) => format!("did you mean `{role}`? The roles are: {known}"),
            None => format!("the roles are: {known}"),
        };
        diagnostics.push(
            Diagnostic::new(
                Code::UnknownRole,
                format!("unknown role `{}`", task.role),
                span,
                "not a configured role",
            )
            .with_help(help),
        );
    }
}

/// Resolves each task's deps to `(dep, task)` index pairs, reporting self,
/// unknown and later-phase dependencies.
fn resolve_deps(
    plan: &Plan,
    lookup: &FastMap<TaskId, TaskIndex>,
    by_address: &FastMap<usize, u32>,
    first_of: &[u32],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(usize, usize)> {
    let mut suggestions = 0;
    let mut edges = Vec::with_capacity(plan.tasks.iter().map(|t| t.deps.len()).sum());
    for (i, task) in plan.tasks.iter().enumerate() {
        for (k, dep) in task.deps.iter().enumerate() {
            let span = task.spans.deps.get(k).copied().unwrap_or(task.spans.id);
            let found = match by_address.get(&dep.address()) {
                Some(&d) => Some(d as usize),
                None => lookup.get(dep).map(|d| d.index()),
            };
            // Same text as the task's own ID exactly when it resolves to
            // the first task with that ID; an unknown ID is never its own.
            if found == Some(first_of[i] as usize) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::SelfDep,
                        format!("task `{dep}` depends on itself"),
                        span,
                        "its own ID",
                    )
                    .with_help("remove it from `deps`"),
                );
                continue;
            }
            let Some(d) = found else {
                let mut diagnostic = Diagnostic::new(
                    Code::UnknownDep,
                    format!("task `{}` depends on `{dep}`, which does not exist", task.id),
                    span,
                    "no task has this ID",
                );
                let suggestion = (suggestions < MAX_SUGGESTIONS)
                    .then(|| {
                        closest(dep.as_str(), plan.tasks.iter().map(|t| t.id.as_str()), usize::MAX)
                    })
                    .flatten();
                suggestions += 1;
                diagnostic = match suggestion {
                    Some(id) => diagnostic.with_help(format!("did you mean `{id}`?")),
                    None => {
                        diagnostic.with_help("add a task with this ID, or remove it from `deps`")
                    }
                };
                diagnostics.push(diagnostic);
                continue;
            };
            if let (Some(own), Some(theirs)) = (task.phase, plan.tasks[d].phase)
                && theirs > own
            {
                let name = |p: usize| plan.phases.get(p).map_or("?", |ph| ph.title.as_str());
                diagnostics.push(
                    Diagnostic::new(
                        Code::LaterPhaseDep,
                        format!("`{}` ({}) depends on `{dep}`, which is in a later phase ({})", task.id, name(own), name(theirs)),
                        span,
                        "in a later phase",
                    )
                    .with_label(plan.tasks[d].spans.id, "defined here")
                    .with_help("move one of the tasks so phases read in order; phases group tasks but never block them"),
                );
            }
            if task.status.is_done() && !plan.tasks[d].status.is_done() {
                diagnostics.push(
                    Diagnostic::new(
                        Code::DoneBeforeDep,
                        format!("`{}` is done but depends on `{dep}`, which is not", task.id),
                        span,
                        "not done yet",
                    )
                    .with_label(plan.tasks[d].spans.id, "defined here")
                    .with_help(
                        "mark the dependency `status: done` too if its work exists, or drop \
                         `status: done` so the task runs after it",
                    ),
                );
            }
            if d != i {
                edges.push((d, i));
            }
        }
    }
    edges
}

fn report_cycles(plan: &Plan, deps: &[Vec<usize>], diagnostics: &mut Vec<Diagnostic>) {
    for cycle in find_cycles(deps) {
        let names: Vec<&str> = cycle.iter().map(|&i| plan.tasks[i].id.as_str()).collect();
        let edge_span = |from: usize, to: usize| {
            let task = &plan.tasks[from];
            task.deps
                .iter()
                .position(|d| *d == plan.tasks[to].id)
                .and_then(|k| task.spans.deps.get(k).copied())
                .unwrap_or(task.spans.id)
        };
        let mut diagnostic = Diagnostic::new(
            Code::Cycle,
            format!("dependency cycle: {}", names.join(" → ")),
            edge_span(cycle[0], cycle[1]),
            format!("`{}` depends on `{}`", names[0], names[1]),
        );
        for k in 1..cycle.len() - 1 {
            diagnostic = diagnostic.with_label(
                edge_span(cycle[k], cycle[k + 1]),
                format!("`{}` depends on `{}`", names[k], names[k + 1]),
            );
        }
        diagnostics.push(diagnostic.with_help(
            "remove one of these dependencies to break the cycle (`A → B` reads “A depends on B”)",
        ));
    }
}

fn check_estimates(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    // Done tasks need no estimate: they are not on the critical path.
    let pending: Vec<&crate::model::Task> =
        plan.tasks.iter().filter(|t| !t.status.is_done()).collect();
    let with = pending.iter().filter(|t| t.estimate.is_some()).count();
    if with == 0 {
        return;
    }
    let seconds = pending.iter().find(|t| matches!(t.estimate, Some(Estimate::Seconds(_))));
    let points = pending.iter().find(|t| matches!(t.estimate, Some(Estimate::Points(_))));
    if let (Some(a), Some(b)) = (seconds, points) {
        let span_of = |t: &crate::model::Task| t.spans.estimate.unwrap_or(t.spans.id);
        let (first, second) = if span_of(a) <= span_of(b) { (a, b) } else { (b, a) };
        diagnostics.push(
            Diagnostic::new(
                Code::EstimatesIgnored,
                "estimates mix durations and points, so the critical path counts tasks instead",
                span_of(second),
                "a different kind of estimate",
            )
            .with_label(span_of(first), "than this one")
            .with_help("use one kind of estimate for every task (durations like `2h`, or points like `3pt`)"),
        );
        return;
    }
    if with < pending.len() {
        let missing: Vec<&&crate::model::Task> =
            pending.iter().filter(|t| t.estimate.is_none()).collect();
        diagnostics.push(
            Diagnostic::new(
                Code::EstimatesIgnored,
                format!(
                    "{} of {} tasks have no estimate, so the critical path counts tasks instead",
                    missing.len(),
                    pending.len()
                ),
                missing[0].spans.id,
                "no estimate",
            )
            .with_help("give every task an `estimate`, or none"),
        );
    }
}

/// Warns about tasks with overlapping files and no dependency path between
/// them, once per later task (document order), naming the earlier ones.
fn check_file_conflicts(plan: &Plan, graph: &PlanGraph, diagnostics: &mut Vec<Diagnostic>) {
    let pairs = graph.conflict_pairs();
    let ordered = graph.ordered(pairs);
    let mut by_later: std::collections::BTreeMap<TaskIndex, Vec<TaskIndex>> =
        std::collections::BTreeMap::new();
    for (&(a, b), &ordered) in pairs.iter().zip(&ordered) {
        if !ordered {
            by_later.entry(b).or_default().push(a);
        }
    }
    for (later, earlier) in by_later {
        let task = &plan.tasks[later.index()];
        // The first five names, written straight into one string.
        let mut shown = String::new();
        for (k, e) in earlier.iter().take(5).enumerate() {
            if k > 0 {
                shown.push_str(", ");
            }
            let _ = write!(shown, "`{}`", plan.tasks[e.index()].id);
        }
        let others = if earlier.len() > 5 {
            format!(" and {} more", earlier.len() - 5)
        } else {
            String::new()
        };
        let (own_span, _) = overlapping_spans(plan, graph, later, earlier[0]);
        let mut diagnostic = Diagnostic::new(
            Code::FileConflict,
            format!(
                "`{}` touches the same files as {shown}{others} with no dependency between them; they will be serialized (never run at the same time)",
                task.id
            ),
            own_span,
            format!("touched by `{}`", task.id),
        );
        for &e in earlier.iter().take(5) {
            let (_, their_span) = overlapping_spans(plan, graph, later, e);
            diagnostic = diagnostic
                .with_label(their_span, format!("also touched by `{}`", plan.tasks[e.index()].id));
        }
        diagnostics.push(diagnostic.with_help(
            "if one must come first, add it to the other's `deps`; otherwise orca runs them one after the other",
        ));
    }
    if graph.conflict_pairs_truncated() {
        diagnostics.push(
            Diagnostic::new(
                Code::ConflictLimit,
                format!(
                    "more than {} pairs of tasks touch overlapping files; only some were checked for ordering",
                    crate::conflicts::MAX_CONFLICT_PAIRS
                ),
                plan.title_span,
                "this plan",
            )
            .with_help("replace broad globs such as `**` with the paths each task really touches"),
        );
    }
}

/// The spans of the first pair of overlapping `files` entries of two tasks.
fn overlapping_spans(plan: &Plan, graph: &PlanGraph, a: TaskIndex, b: TaskIndex) -> (Span, Span) {
    let (ta, tb) = (&plan.tasks[a.index()], &plan.tasks[b.index()]);
    for (i, pa) in graph.patterns(a).iter().enumerate() {
        for (j, pb) in graph.patterns(b).iter().enumerate() {
            if pa.overlaps(pb) {
                let sa = ta.spans.files.get(i).copied().unwrap_or(ta.spans.id);
                let sb = tb.spans.files.get(j).copied().unwrap_or(tb.spans.id);
                return (sa, sb);
            }
        }
    }
    (ta.spans.id, tb.spans.id)
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Code;

    #[test]
    fn a_done_task_that_depends_on_pending_work_is_warned_about() {
        let plan = "# Plan: x\n\n### T1: a\n- deps: none\n- role: backend\n- files: a\n- verify: true\n\
                    - accept:\n  - [ ] ok\n\n### T2: b\n- deps: T1\n- status: done\n";
        let checked = crate::check(plan, &crate::PlanOptions::default());
        let warned: Vec<&str> = checked
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::DoneBeforeDep)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(warned, ["`T2` is done but depends on `T1`, which is not"]);
        let both_done = plan
            .replace("- role: backend\n- files: a", "- status: done\n- role: backend\n- files: a");
        let checked = crate::check(&both_done, &crate::PlanOptions::default());
        assert!(checked.diagnostics.iter().all(|d| d.code != Code::DoneBeforeDep));
    }
}
