//! `report.md`: the report as text.

use std::fmt::Write as _;

use crate::html::duration;
use crate::model::ReportData;

/// The report as Markdown.
pub fn render_markdown(report: &ReportData) -> String {
    let run = &report.run;
    let mut out = format!("# Run {}: {}\n\n", run.id, run.title);
    let _ = writeln!(out, "- state: **{}**", run.state);
    if let Some(goal) = &run.goal {
        let _ = writeln!(out, "- goal: {}", goal.lines().next().unwrap_or(""));
    }
    if let Some(base) = &run.base {
        let _ = writeln!(out, "- started from: `{}`", &base[..base.len().min(12)]);
    }
    let _ = writeln!(out, "- result: branch `{}`", run.integration_branch);
    let totals = &report.totals;
    let _ = writeln!(
        out,
        "- {} task(s), {} attempt(s), {} tokens in / {} out{}, {} wall time, {} of agent time",
        totals.tasks,
        totals.attempts,
        totals.input_tokens,
        totals.output_tokens,
        if totals.cost_usd > 0.0 { format!(", ${:.2}", totals.cost_usd) } else { String::new() },
        duration(totals.wall_ms),
        duration(totals.agent_ms),
    );
    let by_agent: Vec<String> = totals
        .by_agent
        .iter()
        .filter(|(_, usage)| !usage.is_empty())
        .map(|(agent, usage)| format!("{agent} {}", usage.describe()))
        .collect();
    if !by_agent.is_empty() {
        let _ = writeln!(out, "- by agent: {}", by_agent.join("; "));
    }

    out.push_str("\n## Stages\n\n| stage | state | took | note |\n|---|---|---|---|\n");
    for stage in &report.stages {
        let note =
            stage.note.as_deref().unwrap_or("").lines().next().unwrap_or("").replace('|', "\\|");
        let rounds = if stage.rounds > 0 {
            format!(" ({} fix round(s))", stage.rounds)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {}{rounds} | {} | {note} |",
            stage.stage,
            stage.state,
            stage.duration_ms.map(duration).unwrap_or_default()
        );
    }

    let gates: Vec<_> =
        report.gates.iter().filter(|g| g.rounds > 0 || !g.files.is_empty()).collect();
    if !gates.is_empty() {
        out.push_str("\n## Gates\n\n");
        for gate in gates {
            let _ = writeln!(
                out,
                "- **{}** {}: {} fix round(s){}{}{}",
                gate.gate,
                gate.state,
                gate.rounds,
                if gate.checks.is_empty() {
                    String::new()
                } else {
                    format!("; failing {}", crate::before_after(&gate.checks))
                },
                if gate.fix_tasks.is_empty() {
                    String::new()
                } else {
                    format!("; fix tasks {}", gate.fix_tasks.join(", "))
                },
                if gate.files.is_empty() {
                    String::new()
                } else {
                    format!("; see {}", gate.files.join(", "))
                },
            );
        }
    }

    if !report.validation.is_empty() {
        out.push_str("\n## Validation\n\n");
        for check in &report.validation {
            let mark = if check.passed { "passed" } else { "FAILED" };
            let _ = writeln!(
                out,
                "- {mark}: `{}` in {} ({})",
                check.command,
                duration(i64::try_from(check.duration_ms).unwrap_or(i64::MAX)),
                check.summary
            );
            if !check.passed && !check.tail.is_empty() {
                let _ = writeln!(out, "\n  ```text\n{}\n  ```", indent(&check.tail, "  "));
            }
        }
    }

    out.push_str("\n## Tasks\n\n| task | title | state | attempts | agent | took | tokens | merge |\n|---|---|---|---|---|---|---|---|\n");
    for task in &report.tasks {
        let took: i64 = task.attempts.iter().filter_map(|a| a.duration_ms).sum();
        let tokens: u64 = task.attempts.iter().map(|a| a.input_tokens + a.output_tokens).sum();
        let agent = task
            .attempts
            .last()
            .and_then(|a| a.agent.clone())
            .or_else(|| task.agent.clone())
            .unwrap_or_default();
        let merge = task.merge.as_ref().map_or(String::new(), |m| {
            format!(
                "`{}`{}",
                &m.commit[..m.commit.len().min(10)],
                if m.resolved_conflict { " (conflict resolved)" } else { "" }
            )
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {agent} | {} | {tokens} | {merge} |",
            task.id,
            task.title.replace('|', "\\|"),
            task.state,
            task.attempts.len(),
            duration(took)
        );
    }
    let problems: Vec<_> = report
        .tasks
        .iter()
        .filter(|t| {
            t.state != "succeeded" && (t.last_error.is_some() || t.blocked_reason.is_some())
        })
        .collect();
    if !problems.is_empty() {
        out.push_str("\n## Problems\n\n");
        for task in problems {
            let why = task.blocked_reason.as_deref().or(task.last_error.as_deref()).unwrap_or("");
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                task.id,
                task.state,
                why.lines().next().unwrap_or("")
            );
        }
    }
    out
}

/// `text` with every line indented by `by`.
fn indent(text: &str, by: &str) -> String {
    text.lines().map(|line| format!("{by}{line}")).collect::<Vec<_>>().join("\n")
}
