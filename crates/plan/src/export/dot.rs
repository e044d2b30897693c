//! Graphviz DOT export.

use std::fmt::Write;

use crate::graph::PlanGraph;
use crate::model::Plan;

/// Escapes text for a double-quoted DOT string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A DOT `digraph` of the plan: one box per task, an edge from each
/// dependency to its dependent, one cluster per phase, and the critical
/// path drawn bold.
pub fn to_dot(plan: &Plan, graph: &PlanGraph) -> String {
    let critical = graph.critical_path();
    let mut on_path = vec![false; plan.tasks.len()];
    for t in &critical.tasks {
        on_path[t.index()] = true;
    }
    let path_edges: std::collections::HashSet<(usize, usize)> =
        critical.tasks.windows(2).map(|w| (w[0].index(), w[1].index())).collect();
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
    let _ = writeln!(out, "  label={};", quoted(&plan.title));
    let write_node = |out: &mut String, i: usize, indent: &str| {
        let task = &plan.tasks[i];
        let style = if on_path[i] { ", penwidth=2" } else { "" };
        let _ = writeln!(
            out,
            "{indent}{} [label={}{style}];",
            quoted(task.id.as_str()),
            quoted(&format!("{}\n{}", task.id, task.title))
        );
    };
    for (p, phase) in plan.phases.iter().enumerate() {
        let members: Vec<usize> =
            (0..plan.tasks.len()).filter(|&i| plan.tasks[i].phase == Some(p)).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  subgraph cluster_{p} {{\n    label={};", quoted(&phase.title));
        for i in members {
            write_node(&mut out, i, "    ");
        }
        out.push_str("  }\n");
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        if task.phase.is_none_or(|p| p >= plan.phases.len()) {
            write_node(&mut out, i, "  ");
        }
    }
    for &t in graph.topological_order() {
        for &d in graph.deps(t) {
            let bold =
                if path_edges.contains(&(d.index(), t.index())) { " [penwidth=2]" } else { "" };
            let _ = writeln!(
                out,
                "  {} -> {}{bold};",
                quoted(graph.id(d).as_str()),
                quoted(graph.id(t).as_str())
            );
        }
    }
    out.push_str("}\n");
    out
}
