//! Which format a file is in, from its content: so `orca plan import`
//! needs no `--from` for the formats it knows, and `orca plan check` can
//! say "this is a Task Master file" instead of "missing title".

use serde_json::Value;

use super::{ImportError, ImportOptions, Imported};

/// A plan format orca reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// orca's own Markdown: `# Plan: ...` (nothing to import).
    Orca,
    /// orca's plan JSON.
    OrcaJson,
    /// Task Master `tasks.json`.
    Taskmaster,
    /// spec-kit `tasks.md`.
    SpecKit,
    /// A Markdown checklist.
    Checklist,
}

impl Format {
    /// The `--from` value that imports it (None for orca Markdown).
    pub fn from_flag(self) -> Option<&'static str> {
        match self {
            Format::Orca => None,
            Format::OrcaJson => Some("json"),
            Format::Taskmaster => Some("taskmaster"),
            Format::SpecKit => Some("spec-kit"),
            Format::Checklist => Some("checklist"),
        }
    }

    /// What people call it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Orca => "an orca plan",
            Format::OrcaJson => "orca plan JSON",
            Format::Taskmaster => "a Task Master tasks.json",
            Format::SpecKit => "a spec-kit tasks.md",
            Format::Checklist => "a Markdown checklist",
        }
    }

    /// Imports `text` as this format.
    pub fn import(self, text: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
        match self {
            // orca Markdown goes through the JSON model: read, then write.
            Format::Orca => Err(ImportError::NoTasks(
                "this is already an orca plan; `orca plan check` reads it as it is".to_owned(),
            )),
            Format::OrcaJson => super::from_json(text),
            Format::Taskmaster => super::from_taskmaster(text, options),
            Format::SpecKit => super::from_spec_kit(text, options),
            Format::Checklist => super::from_checklist(text, options),
        }
    }
}

/// The format of `text`, when it is one orca knows.
pub fn detect(text: &str) -> Option<Format> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        let value: Value = serde_json::from_str(start).ok()?;
        if value.get("format").and_then(Value::as_str) == Some(crate::export::FORMAT_NAME) {
            return Some(Format::OrcaJson);
        }
        let has_tasks = |v: &Value| v.get("tasks").is_some_and(Value::is_array);
        let taskmaster = match &value {
            Value::Array(list) => list.iter().all(|t| t.get("id").is_some()) && !list.is_empty(),
            Value::Object(map) => has_tasks(&value) || map.values().any(has_tasks),
            _ => false,
        };
        return taskmaster.then_some(Format::Taskmaster);
    }
    if start.lines().next().is_some_and(|l| l.trim_end().starts_with("# Plan:")) {
        return Some(Format::Orca);
    }
    let mut checklist = false;
    let mut fence: Option<(u8, usize)> = None;
    for line in text.lines() {
        // An orca plan with a broken title still has orca's fields.
        if line.starts_with("- deps:") || line.starts_with("- role:") {
            return None;
        }
        if let Some((marker, len)) = fence {
            if crate::parse::closes_fence(line, marker, len) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = crate::parse::fence_open(line) {
            fence = Some(open);
            continue;
        }
        // spec-kit numbers tasks `T001`; a checklist's `T1:` is not enough.
        if super::spec_kit::is_task_line(line) && spec_kit_numbered(line) {
            return Some(Format::SpecKit);
        }
        let trimmed = line.trim_start();
        checklist |=
            ["- [ ]", "- [x]", "- [X]", "* [ ]", "* [x]"].iter().any(|p| trimmed.starts_with(p));
    }
    checklist.then_some(Format::Checklist)
}

/// Whether the line holds a `T` + three digits ID.
fn spec_kit_numbered(line: &str) -> bool {
    line.split_whitespace().any(|word| {
        let word = word.trim_matches(['*', '`', ':']);
        // Bytes, not a str slice: the word may hold any character.
        let bytes = word.as_bytes();
        bytes.len() >= 4 && bytes[0] == b'T' && bytes[1..4].iter().all(u8::is_ascii_digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_content() {
        assert_eq!(detect("{\"master\": {\"tasks\": []}}"), Some(Format::Taskmaster));
        assert_eq!(detect("{\"tasks\": [{\"id\": 1}]}"), Some(Format::Taskmaster));
        assert_eq!(detect("{\"format\": \"orca-plan\", \"tasks\": []}"), Some(Format::OrcaJson));
        assert_eq!(detect("{\"name\": 1}"), None);
        assert_eq!(detect("# Plan: x\n"), Some(Format::Orca));
        assert_eq!(detect("# Tasks: x\n\n- [ ] T001 [P] Do it\n"), Some(Format::SpecKit));
        assert_eq!(detect("# Tasks: x\n\n- [P] [ ] T004 Do it\n"), Some(Format::SpecKit));
        assert_eq!(detect("# Todo\n\n- [ ] T4: Do it\n"), Some(Format::Checklist));
        assert_eq!(detect("# Todo\n\n- [ ] Add the form\n"), Some(Format::Checklist));
        assert_eq!(detect("# Notes\n\njust prose\n"), None);
        // Found by the `import_any` fuzz target: a multi-byte character
        // right after a `T` word.
        assert_eq!(detect("- [ ] T12\u{728} x\n"), Some(Format::Checklist));
        assert_eq!(detect("### T1: x\n- deps: none\n- accept:\n  - [ ] y\n"), None);
    }
}
