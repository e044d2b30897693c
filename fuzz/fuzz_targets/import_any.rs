//! Format detection and whichever importer it picks: never panics; the
//! written plan parses back to the same plan, and its JSON export imports
//! back with the same tasks, dependencies and done states.
#![no_main]

mod round_trip;

use libfuzzer_sys::fuzz_target;
use orca_plan::import::{ImportOptions, detect, from_json};
use orca_plan::Plan;

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
    let parsed = round_trip::assert_round_trip(&imported.plan);
    let again = from_json(&orca_plan::to_json(&parsed).to_string()).expect("orca's JSON reads back");
    assert_eq!(shape(&again.plan), shape(&imported.plan));
});
