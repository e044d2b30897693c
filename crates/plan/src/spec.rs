//! The plan format in brief, for the prompt of an agent that writes a plan
//! (`orca run "GOAL"`'s planner). Built from the parser's own field list,
//! ID rules and roles, and checked by tests against the parser: a field
//! the parser learns without a line here fails them, and the example below
//! must pass `check` without a single diagnostic.

use std::fmt::Write as _;

use crate::id::MAX_ID_LEN;
#[cfg(test)]
use crate::parse::fields::FIELD_NAMES;

/// What each field holds, in the parser's field order.
const FIELD_DOCS: [(&str, &str, &str); 11] = [
    (
        "deps",
        "required",
        "task IDs separated by commas, or `none`; a task starts only after its deps are merged",
    ),
    ("role", "required", "exactly one of the roles listed below"),
    (
        "files",
        "recommended",
        "the paths or globs the task creates or changes, separated by commas (relative to the repository root, never outside it), or `none`; tasks whose files overlap never run at the same time",
    ),
    (
        "verify",
        "recommended",
        "ONE command that proves the task done, e.g. `cargo test -p app parser`; run without a shell, so no pipes, `&&`, redirections or variables",
    ),
    (
        "accept",
        "recommended",
        "acceptance criteria as nested `  - [ ] <criterion>` lines under `- accept:`",
    ),
    ("agent", "optional", "the agent to run the task with (default: the run's agent)"),
    ("priority", "optional", "`critical`, `high`, `medium`, `low`, or 0-100"),
    (
        "estimate",
        "optional",
        "a duration (`45m`, `2h`, `1h30m`) or points (`3pt`); give every task one, or none",
    ),
    ("timeout", "optional", "a duration: the hard limit for one attempt"),
    (
        "budget",
        "optional",
        "what all attempts of the task may spend: money, tokens or both, e.g. `$2`, `300k tokens`, `$1.50, 300k tokens`; an attempt that goes over is stopped and the task fails",
    ),
    (
        "status",
        "optional",
        "`done` only for work already finished before the plan runs: it is never started and needs no field but `deps`",
    ),
];

/// A plan that uses every field, valid under the default roles.
pub const EXAMPLE: &str = "\
# Plan: Add a --json flag to the report command

Scripts need machine-readable output; the text output stays as it is.

## Phase 1: Model

### T1: Serialize the report model
- deps: none
- role: backend
- files: src/report.rs
- verify: cargo test report::json
- accept:
  - [ ] `Report` serializes to JSON with every field
  - [ ] field names are snake_case
- priority: high
- estimate: 30m

Derive `Serialize` on the model; no hand-written JSON.

## Phase 2: Command

### T2: Add the --json flag
- deps: T1
- role: backend
- files: src/cli.rs, tests/cli_json.rs
- verify: cargo test --test cli_json
- accept:
  - [ ] `app report --json` prints one JSON document
  - [ ] without the flag the output is unchanged
- agent: claude
- estimate: 45m
- timeout: 20m
- budget: $2, 300k tokens

### T3: Document the flag
- deps: T2
- role: docs
- files: README.md
- verify: grep -q -- --json README.md
- accept:
  - [ ] the README shows an example of `--json`
- estimate: 10m
";

/// The format in brief, with the roles a task may have.
pub fn format_spec(roles: &[String]) -> String {
    let mut out = String::new();
    out.push_str(
        "A plan is a Markdown file, in this order:\n\
         1. The title, the first non-blank line: `# Plan: <title>`.\n\
         2. Optional prose describing the plan.\n\
         3. Optional phases: `## Phase <n>: <name>`; they only group tasks, they never block.\n\
         4. Tasks: `### <ID>: <title>`, then the field list, then optional prose.\n\
         \n",
    );
    let _ = writeln!(
        out,
        "IDs start with an ASCII letter, then letters, digits, `_`, `-` or `.` (not at the end, \
         never `..`), at most {MAX_ID_LEN} characters, unique in the plan (e.g. T1, T2, api-auth)."
    );
    out.push_str(
        "The field list starts on the first non-blank line after the heading: lines \
         `- <field>: <value>` starting in column 1, one field per line, each at most once. The \
         first line that is not a field ends the list; prose after it is the task's description.\n\
         Only `#` for the title, `##` for phases and `###` for tasks; use `####` or deeper inside \
         descriptions, and close every code fence.\n\nFields:\n",
    );
    for (name, need, doc) in FIELD_DOCS {
        let _ = writeln!(out, "- `{name}` ({need}): {doc}");
    }
    let _ = writeln!(out, "\nRoles: {}.", roles.join(", "));
    out.push_str(
        "\nRules `orca plan check` enforces: every dep names a task of the plan, no task depends \
         on itself, no dependency cycle, no duplicate ID or field, no unknown field, paths stay \
         inside the repository. A plan holds no run state (no owner, no checkboxes ticked; \
         `status: done` only for work finished before the plan).\n\nExample:\n\n",
    );
    out.push_str(EXAMPLE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PlanOptions, check};

    #[test]
    fn every_field_the_parser_reads_is_described_in_its_order() {
        let described: Vec<&str> = FIELD_DOCS.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(described, FIELD_NAMES, "FIELD_DOCS must follow the parser's field list");
    }

    #[test]
    fn the_example_is_a_clean_plan_using_every_field() {
        let checked = check(EXAMPLE, &PlanOptions::default());
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        assert_eq!(checked.plan.tasks.len(), 3);
        // `status: done` marks work finished before the plan; a new plan
        // has none, so the example shows none.
        for field in FIELD_NAMES.iter().filter(|f| **f != "status") {
            assert!(EXAMPLE.contains(&format!("\n- {field}:")), "the example lacks `{field}`");
        }
    }

    #[test]
    fn the_spec_names_the_roles_and_the_id_limit() {
        let spec = format_spec(&["backend".into(), "docs".into()]);
        assert!(spec.contains("Roles: backend, docs."), "{spec}");
        assert!(spec.contains(&format!("at most {MAX_ID_LEN} characters")));
        assert!(spec.ends_with(EXAMPLE));
    }
}
