//! A hand-written Markdown checklist into an orca plan.
//!
//! Mapping (also in docs/plan-format.md):
//! - The title is the first `# ` heading.
//! - Every deeper heading (`##`, `###`, ...) that has items under it
//!   becomes a phase; prose under a heading becomes the phase description.
//! - Each `- [ ] ...` / `- [x] ...` item (also `* [ ]`, `1. [ ]`) is a task.
//!   It keeps an ID it starts with (`T3: ...`, `**api-1** ...`), else it is
//!   numbered `T1`, `T2`, ... in file order.
//! - Checkbox items nested under an item are its subtasks: `<parent>.1`,
//!   `<parent>.2`, ... They replace the parent, which is kept as context in
//!   their descriptions (as Task Master subtasks are); a dependency on the
//!   parent is a dependency on its subtasks. Other nested lines continue
//!   the item's text.
//! - Order: only what the list says. `depends on T1, T2`, `blocked-by T4`,
//!   `blocked by T4` and `after T2` in an item's text add dependencies when
//!   the words after them are IDs of the list; a list is otherwise read as
//!   work that may run in any order.
//! - `[x]` items are `status: done`.
//! - Lines that are neither headings, items, their continuations nor
//!   prose (a bullet without a checkbox, a malformed box) are listed in the
//!   notes with their line numbers.

use std::collections::{HashMap, HashSet};

use super::spec_kit::paths;
use super::{
    ImportError, ImportOptions, Imported, join_blocks, markdown_block, one_line, phase_title,
    shorten,
};
use crate::id::TaskId;
use crate::model::{Phase, Plan, Status, Task};
use crate::parse::{closes_fence, fence_open};

/// Deeper nesting than this is read as text of the item above.
const MAX_DEPTH: usize = 4;

struct Item {
    /// The ID written in the item, if any.
    written_id: Option<String>,
    done: bool,
    text: String,
    line: usize,
    indent: usize,
    depth: usize,
    parent: Option<usize>,
    phase: Option<usize>,
}

/// `- [ ] rest`, `* [x] rest`, `1. [ ] rest`: (indent, done, rest).
/// `Err(())` for a list item with a malformed box.
fn item(line: &str) -> Option<Result<(usize, bool, &str), ()>> {
    let indent = line.len() - line.trim_start().len();
    let trimmed = line.trim_start();
    let after_marker = if let Some(rest) = trimmed
        .strip_prefix("- ")
        .or_else(|| trimmed.strip_prefix("* "))
        .or_else(|| trimmed.strip_prefix("+ "))
    {
        rest
    } else {
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        trimmed[digits..].strip_prefix(". ").or_else(|| trimmed[digits..].strip_prefix(") "))?
    };
    let rest = after_marker.trim_start();
    let inner = rest.strip_prefix('[')?;
    let bytes = inner.as_bytes();
    match (bytes.first(), bytes.get(1)) {
        (Some(b' '), Some(b']')) => Some(Ok((indent, false, inner[2..].trim()))),
        (Some(b'x' | b'X'), Some(b']')) => Some(Ok((indent, true, inner[2..].trim()))),
        (Some(b']'), _) => Some(Err(())),
        // `[link](...)` and `[P]`-like text are prose, not a broken box.
        _ if inner.len() >= 2 && inner.as_bytes()[1] == b']' => Some(Err(())),
        _ => None,
    }
}

/// An ID the item starts with: `T3:`, `T3 -`, `**T3**`, `` `T3` ``.
fn leading_id(text: &str) -> Option<(String, &str)> {
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let bare = first.trim_matches(['*', '`']);
    let bare = bare.strip_suffix(':').unwrap_or(bare).trim_matches(['*', '`']);
    // A word like `Add` is prose; an ID has a digit.
    let has_digit = bare.bytes().any(|b| b.is_ascii_digit());
    let marked = first.ends_with(':') || first.starts_with("**") || first.starts_with('`');
    if !has_digit || !marked || TaskId::parse(bare).is_err() {
        return None;
    }
    Some((bare.to_owned(), rest.trim_start().trim_start_matches(['-', '–', ':']).trim_start()))
}

/// The references after `depends on`, `blocked-by`, `blocked by` and
/// `after`: (keyword position, words), words up to the first that is not
/// a plausible ID.
fn dependency_notes(text: &str) -> Vec<(String, Vec<String>)> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for keyword in ["depends on", "blocked-by", "blocked by", "after"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(keyword) {
            let start = from + at;
            let end = start + keyword.len();
            from = end;
            let before_ok = start == 0 || !lower.as_bytes()[start - 1].is_ascii_alphanumeric();
            let rest = text[end..].trim_start_matches([':', ' ']);
            if !before_ok || !text[end..].starts_with([':', ' ']) {
                continue;
            }
            let mut words = Vec::new();
            for word in rest.split(|c: char| c == ',' || c == ')' || c == ';' || c.is_whitespace())
            {
                let word = word.trim().trim_matches(['`', '*', '.']);
                if word.is_empty() || word.eq_ignore_ascii_case("and") {
                    continue;
                }
                if !word.bytes().any(|b| b.is_ascii_digit()) || TaskId::parse(word).is_err() {
                    break;
                }
                words.push(word.to_owned());
            }
            if !words.is_empty() {
                out.push((keyword.to_owned(), words));
            }
        }
    }
    out
}

/// Imports a Markdown checklist. See the module docs for the mapping.
pub fn from_checklist(text: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    let mut title = None;
    let mut sections: Vec<(String, String, Option<usize>)> = Vec::new();
    let mut phases: Vec<(String, String)> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut unreadable: Vec<usize> = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    // The items a nested line may belong to, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut in_item_fence = false;
    for (number, raw) in text.lines().enumerate() {
        let number = number + 1;
        let line = raw.trim_end();
        if let Some((marker, len)) = fence {
            if closes_fence(line, marker, len) {
                fence = None;
            }
            push_text(&mut items, &open, in_item_fence, line);
            continue;
        }
        if let Some(opened) = fence_open(line.trim_start()) {
            fence = Some(opened);
            in_item_fence = !open.is_empty() && line.starts_with([' ', '\t']);
            push_text(&mut items, &open, in_item_fence, line);
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with([' ', '\t']) && line.starts_with('#') {
            let hashes = line.bytes().take_while(|&b| b == b'#').count();
            let heading = line[hashes..].trim();
            if hashes == 1 && title.is_none() {
                title = Some(heading.to_owned());
            } else {
                sections.push((heading.to_owned(), String::new(), None));
            }
            open.clear();
            continue;
        }
        match item(line) {
            Some(Ok((indent, done, rest))) => {
                while open.last().is_some_and(|&i| items[i].indent >= indent) {
                    open.pop();
                }
                let parent = open.last().copied();
                let depth = parent.map_or(0, |p| items[p].depth + 1);
                if depth > MAX_DEPTH {
                    if let Some(p) = parent {
                        items[p].text.push('\n');
                        items[p].text.push_str(line.trim());
                    }
                    continue;
                }
                let (written_id, rest) = match leading_id(rest) {
                    Some((id, rest)) => (Some(id), rest),
                    None => (None, rest),
                };
                let phase = sections.last_mut().map(|section| {
                    *section.2.get_or_insert_with(|| {
                        phases.push((phase_title(phases.len() + 1, &section.0), section.1.clone()));
                        phases.len() - 1
                    })
                });
                items.push(Item {
                    written_id,
                    done,
                    text: rest.to_owned(),
                    line: number,
                    indent,
                    depth,
                    parent,
                    phase,
                });
                open.push(items.len() - 1);
            }
            Some(Err(())) => unreadable.push(number),
            None if line.starts_with([' ', '\t']) && !open.is_empty() => {
                push_text(&mut items, &open, false, line);
            }
            None => {
                open.clear();
                let trimmed = line.trim_start();
                if trimmed.starts_with("- ") || trimmed.starts_with("* ") {
                    // A bullet without a box: maybe a task, maybe a note;
                    // not guessed, listed.
                    unreadable.push(number);
                } else if let Some(section) = sections.last_mut()
                    && section.2.is_none()
                {
                    // Prose before a section's first item describes it.
                    if !section.1.is_empty() {
                        section.1.push('\n');
                    }
                    section.1.push_str(line);
                }
            }
        }
    }
    if items.is_empty() {
        return Err(ImportError::NoTasks(
            "no checklist items found (expected lines like `- [ ] Add the login form`)".to_owned(),
        ));
    }
    build(items, phases, title, unreadable, options)
}

/// A nested line: text of the innermost open item.
fn push_text(items: &mut [Item], open: &[usize], in_item: bool, line: &str) {
    if let Some(&i) = open.last()
        && (in_item || line.starts_with([' ', '\t']))
    {
        let indent = items[i].indent + 2;
        let strip = line.len() - line.trim_start().len();
        items[i].text.push('\n');
        items[i].text.push_str(&line[strip.min(indent)..]);
    }
}

fn build(
    items: Vec<Item>,
    phases: Vec<(String, String)>,
    title: Option<String>,
    unreadable: Vec<usize>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let has_children: HashSet<usize> = items.iter().filter_map(|i| i.parent).collect();
    // IDs: as written, else numbered; subtasks under their parent's ID.
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    let mut taken: HashSet<String> = items.iter().filter_map(|i| i.written_id.clone()).collect();
    let mut next = 0;
    let mut child_count: HashMap<usize, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let id = match (&item.written_id, item.parent) {
            (Some(id), _) => id.clone(),
            (None, Some(parent)) => {
                let n = child_count.entry(parent).or_default();
                *n += 1;
                let mut id = format!("{}.{n}", ids[parent]);
                while taken.contains(&id) || TaskId::parse(&id).is_err() {
                    *n += 1;
                    id = format!("{}.{n}", ids[parent]);
                    if *n > items.len() + 1 {
                        id = format!("T{}", index + 1);
                        break;
                    }
                }
                id
            }
            (None, None) => loop {
                next += 1;
                let id = format!("T{next}");
                if !taken.contains(&id) {
                    break id;
                }
            },
        };
        taken.insert(id.clone());
        ids.push(id);
    }
    let index_of: HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    // Subtasks another subtask of the same item depends on: they do not
    // finish the item.
    let mut followed: HashSet<usize> = HashSet::new();
    for item in &items {
        for (_, words) in dependency_notes(&item.text) {
            for word in words {
                if let Some(&target) = index_of.get(word.as_str())
                    && item.parent.is_some()
                    && items[target].parent == item.parent
                {
                    followed.insert(target);
                }
            }
        }
    }
    // The tasks that finish an item: itself, or the subtasks that finish
    // it (none of its other subtasks depends on them).
    fn exits(
        items: &[Item],
        has_children: &HashSet<usize>,
        followed: &HashSet<usize>,
        at: usize,
        out: &mut Vec<usize>,
    ) {
        if !has_children.contains(&at) {
            out.push(at);
            return;
        }
        for (i, item) in items.iter().enumerate() {
            if item.parent == Some(at) && !followed.contains(&i) {
                exits(items, has_children, followed, i, out);
            }
        }
    }

    let mut plan = Plan {
        title: options
            .title
            .clone()
            .or(title)
            .map(|t| one_line(&t))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Imported checklist".to_owned()),
        phases: phases
            .into_iter()
            .map(|(title, description)| Phase {
                title,
                description: markdown_block(&description),
                ..Phase::default()
            })
            .collect(),
        ..Plan::default()
    };
    let mut done = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if has_children.contains(&index) {
            continue;
        }
        // A done parent finishes its subtasks.
        let mut chain = vec![index];
        while let Some(parent) = items[*chain.last().unwrap_or(&index)].parent {
            chain.push(parent);
        }
        let is_done = chain.iter().any(|&i| items[i].done);
        if options.drop_done && is_done {
            continue;
        }
        let Ok(id) = TaskId::parse(&ids[index]) else {
            notes.push(format!(
                "line {}: `{}` cannot be a task ID; not imported",
                item.line, ids[index]
            ));
            continue;
        };
        let first_line = item.text.lines().next().unwrap_or_default();
        let one = one_line(first_line);
        let title = if one.is_empty() { format!("Task {id}") } else { shorten(&one, 120) };
        let mut task = Task::new(id.clone(), title.clone(), options.role.clone());
        task.phase = item.phase;
        let mut deps: Vec<String> = Vec::new();
        for &declaring in &chain {
            for (keyword, words) in dependency_notes(&items[declaring].text) {
                for word in words {
                    let Some(&target) = index_of.get(word.as_str()) else {
                        if keyword != "after" {
                            notes.push(format!(
                                "line {}: `{id}` {keyword} `{word}`, which is not in the list (ignored)",
                                items[declaring].line
                            ));
                        }
                        continue;
                    };
                    if chain.contains(&target) {
                        continue;
                    }
                    let mut targets = Vec::new();
                    exits(&items, &has_children, &followed, target, &mut targets);
                    for t in targets {
                        let dep_done = {
                            let mut c = vec![t];
                            while let Some(p) = items[*c.last().unwrap_or(&t)].parent {
                                c.push(p);
                            }
                            c.iter().any(|&i| items[i].done)
                        };
                        if t != index && !(options.drop_done && dep_done) && !deps.contains(&ids[t])
                        {
                            deps.push(ids[t].clone());
                        }
                    }
                }
            }
        }
        task.deps = deps.iter().filter_map(|d| TaskId::parse(d).ok()).collect();
        task.files = Some(paths(&item.text)).filter(|f| !f.is_empty());
        let mut parts: Vec<String> = Vec::new();
        for &ancestor in chain.iter().skip(1).rev() {
            parts.push(format!(
                "#### Part of {}: {}",
                ids[ancestor],
                shorten(&one_line(items[ancestor].text.lines().next().unwrap_or_default()), 120)
            ));
            let rest: Vec<&str> = items[ancestor].text.lines().skip(1).collect();
            parts.push(markdown_block(&rest.join("\n")));
        }
        let own = if one == title && item.text.lines().count() <= 1 {
            String::new()
        } else {
            item.text.clone()
        };
        if !parts.is_empty() && !own.is_empty() {
            parts.push(format!("#### {id}"));
        }
        parts.push(join_blocks([own.as_str()]));
        task.description =
            parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("\n\n");
        if is_done {
            task.status = Status::Done;
            done.push(id);
        }
        plan.tasks.push(task);
    }
    super::roles::infer_roles(&mut plan, options, &mut notes);
    if !unreadable.is_empty() {
        let lines: Vec<String> = unreadable.iter().map(ToString::to_string).collect();
        notes.push(format!(
            "not read as tasks (a list item without a `[ ]` box, or a malformed box): line{} {}",
            if lines.len() == 1 { "" } else { "s" },
            lines.join(", ")
        ));
    }
    if plan.tasks.is_empty() {
        return Err(ImportError::AllDone);
    }
    Ok(Imported { plan, done, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_ids_and_notes() {
        assert!(matches!(item("- [ ] a"), Some(Ok((0, false, "a")))));
        assert!(matches!(item("  * [x] b"), Some(Ok((2, true, "b")))));
        assert!(matches!(item("3. [ ] c"), Some(Ok((0, false, "c")))));
        assert!(matches!(item("- [] d"), Some(Err(()))));
        assert!(item("- plain").is_none());
        assert!(item("- [link](x) text").is_none());
        assert_eq!(leading_id("T3: Add x"), Some(("T3".to_owned(), "Add x")));
        assert_eq!(leading_id("**api-1** Add x"), Some(("api-1".to_owned(), "Add x")));
        assert_eq!(leading_id("Add 3 things"), None);
        assert_eq!(
            dependency_notes("Wire it up (depends on T1, T2) after T4 and later"),
            [
                ("depends on".to_owned(), vec!["T1".to_owned(), "T2".to_owned()]),
                ("after".to_owned(), vec!["T4".to_owned()])
            ]
        );
        assert!(dependency_notes("after lunch").is_empty());
    }
}
