//! `report.html`: one self-contained page (inline style and script, no
//! network, works from `file://`), and the pieces the live dashboard
//! shares with it: the task graph and the timeline of attempts, as SVG.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{ReportData, StageReport, TaskReport, Totals};

/// Escapes text for HTML and SVG (element text and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `850ms`, `12s`, `3m05s`, `2h07m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    if secs == 0 {
        format!("{ms}ms")
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs / 60 % 60)
    }
}

/// The CSS class of a task or stage state.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "succeeded" | "passed" => "ok",
        "failed" => "bad",
        "blocked" => "held",
        "leased" | "running" => "busy",
        "skipped" | "cancelled" => "off",
        _ => "wait",
    }
}

/// The page's style: the report's, and the dashboard's base.
pub const STYLE: &str = r#"
:root { --bg:#fbfbfa; --fg:#1f2328; --muted:#6e7781; --line:#d0d7de; --card:#ffffff;
  --ok:#2f9e44; --bad:#d9480f; --held:#e8a317; --busy:#1c7ed6; --wait:#adb5bd; --off:#ced4da; }
@media (prefers-color-scheme: dark) { :root { --bg:#0f1115; --fg:#e6e8eb; --muted:#9aa4af;
  --line:#2c313a; --card:#171a21; --off:#3a3f47; --wait:#5c636e; } }
* { box-sizing: border-box; }
body { margin:0; padding:24px 32px; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:16px; margin:28px 0 10px; }
.muted { color:var(--muted); } code { font:12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-size:12px; vertical-align:middle; }
.badge.ok{background:var(--ok)} .badge.bad{background:var(--bad)} .badge.busy{background:var(--busy)}
.badge.held{background:var(--held)} .badge.wait,.badge.off{background:var(--wait)}
.stages { display:grid; grid-template-columns:repeat(9, 1fr); gap:6px; }
.stage { background:var(--card); border:1px solid var(--line); border-top:4px solid var(--wait); border-radius:6px; padding:8px; min-width:0; }
.stage.ok{border-top-color:var(--ok)} .stage.bad{border-top-color:var(--bad)} .stage.busy{border-top-color:var(--busy)}
.stage.off{border-top-style:dashed; opacity:.75}
.stage b { display:block; text-transform:capitalize; } .stage small { display:block; color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.cards { display:flex; gap:12px; flex-wrap:wrap; margin-top:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:8px 14px; }
.card b { font-size:18px; display:block; }
.scroll { overflow:auto; max-height:70vh; background:var(--card); border:1px solid var(--line); border-radius:6px; }
svg text { font:12px ui-monospace, SFMono-Regular, Menlo, monospace; fill:var(--fg); }
svg .node rect { stroke:var(--line); rx:5; } svg .node.ok rect{fill:var(--ok)} svg .node.bad rect{fill:var(--bad)}
svg .node.held rect{fill:var(--held)} svg .node.busy rect{fill:var(--busy)} svg .node.wait rect{fill:var(--wait)} svg .node.off rect{fill:var(--off)}
svg .node text { fill:#fff; } svg .node { cursor:pointer; }
svg .edge { fill:none; stroke:var(--muted); stroke-opacity:.55; }
svg .bar.ok{fill:var(--ok)} svg .bar.bad{fill:var(--bad)} svg .bar.held{fill:var(--held)} svg .bar.busy{fill:var(--busy)} svg .bar.wait,svg .bar.off{fill:var(--wait)}
svg .bar text { fill:#fff; font-size:11px; } svg .lane { fill:var(--muted); }
table { border-collapse:collapse; width:100%; background:var(--card); border:1px solid var(--line); }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; background:var(--bg); position:sticky; top:0; }
tr.hit td { background:rgba(28,126,214,.12); }
input[type=search] { padding:5px 8px; border:1px solid var(--line); border-radius:5px; background:var(--card); color:var(--fg); width:260px; margin-bottom:8px; }
.legend span { margin-right:12px; } .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
"#;

const SCRIPT: &str = r#"
(function () {
  var filter = document.getElementById('filter');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#tasks tbody tr'));
  if (filter) {
    filter.addEventListener('input', function () {
      var q = filter.value.toLowerCase();
      rows.forEach(function (row) { row.style.display = row.textContent.toLowerCase().indexOf(q) < 0 ? 'none' : ''; });
    });
  }
  document.querySelectorAll('[data-task]').forEach(function (el) {
    el.addEventListener('click', function () {
      var row = document.getElementById('task-' + el.getAttribute('data-task'));
      if (!row) { return; }
      rows.forEach(function (r) { r.classList.remove('hit'); });
      row.classList.add('hit');
      row.scrollIntoView({ block: 'center' });
    });
  });
})();
"#;

/// The run's totals as cards (tasks by state, attempts, times, tokens,
/// cost, usage by agent): the report's and the live dashboard's.
pub fn totals_cards(totals: &Totals) -> String {
    let mut out = String::new();
    let mut card = |value: String, label: &str| {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b><span class=\"muted\">{}</span></div>",
            escape(&value),
            escape(label)
        );
    };
    card(totals.tasks.to_string(), "tasks");
    for (state, n) in &totals.by_state {
        card(n.to_string(), state);
    }
    card(totals.attempts.to_string(), "attempts");
    card(duration(totals.wall_ms), "wall time");
    card(duration(totals.agent_ms), "agent time");
    card(format!("{}", totals.input_tokens + totals.output_tokens), "tokens");
    if totals.cost_usd > 0.0 {
        card(format!("${:.2}", totals.cost_usd), "cost");
    }
    for (agent, usage) in totals.by_agent.iter().filter(|(_, usage)| !usage.is_empty()) {
        card(usage.describe(), agent);
    }
    out
}

/// The whole report as one HTML page.
pub fn render_html(report: &ReportData) -> String {
    let run = &report.run;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>orca run {} — {}</title><style>{STYLE}</style></head><body>\n",
        escape(&run.id),
        escape(&run.title)
    );
    let _ = write!(
        out,
        "<h1>{} <span class=\"badge {}\">{}</span></h1>\n<div class=\"muted\">run <code>{}</code> · result on <code>{}</code>{}</div>\n",
        escape(&run.title),
        state_class(&run.state),
        escape(&run.state),
        escape(&run.id),
        escape(&run.integration_branch),
        run.base
            .as_ref()
            .map(|b| format!(" · from <code>{}</code>", escape(&b[..b.len().min(12)])))
            .unwrap_or_default()
    );
    if let Some(goal) = &run.goal {
        let _ = writeln!(out, "<p>{}</p>", escape(goal));
    }

    out.push_str("<h2>Stages</h2>\n");
    out.push_str(&stages_html(&report.stages));
    out.push('\n');

    out.push_str("<div class=\"cards\">");
    out.push_str(&totals_cards(&report.totals));
    out.push_str("</div>\n");

    out.push_str("<h2>Task graph</h2>\n<div class=\"legend muted\"><span><i style=\"background:var(--ok)\"></i>merged</span><span><i style=\"background:var(--busy)\"></i>running</span><span><i style=\"background:var(--wait)\"></i>waiting</span><span><i style=\"background:var(--bad)\"></i>failed</span><span><i style=\"background:var(--held)\"></i>blocked</span></div>\n<div class=\"scroll\" id=\"graph\">");
    out.push_str(&graph_svg(&report.tasks));
    out.push_str("</div>\n<h2>Timeline</h2>\n<div class=\"scroll\" id=\"timeline\">");
    out.push_str(&timeline_svg(&report.tasks));
    out.push_str("</div>\n");

    let gates: Vec<_> = report.gates.iter().filter(|g| g.state != "pending").collect();
    if !gates.is_empty() {
        out.push_str("<h2>Gates</h2>\n<table id=\"gates\"><thead><tr><th>gate</th><th>state</th><th>fix rounds</th><th>failing, each check</th><th>fix tasks</th><th>note</th><th>files</th></tr></thead><tbody>");
        for gate in gates {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&gate.gate),
                state_class(&gate.state),
                escape(&gate.state),
                gate.rounds,
                escape(&crate::before_after(&gate.checks)),
                escape(&gate.fix_tasks.join(", ")),
                escape(gate.note.as_deref().unwrap_or("")),
                escape(&gate.files.join(", "))
            );
        }
        out.push_str("</tbody></table>\n");
    }

    if !report.validation.is_empty() {
        out.push_str("<h2>Validation</h2>\n<table id=\"validation\"><thead><tr><th>command</th><th>result</th><th>took</th><th>what happened</th></tr></thead><tbody>");
        for check in &report.validation {
            let state = if check.passed { "succeeded" } else { "failed" };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}",
                escape(&check.command),
                state_class(state),
                if check.passed { "passed" } else { "failed" },
                duration(i64::try_from(check.duration_ms).unwrap_or(i64::MAX)),
                escape(&check.summary)
            );
            if !check.passed && !check.tail.is_empty() {
                let _ = write!(out, "<pre>{}</pre>", escape(&check.tail));
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2>Tasks</h2>\n<input type=\"search\" id=\"filter\" placeholder=\"filter tasks\">\n<table id=\"tasks\"><thead><tr><th>task</th><th>title</th><th>state</th><th>attempts</th><th>agent</th><th>took</th><th>tokens</th><th>verify</th><th>merge</th></tr></thead><tbody>\n");
    for task in &report.tasks {
        let took: i64 = task.attempts.iter().filter_map(|a| a.duration_ms).sum();
        let tokens: u64 = task.attempts.iter().map(|a| a.input_tokens + a.output_tokens).sum();
        let agent = task
            .attempts
            .last()
            .and_then(|a| a.agent.clone())
            .or_else(|| task.agent.clone())
            .unwrap_or_default();
        let verify = match task.attempts.last().and_then(|a| a.verify_passed) {
            Some(true) => "passed".to_owned(),
            Some(false) => "failed".to_owned(),
            None => task.verify.as_deref().map_or("-".to_owned(), |_| "not run".to_owned()),
        };
        let merge = task.merge.as_ref().map_or(String::new(), |m| {
            format!(
                "<code>{}</code>{}",
                escape(&m.commit[..m.commit.len().min(10)]),
                if m.resolved_conflict { " (conflict resolved)" } else { "" }
            )
        });
        let problem = task
            .blocked_reason
            .as_deref()
            .or(task.last_error.as_deref())
            .filter(|_| task.state != "succeeded");
        let _ = writeln!(
            out,
            "<tr id=\"task-{}\"><td><code>{}</code></td><td>{}{}</td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&task.id),
            escape(&task.id),
            escape(&task.title),
            problem
                .map(|p| format!(
                    "<br><small class=\"muted\">{}</small>",
                    escape(p.lines().next().unwrap_or(""))
                ))
                .unwrap_or_default(),
            state_class(&task.state),
            escape(&task.state),
            task.attempts.len(),
            escape(&agent),
            duration(took),
            tokens,
            escape(&verify),
            merge
        );
    }
    out.push_str("</tbody></table>\n");
    let _ = write!(
        out,
        "<p class=\"muted\">made by orca · report.json holds everything above</p>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    out
}

/// The stage bar: the nine stages in a row, each with its state, how long
/// it took, its fix rounds and the first line of its note.
pub fn stages_html(stages: &[StageReport]) -> String {
    let mut out = String::from("<div class=\"stages\" id=\"stages\">");
    for stage in stages {
        let mut detail = stage.state.clone();
        if let Some(took) = stage.duration_ms {
            let _ = write!(detail, " in {}", duration(took));
        }
        if stage.rounds > 0 {
            let _ = write!(detail, " · {} fix round(s)", stage.rounds);
        }
        let note = stage.note.as_deref().unwrap_or("");
        let _ = write!(
            out,
            "<div class=\"stage {}\" data-stage=\"{}\" title=\"{}\"><b>{}</b><small>{}</small><small>{}</small></div>",
            state_class(&stage.state),
            escape(&stage.stage),
            escape(note),
            escape(&stage.stage),
            escape(&detail),
            escape(note.lines().next().unwrap_or("\u{a0}"))
        );
    }
    out.push_str("</div>");
    out
}

const NODE_W: f64 = 132.0;
const NODE_H: f64 = 26.0;
const COL_W: f64 = 176.0;
const ROW_H: f64 = 36.0;
const MARGIN: f64 = 16.0;

/// Each task's layer (its longest chain of dependencies) and its place in
/// the layer, ordered to cross fewer edges (barycenters, a few sweeps).
fn layout(tasks: &[TaskReport]) -> (Vec<usize>, Vec<usize>, Vec<Vec<usize>>) {
    let index: HashMap<&str, usize> =
        tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> = tasks
        .iter()
        .map(|t| t.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect())
        .collect();
    let mut layer = vec![usize::MAX; tasks.len()];
    fn depth(i: usize, deps: &[Vec<usize>], layer: &mut [usize], guard: usize) -> usize {
        if layer[i] != usize::MAX {
            return layer[i];
        }
        if guard > deps.len() {
            return 0; // a cycle: plans have none, but a report never hangs on one
        }
        let d =
            deps[i].iter().map(|&dep| depth(dep, deps, layer, guard + 1) + 1).max().unwrap_or(0);
        layer[i] = d;
        d
    }
    for i in 0..tasks.len() {
        depth(i, &deps, &mut layer, 0);
    }
    let layers = layer.iter().copied().max().map_or(0, |max| max + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, &l) in layer.iter().enumerate() {
        members[l].push(i);
    }
    let mut position = vec![0usize; tasks.len()];
    let place = |members: &Vec<Vec<usize>>, position: &mut Vec<usize>| {
        for layer in members {
            for (p, &i) in layer.iter().enumerate() {
                position[i] = p;
            }
        }
    };
    place(&members, &mut position);
    for _ in 0..4 {
        for l in 1..layers {
            let mut keyed: Vec<(f64, usize)> = members[l]
                .iter()
                .map(|&i| {
                    let above: Vec<f64> = deps[i]
                        .iter()
                        .filter(|&&d| layer[d] + 1 == l)
                        .map(|&d| position[d] as f64)
                        .collect();
                    let key = if above.is_empty() {
                        position[i] as f64
                    } else {
                        above.iter().sum::<f64>() / above.len() as f64
                    };
                    (key, i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            members[l] = keyed.into_iter().map(|(_, i)| i).collect();
            place(&members, &mut position);
        }
    }
    (layer, position, members)
}

/// The task graph: a column per layer, a box per task coloured by its
/// state, an edge from each dependency. Wide and tall plans scroll.
pub fn graph_svg(tasks: &[TaskReport]) -> String {
    let (layer, position, members) = layout(tasks);
    let rows = members.iter().map(Vec::len).max().unwrap_or(0);
    let width = MARGIN * 2.0 + members.len() as f64 * COL_W;
    let height = MARGIN * 2.0 + rows as f64 * ROW_H;
    let at = |i: usize| (MARGIN + layer[i] as f64 * COL_W, MARGIN + position[i] as f64 * ROW_H);
    let index: HashMap<&str, usize> =
        tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let mut out = format!(
        "<svg class=\"graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"task graph\">"
    );
    for (i, task) in tasks.iter().enumerate() {
        for dep in &task.deps {
            let Some(&d) = index.get(dep.as_str()) else { continue };
            let ((x1, y1), (x2, y2)) = (at(d), at(i));
            let (sx, sy, ex, ey) = (x1 + NODE_W, y1 + NODE_H / 2.0, x2, y2 + NODE_H / 2.0);
            let mid = (sx + ex) / 2.0;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{sx:.1},{sy:.1} C{mid:.1},{sy:.1} {mid:.1},{ey:.1} {ex:.1},{ey:.1}\"/>"
            );
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        let (x, y) = at(i);
        let label: String = if task.id.chars().count() > 16 {
            format!("{}…", task.id.chars().take(15).collect::<String>())
        } else {
            task.id.clone()
        };
        let _ = write!(
            out,
            "<g class=\"node {}\" data-task=\"{}\" id=\"node-{}\"><title>{} — {} ({})</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{NODE_W}\" height=\"{NODE_H}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            state_class(&task.state),
            escape(&task.id),
            escape(&task.id),
            escape(&task.id),
            escape(&task.title),
            escape(&task.state),
            x + 8.0,
            y + 17.0,
            escape(&label)
        );
    }
    out.push_str("</svg>");
    out
}

/// Every attempt on a time axis, one lane per agent slot: attempts that
/// do not overlap in time share a lane.
pub fn timeline_svg(tasks: &[TaskReport]) -> String {
    let mut bars: Vec<(i64, i64, &TaskReport, &crate::model::AttemptReport)> = tasks
        .iter()
        .flat_map(|t| {
            t.attempts.iter().map(move |a| (a.started_ms, a.ended_ms.unwrap_or(a.started_ms), t, a))
        })
        .collect();
    if bars.is_empty() {
        return "<p class=\"muted\" style=\"padding:8px\">no attempts yet</p>".to_owned();
    }
    bars.sort_by_key(|(start, end, t, a)| (*start, *end, t.id.clone(), a.attempt));
    let mut lanes: Vec<i64> = Vec::new();
    let mut lane_of = Vec::with_capacity(bars.len());
    for (start, end, _, _) in &bars {
        match lanes.iter().position(|free| free <= start) {
            Some(lane) => {
                lanes[lane] = *end;
                lane_of.push(lane);
            }
            None => {
                lanes.push(*end);
                lane_of.push(lanes.len() - 1);
            }
        }
    }
    let first = bars.iter().map(|b| b.0).min().unwrap_or(0);
    let last = bars.iter().map(|b| b.1).max().unwrap_or(first).max(first + 1);
    let (label_w, plot_w, lane_h) = (70.0, 960.0, 24.0);
    let scale = plot_w / (last - first) as f64;
    let height = MARGIN * 2.0 + lanes.len() as f64 * lane_h + 18.0;
    let width = label_w + plot_w + MARGIN * 2.0;
    let mut out = format!(
        "<svg class=\"timeline\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"timeline of attempts\">"
    );
    for lane in 0..lanes.len() {
        let _ = write!(
            out,
            "<text class=\"lane\" x=\"{MARGIN}\" y=\"{:.1}\">slot {}</text>",
            MARGIN + lane as f64 * lane_h + 16.0,
            lane + 1
        );
    }
    let _ = write!(
        out,
        "<text class=\"lane\" x=\"{:.1}\" y=\"{:.1}\">0</text><text class=\"lane\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        MARGIN + label_w,
        height - 6.0,
        MARGIN + label_w + plot_w,
        height - 6.0,
        duration(last - first)
    );
    for ((start, end, task, attempt), lane) in bars.iter().zip(lane_of) {
        let x = MARGIN + label_w + (start - first) as f64 * scale;
        let w = ((end - start) as f64 * scale).max(3.0);
        let y = MARGIN + lane as f64 * lane_h;
        let class = match attempt.outcome.as_str() {
            "succeeded" => "ok",
            "running" => "busy",
            "failed" | "retry" => "bad",
            "blocked" => "held",
            _ => "wait",
        };
        let text = if w > 44.0 {
            format!("<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x + 4.0, y + 15.0, escape(&task.id))
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<g class=\"bar {class}\" data-task=\"{}\"><title>{} attempt {} ({}) {}: {}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\"/>{text}</g>",
            escape(&task.id),
            escape(&task.id),
            attempt.attempt,
            escape(attempt.agent.as_deref().unwrap_or("agent")),
            duration(end - start),
            escape(&attempt.outcome),
            lane_h - 6.0
        );
    }
    out.push_str("</svg>");
    out
}
