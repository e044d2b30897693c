//! Property tests over random plans: the graph algorithms against simple
//! reference implementations, and the Markdown writer against the parser.

use std::collections::HashSet;

use orca_plan::{
    Code, Estimate, FilePattern, Plan, PlanGraph, PlanOptions, Priority, Progress, Task, TaskId,
    TaskIndex, TaskState, Verify, Weights,
};
use proptest::prelude::*;

const PATTERNS: &[&str] =
    &["src/a.rs", "src/b.rs", "src", "src/**", "docs/*.md", "docs/x.md", "**/*.rs", "tests/t.rs"];

fn id(i: usize) -> TaskId {
    TaskId::parse(&format!("T{i}")).unwrap()
}

/// A plan with tasks `T0..Tn` and the given `(dep, task)` edges.
fn plan_from(
    n: usize,
    edges: &[(usize, usize)],
    estimates: &[Option<u64>],
    files: &[Vec<usize>],
) -> Plan {
    let mut plan = Plan { title: "random".to_owned(), ..Plan::default() };
    for i in 0..n {
        let mut task = Task::new(id(i), format!("task {i}"), "backend");
        let mut deps: Vec<usize> =
            edges.iter().filter(|&&(_, t)| t == i).map(|&(d, _)| d).collect();
        deps.sort_unstable();
        deps.dedup();
        task.deps = deps.into_iter().map(id).collect();
        task.estimate = estimates.get(i).copied().flatten().map(Estimate::Seconds);
        task.files = Some(
            files
                .get(i)
                .into_iter()
                .flatten()
                .map(|&p| FilePattern::parse(PATTERNS[p % PATTERNS.len()]).unwrap())
                .collect(),
        );
        task.priority = Priority::new((i * 37 % 101) as u8).unwrap();
        plan.tasks.push(task);
    }
    plan
}

/// Task count, `(dep, task)` edges, estimates, indices into [`PATTERNS`].
type RandomPlan = (usize, Vec<(usize, usize)>, Vec<Option<u64>>, Vec<Vec<usize>>);

/// Random DAGs: edges always point from a lower to a higher index.
fn dag() -> impl Strategy<Value = RandomPlan> {
    (1usize..28).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n, 0..n), 0..n * 2).prop_map(|pairs| {
                pairs
                    .into_iter()
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| (a.min(b), a.max(b)))
                    .collect()
            }),
            prop::collection::vec(prop::option::weighted(0.9, 1u64..50), n),
            prop::collection::vec(prop::collection::vec(0usize..PATTERNS.len(), 0..3), n),
        )
    })
}

/// Reference reachability: `reach[a][b]` when `b` depends on `a`,
/// directly or not.
fn reachability(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<bool>> {
    let mut reach = vec![vec![false; n]; n];
    for &(a, b) in edges {
        reach[a][b] = true;
    }
    // Warshall's algorithm.
    for k in 0..n {
        let through = reach[k].clone();
        for row in reach.iter_mut() {
            if row[k] {
                for (cell, &via) in row.iter_mut().zip(&through) {
                    *cell |= via;
                }
            }
        }
    }
    reach
}

fn state_from(n: u8) -> TaskState {
    match n % 4 {
        0 => TaskState::Pending,
        1 => TaskState::Running,
        2 => TaskState::Done,
        _ => TaskState::Failed,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn waves_and_topological_order_respect_every_dep((n, edges, estimates, files) in dag()) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        for &(d, t) in &edges {
            let (d, t) = (graph.index_of(&format!("T{d}")).unwrap(), graph.index_of(&format!("T{t}")).unwrap());
            prop_assert!(graph.wave_of(t) > graph.wave_of(d));
        }
        let waves = graph.waves();
        prop_assert_eq!(waves.iter().map(Vec::len).sum::<usize>(), n);
        for (w, wave) in waves.iter().enumerate() {
            for &t in wave {
                prop_assert_eq!(graph.wave_of(t) as usize, w);
                // A task is in wave w exactly when its latest dep is in w - 1.
                let latest = graph.deps(t).iter().map(|&d| graph.wave_of(d) as usize + 1).max().unwrap_or(0);
                prop_assert_eq!(latest, w);
            }
        }
        let order = graph.topological_order();
        let mut position = vec![0; n];
        for (p, t) in order.iter().enumerate() {
            position[t.index()] = p;
        }
        prop_assert_eq!(order.iter().map(|t| t.index()).collect::<HashSet<_>>().len(), n);
        for &(d, t) in &edges {
            prop_assert!(position[d] < position[t]);
        }
    }

    #[test]
    fn the_ready_set_never_holds_a_task_with_an_unfinished_dep(
        (n, edges, estimates, files) in dag(),
        states in prop::collection::vec(any::<u8>(), 28),
    ) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        let state = |t: TaskIndex| state_from(states[t.index()]);
        let ready = graph.ready(state);
        for &t in &ready {
            prop_assert_eq!(state(t), TaskState::Pending);
            for &d in graph.deps(t) {
                prop_assert_eq!(state(d), TaskState::Done);
            }
        }
        // ...and holds every task that qualifies, in dispatch order.
        let expected = graph.indices().filter(|&t| state(t) == TaskState::Pending && graph.deps(t).iter().all(|&d| state(d) == TaskState::Done)).count();
        prop_assert_eq!(ready.len(), expected);
        prop_assert!(ready.windows(2).all(|w| graph.dispatch_key(w[0]) < graph.dispatch_key(w[1])));
        // Dispatch never starts two tasks that share files, nor one that
        // shares files with a running task.
        let dispatch = graph.dispatch(state, usize::MAX);
        let running: Vec<TaskIndex> = graph.indices().filter(|&t| state(t) == TaskState::Running).collect();
        for (i, &a) in dispatch.start.iter().enumerate() {
            for &b in dispatch.start[i + 1..].iter().chain(&running) {
                prop_assert!(!graph.conflicts(a, b));
            }
        }
        prop_assert_eq!(dispatch.start.len() + dispatch.held.len(), ready.len());
        // Failed tasks block exactly their pending descendants.
        let reach = reachability(n, &edges);
        let blocked: HashSet<usize> = graph.blocked_by_failure(state).iter().map(|t| graph.id(*t).as_str()[1..].parse().unwrap()).collect();
        for (t, _) in reach.iter().enumerate() {
            let task = graph.index_of(&format!("T{t}")).unwrap();
            let failed_ancestor = reach.iter().enumerate().any(|(a, row)| {
                row[t] && state_from(states[graph.index_of(&format!("T{a}")).unwrap().index()]) == TaskState::Failed
            });
            prop_assert_eq!(blocked.contains(&t), failed_ancestor && state(task) == TaskState::Pending);
        }
    }

    #[test]
    fn incremental_progress_matches_the_batch_ready_set(
        (n, edges, estimates, files) in dag(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 28),
    ) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        let mut progress = Progress::new(&graph);
        let mut done = vec![false; n];
        for pick in picks.iter().cycle().take(n) {
            let ready = progress.ready();
            let batch = graph.ready(|t| if done[t.index()] { TaskState::Done } else { TaskState::Pending });
            prop_assert_eq!(&ready, &batch);
            prop_assert!(!ready.is_empty(), "a DAG with unfinished tasks always has a ready one");
            let next = ready[pick.index(ready.len())];
            progress.start(next);
            let newly = progress.finish(next);
            done[next.index()] = true;
            for t in newly {
                prop_assert!(graph.deps(t).iter().all(|d| done[d.index()]));
            }
        }
        prop_assert!(done.iter().all(|&d| d));
        prop_assert!(progress.ready().is_empty());
    }

    #[test]
    fn cycle_detection_agrees_with_a_reference(
        n in 2usize..16,
        pairs in prop::collection::vec((0usize..16, 0usize..16), 0..30),
    ) {
        let edges: Vec<(usize, usize)> = pairs.into_iter().map(|(a, b)| (a % n, b % n)).filter(|(a, b)| a != b).collect();
        let reach = reachability(n, &edges);
        let cyclic = (0..n).any(|i| reach[i][i]);
        let plan = plan_from(n, &edges, &[], &[]);
        let graph = PlanGraph::new(&plan);
        prop_assert_eq!(graph.is_err(), cyclic);
        let validated = orca_plan::validate(&plan, &PlanOptions::default());
        let cycles: Vec<&orca_plan::Diagnostic> = validated.diagnostics.iter().filter(|d| d.code == Code::Cycle).collect();
        prop_assert_eq!(!cycles.is_empty(), cyclic);
        prop_assert_eq!(validated.graph.is_none(), cyclic);
        if let Err(orca_plan::GraphError::Cycle(path)) = graph {
            // A closed walk where each task depends on the next.
            prop_assert!(path.len() >= 3);
            prop_assert_eq!(path.first(), path.last());
            for pair in path.windows(2) {
                let (task, dep): (usize, usize) = (pair[0].as_str()[1..].parse().unwrap(), pair[1].as_str()[1..].parse().unwrap());
                prop_assert!(edges.contains(&(dep, task)), "{} does not depend on {}", pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn the_critical_path_is_at_least_as_long_as_every_chain(
        (n, edges, estimates, files) in dag(),
        walks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(any::<prop::sample::Index>(), 30)), 8),
    ) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        let critical = graph.critical_path();
        let weight = |t: TaskIndex| graph.weight(t);
        if estimates.iter().take(n).all(Option::is_some) {
            prop_assert_eq!(critical.weights, Weights::Seconds);
        } else {
            prop_assert_eq!(critical.weights, Weights::Unit);
        }
        // The path is a chain whose weights add up to its length.
        for pair in critical.tasks.windows(2) {
            prop_assert!(graph.deps(pair[1]).contains(&pair[0]));
        }
        prop_assert_eq!(critical.tasks.iter().map(|&t| weight(t)).sum::<u64>(), critical.length);
        // Reference: longest path by dynamic programming over the order.
        let mut longest = vec![0u64; n];
        for &t in graph.topological_order() {
            let before = graph.deps(t).iter().map(|d| longest[d.index()]).max().unwrap_or(0);
            longest[t.index()] = before + weight(t);
        }
        prop_assert_eq!(critical.length, longest.iter().copied().max().unwrap_or(0));
        // Random chains are never longer.
        for (start, steps) in &walks {
            let mut t = TaskIndex::clone(&graph.indices().nth(start.index(n)).unwrap());
            let mut total = weight(t);
            for step in steps {
                let next = graph.dependents(t);
                if next.is_empty() {
                    break;
                }
                t = next[step.index(next.len())];
                total += weight(t);
            }
            prop_assert!(total <= critical.length);
        }
    }

    #[test]
    fn max_parallelism_is_a_real_antichain_without_conflicts((n, edges, estimates, files) in dag()) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        let reach = reachability(n, &edges);
        let number = |t: TaskIndex| -> usize { graph.id(t).as_str()[1..].parse().unwrap() };
        let best = graph.max_parallelism();
        prop_assert_eq!(best.agents, best.tasks.len());
        prop_assert!(best.agents >= 1);
        for (i, &a) in best.tasks.iter().enumerate() {
            for &b in &best.tasks[i + 1..] {
                prop_assert!(!reach[number(a)][number(b)] && !reach[number(b)][number(a)]);
                prop_assert!(!graph.conflicts(a, b));
            }
        }
        // Never more than the true maximum (brute force on small plans).
        if n <= 12 {
            let tasks: Vec<TaskIndex> = graph.indices().collect();
            let mut maximum = 0;
            for mask in 1u32..(1 << n) {
                let chosen: Vec<TaskIndex> = (0..n).filter(|i| mask & (1 << i) != 0).map(|i| tasks[i]).collect();
                let ok = chosen.iter().enumerate().all(|(i, &a)| chosen[i + 1..].iter().all(|&b| {
                    !reach[number(a)][number(b)] && !reach[number(b)][number(a)] && !graph.conflicts(a, b)
                }));
                if ok {
                    maximum = maximum.max(chosen.len());
                }
            }
            prop_assert!(best.agents <= maximum);
        }
    }

    #[test]
    fn conflict_pairs_and_ordering_agree_with_pairwise_checks((n, edges, estimates, files) in dag()) {
        let plan = plan_from(n, &edges, &estimates, &files);
        let graph = PlanGraph::new(&plan).unwrap();
        let listed: HashSet<(TaskIndex, TaskIndex)> = graph.conflict_pairs().iter().copied().collect();
        let tasks: Vec<TaskIndex> = graph.indices().collect();
        for (i, &a) in tasks.iter().enumerate() {
            prop_assert!(!graph.conflicts(a, a));
            for &b in &tasks[i + 1..] {
                prop_assert_eq!(graph.conflicts(a, b), graph.conflicts(b, a));
                prop_assert_eq!(listed.contains(&(a, b)), graph.conflicts(a, b));
            }
        }
        let reach = reachability(n, &edges);
        let number = |t: TaskIndex| -> usize { graph.id(t).as_str()[1..].parse().unwrap() };
        let all_pairs: Vec<(TaskIndex, TaskIndex)> =
            tasks.iter().flat_map(|&a| tasks.iter().filter(move |&&b| b != a).map(move |&b| (a, b))).collect();
        let ordered = graph.ordered(&all_pairs);
        for (&(a, b), &o) in all_pairs.iter().zip(&ordered) {
            prop_assert_eq!(o, reach[number(a)][number(b)] || reach[number(b)][number(a)]);
        }
    }

    #[test]
    fn markdown_written_for_a_plan_parses_back_to_it(
        (n, edges, estimates, files) in dag(),
        titles in prop::collection::vec("[A-Za-z0-9 ,.:()#`'-]{1,40}", 28),
        descriptions in prop::collection::vec(prop::collection::vec("[A-Za-z0-9 ,.:#`*-]{0,30}", 0..4), 28),
        commands in prop::collection::vec(prop::collection::vec("[A-Za-z0-9 '\"$|&;<>*#=./_-]{0,12}", 1..4), 28),
        phase_every in 0usize..6,
    ) {
        let mut plan = plan_from(n, &edges, &estimates, &files);
        plan.description = "A plan made up by a test.".to_owned();
        if phase_every > 0 {
            for p in 0..n.div_ceil(phase_every) {
                plan.phases.push(orca_plan::Phase { title: format!("Phase {p}: part"), ..Default::default() });
            }
        }
        for (i, task) in plan.tasks.iter_mut().enumerate() {
            let title = titles[i].trim();
            task.title = if title.is_empty() { "untitled".to_owned() } else { title.to_owned() };
            // Description lines must not start like headings or fields;
            // importers escape those (tested with the importers).
            task.description = descriptions[i]
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-') && !l.starts_with("```"))
                .collect::<Vec<_>>()
                .join("\n");
            task.accept = vec![format!("criterion {i}")];
            task.verify = Verify::parse(&commands[i].iter().map(|a| orca_plan::argv::quote(a)).collect::<Vec<_>>().join(" ")).ok();
            task.phase = (phase_every > 0).then(|| i / phase_every);
            task.timeout_secs = (i % 3 == 0).then_some(60 * (i as u64 + 1));
            task.agent = (i % 4 == 0).then(|| "claude".to_owned());
            task.budget = (i % 5 != 0).then(|| orca_plan::Budget {
                tokens: (i % 2 == 0).then_some(1_000 * (i as u64 + 1) + i as u64 % 7),
                usd_micros: (i % 2 != 0 || i % 3 != 0).then_some(250_000 * i as u64 + 10),
            });
        }
        let text = orca_plan::to_markdown(&plan);
        let parsed = orca_plan::parse(&text);
        prop_assert!(parsed.diagnostics.iter().all(|d| !d.is_error()), "{:?}\n{}", parsed.diagnostics, text);
        let mut back = parsed.plan;
        back.title_span = Default::default();
        for phase in &mut back.phases {
            phase.span = Default::default();
        }
        for task in &mut back.tasks {
            task.spans = Default::default();
        }
        prop_assert_eq!(back, plan);
    }

    #[test]
    fn checking_arbitrary_text_never_panics(text in "(### T[0-9]{1,2}:? ?[a-z ]{0,8}\n|- (deps|role|files|verify|accept|estimate|timeout|priority): ?[A-Za-z0-9 ,/*{}.'\"|&]{0,16}\n|  - \\[[ x]\\] [a-z]{0,6}\n|## Phase [0-9]\n|# Plan: x\n|```\n|\n|[a-z #-]{0,10}\n){0,40}") {
        let checked = orca_plan::check(&text, &PlanOptions::default());
        if let Some(graph) = &checked.graph {
            let _ = graph.critical_path();
            let _ = graph.max_parallelism();
        }
        let source = orca_plan::PlanSource::new("fuzz.md", &text);
        let rendered = source.render(&checked.diagnostics, orca_plan::RenderOptions::default());
        prop_assert_eq!(rendered.is_empty(), checked.diagnostics.is_empty());
        prop_assert_eq!(source.locate(&checked.diagnostics).len(), checked.diagnostics.len());
    }
}
