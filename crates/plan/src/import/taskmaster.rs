//! Task Master `tasks.json` into an orca plan.
//!
//! Mapping (also in docs/plan-format.md):
//! - The file is either tagged (`{"master": {"tasks": [...]}}`) or legacy
//!   (`{"tasks": [...]}`); one tag is imported: the one asked for, else
//!   `master`, else the only one. The other tags are named in a note.
//! - IDs: a numeric ID `12` becomes `T12`; a string ID is kept when it is a
//!   valid orca ID (else its invalid characters become `-`); a subtask
//!   becomes `<parent>.<sub>`, e.g. `T12.3`.
//! - A task with subtasks is replaced by its subtasks (recursively), which
//!   carry the parent's text, test strategy, estimate and status in their
//!   descriptions. Only the first subtasks (those depending on no sibling)
//!   inherit the parent's dependencies, and a dependency on the parent
//!   becomes one on the subtasks that finish it (those no sibling depends
//!   on): the source's edges, not a product of two subtask lists.
//! - Dependencies: `"12.3"` names subtask 3 of task 12; inside a subtask, a
//!   bare `3` names sibling subtask 3 when there is one, else top-level
//!   task 3 (Task Master writes sibling references as bare numbers). A
//!   dependency on one's own parent is dropped. Missing targets are kept,
//!   so `orca plan check` reports them at their line.
//! - Status: `done`/`completed` tasks get `status: done` (or are left out
//!   with `drop_done`); `cancelled` tasks are left out together with
//!   dependencies on them; every other status is pending, and
//!   `in-progress`, `review`, `deferred` and `blocked` are noted in the
//!   description.
//! - `priority` maps by name (critical, high, medium, low); `testStrategy`
//!   becomes the single acceptance item; `description` and `details` become
//!   the description; `files`/`relevantFiles`, `estimate`/`estimatedHours`
//!   and `phase` carry over. Other keys are noted per task.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{
    ImportError, ImportOptions, Imported, join_blocks, markdown_block, one_line, phase_title,
    shorten,
};
use crate::id::TaskId;
use crate::model::{Estimate, FilePattern, Phase, Plan, Priority, Status, Task};
use crate::parse::values::parse_estimate;

/// Deeper subtask nesting than this is ignored (and noted).
const MAX_DEPTH: usize = 8;

struct Node {
    /// The ID as written, at its level.
    raw: String,
    /// The orca ID.
    id: String,
    title: String,
    description: String,
    details: String,
    test_strategy: String,
    status: String,
    priority: Option<String>,
    deps: Vec<String>,
    /// `files` / `relevantFiles`, as written.
    files: Vec<String>,
    /// `estimate` (text) or `estimatedHours` (a number), as read.
    estimate: Option<Estimate>,
    /// `phase`, on top-level tasks.
    phase: Option<String>,
    children: Vec<Node>,
}

/// Task object keys the importer reads (or deliberately skips because
/// they say nothing about the work, like timestamps).
const READ_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "details",
    "testStrategy",
    "status",
    "priority",
    "dependencies",
    "subtasks",
    "files",
    "relevantFiles",
    "estimate",
    "estimatedHours",
    "phase",
    "parentTaskId",
    "createdAt",
    "updatedAt",
];

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn raw_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A valid orca ID for a raw Task Master ID: `T` + digits for numbers,
/// else the text with invalid characters replaced.
fn id_part(raw: &str, top_level: bool) -> String {
    let raw = raw.rsplit('.').next().unwrap_or(raw);
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    if top_level && !cleaned.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("T{cleaned}")
    } else {
        cleaned
    }
}

/// The task list chosen from a file: its tag (None in an untagged file),
/// the file's other tags, and the tasks.
type Selected<'v> = (Option<String>, Vec<String>, &'v Vec<Value>);

/// Selects the task array and its tag.
fn select_tasks<'v>(root: &'v Value, options: &ImportOptions) -> Result<Selected<'v>, ImportError> {
    if let Value::Array(tasks) = root {
        return Ok((None, Vec::new(), tasks));
    }
    let Value::Object(map) = root else {
        return Err(ImportError::Shape(
            "a Task Master file is a JSON object with a `tasks` list, or tags holding one"
                .to_owned(),
        ));
    };
    if let Some(tasks) = map.get("tasks") {
        return match tasks {
            Value::Array(list) => Ok((None, Vec::new(), list)),
            _ => Err(ImportError::Shape("`tasks` is not a list".to_owned())),
        };
    }
    let tags: Vec<String> = map
        .iter()
        .filter(|(_, v)| v.get("tasks").is_some_and(Value::is_array))
        .map(|(k, _)| k.clone())
        .collect();
    if tags.is_empty() {
        return Err(ImportError::Shape(
            "no `tasks` list found (expected `{\"tasks\": [...]}` or `{\"master\": {\"tasks\": [...]}}`)".to_owned(),
        ));
    }
    let tag = match &options.tag {
        Some(tag) if tags.contains(tag) => tag.clone(),
        Some(tag) => return Err(ImportError::TagNotFound { tag: tag.clone(), available: tags }),
        None if tags.iter().any(|t| t == "master") => "master".to_owned(),
        None if tags.len() == 1 => tags[0].clone(),
        None => return Err(ImportError::AmbiguousTag { available: tags }),
    };
    let others = tags.iter().filter(|t| **t != tag).cloned().collect();
    match map.get(&tag).and_then(|v| v.get("tasks")) {
        Some(Value::Array(list)) => Ok((Some(tag), others, list)),
        _ => Err(ImportError::Shape(format!("tag `{tag}` has no `tasks` list"))),
    }
}

fn read_node(
    value: &Value,
    parent_id: Option<&str>,
    depth: usize,
    seq: &mut usize,
    notes: &mut Vec<String>,
) -> Option<Node> {
    *seq += 1;
    let Some(raw) = value.get("id").and_then(raw_id) else {
        notes.push(format!(
            "skipped an entry without an `id` (title: {:?})",
            one_line(&text(value, "title"))
        ));
        return None;
    };
    let part = id_part(&raw, parent_id.is_none());
    let candidate = match parent_id {
        Some(parent) => format!("{parent}.{part}"),
        None => part,
    };
    let id = match TaskId::parse(&candidate) {
        Ok(_) => candidate,
        Err(error) => {
            let fallback = format!("T{seq}");
            // Name the real cause: usually the length of a subtask's path.
            let why = match error {
                crate::id::IdError::TooLong => format!(
                    "`{candidate}` would be {} characters, over orca's limit of {}",
                    candidate.chars().count(),
                    crate::id::MAX_ID_LEN
                ),
                other => format!("`{candidate}`: {other}"),
            };
            notes.push(format!("Task Master task `{raw}` became `{fallback}`: {why}"));
            fallback
        }
    };
    let deps = match value.get("dependencies") {
        Some(Value::Array(list)) => list.iter().filter_map(raw_id).collect(),
        _ => Vec::new(),
    };
    let mut children = Vec::new();
    if let Some(Value::Array(subtasks)) = value.get("subtasks") {
        if depth >= MAX_DEPTH {
            if !subtasks.is_empty() {
                notes.push(format!("subtasks of `{id}` are nested too deeply and were left out"));
            }
        } else {
            children = subtasks
                .iter()
                .filter_map(|s| read_node(s, Some(&id), depth + 1, seq, notes))
                .collect();
        }
    }
    let unread: Vec<String> = match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, v)| !READ_KEYS.contains(&k.as_str()) && !is_empty_value(v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    };
    if !unread.is_empty() {
        notes.push(format!(
            "`{id}`: not carried over: {}",
            unread.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    Some(Node {
        files: file_list(value),
        estimate: estimate_of(value),
        phase: match value.get("phase") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(one_line(s)),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        raw,
        id,
        title: text(value, "title"),
        description: text(value, "description"),
        details: text(value, "details"),
        test_strategy: text(value, "testStrategy"),
        status: text(value, "status").trim().to_ascii_lowercase(),
        priority: value
            .get("priority")
            .and_then(Value::as_str)
            .map(|p| p.trim().to_ascii_lowercase()),
        deps,
        children,
    })
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `files` or `relevantFiles`: strings, or objects with a `path`.
fn file_list(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["files", "relevantFiles"] {
        match value.get(key) {
            Some(Value::Array(list)) => {
                for entry in list {
                    let path = match entry {
                        Value::String(s) => Some(s.as_str()),
                        Value::Object(_) => entry.get("path").and_then(Value::as_str),
                        _ => None,
                    };
                    out.extend(path.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()));
                }
            }
            Some(Value::String(list)) => {
                out.extend(
                    list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from),
                );
            }
            _ => {}
        }
    }
    out
}

fn estimate_of(value: &Value) -> Option<Estimate> {
    if let Some(text) = value.get("estimate").and_then(Value::as_str) {
        return parse_estimate(text);
    }
    if let Some(Value::Number(n)) = value.get("estimate") {
        // A bare number is points: Task Master's scale has no unit.
        return n.as_u64().map(Estimate::Points);
    }
    let hours = value.get("estimatedHours").and_then(Value::as_f64)?;
    (hours.is_finite() && hours > 0.0 && hours < 1.0e6)
        .then(|| Estimate::Seconds((hours * 3600.0).round() as u64))
}

/// Where a node sits: indices from the top-level list down.
type Path = Vec<usize>;

struct Tree {
    roots: Vec<Node>,
}

impl Tree {
    fn node(&self, path: &[usize]) -> &Node {
        let mut node = &self.roots[path[0]];
        for &i in &path[1..] {
            node = &node.children[i];
        }
        node
    }

    fn children_of(&self, parent: &[usize]) -> &[Node] {
        if parent.is_empty() { &self.roots } else { &self.node(parent).children }
    }

    /// Resolves a reference written in the node at `from`.
    fn resolve(&self, from: &[usize], reference: &str) -> Option<Path> {
        let find = |nodes: &[Node], raw: &str| nodes.iter().position(|n| n.raw == raw);
        if reference.contains('.') {
            let mut path = Vec::new();
            for part in reference.split('.') {
                let i = find(self.children_of(&path), part)?;
                path.push(i);
            }
            return Some(path);
        }
        if from.len() > 1 {
            let parent = &from[..from.len() - 1];
            if let Some(i) = find(self.children_of(parent), reference) {
                let mut path = parent.to_vec();
                path.push(i);
                return Some(path);
            }
        }
        find(&self.roots, reference).map(|i| vec![i])
    }

    /// The leaves that finish the task at `path`: itself when it has no
    /// subtasks, else the finishing leaves of its subtasks no sibling
    /// depends on.
    fn exits(&self, path: &[usize], out: &mut Vec<Path>) {
        let node = self.node(path);
        if node.children.is_empty() {
            out.push(path.to_vec());
            return;
        }
        let mut depended_on = vec![false; node.children.len()];
        for i in 0..node.children.len() {
            let mut child = path.to_vec();
            child.push(i);
            for reference in &node.children[i].deps {
                if let Some(target) = self.resolve(&child, reference)
                    && target.len() == child.len()
                    && target.starts_with(path)
                    && target != child
                {
                    depended_on[target[target.len() - 1]] = true;
                }
            }
        }
        for (i, &inner) in depended_on.iter().enumerate() {
            if !inner {
                let mut child = path.to_vec();
                child.push(i);
                self.exits(&child, out);
            }
        }
    }

    /// The leaves at or below `path`.
    fn leaves(&self, path: &[usize], out: &mut Vec<Path>) {
        let node = self.node(path);
        if node.children.is_empty() {
            out.push(path.to_vec());
            return;
        }
        for i in 0..node.children.len() {
            let mut child = path.to_vec();
            child.push(i);
            self.leaves(&child, out);
        }
    }
}

fn is_cancelled(status: &str) -> bool {
    matches!(status, "cancelled" | "canceled")
}

/// Statuses orca has no state for, kept in the text so they stay visible.
fn is_noted(status: &str) -> bool {
    matches!(status, "in-progress" | "review" | "deferred" | "blocked")
}

fn is_done(status: &str) -> bool {
    matches!(status, "done" | "completed")
}

/// Imports a Task Master `tasks.json`. See the module docs for the mapping.
pub fn from_taskmaster(text_in: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    let root: Value = serde_json::from_str(text_in).map_err(|e| ImportError::json(&e))?;
    let (tag, other_tags, list) = select_tasks(&root, options)?;
    let mut notes = Vec::new();
    if !other_tags.is_empty() {
        notes.push(format!(
            "imported tag `{}`; the file also has tag{} {} (import one with --tag)",
            tag.as_deref().unwrap_or_default(),
            if other_tags.len() == 1 { "" } else { "s" },
            other_tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut seq = 0;
    let roots: Vec<Node> =
        list.iter().filter_map(|v| read_node(v, None, 0, &mut seq, &mut notes)).collect();
    if roots.is_empty() {
        return Err(ImportError::NoTasks("the Task Master file has no tasks".to_owned()));
    }
    let tree = Tree { roots };

    // Every leaf, with the statuses of its ancestors applied.
    let mut leaves = Vec::new();
    for i in 0..tree.roots.len() {
        tree.leaves(&[i], &mut leaves);
    }
    let status_of = |path: &[usize]| -> String {
        // A cancelled ancestor cancels everything below it, a done one
        // finishes it; otherwise the nearest explicit status counts.
        for depth in 1..=path.len() {
            let status = &tree.node(&path[..depth]).status;
            if is_cancelled(status) {
                return "cancelled".to_owned();
            }
            if is_done(status) {
                return "done".to_owned();
            }
        }
        (1..=path.len())
            .rev()
            .map(|depth| tree.node(&path[..depth]).status.clone())
            .find(|s| !s.is_empty())
            .unwrap_or_default()
    };
    let statuses: HashMap<Path, String> =
        leaves.iter().map(|p| (p.clone(), status_of(p))).collect();
    let left_out = |path: &Path| {
        let status = &statuses[path];
        is_cancelled(status) || (options.drop_done && is_done(status))
    };
    // A subtask that depends on a sibling gets its parent's dependencies
    // through that sibling: only the first subtasks inherit them.
    let sibling_deps = |path: &[usize]| -> bool {
        let parent = &path[..path.len() - 1];
        tree.node(path).deps.iter().any(|reference| {
            tree.resolve(path, reference)
                .is_some_and(|target| target.len() == path.len() && target.starts_with(parent))
        })
    };

    let mut phases: Vec<String> = Vec::new();
    for root in &tree.roots {
        if let Some(phase) = &root.phase
            && !phases.contains(phase)
        {
            phases.push(phase.clone());
        }
    }
    let mut plan = Plan {
        title: options
            .title
            .clone()
            .map(|t| one_line(&t))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| match &tag {
                Some(tag) => format!("Task Master tasks (tag {tag})"),
                None => "Task Master tasks".to_owned(),
            }),
        phases: phases
            .iter()
            .enumerate()
            .map(|(i, title)| Phase { title: phase_title(i + 1, title), ..Phase::default() })
            .collect(),
        ..Plan::default()
    };
    let mut done = Vec::new();
    let mut cancelled = Vec::new();
    for path in &leaves {
        if is_cancelled(&statuses[path]) {
            cancelled.push(tree.node(path).id.clone());
        }
        if left_out(path) {
            continue;
        }
        let node = tree.node(path);
        let mut deps: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for depth in 1..=path.len() {
            let declaring = &path[..depth];
            // An ancestor's dependencies reach this leaf through its first
            // subtasks only.
            if (depth + 1..=path.len()).any(|d| sibling_deps(&path[..d])) {
                continue;
            }
            for reference in &tree.node(declaring).deps {
                let Some(target) = tree.resolve(declaring, reference) else {
                    // Kept, so `orca plan check` points at it.
                    let missing = missing_id(reference);
                    notes.push(format!(
                        "`{}` depends on `{reference}`, which is not in the file",
                        node.id
                    ));
                    if seen.insert(missing.clone()) {
                        deps.push(missing);
                    }
                    continue;
                };
                if path.starts_with(&target) {
                    notes.push(format!(
                        "dropped `{}`'s dependency on its own parent `{reference}`",
                        node.id
                    ));
                    continue;
                }
                // A task with subtasks is finished when its last subtasks
                // are: depending on those is enough.
                let mut targets = Vec::new();
                tree.exits(&target, &mut targets);
                for t in targets {
                    if left_out(&t) {
                        if is_cancelled(&statuses[&t]) {
                            notes.push(format!(
                                "dropped `{}`'s dependency on cancelled task `{}`",
                                node.id,
                                tree.node(&t).id
                            ));
                        }
                        continue;
                    }
                    let id = tree.node(&t).id.clone();
                    if seen.insert(id.clone()) {
                        deps.push(id);
                    }
                }
            }
        }
        let Ok(id) = TaskId::parse(&node.id) else { continue };
        let mut task = Task::new(id.clone(), title_of(node), options.role.clone());
        task.deps = deps.iter().filter_map(|d| TaskId::parse(d).ok()).collect();
        let priority = (1..=path.len()).rev().find_map(|d| tree.node(&path[..d]).priority.clone());
        task.priority = match priority.as_deref() {
            None | Some("") => Priority::default(),
            Some(name) => Priority::parse(name).unwrap_or_else(|| {
                notes.push(format!(
                    "`{id}` has priority `{name}`, which orca does not know; it is medium"
                ));
                Priority::default()
            }),
        };
        task.phase =
            tree.roots[path[0]].phase.as_ref().and_then(|p| phases.iter().position(|q| q == p));
        task.estimate = node.estimate;
        // A subtask without files of its own touches its parent's.
        let own_files =
            (1..=path.len()).rev().map(|d| &tree.node(&path[..d]).files).find(|f| !f.is_empty());
        let mut files = Vec::new();
        for raw in own_files.into_iter().flatten() {
            // One entry of the written `files` line: no line break, comma
            // or backtick may change how that line reads back.
            if raw.contains(|c: char| c.is_control() || c == ',' || c == '`') || raw == "none" {
                notes.push(format!("`{id}`: file {raw:?} left out: not a plain path"));
                continue;
            }
            match FilePattern::parse(raw) {
                Ok(pattern) if !files.contains(&pattern) => files.push(pattern),
                Ok(_) => {}
                Err(error) => notes.push(format!("`{id}`: file `{raw}` left out: {error}")),
            }
        }
        if !files.is_empty() {
            task.files = Some(files);
        }
        let strategy = one_line(&node.test_strategy);
        if !strategy.is_empty() {
            task.accept.push(strategy);
        }
        // Each ancestor's own text, outermost first: an agent working on a
        // subtask needs the whole task's context.
        let mut parts: Vec<String> = Vec::new();
        for depth in 1..path.len() {
            let parent = tree.node(&path[..depth]);
            let mut section = vec![format!("#### Part of {}: {}", parent.id, title_of(parent))];
            section.extend(
                [&parent.description, &parent.details]
                    .into_iter()
                    .map(|t| markdown_block(t))
                    .filter(|t| !t.is_empty()),
            );
            let strategy = one_line(&parent.test_strategy);
            if !strategy.is_empty() {
                section.push(format!("Test strategy of {}: {strategy}", parent.id));
            }
            if let Some(estimate) = parent.estimate {
                section.push(format!("Estimate of {}: {estimate}.", parent.id));
            }
            if is_noted(&parent.status) {
                section.push(format!("Task Master status of {}: {}.", parent.id, parent.status));
            }
            parts.push(section.join("\n\n"));
        }
        if path.len() > 1 && (!node.description.is_empty() || !node.details.is_empty()) {
            parts.push(format!("#### {}", id));
        }
        let status = &statuses[path];
        let status_note =
            if is_noted(status) { format!("Task Master status: {status}.") } else { String::new() };
        let own = join_blocks([node.description.as_str(), node.details.as_str()]);
        parts.push(own);
        parts.push(status_note);
        task.description =
            parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("\n\n");
        if is_done(status) {
            task.status = Status::Done;
            done.push(id);
        }
        plan.tasks.push(task);
    }
    // Phases group tasks in document order: the ones without a phase
    // first, then phase by phase.
    plan.tasks.sort_by_key(|t| t.phase.map_or(0, |p| p + 1));
    if !cancelled.is_empty() {
        notes.push(format!(
            "left out {} cancelled task{}: {}",
            cancelled.len(),
            if cancelled.len() == 1 { "" } else { "s" },
            cancelled.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if plan.tasks.is_empty() {
        return Err(if cancelled.len() == leaves.len() {
            ImportError::NoTasks("every task in the file is cancelled".to_owned())
        } else {
            ImportError::AllDone
        });
    }
    super::roles::infer_roles(&mut plan, options, &mut notes);
    Ok(Imported { plan, done, notes })
}

fn title_of(node: &Node) -> String {
    let title = shorten(&one_line(&node.title), 120);
    // The raw ID is source text too: it may hold line breaks.
    if title.is_empty() { shorten(&one_line(&format!("Task {}", node.raw)), 120) } else { title }
}

/// The orca ID a reference to a missing task would have.
fn missing_id(reference: &str) -> String {
    let mut parts = reference.split('.');
    let first = parts.next().unwrap_or_default();
    let mut id = id_part(first, true);
    for part in parts {
        id.push('.');
        id.push_str(&id_part(part, false));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(json: &str) -> Imported {
        from_taskmaster(json, &ImportOptions::default()).unwrap()
    }

    fn deps_of<'a>(imported: &'a Imported, id: &str) -> Vec<&'a str> {
        let task = imported.plan.tasks.iter().find(|t| t.id.as_str() == id).unwrap();
        task.deps.iter().map(TaskId::as_str).collect()
    }

    #[test]
    fn subtasks_replace_their_parent_and_resolve_references() {
        let imported = import(
            r#"{"master": {"tasks": [
                {"id": 1, "title": "Base", "status": "done", "dependencies": []},
                {"id": 2, "title": "Parent", "status": "pending", "dependencies": [1], "subtasks": [
                    {"id": 1, "title": "a", "dependencies": []},
                    {"id": 2, "title": "b", "dependencies": [1]},
                    {"id": 3, "title": "c", "dependencies": ["2.2", 2]}
                ]},
                {"id": 3, "title": "After", "status": "pending", "dependencies": [2], "priority": "high"}
            ]}}"#,
        );
        let ids: Vec<&str> = imported.plan.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T1", "T2.1", "T2.2", "T2.3", "T3"]);
        // Only the first subtask inherits the parent's dependency; the
        // others wait for it through their siblings.
        assert_eq!(deps_of(&imported, "T2.1"), ["T1"]);
        assert_eq!(deps_of(&imported, "T2.2"), ["T2.1"]);
        // `2` inside subtask 2.3 is its sibling 2.2, not top-level task 2.
        assert_eq!(deps_of(&imported, "T2.3"), ["T2.2"]);
        // Task 2 is finished when its last subtask is.
        assert_eq!(deps_of(&imported, "T3"), ["T2.3"]);
        assert_eq!(imported.done, [TaskId::parse("T1").unwrap()]);
        assert!(imported.plan.tasks[0].status.is_done());
        assert_eq!(imported.plan.tasks[4].priority, Priority::HIGH);
    }

    #[test]
    fn a_renamed_id_names_the_length_limit() {
        let long = "x".repeat(40);
        let imported = import(&format!(
            r#"{{"tasks": [{{"id": "{long}", "title": "p", "subtasks": [{{"id": "{long}", "title": "c"}}]}}]}}"#
        ));
        assert_eq!(imported.plan.tasks[0].id.as_str(), "T2");
        assert!(
            imported.notes.iter().any(|n| n.contains("81 characters, over orca's limit of 64")),
            "{:?}",
            imported.notes
        );
    }

    #[test]
    fn an_untitled_task_with_a_multi_line_id_gets_a_one_line_title() {
        // Found by the `taskmaster` fuzz target.
        let imported = import(r#"{"tasks": [{"id": "a\n### T9: b", "title": ""}]}"#);
        assert_eq!(imported.plan.tasks[0].title, "Task a ### T9: b");
        let written = crate::to_markdown(&imported.plan);
        assert_eq!(crate::parse(&written).plan.tasks.len(), 1, "{written}");
    }

    #[test]
    fn file_entries_that_would_change_the_files_line_are_left_out() {
        // Found by the `taskmaster` fuzz target: a line break in a path.
        let imported = import(
            r#"{"tasks": [{"id": 1, "title": "x", "files": ["src/a.rs\n- deps: T9", "a,b", "`c`", "none", "src/ok.rs"]}]}"#,
        );
        let files: Vec<&str> =
            imported.plan.tasks[0].files.iter().flatten().map(|f| f.as_str()).collect();
        assert_eq!(files, ["src/ok.rs"]);
        assert_eq!(imported.notes.iter().filter(|n| n.contains("not a plain path")).count(), 4);
    }

    #[test]
    fn phases_group_tasks_in_order_of_first_appearance() {
        let imported = import(
            r#"{"tasks": [
                {"id": 1, "title": "a", "phase": "Core"},
                {"id": 2, "title": "b", "phase": "Setup"},
                {"id": 3, "title": "c"},
                {"id": 4, "title": "d", "phase": "Core", "dependencies": [2]}
            ]}"#,
        );
        let phases: Vec<&str> = imported.plan.phases.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(phases, ["Phase 1: Core", "Phase 2: Setup"]);
        let ids: Vec<&str> = imported.plan.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["T3", "T1", "T4", "T2"], "unphased first, then phase by phase");
        let written = crate::to_markdown(&imported.plan);
        let parsed = crate::parse(&written);
        assert_eq!(
            parsed.plan.tasks.iter().map(|t| t.phase).collect::<Vec<_>>(),
            [None, Some(0), Some(0), Some(1)]
        );
    }

    #[test]
    fn cancelled_tasks_and_dependencies_on_them_are_left_out() {
        let imported = import(
            r#"{"tasks": [
                {"id": 1, "title": "x", "status": "cancelled"},
                {"id": 2, "title": "y", "status": "pending", "dependencies": [1, 9]}
            ]}"#,
        );
        assert_eq!(imported.plan.tasks.len(), 1);
        assert_eq!(deps_of(&imported, "T2"), ["T9"], "missing deps are kept for `plan check`");
        assert!(imported.notes.iter().any(|n| n.contains("cancelled")));
    }

    #[test]
    fn tags_are_chosen_explicitly_or_by_default() {
        let two = r#"{"a": {"tasks": [{"id": 1, "title": "x"}]}, "b": {"tasks": [{"id": 1, "title": "y"}]}}"#;
        assert!(matches!(
            from_taskmaster(two, &ImportOptions::default()),
            Err(ImportError::AmbiguousTag { .. })
        ));
        let options = ImportOptions { tag: Some("b".to_owned()), ..ImportOptions::default() };
        assert_eq!(from_taskmaster(two, &options).unwrap().plan.tasks[0].title, "y");
        let options = ImportOptions { tag: Some("c".to_owned()), ..ImportOptions::default() };
        assert!(matches!(from_taskmaster(two, &options), Err(ImportError::TagNotFound { .. })));
    }
}
