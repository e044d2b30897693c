//! The taskmaster importer: never panics, and what it imports is written as orca
//! Markdown that parses without errors back to the same plan.
#![no_main]

mod round_trip;

use libfuzzer_sys::fuzz_target;
use orca_plan::import::{ImportOptions, from_taskmaster};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = orca_plan::decode(data) else { return };
    let Ok(imported) = from_taskmaster(text, &ImportOptions::default()) else { return };
    round_trip::assert_round_trip(&imported.plan);
});
