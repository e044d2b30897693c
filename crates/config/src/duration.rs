//! Durations as people write them in config files: "90s", "5m", "1h30m".

use std::fmt;
use std::time::Duration;

/// Units from largest to smallest; a duration names each at most once, in this order.
const UNITS: [(&str, u64); 5] =
    [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Why a duration string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("`{text}` is not a duration: {why}")]
    Malformed { text: String, why: &'static str },
    #[error("`{text}` is too long a duration")]
    Overflow { text: String },
}

/// Parses a duration such as `"90s"`, `"5m"`, `"1h30m"`, `"250ms"` or `"2d"`.
///
/// Each unit (`d`, `h`, `m`, `s`, `ms`) appears at most once, largest first,
/// so a value reads one way only. Whitespace is not allowed.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = |why| DurationError::Malformed { text: text.to_owned(), why };
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the smallest unit seen so far; the next must be smaller.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed("expected a number, like \"90s\", \"5m\" or \"1h30m\""));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::Overflow { text: text.to_owned() })?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters == 0 {
            return Err(malformed("a number needs a unit: ms, s, m, h or d"));
        }
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let Some(position) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(malformed("units are ms, s, m, h and d"));
        };
        if position < next_unit {
            return Err(malformed("write each unit once, largest first, like \"1h30m\""));
        }
        next_unit = position + 1;
        let part = number
            .checked_mul(UNITS[position].1)
            .ok_or_else(|| DurationError::Overflow { text: text.to_owned() })?;
        total_ms = total_ms
            .checked_add(part)
            .ok_or_else(|| DurationError::Overflow { text: text.to_owned() })?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Shows a duration the way [`parse_duration`] reads it, in hours, minutes,
/// seconds and milliseconds: `90s` shows as `1m30s`. Sub-millisecond parts
/// are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    // Days are accepted on input but hours read more plainly on output.
    for (name, size) in &UNITS[1..] {
        let count = ms / size;
        if count > 0 {
            text.push_str(&count.to_string());
            text.push_str(name);
            ms -= count * size;
        }
    }
    text
}

/// A [`Duration`] that prints as `format_duration` does.
#[derive(Debug, Clone, Copy)]
pub struct DisplayDuration(pub Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// serde glue: a duration field written as a human string.
pub(crate) mod serde_human {
    use std::time::Duration;

    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        de.deserialize_str(HumanDuration)
    }

    struct HumanDuration;

    impl Visitor<'_> for HumanDuration {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration in quotes, like \"90s\", \"5m\" or \"1h30m\"")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Duration, E> {
            super::parse_duration(text).map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_forms() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1m30s500ms"), Ok(Duration::from_millis(90_500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_could_be_misread() {
        for bad in ["", "5", "m", "5 m", "1.5h", "30m1h", "5m5m", "5x", "-5s", "5mins"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(parse_duration("999999999999999d"), Err(DurationError::Overflow { .. })));
    }

    #[test]
    fn formats_back_to_what_it_reads() {
        for (ms, text) in
            [(0, "0s"), (90_000, "1m30s"), (3_600_000, "1h"), (5_400_250, "1h30m250ms")]
        {
            let duration = Duration::from_millis(ms);
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
    }
}
