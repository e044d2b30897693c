//! spec-kit `tasks.md` into an orca plan.
//!
//! Mapping (also in docs/plan-format.md):
//! - Task lines are checklist items whose first word is an ID:
//!   `- [ ] T012 [P] [US1] Create the model in src/models/user.py` (an ID is
//!   `T`, digits and optionally more characters, like `T049a`; also bold or
//!   in backticks; markers may come before the box: `- [P] [ ] T004`), with
//!   indented lines below continuing the text. Other lines are context and
//!   are not imported, except as noted here; checklist items without an ID
//!   inside a phase are listed by line.
//! - The title is the first `# ` heading (a leading `Tasks:` is dropped).
//! - Every `## ` heading that has task lines under it becomes a phase, in
//!   file order, and so does a `### ` heading that starts with `Phase` or
//!   comes before any `## ` one; other `### ` headings group tasks inside a
//!   phase. A heading that does not start with `Phase` is prefixed
//!   `Phase <n>: `. `(Priority: P1)` in the heading sets the priority of
//!   its tasks: P1 high, P2 medium, P3 and later low. `**Goal**:` lines
//!   become the phase description and are repeated in its tasks.
//! - Order: within a phase, a task without `[P]` follows the task without
//!   `[P]` before it and the `[P]` tasks since; a `[P]` task waits only for
//!   what its phase waits for. A phase waits for the end of the one before,
//!   except that user-story phases wait for the last phase before the
//!   stories, and the phase after the stories for all of them. A
//!   parenthesized `(depends on T001, T004)` adds dependencies; no other
//!   prose is read.
//! - Files: words in the task text that contain `/` and end in a file
//!   name with an extension (`src/a.py`) or in `/` (a directory), and
//!   code spans (`` `.gitignore` ``) that look like a path, when they are
//!   repository-relative.
//! - `[x]` tasks get `status: done`, or are left out with `drop_done`
//!   (dependencies on them are then satisfied and removed).
//! - Markers (`[P]`, `[US1]`), the user story and the full task text are
//!   kept in the description. spec-kit has no roles, verify commands or
//!   acceptance items per task.

use std::collections::{HashMap, HashSet};

use super::{
    ImportError, ImportOptions, Imported, join_blocks, markdown_block, one_line, phase_title,
    shorten,
};
use crate::id::TaskId;
use crate::model::{FilePattern, Plan, Priority, Status, Task};
use crate::parse::{closes_fence, fence_open};

struct Item {
    id: String,
    done: bool,
    parallel: bool,
    markers: Vec<String>,
    text: String,
    phase: Option<usize>,
    /// The `###` sub-heading the task is under, inside its phase.
    group: Option<String>,
    priority: Priority,
}

struct Section {
    title: String,
    priority: Priority,
    /// `**Goal**: ...` under the heading.
    goal: String,
    used: Option<usize>,
}

/// A checklist line, `- [ ] ...`, `- [x] ...`, also with markers before
/// the box (`- [P] [ ] ...`): (done, markers before the box, rest).
fn checkbox(line: &str) -> Option<(bool, Vec<String>, &str)> {
    let trimmed = line.trim_start();
    let mut rest = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* "))?.trim_start();
    let mut markers = Vec::new();
    loop {
        let inner = rest.strip_prefix('[')?;
        match inner.as_bytes().first()? {
            b' ' | b'x' | b'X' if inner.as_bytes().get(1) == Some(&b']') => {
                let done = inner.as_bytes()[0] != b' ';
                return Some((done, markers, inner[2..].trim_start()));
            }
            _ => {
                let close = inner.find(']')?;
                let marker = &inner[..close];
                if marker.is_empty() || marker.len() > 16 || marker.contains(char::is_whitespace) {
                    return None;
                }
                markers.push(marker.to_owned());
                rest = inner[close + 1..].trim_start();
            }
        }
    }
}

/// A spec-kit task ID: `T`, a digit, then more ID characters (`T001`,
/// `T049a`); also in bold (`**T001**`) or code (`` `T001` ``).
fn task_id(word: &str) -> Option<&str> {
    let word = word.trim_end_matches([':', '.', ',']);
    let word = word.trim_matches(['*', '`', '_']).trim_end_matches([':', '.', ',']);
    let digit = word.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
    (word.starts_with('T') && digit && TaskId::parse(word).is_ok()).then_some(word)
}

fn phase_priority(heading: &str) -> Priority {
    let Some(at) = heading.find("Priority: P") else { return Priority::default() };
    let digits: String =
        heading[at + "Priority: P".len()..].chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<u32>() {
        Ok(1) => Priority::HIGH,
        Ok(2) => Priority::MEDIUM,
        Ok(_) => Priority::LOW,
        Err(_) => Priority::default(),
    }
}

/// The IDs in `(depends on T001, T004)` parentheticals.
fn explicit_deps(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("(depends on ") {
        let start = from + at + "(depends on ".len();
        let Some(len) = text[start..].find(')') else { break };
        let inner = &text[start..start + len];
        let words: Vec<&str> = inner
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty() && *w != "and")
            .collect();
        if !words.is_empty() && words.iter().all(|w| task_id(w).is_some()) {
            out.extend(words.iter().filter_map(|w| task_id(w)).map(str::to_owned));
        }
        from = start + len;
    }
    out
}

/// Repository-relative paths mentioned in a task's text.
pub(crate) fn paths(text: &str) -> Vec<FilePattern> {
    let mut found: Vec<FilePattern> = Vec::new();
    let mut consider = |candidate: &str, quoted: bool| {
        let candidate = candidate.trim();
        // A comma or backtick would change how the written `files` line
        // reads back.
        if candidate.is_empty()
            || candidate.contains(char::is_whitespace)
            || candidate.contains([',', '`'])
            || candidate.contains(char::is_control)
            || candidate == "none"
            || candidate.contains("://")
        {
            return;
        }
        let last = candidate.trim_end_matches('/').rsplit('/').next().unwrap_or(candidate);
        let is_dir = candidate.ends_with('/') && candidate.len() > 1;
        let has_extension = last.rsplit_once('.').is_some_and(|(name, ext)| {
            (!name.is_empty() || last.starts_with('.'))
                && (1..=10).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && ext.bytes().any(|b| b.is_ascii_lowercase())
        });
        let looks_like_path =
            (candidate.contains('/') && (has_extension || is_dir)) || (quoted && has_extension);
        if !looks_like_path {
            return;
        }
        if let Ok(pattern) = FilePattern::parse(candidate)
            && !found.contains(&pattern)
        {
            found.push(pattern);
        }
    };
    let mut rest = text;
    let mut prose = String::new();
    // Code spans first; what is outside them is split into words.
    while let Some(open) = rest.find('`') {
        prose.push_str(&rest[..open]);
        prose.push(' ');
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) => {
                consider(&after[..close], true);
                rest = &after[close + 1..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    prose.push_str(rest);
    for word in prose.split_whitespace() {
        let word = word
            .trim_start_matches(['(', '[', '"', '\''])
            .trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?', '"', '\'']);
        consider(word, false);
    }
    found
}

/// Imports a spec-kit `tasks.md`. See the module docs for the mapping.
pub fn from_spec_kit(text: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    let mut title = None;
    let mut sections: Vec<Section> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut phases: Vec<(String, String)> = Vec::new();
    let mut group: Option<String> = None;
    let mut unread: Vec<usize> = Vec::new();
    // The indent of the current task line, while its text may continue.
    let mut continuing: Option<usize> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if let Some((marker, len)) = fence {
            if closes_fence(line, marker, len) {
                fence = None;
            }
            continuing = None;
            continue;
        }
        // Lines indented under a task line continue its text, code fences
        // included (Markdown ends such a fence with the list item); blank
        // lines do not end the item.
        if continuing.is_some() && line.trim().is_empty() {
            continue;
        }
        if let (Some(indent), Some(item)) = (continuing, items.last_mut())
            && !line.trim().is_empty()
            && line.len() - line.trim_start().len() > indent
        {
            item.text.push('\n');
            item.text.push_str(line.trim());
            continue;
        }
        if let Some(open) = fence_open(line) {
            fence = Some(open);
            continuing = None;
            continue;
        }
        if let Some(heading) = line.strip_prefix("# ") {
            title.get_or_insert_with(|| {
                let heading = heading.trim();
                heading.strip_prefix("Tasks:").unwrap_or(heading).trim().to_owned()
            });
            continuing = None;
            continue;
        }
        // `##` headings are phases; so are `###` headings that say
        // `Phase` (some files put phases at level 3) or that come before
        // any `##` phase. Other `###` headings group tasks in a phase.
        let h2 = line.strip_prefix("## ");
        let h3 = line.strip_prefix("### ");
        let h3_phase =
            h3.is_some_and(|h| h.trim_start().starts_with("Phase") || sections.is_empty());
        if let Some(heading) = h2.or(h3.filter(|_| h3_phase)) {
            sections.push(Section {
                title: heading.trim().to_owned(),
                priority: phase_priority(heading),
                goal: String::new(),
                used: None,
            });
            group = None;
            continuing = None;
            continue;
        }
        if let Some(heading) = h3 {
            group = Some(one_line(heading));
            continuing = None;
            continue;
        }
        if let Some(goal) = goal_line(line)
            && let Some(section) = sections.last_mut()
            && section.goal.is_empty()
        {
            section.goal = goal;
            continuing = None;
            continue;
        }
        if let Some((done, mut markers, rest)) = checkbox(line) {
            let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let Some(id) = task_id(first) else {
                // A checklist item without an ID: not a task; listed.
                if sections.last().is_some_and(|s| s.used.is_some()) {
                    unread.push(number + 1);
                }
                continuing = None;
                continue;
            };
            let mut after = after.trim_start();
            while let Some(inner) = after.strip_prefix('[') {
                let Some(close) = inner.find(']') else { break };
                let marker = &inner[..close];
                if marker.is_empty() || marker.len() > 16 || marker.contains(char::is_whitespace) {
                    break;
                }
                markers.push(marker.to_owned());
                after = inner[close + 1..].trim_start();
            }
            let phase = sections.last_mut().map(|section| {
                *section.used.get_or_insert_with(|| {
                    phases.push((
                        phase_title(phases.len() + 1, &section.title),
                        section.goal.clone(),
                    ));
                    phases.len() - 1
                })
            });
            items.push(Item {
                id: id.to_owned(),
                done,
                parallel: markers.iter().any(|m| m == "P"),
                markers,
                text: after.trim_start_matches([':', '-', ' ']).to_owned(),
                phase,
                group: group.clone(),
                priority: sections.last().map_or(Priority::default(), |s| s.priority),
            });
            continuing = Some(line.len() - line.trim_start().len());
            continue;
        }
        match (continuing, items.last_mut()) {
            (Some(indent), Some(item))
                if !line.trim().is_empty() && line.len() - line.trim_start().len() > indent =>
            {
                item.text.push('\n');
                item.text.push_str(line.trim());
            }
            _ => continuing = None,
        }
    }
    if items.is_empty() {
        return Err(ImportError::NoTasks(
            "no spec-kit task lines found (expected lines like `- [ ] T001 [P] Create src/models/user.py`)".to_owned(),
        ));
    }
    let mut imported = build(items, phases, title, options)?;
    if !unread.is_empty() {
        let lines: Vec<String> = unread.iter().map(ToString::to_string).collect();
        imported.notes.push(format!(
            "checklist items without a task ID were not imported (line{} {})",
            if lines.len() == 1 { "" } else { "s" },
            lines.join(", ")
        ));
    }
    Ok(imported)
}

/// `**Goal**: ...` or `Goal: ...`: a phase's goal.
fn goal_line(line: &str) -> Option<String> {
    let line = line.trim();
    let rest = line
        .strip_prefix("**Goal**:")
        .or_else(|| line.strip_prefix("**Goal:**"))
        .or_else(|| line.strip_prefix("Goal:"))?;
    let goal = one_line(rest);
    (!goal.is_empty()).then_some(goal)
}

/// Whether `line` is a spec-kit task line (a checklist item whose first
/// word is a `T<digit>...` ID).
pub(crate) fn is_task_line(line: &str) -> bool {
    checkbox(line.trim_end()).is_some_and(|(_, _, rest)| {
        task_id(rest.split_once(char::is_whitespace).map_or(rest, |(first, _)| first)).is_some()
    })
}

/// Whether a phase holds one user story's tasks: its heading names a
/// user story, or every task carries a `[US<n>]` label.
fn is_story(title: &str, items: &[&Item]) -> bool {
    title.to_ascii_lowercase().contains("user story")
        || (!items.is_empty()
            && items.iter().all(|i| i.markers.iter().any(|m| story_label(m).is_some())))
}

/// `US1`, `US12`: a user-story label.
fn story_label(marker: &str) -> Option<&str> {
    let digits = marker.strip_prefix("US")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(marker)
}

fn build(
    items: Vec<Item>,
    phases: Vec<(String, String)>,
    title: Option<String>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let ids: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let done_ids: HashSet<&str> = items.iter().filter(|i| i.done).map(|i| i.id.as_str()).collect();
    let story_phase: Vec<bool> = (0..phases.len())
        .map(|p| {
            let in_phase: Vec<&Item> = items.iter().filter(|i| i.phase == Some(p)).collect();
            is_story(&phases[p].0, &in_phase)
        })
        .collect();

    // Dependencies from order, phase by phase. Within a phase, tasks
    // without [P] run in file order; a [P] task waits only for what the
    // phase waits for, and the next task without [P] waits for it. A phase
    // waits for the end of the one before, except that user-story phases
    // each wait for the last phase before the stories (foundational), and
    // the phase after the stories waits for all of them.
    let mut order_deps: Vec<Vec<String>> = Vec::with_capacity(items.len());
    let mut base: Vec<String> = Vec::new(); // end of the last non-story phase
    let mut stories: Vec<String> = Vec::new(); // ends of story phases since then
    let mut gate: Vec<String> = Vec::new(); // what the current phase waits for
    let mut last: Vec<String> = Vec::new(); // the last task without [P], or the gate
    let mut run: Vec<String> = Vec::new(); // [P] tasks since `last`
    let mut phase: Option<Option<usize>> = None;
    for item in &items {
        if phase != Some(item.phase) {
            if let Some(previous) = phase {
                let mut end = std::mem::take(&mut last);
                end.append(&mut run);
                if previous.is_some_and(|p| story_phase[p]) {
                    stories.extend(end);
                } else {
                    base = end;
                    stories.clear();
                }
            }
            let story = item.phase.is_some_and(|p| story_phase[p]);
            gate = if story || stories.is_empty() { base.clone() } else { stories.clone() };
            last = gate.clone();
            phase = Some(item.phase);
        }
        if item.parallel {
            order_deps.push(gate.clone());
            run.push(item.id.clone());
        } else {
            // Every [P] task waits for the gate already: after a run that
            // started at the gate, the run is enough.
            let mut deps = if !run.is_empty() && last == gate { Vec::new() } else { last.clone() };
            deps.append(&mut run);
            order_deps.push(deps);
            last = vec![item.id.clone()];
        }
    }

    let goals: Vec<String> = phases.iter().map(|(_, goal)| goal.clone()).collect();
    let mut plan = Plan {
        title: options
            .title
            .clone()
            .or(title)
            .map(|t| one_line(&t))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Imported spec-kit tasks".to_owned()),
        phases: phases
            .into_iter()
            .map(|(title, goal)| crate::model::Phase {
                title,
                description: if goal.is_empty() {
                    String::new()
                } else {
                    markdown_block(&format!("Goal: {goal}"))
                },
                ..Default::default()
            })
            .collect(),
        ..Plan::default()
    };
    let mut done = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for (item, deps) in items.iter().zip(order_deps) {
        if options.drop_done && item.done {
            continue;
        }
        let Ok(id) = TaskId::parse(&item.id) else { continue };
        *seen_ids.entry(item.id.clone()).or_default() += 1;
        let one = one_line(&item.text);
        let title = if one.is_empty() { format!("Task {}", item.id) } else { shorten(&one, 120) };
        // The full text goes into the description only when the title does
        // not already say it all.
        let full_text = if title == item.text { "" } else { item.text.as_str() };
        let mut task = Task::new(id.clone(), title, options.role.clone());
        task.phase = item.phase;
        task.priority = item.priority;
        let mut all_deps: Vec<String> = deps;
        for explicit in explicit_deps(&item.text) {
            if explicit == item.id {
                continue;
            }
            if !ids.contains(explicit.as_str()) {
                notes.push(format!(
                    "`{}` says it depends on `{explicit}`, which is not in the file (ignored)",
                    item.id
                ));
                continue;
            }
            all_deps.push(explicit);
        }
        let mut unique = HashSet::new();
        task.deps = all_deps
            .into_iter()
            .filter(|d| !(options.drop_done && done_ids.contains(d.as_str())))
            .filter(|d| *d != item.id && unique.insert(d.clone()))
            .filter_map(|d| TaskId::parse(&d).ok())
            .collect();
        let files = paths(&item.text);
        if !files.is_empty() {
            task.files = Some(files);
        }
        let markers: Vec<String> = item.markers.iter().map(|m| format!("[{m}]")).collect();
        let marker_note = if markers.is_empty() {
            String::new()
        } else {
            format!("spec-kit markers: {}", markers.join(" "))
        };
        let stories: Vec<&str> = item.markers.iter().filter_map(|m| story_label(m)).collect();
        let story = if stories.is_empty() {
            String::new()
        } else {
            format!("User story: {}.", stories.join(", "))
        };
        let goal = item
            .phase
            .map(|p| goals[p].as_str())
            .filter(|g| !g.is_empty())
            .map_or_else(String::new, |g| format!("Phase goal: {g}"));
        let group = item.group.as_ref().map_or_else(String::new, |g| format!("Section: {g}."));
        task.description = join_blocks([
            full_text,
            story.as_str(),
            goal.as_str(),
            group.as_str(),
            marker_note.as_str(),
        ]);
        if item.done {
            task.status = Status::Done;
            done.push(id);
        }
        plan.tasks.push(task);
    }
    for (id, count) in seen_ids {
        if count > 1 {
            notes.push(format!(
                "`{id}` appears {count} times in the file; `orca plan check` reports the duplicates"
            ));
        }
    }
    super::roles::infer_roles(&mut plan, options, &mut notes);
    notes.sort();
    if plan.tasks.is_empty() {
        return Err(ImportError::AllDone);
    }
    Ok(Imported { plan, done, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(imported: &Imported) -> Vec<(String, Vec<String>)> {
        imported
            .plan
            .tasks
            .iter()
            .map(|t| (t.id.to_string(), t.deps.iter().map(ToString::to_string).collect()))
            .collect()
    }

    #[test]
    fn order_and_parallel_runs_become_dependencies() {
        let text = "# Tasks: Demo\n\n## Phase 1: Setup\n- [ ] T001 Create src/a.py\n- [ ] T002 [P] Create src/b.py\n- [ ] T003 [P] Create src/c.py\n- [ ] T004 Wire `src/main.py` (depends on T001)\n\n## Phase 2: Story (Priority: P1)\n- [x] T005 [P] [US1] Do `docs/x.md`\n- [ ] T006 [P] [US1] Do docs/\n";
        let imported = from_spec_kit(text, &ImportOptions::default()).unwrap();
        assert_eq!(imported.plan.title, "Demo");
        let expect = |pairs: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), b.iter().map(|s| (*s).to_owned()).collect()))
                .collect()
        };
        assert_eq!(
            deps(&imported),
            expect(&[
                ("T001", &[]),
                ("T002", &[]),
                ("T003", &[]),
                ("T004", &["T001", "T002", "T003"]),
                ("T005", &["T004"]),
                ("T006", &["T004"]),
            ])
        );
        let files = |i: usize| {
            imported.plan.tasks[i].files.iter().flatten().map(|f| f.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(files(3), ["src/main.py"]);
        assert_eq!(files(5), ["docs"]);
        assert_eq!(imported.plan.tasks[4].priority, Priority::HIGH);
        assert_eq!(imported.done.len(), 1);
        assert_eq!(imported.plan.phases.len(), 2);
    }

    #[test]
    fn path_detection_skips_prose_and_absolute_paths() {
        let found: Vec<String> =
            paths("Use and/or `npm run x` on /etc/hosts, `@scope/pkg/server`, `.gitignore`, e.g. api/v1.2 or src/x.ts.")
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(found, [".gitignore", "src/x.ts"]);
        assert!(paths("edit `a,b/c.rs` and x/none").iter().all(|p| !p.as_str().contains(',')));
    }
}
