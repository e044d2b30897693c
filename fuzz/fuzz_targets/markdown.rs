//! orca's Markdown plan parser: never panics, and a valid plan written back
//! out parses to the same plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orca_plan::{Plan, PlanOptions, RenderOptions, TaskState};

fn without_spans(mut plan: Plan) -> Plan {
    plan.title_span = Default::default();
    for phase in &mut plan.phases {
        phase.span = Default::default();
    }
    for task in &mut plan.tasks {
        task.spans = Default::default();
    }
    plan
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = orca_plan::decode(data) else { return };
    let checked = orca_plan::check(text, &PlanOptions::default());
    let source = orca_plan::PlanSource::new("fuzz.md", text);
    let _ = source.render(&checked.diagnostics, RenderOptions::default());
    let _ = source.locate(&checked.diagnostics);
    let Some(graph) = &checked.graph else { return };
    let _ = graph.waves();
    let _ = graph.critical_path();
    let _ = graph.max_parallelism();
    let _ = graph.dispatch(|_| TaskState::Pending, 4);
    let _ = orca_plan::to_mermaid(&checked.plan, graph);
    let _ = orca_plan::to_dot(&checked.plan, graph);
    let _ = orca_plan::graph_json(&checked.plan, graph);
    let written = orca_plan::to_markdown(&checked.plan);
    let again = orca_plan::parse(&written);
    assert!(!again.diagnostics.iter().any(|d| d.is_error()), "{:?}\n{written}", again.diagnostics);
    assert_eq!(without_spans(again.plan), without_spans(checked.plan.clone()), "{written}");
});
