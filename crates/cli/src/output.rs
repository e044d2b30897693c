//! Where user-facing output goes: human text, or JSON on stdout for scripts.
//! Logs (tracing) are for developers and go elsewhere.

use std::io::Write;

use serde::Serialize;

use crate::failure::Failure;

/// The output mode chosen by `--json`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Output { json }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// Prints one JSON document (a line) on stdout.
    pub(crate) fn json<T: Serialize>(&self, value: &T) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (e.g. `| head`) is not worth a panic.
        let _ = serde_json::to_writer(&mut stdout, value);
        let _ = writeln!(stdout);
    }

    /// Prints human text on stdout.
    pub(crate) fn text(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.as_ref());
    }

    /// Reports a failure: JSON on stdout with `--json`, else text on stderr.
    pub(crate) fn failure(&self, failure: &Failure) {
        if self.json {
            self.json(&serde_json::json!({
                "error": {
                    "kind": failure.kind,
                    "message": failure.message,
                    "hints": failure.hints,
                }
            }));
        } else {
            eprintln!("{failure}");
        }
    }
}

/// Tells the user what opening the store found worth knowing, on stderr
/// (never on stdout, so `--json` output stays one document).
pub(crate) fn store_notices(store: &orca_store::Store) {
    {
        if store.found_empty_file() {
            eprintln!(
                "note: the store {} was an empty file (0 bytes); orca made it a new, empty store, \
                 so any runs it held before are gone",
                store.location()
            );
        }
    }
}
