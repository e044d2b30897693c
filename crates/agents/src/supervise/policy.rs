//! Typed timeouts for one agent run.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// How long an agent may run and go quiet, and how it is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisionPolicy {
    /// No output event for this long → stop it as stalled. `None` disables
    /// the watchdog.
    pub stall_timeout: Option<Duration>,
    /// Stop it when the run takes longer than this. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Between the polite signal and SIGKILL of the whole process group.
    pub grace: Duration,
    /// The polite signal.
    pub stop_signal: StopSignal,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        SupervisionPolicy {
            // A tool call (a build, a test suite) prints nothing while it
            // runs: the watchdog must outlast Claude's 10-minute Bash cap.
            stall_timeout: Some(Duration::from_secs(15 * 60)),
            timeout: Some(Duration::from_secs(60 * 60)),
            grace: Duration::from_secs(5),
            stop_signal: StopSignal::Terminate,
        }
    }
}

/// The signal that asks an agent to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    pub(crate) fn signal(self) -> Signal {
        match self {
            StopSignal::Interrupt => Signal::SIGINT,
            StopSignal::Terminate => Signal::SIGTERM,
        }
    }
}

/// Why a duration text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration: write a number with a unit, like 90s, 5m, 1h30m or 500ms")]
pub struct DurationError {
    text: String,
}

/// Reads `500ms`, `90s`, `5m`, `1h30m`, `2h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError { text: text.to_string() };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return trimmed.parse().map(Duration::from_secs).map_err(|_| error());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        if digits == 0 {
            return Err(error());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            _ => return Err(error()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `1h02m`, `5m00s`, `12.3s`, `450ms`: short and exact enough for humans.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if secs >= 1 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "m", "5x", "1.5s", "-1s", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_by_magnitude() {
        assert_eq!(format_duration(Duration::from_millis(450)), "450ms");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m00s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }
}
