//! Format detection and whichever importer it picks: never panics; the
//! written plan parses back to the same plan, and its JSON export imports
//! back with the same tasks, dependencies and done states.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orca_plan::import::{ImportOptions, detect, from_json};
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

fn shape(plan: &Plan) -> Vec<(String, Vec<String>, bool)> {
    plan.tasks
        .iter()
        .map(|t| (t.id.to_string(), t.deps.iter().map(ToString::to_string).collect(), t.status.is_done()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = orca_plan::decode(data) else { return };
    let Some(format) = detect(text) else { return };
    let Ok(imported) = format.import(text, &ImportOptions::default()) else { return };
    let written = orca_plan::to_markdown(&imported.plan);
    let parsed = orca_plan::parse(&written);
    assert!(!parsed.diagnostics.iter().any(|d| d.is_error()), "{:?}\n{written}", parsed.diagnostics);
    assert_eq!(without_spans(parsed.plan.clone()), imported.plan, "{written}");
    let _ = orca_plan::check(&written, &PlanOptions::default());
    let again = from_json(&orca_plan::to_json(&parsed.plan).to_string()).expect("orca's JSON reads back");
    assert_eq!(shape(&again.plan), shape(&imported.plan));
});
