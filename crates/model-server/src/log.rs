//! The request log: every request the server received, in order, with the
//! rule that answered it. Tests read it for assertions; `orca model-server
//! --log FILE` also appends it to a JSONL file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Api;

/// Headers whose values are credentials: logged as `<redacted>`.
const SECRET_HEADERS: [&str; 5] =
    ["authorization", "x-api-key", "x-goog-api-key", "cookie", "proxy-authorization"];

/// One request as the server saw and answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// The request's number, from 1, in arrival order.
    pub seq: u64,
    /// When it arrived, Unix milliseconds.
    pub unix_ms: u64,
    /// `POST`, `HEAD`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any (e.g. `beta=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The API the path speaks; none for `HEAD /` and unknown paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// Request headers (names lower-case; credentials redacted).
    pub headers: BTreeMap<String, String>,
    /// The JSON body (a string if it was not JSON; null if empty).
    pub body: Value,
    /// The turn number the rules saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Whether the rules saw a tool result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<bool>,
    /// The answering rule's index in the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
    /// The answering rule's name (`rule <index>` when unnamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The HTTP status sent; none for a stall or a disconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What the server did, in words: `message`, `fault rate_limit`,
    /// `no rule matched: ...`, `not found`, ...
    pub outcome: String,
}

impl LoggedRequest {
    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Whether the body's text holds `needle` anywhere (handy for markers).
    pub fn body_contains(&self, needle: &str) -> bool {
        self.body.to_string().contains(needle)
    }
}

/// Header values for the log, credentials redacted.
pub(crate) fn loggable_headers(headers: &hyper::HeaderMap) -> BTreeMap<String, String> {
    let mut logged = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        let value = if SECRET_HEADERS.contains(&name) {
            "<redacted>".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        logged
            .entry(name.to_string())
            .and_modify(|existing: &mut String| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    logged
}

/// The log in memory plus the optional JSONL file.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: Vec<LoggedRequest>,
    file: Option<File>,
}

impl RequestLog {
    pub(crate) fn with_file(path: &Path) -> std::io::Result<RequestLog> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(RequestLog { entries: Vec::new(), file: Some(file) })
    }

    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if let Some(file) = &mut self.file {
            let mut line = serde_json::to_string(&entry).expect("a log entry serializes");
            line.push('\n');
            if let Err(error) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
                tracing::warn!(%error, "cannot append to the request log file");
            }
        }
        self.entries.push(entry);
    }

    pub(crate) fn entries(&self) -> &[LoggedRequest] {
        &self.entries
    }
}
