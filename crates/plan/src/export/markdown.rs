//! A plan model back to orca Markdown. For a plan that came from the
//! parser, parsing the output gives the same plan again.

use std::fmt::Write;

use crate::model::{Plan, Priority, Task, format_duration};

/// Writes `plan` in orca's Markdown format. Text is written as it is:
/// importers make titles one line and descriptions Markdown-safe first.
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = String::with_capacity(plan.tasks.len() * 200 + 64);
    let _ = writeln!(out, "# Plan: {}", plan.title);
    block(&mut out, &plan.description);
    let mut next_phase = 0;
    for task in &plan.tasks {
        if let Some(phase) = task.phase {
            while next_phase <= phase && next_phase < plan.phases.len() {
                write_phase(&mut out, plan, next_phase);
                next_phase += 1;
            }
        }
        write_task(&mut out, task);
    }
    while next_phase < plan.phases.len() {
        write_phase(&mut out, plan, next_phase);
        next_phase += 1;
    }
    out
}

fn block(out: &mut String, text: &str) {
    if !text.is_empty() {
        out.push('\n');
        out.push_str(text);
        out.push('\n');
    }
}

fn write_phase(out: &mut String, plan: &Plan, index: usize) {
    let phase = &plan.phases[index];
    let _ = writeln!(out, "\n## {}", phase.title);
    block(out, &phase.description);
}

fn write_task(out: &mut String, task: &Task) {
    let _ = writeln!(out, "\n### {}: {}", task.id, task.title);
    if task.deps.is_empty() {
        out.push_str("- deps: none\n");
    } else {
        let deps: Vec<&str> = task.deps.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(out, "- deps: {}", deps.join(", "));
    }
    if !task.role.is_empty() {
        let _ = writeln!(out, "- role: {}", task.role);
    }
    if let Some(files) = &task.files {
        if files.is_empty() {
            out.push_str("- files: none\n");
        } else if files.len() == 1 && files[0].as_str() == "none" {
            // A path called `none`, not the word.
            out.push_str("- files: ./none\n");
        } else {
            let files: Vec<&str> = files.iter().map(|f| f.as_str()).collect();
            let _ = writeln!(out, "- files: {}", files.join(", "));
        }
    }
    if let Some(verify) = &task.verify {
        let as_written = verify.command();
        // The parser keeps a value's inner text exactly but trims its ends.
        let reads_back = !as_written.contains('\n')
            && as_written.trim() == as_written
            && !as_written.starts_with('`');
        if reads_back {
            let _ = writeln!(out, "- verify: {as_written}");
        } else {
            let quoted: Vec<String> = verify.argv().iter().map(|a| crate::argv::quote(a)).collect();
            let _ = writeln!(out, "- verify: {}", quoted.join(" "));
        }
    }
    if !task.accept.is_empty() {
        out.push_str("- accept:\n");
        for item in &task.accept {
            let _ = writeln!(out, "  - [ ] {item}");
        }
    }
    if let Some(agent) = &task.agent {
        let _ = writeln!(out, "- agent: {agent}");
    }
    if task.priority != Priority::default() {
        let _ = writeln!(out, "- priority: {}", task.priority);
    }
    if let Some(estimate) = task.estimate {
        let _ = writeln!(out, "- estimate: {estimate}");
    }
    if let Some(timeout) = task.timeout_secs {
        let _ = writeln!(out, "- timeout: {}", format_duration(timeout));
    }
    if let Some(budget) = task.budget.filter(|budget| !budget.is_empty()) {
        let _ = writeln!(out, "- budget: {budget}");
    }
    if task.status.is_done() {
        out.push_str("- status: done\n");
    }
    block(out, &task.description);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let first = crate::parse(text);
        assert!(first.diagnostics.iter().all(|d| !d.is_error()), "{:?}", first.diagnostics);
        let written = to_markdown(&first.plan);
        let second = crate::parse(&written);
        let strip = |mut plan: Plan| {
            plan.title_span = Default::default();
            plan.phases.iter_mut().for_each(|p| p.span = Default::default());
            plan.tasks.iter_mut().for_each(|t| t.spans = Default::default());
            plan
        };
        assert_eq!(strip(second.plan), strip(first.plan), "{written}");
    }

    #[test]
    fn a_done_task_needs_no_agent_fields_and_reads_back() {
        round_trip(
            "# Plan: x\n\n### T1: a\n- deps: none\n- status: done\n\n### T2: b\n- deps: T1\n- role: backend\n- files: none\n- verify: true\n- accept:\n  - [ ] ok\n",
        );
    }

    #[test]
    fn a_closing_fence_does_not_open_another() {
        // Two code blocks in one description: the line closing the first
        // was read as opening a new block, so the plan ended inside code
        // (what the `taskmaster` fuzz target found on real tasks.json files).
        round_trip(
            "# Plan: x\n\n### T1: a\n- deps: none\n- role: backend\n\n```sql\nx\n```\n\nmore\n\n```sql\ny\n```\n\n### T2: b\n- deps: T1\n- role: backend\n",
        );
    }

    #[test]
    fn a_path_named_none_is_not_the_word_none() {
        round_trip("# Plan: x\n\n### T1: a\n- deps: none\n- role: backend\n- files: ./none\n");
    }

    #[test]
    fn a_carriage_return_inside_a_command_is_kept() {
        // Found by the `markdown` fuzz target.
        round_trip(
            "# Plan: x\n\n### T1: a\n- deps: none\n- role: backend\n- verify: c\rrgo test\n",
        );
    }

    #[test]
    fn stray_carriage_returns_at_line_ends_are_dropped() {
        round_trip(
            "# Plan: x\r\n\r\n### T1: a\r\n- deps: none\r\n- role: backend\r\n\r\ntext\r\r\n",
        );
    }
}
