//! The parsers over real captured CLI output (tests/fixtures/samples/): the
//! normalized events and the verdict are snapshotted; damaged input must
//! never stop a parser.

use std::path::PathBuf;

use orca_agents::adapters::claude::ClaudeParser;
use orca_agents::adapters::codex::CodexParser;
use orca_agents::adapters::gemini::GeminiParser;
use orca_agents::adapters::opencode::OpencodeParser;
use orca_agents::adapters::qwen::QwenParser;
use orca_agents::{AgentEvent, ErrorKind, EventParser, ExitInfo, Finish, Limit, LimitKind};
use serde_json::json;

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples")
}

/// The parser for a sample, from its file name.
fn parser_for(file: &str) -> Box<dyn EventParser> {
    let name = file.trim_start_matches("orca_").trim_start_matches("damaged_");
    if name.starts_with("claude_") {
        Box::new(ClaudeParser::default())
    } else if name.starts_with("codex_") {
        Box::new(CodexParser::default())
    } else if name.starts_with("gemini_") {
        Box::new(GeminiParser::default())
    } else if name.starts_with("opencode_") {
        Box::new(OpencodeParser::default())
    } else if name.starts_with("qwen_") {
        Box::new(QwenParser::default())
    } else {
        panic!("no parser for sample {file}")
    }
}

/// Every line through the parser (the last one even without a newline),
/// then the verdict for `exit`.
fn parse(file: &str, exit: ExitInfo) -> (Vec<AgentEvent>, Finish) {
    let text = std::fs::read_to_string(samples_dir().join(file)).unwrap();
    let mut parser = parser_for(file);
    let events = text.split('\n').flat_map(|line| parser.parse_line(line)).collect();
    let finish = parser.conclude(&exit);
    (events, finish)
}

/// Each sample with the exit code its CLI gave (research/agent-cli.md:
/// API errors and failed turns exit 1).
const SAMPLES: &[(&str, i32)] = &[
    ("claude_output_format_json.json", 0),
    ("claude_stream_json_bash_permission_denied.jsonl", 0),
    ("claude_stream_json_http400.jsonl", 1),
    ("claude_stream_json_http500_retries.jsonl", 1),
    ("claude_stream_json_partial_messages.jsonl", 0),
    ("claude_stream_json_success.jsonl", 0),
    ("codex_exec_json_apply_patch.jsonl", 0),
    ("codex_exec_json_failed_command.jsonl", 0),
    ("codex_exec_json_http400.jsonl", 1),
    ("codex_exec_json_http500_default_retries.jsonl", 1),
    ("codex_exec_json_shell.jsonl", 0),
    ("codex_exec_json_unknown_model.jsonl", 0),
    ("gemini_stream_json.jsonl", 0),
    ("opencode_run_format_json.jsonl", 0),
    ("orca_claude_stream_json_http429.jsonl", 1),
    ("orca_claude_stream_json_signed_in_http429.jsonl", 1),
    ("orca_claude_stream_json_signed_in_usage_limit.jsonl", 1),
    ("orca_claude_stream_json_usage_limit.jsonl", 1),
    ("orca_claude_stream_json_write_edit_failed_command.jsonl", 0),
    ("orca_codex_exec_json_http429.jsonl", 1),
    ("orca_codex_exec_json_usage_limit.jsonl", 1),
    ("orca_codex_exec_json_write_edit_failed_command.jsonl", 0),
    ("orca_gemini_stream_json_daily_quota.jsonl", 1),
    ("orca_gemini_stream_json_http429.jsonl", 1),
    ("orca_opencode_run_format_json_http429.jsonl", 1),
    ("orca_qwen_stream_json_http429.jsonl", 1),
    ("orca_qwen_stream_json_write_edit_failed_command.jsonl", 0),
    ("damaged_claude_stream_json.jsonl", 0),
    ("damaged_codex_exec_json.jsonl", 0),
    ("damaged_gemini_stream_json.jsonl", 0),
    ("damaged_opencode_run_format_json.jsonl", 0),
];

#[test]
fn every_sample_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(name, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn samples_snapshot() {
    for (file, code) in SAMPLES {
        let (events, finish) = parse(file, ExitInfo::code(*code));
        let name = file.trim_end_matches(".jsonl").trim_end_matches(".json");
        insta::assert_json_snapshot!(name, json!({ "events": events, "verdict": finish }));
    }
}

#[test]
fn verdicts_match_what_happened() {
    let kind = |file: &str, code: i32| parse(file, ExitInfo::code(code)).1.error_kind();
    assert_eq!(kind("claude_stream_json_success.jsonl", 0), None);
    assert_eq!(kind("claude_stream_json_success.jsonl", 1), Some(ErrorKind::Crashed));
    assert_eq!(
        kind("claude_stream_json_bash_permission_denied.jsonl", 0),
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(kind("claude_stream_json_http400.jsonl", 1), Some(ErrorKind::ApiError));
    assert_eq!(kind("claude_stream_json_http500_retries.jsonl", 1), Some(ErrorKind::TransientApi));
    assert_eq!(kind("orca_claude_stream_json_http429.jsonl", 1), Some(ErrorKind::UsageLimit));
    assert_eq!(kind("orca_claude_stream_json_usage_limit.jsonl", 1), Some(ErrorKind::UsageLimit));
    assert_eq!(kind("codex_exec_json_http400.jsonl", 1), Some(ErrorKind::ApiError));
    assert_eq!(
        kind("codex_exec_json_http500_default_retries.jsonl", 1),
        Some(ErrorKind::TransientApi)
    );
    assert_eq!(kind("orca_codex_exec_json_http429.jsonl", 1), Some(ErrorKind::UsageLimit));
    assert_eq!(kind("orca_codex_exec_json_usage_limit.jsonl", 1), Some(ErrorKind::UsageLimit));
    assert_eq!(kind("codex_exec_json_shell.jsonl", 0), None);
    assert_eq!(kind("gemini_stream_json.jsonl", 0), None);
    assert_eq!(kind("opencode_run_format_json.jsonl", 0), None);
    // A failed command is the agent's business; the run succeeded.
    assert_eq!(kind("orca_qwen_stream_json_write_edit_failed_command.jsonl", 0), None);
    // The damaged streams still end in their CLI's final event.
    for file in SAMPLES.iter().map(|(f, _)| *f).filter(|f| f.starts_with("damaged_")) {
        assert_eq!(kind(file, 0), None, "{file}");
    }
}

fn limits(file: &str) -> Vec<Limit> {
    let (events, finish) = parse(file, ExitInfo::code(1));
    assert_eq!(finish.error_kind(), Some(ErrorKind::UsageLimit), "{file}");
    events
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Limited(limit) => Some(limit),
            _ => None,
        })
        .collect()
}

#[test]
fn limits_carry_their_kind_and_reset_time() {
    let kinds_and_resets = |file: &str| -> Vec<(LimitKind, Option<u64>)> {
        limits(file).iter().map(|l| (l.kind, l.resets_at)).collect()
    };
    // API key: the reset time comes from the `...|<epoch>` text.
    assert_eq!(
        kinds_and_resets("orca_claude_stream_json_usage_limit.jsonl"),
        [(LimitKind::Usage, Some(1_900_000_000))]
    );
    assert_eq!(
        kinds_and_resets("orca_claude_stream_json_http429.jsonl"),
        [(LimitKind::Rate, None)]
    );
    // Signed in: from the rate_limit_event, reported once.
    assert_eq!(
        kinds_and_resets("orca_claude_stream_json_signed_in_usage_limit.jsonl"),
        [(LimitKind::Usage, Some(1_900_000_000))]
    );
    assert_eq!(
        kinds_and_resets("orca_claude_stream_json_signed_in_http429.jsonl"),
        [(LimitKind::Rate, None)]
    );
    assert_eq!(kinds_and_resets("orca_codex_exec_json_http429.jsonl"), [(LimitKind::Rate, None)]);
    // codex gives the reset only as local time in words.
    assert_eq!(
        kinds_and_resets("orca_codex_exec_json_usage_limit.jsonl"),
        [(LimitKind::Usage, None)]
    );
    // Gemini CLI names a spent daily quota, and says nothing of the reset.
    assert_eq!(
        kinds_and_resets("orca_gemini_stream_json_daily_quota.jsonl"),
        [(LimitKind::Usage, None)]
    );
    for file in [
        "orca_gemini_stream_json_http429.jsonl",
        "orca_opencode_run_format_json_http429.jsonl",
        "orca_qwen_stream_json_http429.jsonl",
    ] {
        assert_eq!(kinds_and_resets(file), [(LimitKind::Rate, None)], "{file}");
    }
}

#[test]
fn damaged_lines_are_kept_as_unknown() {
    for file in SAMPLES.iter().map(|(f, _)| *f).filter(|f| f.starts_with("damaged_")) {
        let (events, _) = parse(file, ExitInfo::code(0));
        let unknown: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Unknown { raw } => Some(raw.as_str()),
                _ => None,
            })
            .collect();
        // Garbage, escape codes, the array, the new event type, the half
        // line, `{"type": 42}`, and the cut-off last line.
        assert_eq!(unknown.len(), 7, "{file}: {unknown:#?}");
        assert!(unknown.contains(&"this is not json at all"), "{file}");
    }
}

/// Cutting any line of any sample anywhere must not panic, and a cut JSON
/// object is never mistaken for a known event.
#[test]
fn truncated_lines_never_panic() {
    for (file, _) in SAMPLES {
        let text = std::fs::read_to_string(samples_dir().join(file)).unwrap();
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let cuts: Vec<usize> = line.char_indices().map(|(i, _)| i).step_by(5).skip(1).collect();
            for cut in cuts {
                let mut parser = parser_for(file);
                let events = parser.parse_line(&line[..cut]);
                assert!(
                    events.iter().all(|e| matches!(e, AgentEvent::Unknown { .. })),
                    "{file}: a cut line parsed as {events:?}"
                );
            }
        }
    }
}
