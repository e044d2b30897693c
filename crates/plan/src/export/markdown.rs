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
    let _ = writeln!(out, "- role: {}", task.role);
    if let Some(files) = &task.files {
        if files.is_empty() {
            out.push_str("- files: none\n");
        } else {
            let files: Vec<&str> = files.iter().map(|f| f.as_str()).collect();
            let _ = writeln!(out, "- files: {}", files.join(", "));
        }
    }
    if let Some(verify) = &task.verify {
        let as_written = &verify.command;
        let reads_back = !as_written.contains(['\n', '\r'])
            && !as_written.starts_with('`')
            && crate::argv::split(as_written).as_ref() == Ok(&verify.argv);
        if reads_back {
            let _ = writeln!(out, "- verify: {}", as_written.trim());
        } else {
            let quoted: Vec<String> = verify.argv.iter().map(|a| crate::argv::quote(a)).collect();
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
    block(out, &task.description);
}
