//! What a user sees of `orca run` and `orca resume`: on a terminal, one
//! line per running agent and a summary line; off a terminal, nothing but
//! the final summary unless `--progress` asks for a line per event; with
//! `--json`, every event as one JSON line on stdout.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use orca_engine::{RunEvent, TimedEvent, Totals};
use orca_store::StageState;

use crate::output::Output;

/// How events are shown.
pub(crate) enum Display {
    Json(Output),
    Terminal(TerminalDisplay),
    /// A line per event on stderr (`--progress` off a terminal).
    Lines,
    Quiet,
}

impl Display {
    pub(crate) fn new(out: &Output, progress: bool) -> Display {
        if out.is_json() {
            Display::Json(*out)
        } else if std::io::stderr().is_terminal() {
            Display::Terminal(TerminalDisplay::new())
        } else if progress {
            Display::Lines
        } else {
            Display::Quiet
        }
    }

    pub(crate) fn show(&mut self, event: &TimedEvent) {
        match self {
            Display::Json(out) => out.json(event),
            Display::Terminal(display) => display.show(&event.event),
            Display::Lines => {
                if let Some(line) = line_for(&event.event) {
                    eprintln!("{line}");
                }
            }
            Display::Quiet => {}
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Display::Terminal(display) = self {
            display.finish();
        }
    }
}

/// The live view on a terminal.
pub(crate) struct TerminalDisplay {
    bars: MultiProgress,
    summary: ProgressBar,
    tasks: BTreeMap<String, TaskBar>,
}

struct TaskBar {
    bar: ProgressBar,
    title: String,
    tool: String,
    tokens: u64,
}

impl TerminalDisplay {
    fn new() -> Self {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let summary = bars.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{msg}") {
            summary.set_style(style);
        }
        summary.set_message("starting…");
        TerminalDisplay { bars, summary, tasks: BTreeMap::new() }
    }

    fn show(&mut self, event: &RunEvent) {
        match event {
            RunEvent::TaskStarted { task, title, attempt, .. } => {
                let bar = self.bars.insert_before(&self.summary, ProgressBar::new_spinner());
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} {prefix:<8} {elapsed:>4} {wide_msg}")
                {
                    bar.set_style(style);
                }
                bar.set_prefix(task.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                let title = if *attempt > 1 {
                    format!("{title} (attempt {attempt})")
                } else {
                    title.clone()
                };
                let task_bar = TaskBar { bar, title, tool: "starting".into(), tokens: 0 };
                task_bar.redraw();
                self.tasks.insert(task.clone(), task_bar);
            }
            RunEvent::AgentActivity { task, tool, input_tokens, output_tokens } => {
                if let Some(task_bar) = self.tasks.get_mut(task) {
                    if let Some(tool) = tool {
                        task_bar.tool.clone_from(tool);
                    }
                    task_bar.tokens = input_tokens + output_tokens;
                    task_bar.redraw();
                }
            }
            RunEvent::VerifyStarted { task, command, .. } => {
                if let Some(task_bar) = self.tasks.get_mut(task) {
                    task_bar.tool = format!("verify: {command}");
                    task_bar.redraw();
                }
            }
            RunEvent::Progress(totals) => self.summary.set_message(summary_line(totals)),
            other => {
                if let Some(line) = line_for(other) {
                    let _ = self.bars.println(line);
                }
                let ended = match other {
                    RunEvent::Merged { task, .. } | RunEvent::TaskFailed { task, .. } => Some(task),
                    RunEvent::Retrying { task, .. } => Some(task),
                    RunEvent::AgentFinished { task, status, .. } if status == "cancelled" => {
                        Some(task)
                    }
                    _ => None,
                };
                if let Some(task_bar) = ended.and_then(|task| self.tasks.remove(task)) {
                    task_bar.bar.finish_and_clear();
                    self.bars.remove(&task_bar.bar);
                }
            }
        }
    }

    fn finish(&mut self) {
        for (_, task_bar) in std::mem::take(&mut self.tasks) {
            task_bar.bar.finish_and_clear();
        }
        self.summary.finish_and_clear();
        let _ = self.bars.clear();
    }
}

impl TaskBar {
    fn redraw(&self) {
        self.bar.set_message(format!(
            "{} · {} · {} tokens",
            self.title,
            self.tool,
            thousands(self.tokens)
        ));
    }
}

/// The one-line summary: counts, tokens, cost, ETA.
pub(crate) fn summary_line(totals: &Totals) -> String {
    let mut line = format!(
        "{} done · {} running · {} queued · {} failed",
        totals.done, totals.running, totals.queued, totals.failed
    );
    if totals.blocked > 0 {
        line.push_str(&format!(" · {} blocked", totals.blocked));
    }
    line.push_str(&format!(" · {} tokens", thousands(totals.input_tokens + totals.output_tokens)));
    if totals.cost_usd > 0.0 {
        line.push_str(&format!(" · ${:.2}", totals.cost_usd));
    }
    if let Some(eta) = totals.eta_secs {
        line.push_str(&format!(
            " · ETA {}",
            orca_agents::format_duration(Duration::from_secs(eta))
        ));
    }
    line
}

/// A line for events worth a line of their own (terminal and --progress).
fn line_for(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::RunStarted { run, title, resumed, .. } => {
            format!("{} run {run}: \"{title}\"", if *resumed { "resuming" } else { "starting" })
        }
        RunEvent::StageStarted { stage } => format!("▸ {stage}"),
        RunEvent::StageFinished { stage, state, note, duration_ms } => {
            let mark = match state {
                StageState::Passed => "✓",
                StageState::Failed => "✗",
                StageState::Skipped => "-",
                _ => "↺",
            };
            let took = if *duration_ms > 0 {
                format!(" in {}", orca_agents::format_duration(Duration::from_millis(*duration_ms)))
            } else {
                String::new()
            };
            let why = note
                .as_deref()
                .and_then(|note| note.lines().next())
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            format!("{mark} {stage} {state}{took}{why}")
        }
        RunEvent::Analyzed { files, lines, languages } => {
            format!("  {files} files, {lines} lines ({})", languages.join(", "))
        }
        RunEvent::PlanChecked { round, valid, errors, tasks } => {
            if *valid {
                format!("  plan round {round}: valid, {tasks} task(s)")
            } else {
                format!("  plan round {round}: {errors} error(s); sent back to the planner")
            }
        }
        RunEvent::ImplementStarted { tasks, agents, integration_branch, .. } => {
            format!("  {tasks} task(s), up to {agents} agents, into {integration_branch}")
        }
        RunEvent::CheckFinished { passed, summary, .. } => {
            format!("  {} {summary}", if *passed { "✓" } else { "✗" })
        }
        RunEvent::ReportWritten { dir } => format!("  report written to {dir}"),
        RunEvent::TaskStarted { task, attempt, agent, resumed_session, .. } => format!(
            "▶ {task} attempt {attempt} with {agent}{}",
            if *resumed_session { " (resumed session)" } else { "" }
        ),
        RunEvent::SessionRestarted { task, reason, .. } => format!("↻ {task}: {reason}"),
        RunEvent::VerifyFinished { task, passed: false, summary, .. } => {
            format!("✗ {task}: {summary}")
        }
        RunEvent::Conflict { task, files, resolver } => format!(
            "! {task}: merge conflict in {}{}",
            files.join(", "),
            if *resolver { "; a resolver agent takes it" } else { "" }
        ),
        RunEvent::Merged { task, commit, resolved_conflict, .. } => format!(
            "✓ {task} merged ({}){}",
            &commit[..commit.len().min(10)],
            if *resolved_conflict { " after resolving a conflict" } else { "" }
        ),
        RunEvent::Retrying { task, reason, after_ms, .. } => {
            format!("↻ {task} retries in {}s: {reason}", after_ms.div_ceil(1000))
        }
        RunEvent::TaskFailed { task, reason, blocked } => {
            let mut line = format!("✗ {task} failed: {reason}");
            if !blocked.is_empty() {
                line.push_str(&format!(" (blocks {})", blocked.join(", ")));
            }
            line
        }
        RunEvent::OverBudget { task: Some(task), attempt, spent } => format!(
            "$ {task}{} is over its budget ({spent}): stopping it",
            attempt.map(|a| format!(" (attempt {a})")).unwrap_or_default()
        ),
        RunEvent::OverBudget { task: None, spent, .. } => {
            format!("$ the run's budget is spent ({spent})")
        }
        // No end: paused until someone resumes dispatch.
        RunEvent::Paused { reason, until_ms: 0 } => format!("⏸ dispatch paused: {reason}"),
        RunEvent::Paused { reason, until_ms } => {
            let wait = until_ms.saturating_sub(now_ms()) / 1000;
            format!("⏸ dispatch paused for {wait}s: {reason}")
        }
        RunEvent::Unpaused => "▶ dispatch resumed".into(),
        RunEvent::Stopping { reason } => format!("■ {reason}"),
        _ => return None,
    })
}

fn thousands(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 1_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
