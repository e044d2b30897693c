//! Judging a run: the stream's terminal event plus the exit status, and
//! recognizing error kinds in the CLIs' error texts.

use crate::adapter::ExitInfo;
use crate::event::{ErrorKind, Finish, Limit, LimitKind};

/// What a parser learned about how the run is going to end.
#[derive(Debug, Default, Clone)]
pub(crate) struct Report {
    /// The CLI's own final word (`result`, `turn.completed`, ...).
    terminal: Option<Finish>,
    /// The most telling error seen on the way (retries, stderr).
    last_error: Option<(ErrorKind, String)>,
}

impl Report {
    pub(crate) fn terminal(&mut self, finish: Finish) {
        self.terminal = Some(finish);
    }

    pub(crate) fn error(&mut self, kind: ErrorKind, message: impl Into<String>) {
        self.last_error = Some((kind, message.into()));
    }

    pub(crate) fn has_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// Success needs both: the CLI said so and exited 0. A reported failure
    /// wins over the exit code; without a final event the exit status and
    /// the last error seen decide.
    pub(crate) fn conclude(&self, exit: &ExitInfo) -> Finish {
        match (&self.terminal, exit.success()) {
            (Some(Finish::Success), true) => Finish::Success,
            (Some(failed @ Finish::Failed { .. }), _) => failed.clone(),
            (Some(Finish::Success), false) => Finish::failed(
                ErrorKind::Crashed,
                format!("reported success but {}", exit.describe()),
            ),
            (None, _) => match &self.last_error {
                Some((kind, message)) => Finish::failed(*kind, message.clone()),
                None => Finish::failed(
                    ErrorKind::Crashed,
                    format!("{} without a final result", exit.describe()),
                ),
            },
        }
    }
}

/// Reads an API error text: which kind it is, and the limit it describes.
pub(crate) fn classify_api_error(status: Option<u16>, text: &str) -> (ErrorKind, Option<Limit>) {
    let lower = text.to_lowercase();
    let status = status.or_else(|| status_in_text(&lower));
    if let Some(resets_at) = claude_usage_limit_reset(text) {
        let limit =
            Limit { kind: LimitKind::Usage, resets_at: Some(resets_at), message: text.into() };
        return (ErrorKind::UsageLimit, Some(limit));
    }
    // Claude signed in: "Server is temporarily limiting requests (not your
    // usage limit)".
    let not_usage = lower.contains("not your usage limit");
    let usage_words = [
        "usage limit",
        "hit your",
        "session limit",
        "weekly limit",
        "spend limit",
        "quota exceeded",
        "insufficient_quota",
        "credit balance is too low",
        "out of usage credits",
        // Gemini CLI on a spent per-day quota.
        "exhausted your daily quota",
    ];
    if !not_usage && usage_words.iter().any(|w| lower.contains(w)) {
        let limit = Limit { kind: LimitKind::Usage, resets_at: None, message: text.into() };
        return (ErrorKind::UsageLimit, Some(limit));
    }
    if status == Some(429)
        || not_usage
        || lower.contains("rate limit")
        || lower.contains("rate_limit")
        || lower.contains("too many requests")
        // Gemini CLI's words after any 429 ("... request a quota increase
        // through AI Studio"), and the API's status name.
        || lower.contains("request a quota increase")
        || lower.contains("resource_exhausted")
        || lower.contains("resource has been exhausted")
    {
        let limit = Limit { kind: LimitKind::Rate, resets_at: None, message: text.into() };
        return (ErrorKind::UsageLimit, Some(limit));
    }
    let auth_words = [
        "invalid api key",
        "invalid x-api-key",
        "unauthorized",
        "authentication",
        "not logged in",
        "please run /login",
        "permission_error",
        "forbidden",
    ];
    if matches!(status, Some(401 | 403)) || auth_words.iter().any(|w| lower.contains(w)) {
        return (ErrorKind::Authentication, None);
    }
    let context_words = [
        "context window",
        "context_length_exceeded",
        "prompt is too long",
        "maximum context length",
        "max_turns",
        "maximum number of turns",
    ];
    if context_words.iter().any(|w| lower.contains(w)) {
        return (ErrorKind::TurnLimit, None);
    }
    let transient_words = [
        "overloaded",
        "at capacity",
        "high demand",
        "internal server error",
        "server_error",
        "service unavailable",
        "bad gateway",
        "gateway timeout",
        "unable to connect",
        "connection failed",
        "connection refused",
        "connection reset",
        "error sending request",
        "stream disconnected",
        "timed out",
        "econnrefused",
        "econnreset",
        // Node's fetch when the connection fails or is cut (Gemini CLI).
        "fetch failed",
        "terminated",
    ];
    if matches!(status, Some(500..=599)) || transient_words.iter().any(|w| lower.contains(w)) {
        return (ErrorKind::TransientApi, None);
    }
    if matches!(status, Some(400..=499)) || lower.contains("invalid_request_error") {
        return (ErrorKind::ApiError, None);
    }
    (ErrorKind::Failed, None)
}

/// `Claude AI usage limit reached|1767225600` → the epoch after the bar.
pub(crate) fn claude_usage_limit_reset(text: &str) -> Option<u64> {
    let at = text.find("usage limit reached|")?;
    let digits: String = text[at + "usage limit reached|".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// An HTTP status in an error text: a standalone 4xx/5xx number.
fn status_in_text(lower: &str) -> Option<u16> {
    let bytes = lower.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let standalone = start == 0 || !(bytes[start - 1] == b'.' || bytes[start - 1] == b'/');
        if end - start == 3
            && standalone
            && let Ok(n) = lower[start..end].parse::<u16>()
            && (400..=599).contains(&n)
        {
            return Some(n);
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_needs_exit_zero() {
        let mut report = Report::default();
        report.terminal(Finish::Success);
        assert_eq!(report.conclude(&ExitInfo::code(0)), Finish::Success);
        assert_eq!(report.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::Crashed));
    }

    #[test]
    fn without_terminal_the_last_error_or_a_crash() {
        let mut report = Report::default();
        assert_eq!(report.conclude(&ExitInfo::signal(9)).error_kind(), Some(ErrorKind::Crashed));
        assert_eq!(report.conclude(&ExitInfo::code(0)).error_kind(), Some(ErrorKind::Crashed));
        report.error(ErrorKind::TransientApi, "500");
        assert_eq!(report.conclude(&ExitInfo::code(1)).error_kind(), Some(ErrorKind::TransientApi));
    }

    #[test]
    fn classifies_known_texts() {
        let cases: &[(Option<u16>, &str, ErrorKind)] = &[
            (None, "Claude AI usage limit reached|1767225600", ErrorKind::UsageLimit),
            (Some(429), "API Error: 429 rate limited", ErrorKind::UsageLimit),
            (
                None,
                "exceeded retry limit, last status: 429 Too Many Requests",
                ErrorKind::UsageLimit,
            ),
            (None, "You've hit your usage limit. Try again at 3:00 PM.", ErrorKind::UsageLimit),
            (
                Some(429),
                "You've hit your session limit · resets Mar 17, 2030, 5:46pm (UTC)",
                ErrorKind::UsageLimit,
            ),
            (Some(401), "API Error: 401 invalid x-api-key", ErrorKind::Authentication),
            (None, "unexpected status 401 Unauthorized: bad key", ErrorKind::Authentication),
            (Some(500), "API Error: 500 scripted failure 500", ErrorKind::TransientApi),
            (Some(529), "API Error: 529 Overloaded", ErrorKind::TransientApi),
            (None, "We’re currently experiencing high demand", ErrorKind::TransientApi),
            (
                None,
                "Selected model is at capacity. Please try a different model.",
                ErrorKind::TransientApi,
            ),
            (
                None,
                "API Error: Unable to connect to API (ConnectionRefused)",
                ErrorKind::TransientApi,
            ),
            (None, "Connection failed: error sending request", ErrorKind::TransientApi),
            (
                None,
                "[API Error: slow down]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method",
                ErrorKind::UsageLimit,
            ),
            (
                None,
                "[API Error: You have exhausted your daily quota on this model.]",
                ErrorKind::UsageLimit,
            ),
            (None, "[API Error: Overloaded]", ErrorKind::TransientApi),
            (
                None,
                "[API Error: exception TypeError: fetch failed sending request]",
                ErrorKind::TransientApi,
            ),
            (Some(400), "API Error: 400 scripted failure 400", ErrorKind::ApiError),
            (None, "Prompt is too long", ErrorKind::TurnLimit),
            (None, "something odd", ErrorKind::Failed),
        ];
        for (status, text, kind) in cases {
            assert_eq!(classify_api_error(*status, text).0, *kind, "{text}");
        }
    }

    #[test]
    fn signed_in_rate_limit_is_not_a_usage_limit() {
        let text =
            "API Error: Server is temporarily limiting requests (not your usage limit) · slow down";
        let (kind, limit) = classify_api_error(Some(429), text);
        assert_eq!(kind, ErrorKind::UsageLimit);
        assert_eq!(limit.unwrap().kind, LimitKind::Rate);
        let (_, limit) =
            classify_api_error(Some(429), "You've hit your session limit · resets 5pm");
        assert_eq!(limit.unwrap().kind, LimitKind::Usage);
        let gemini_tail = "\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio";
        let (_, limit) = classify_api_error(None, &format!("[API Error: slow down]{gemini_tail}"));
        assert_eq!(limit.unwrap().kind, LimitKind::Rate);
        let (_, limit) = classify_api_error(
            None,
            &format!(
                "[API Error: You have exhausted your daily quota on this model.]{gemini_tail}"
            ),
        );
        assert_eq!(limit.unwrap().kind, LimitKind::Usage);
    }

    #[test]
    fn usage_limit_epoch_is_parsed() {
        assert_eq!(
            claude_usage_limit_reset("Claude AI usage limit reached|1767225600"),
            Some(1767225600)
        );
        let (_, limit) = classify_api_error(None, "Claude AI usage limit reached|1767225600");
        assert_eq!(limit.unwrap().resets_at, Some(1767225600));
        assert_eq!(claude_usage_limit_reset("usage limit reached"), None);
    }

    #[test]
    fn status_numbers_must_stand_alone() {
        assert_eq!(status_in_text("status 503 unavailable"), Some(503));
        assert_eq!(status_in_text("version 2.1.500"), None);
        assert_eq!(status_in_text("id 45000"), None);
    }
}
