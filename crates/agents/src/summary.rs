//! Short, single-line renderings of tool inputs and raw lines, so events
//! stay small; the raw log keeps everything.

use serde_json::Value;

/// Longest tool summary kept in an event.
const SUMMARY_CHARS: usize = 160;
/// Longest raw line kept in an `Unknown` event.
const RAW_CHARS: usize = 2000;

/// The most telling field of a tool input (a path, a command), else the
/// compact JSON.
pub(crate) fn tool_input(input: &Value) -> String {
    const KEYS: &[&str] = &[
        "file_path",
        "filePath",
        "path",
        "notebook_path",
        "command",
        "cmd",
        "pattern",
        "url",
        "query",
        "description",
        "prompt",
    ];
    if let Value::Object(map) = input {
        for key in KEYS {
            match map.get(*key) {
                Some(Value::String(text)) if !text.is_empty() => {
                    return one_line(text, SUMMARY_CHARS);
                }
                Some(Value::Array(parts)) if !parts.is_empty() => {
                    let words: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                    return one_line(&words.join(" "), SUMMARY_CHARS);
                }
                _ => {}
            }
        }
        if map.is_empty() {
            return String::new();
        }
    }
    one_line(&input.to_string(), SUMMARY_CHARS)
}

/// A shortened line for `Unknown` events.
pub(crate) fn raw(line: &str) -> String {
    truncate(line, RAW_CHARS)
}

/// Text on one line, at most `max` characters (an ellipsis marks a cut).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c })
        .collect();
    truncate(&flat, max)
}

/// The first line of a text, shortened; for error summaries.
pub(crate) fn first_line(text: &str) -> String {
    one_line(text.trim().lines().next().unwrap_or(""), SUMMARY_CHARS)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefers_paths_and_commands() {
        assert_eq!(tool_input(&json!({"file_path": "a.txt", "content": "x"})), "a.txt");
        assert_eq!(tool_input(&json!({"command": "ls -l\necho"})), "ls -l echo");
        assert_eq!(tool_input(&json!({"cmd": ["bash", "-lc", "ls"]})), "bash -lc ls");
        assert_eq!(tool_input(&json!({})), "");
        assert_eq!(tool_input(&json!({"x": 1})), r#"{"x":1}"#);
    }

    #[test]
    fn cuts_long_text_on_char_boundaries() {
        let long = "é".repeat(500);
        let cut = one_line(&long, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }
}
