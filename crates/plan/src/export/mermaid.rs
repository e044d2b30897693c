//! Mermaid flowchart export.

use std::fmt::Write;

use crate::graph::PlanGraph;
use crate::model::Plan;

/// Escapes text for a quoted Mermaid label with entity codes.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid `flowchart` of the plan: one node per task (`ID: title`),
/// an arrow from each dependency to its dependent, one subgraph per phase,
/// and the critical path drawn in the `critical` class.
pub fn to_mermaid(plan: &Plan, graph: &PlanGraph) -> String {
    let mut out = String::from("flowchart TD\n");
    let node = |t: usize| format!("t{t}");
    let mut phased = vec![Vec::new(); plan.phases.len()];
    for (i, task) in plan.tasks.iter().enumerate() {
        let _ =
            writeln!(out, "  {}[\"{}: {}\"]", node(i), label(task.id.as_str()), label(&task.title));
        if let Some(p) = task.phase.filter(|&p| p < phased.len()) {
            phased[p].push(i);
        }
    }
    for (p, members) in phased.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  subgraph phase{p}[\"{}\"]", label(&plan.phases[p].title));
        for &i in members {
            let _ = writeln!(out, "    {}", node(i));
        }
        out.push_str("  end\n");
    }
    for &t in graph.topological_order() {
        for &d in graph.deps(t) {
            let _ = writeln!(out, "  {} --> {}", node(d.index()), node(t.index()));
        }
    }
    let critical = graph.critical_path();
    if !critical.tasks.is_empty() {
        out.push_str("  classDef critical stroke-width:3px\n");
        let members: Vec<String> = critical.tasks.iter().map(|t| node(t.index())).collect();
        let _ = writeln!(out, "  class {} critical", members.join(","));
    }
    out
}
