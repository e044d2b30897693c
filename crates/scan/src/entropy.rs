//! Shannon entropy of a candidate secret, in bits per byte.

/// Shannon entropy of `bytes` in bits per symbol (byte): 0 for a run of one
/// byte, 4 for 16 equally frequent symbols (hex), about 5.2 for random
/// base64 of a few dozen characters. Empty input has entropy 0.
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::shannon_entropy;

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaaaaaa"), 0.0);
        assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-12);
        assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-12);
        // Two symbols, one three times as frequent: -(3/4 log 3/4 + 1/4 log 1/4).
        let expected = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        assert!((shannon_entropy(b"aaab") - expected).abs() < 1e-12);
    }
}
