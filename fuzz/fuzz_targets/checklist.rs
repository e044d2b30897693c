//! The checklist importer: never panics, and what it imports is written as
//! orca Markdown that parses without errors back to the same plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orca_plan::import::{ImportOptions, from_checklist};
use orca_plan::{Plan, PlanOptions};

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
    let Ok(imported) = from_checklist(text, &ImportOptions::default()) else { return };
    let written = orca_plan::to_markdown(&imported.plan);
    let parsed = orca_plan::parse(&written);
    assert!(!parsed.diagnostics.iter().any(|d| d.is_error()), "{:?}\n{written}", parsed.diagnostics);
    assert_eq!(without_spans(parsed.plan), imported.plan, "{written}");
    let _ = orca_plan::check(&written, &PlanOptions::default());
});
