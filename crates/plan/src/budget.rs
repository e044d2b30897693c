//! A task's `budget` field: the most tokens and/or money its attempts may
//! spend, e.g. `$2`, `300k tokens` or `$1.50, 300k tokens`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a task may spend over all its attempts. Money is kept in
/// millionths of a US dollar so that plans compare exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Input plus output tokens.
    pub tokens: Option<u64>,
    /// US dollars × 1,000,000.
    pub usd_micros: Option<u64>,
}

impl Budget {
    /// Parses one or two limits separated by a comma or `and`: money as
    /// `$2`, `$0.75`, `2 usd`; tokens as `300000 tokens`, `300k tokens`,
    /// `1.5M tokens`. Each kind at most once, every limit above zero.
    pub fn parse(text: &str) -> Option<Budget> {
        let mut budget = Budget::default();
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        for part in text.split(',').flat_map(|part| part.split(" and ")) {
            let part = part.trim();
            if let Some(micros) = parse_usd(part) {
                if budget.usd_micros.replace(micros).is_some() || micros == 0 {
                    return None;
                }
            } else if let Some(tokens) = parse_tokens(part) {
                if budget.tokens.replace(tokens).is_some() || tokens == 0 {
                    return None;
                }
            } else {
                return None;
            }
        }
        Some(budget)
    }

    /// Whether it limits nothing.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_none() && self.usd_micros.is_none()
    }

    /// The money limit in dollars.
    pub fn usd(&self) -> Option<f64> {
        self.usd_micros.map(|micros| micros as f64 / 1e6)
    }
}

/// `$2`, `$0.75`, `2usd`, `2 USD`.
fn parse_usd(text: &str) -> Option<u64> {
    let number = match text.strip_prefix('$') {
        Some(rest) => rest.trim(),
        None => {
            let lower = text.to_ascii_lowercase();
            let cut = lower.strip_suffix("usd")?.len();
            text[..cut].trim()
        }
    };
    decimal_times(number, 1_000_000)
}

/// `300000 tokens`, `300k tokens`, `1.5M tokens` (`tok` also reads).
fn parse_tokens(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let number = ["tokens", "token", "tok"].iter().find_map(|unit| lower.strip_suffix(unit))?;
    let number = number.trim();
    let (digits, factor) = match number.as_bytes().last()? {
        b'k' => (&number[..number.len() - 1], 1_000),
        b'm' => (&number[..number.len() - 1], 1_000_000),
        _ => (number, 1),
    };
    decimal_times(digits.trim_end(), factor)
}

/// `text` (digits, optionally a point and more digits) times `factor`,
/// when that is a whole number.
fn decimal_times(text: &str, factor: u64) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut value = whole.parse::<u64>().ok()?.checked_mul(factor)?;
    let mut scale = factor;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            // Finer than the unit: only zeros may follow.
            if digit != b'0' {
                return None;
            }
            continue;
        }
        value = value.checked_add(u64::from(digit - b'0') * scale)?;
    }
    Some(value)
}

impl fmt::Display for Budget {
    /// The form [`Budget::parse`] reads back: `$1.5, 300k tokens`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(micros) = self.usd_micros {
            let whole = micros / 1_000_000;
            let fraction = micros % 1_000_000;
            if fraction == 0 {
                parts.push(format!("${whole}"));
            } else {
                let fraction = format!("{fraction:06}");
                parts.push(format!("${whole}.{}", fraction.trim_end_matches('0')));
            }
        }
        if let Some(tokens) = self.tokens {
            parts.push(match tokens {
                t if t.is_multiple_of(1_000_000) => format!("{}M tokens", t / 1_000_000),
                t if t.is_multiple_of(1_000) => format!("{}k tokens", t / 1_000),
                t => format!("{t} tokens"),
            });
        }
        f.write_str(&parts.join(", "))
    }
}

/// The JSON form: `{"tokens": 300000, "usd": 1.5}`, a key only when set.
#[derive(Serialize, Deserialize)]
struct BudgetJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usd: Option<f64>,
}

impl Serialize for Budget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BudgetJson { tokens: self.tokens, usd: self.usd() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = BudgetJson::deserialize(deserializer)?;
        let usd_micros = match json.usd {
            Some(usd) if usd.is_finite() && usd >= 0.0 => Some((usd * 1e6).round() as u64),
            Some(usd) => {
                return Err(serde::de::Error::custom(format!("`usd` must be ≥ 0, got {usd}")));
            }
            None => None,
        };
        Ok(Budget { tokens: json.tokens, usd_micros })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(tokens: Option<u64>, usd_micros: Option<u64>) -> Budget {
        Budget { tokens, usd_micros }
    }

    #[test]
    fn reads_money_tokens_and_both() {
        assert_eq!(Budget::parse("$2"), Some(budget(None, Some(2_000_000))));
        assert_eq!(Budget::parse("$0.75"), Some(budget(None, Some(750_000))));
        assert_eq!(Budget::parse("1.5 USD"), Some(budget(None, Some(1_500_000))));
        assert_eq!(Budget::parse("300k tokens"), Some(budget(Some(300_000), None)));
        assert_eq!(Budget::parse("1.5M tokens"), Some(budget(Some(1_500_000), None)));
        assert_eq!(Budget::parse("1200 tokens"), Some(budget(Some(1_200), None)));
        assert_eq!(
            Budget::parse("$1.50, 300k tokens"),
            Some(budget(Some(300_000), Some(1_500_000)))
        );
        assert_eq!(
            Budget::parse("300k tokens and $3"),
            Some(budget(Some(300_000), Some(3_000_000)))
        );
    }

    #[test]
    fn refuses_what_is_not_one_limit_of_each_kind() {
        for text in [
            "",
            "2",
            "$",
            "$-1",
            "$0",
            "0 tokens",
            "lots",
            "$1, $2",
            "1k tokens, 2k tokens",
            "$1.0000001",
            "1.5 tokens",
            "$1;",
        ] {
            assert_eq!(Budget::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn writes_what_it_reads() {
        for text in ["$2", "$0.75", "300k tokens", "2M tokens", "1234 tokens", "$1.5, 300k tokens"]
        {
            let parsed = Budget::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(Budget::parse(&parsed.to_string()), Some(parsed));
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(serde_json::from_str::<Budget>(&json).unwrap(), parsed, "{json}");
        }
    }
}
