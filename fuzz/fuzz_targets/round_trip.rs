//! The check every importer's target makes: a plan it imported is written
//! as orca Markdown that parses without errors back to the same plan.

use orca_plan::{Plan, PlanOptions};

/// `plan` without source positions (written text has its own).
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

/// Writes `imported`, parses it back and asserts it is the same plan;
/// returns what was parsed.
pub fn assert_round_trip(imported: &Plan) -> Plan {
    let written = orca_plan::to_markdown(imported);
    let parsed = orca_plan::parse(&written);
    assert!(!parsed.diagnostics.iter().any(|d| d.is_error()), "{:?}\n{written}", parsed.diagnostics);
    assert_eq!(without_spans(parsed.plan.clone()), *imported, "{written}");
    let _ = orca_plan::check(&written, &PlanOptions::default());
    parsed.plan
}
