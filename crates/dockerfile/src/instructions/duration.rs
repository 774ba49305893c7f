//! Go's `time.ParseDuration`, which docker uses for HEALTHCHECK's intervals:
//! a sign, then one or more `<number><unit>` (`1h30m`, `1.5s`, `300ms`, `2us`).
//! Hand-written because the accepted syntax must be exactly Go's.

/// Parses a Go duration into nanoseconds; the error says why it is invalid.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", crate::go::quote(text));
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let overflow = || {
        format!(
            "time: invalid duration {} (too large)",
            crate::go::quote(text)
        )
    };
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, rest) = s.split_at(int_len);
        let mut whole: u64 = 0;
        for d in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(d - b'0')))
                .ok_or_else(overflow)?;
        }
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())),
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::go::quote(text)
            ));
        }
        let (unit_text, rest) = rest.split_at(unit_len);
        let unit = unit_nanos(unit_text).ok_or_else(|| {
            format!(
                "time: unknown unit {} in duration {}",
                crate::go::quote(unit_text),
                crate::go::quote(text)
            )
        })?;
        let mut v = whole
            .checked_mul(unit)
            .filter(|v| *v <= 1 << 63)
            .ok_or_else(overflow)?;
        v = v
            .checked_add(fraction_nanos(frac_part, unit))
            .filter(|v| *v <= 1 << 63)
            .ok_or_else(overflow)?;
        total = total
            .checked_add(v)
            .filter(|t| *t <= 1 << 63)
            .ok_or_else(overflow)?;
        s = rest;
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| overflow())
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `leadingFraction` then `float64(f) * (float64(unit) / scale)`.
fn fraction_nanos(digits: &str, unit: u64) -> u64 {
    let (mut f, mut scale, mut overflowed) = (0u64, 1f64, false);
    for d in digits.bytes() {
        if overflowed {
            continue;
        }
        match f
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(d - b'0')))
        {
            Some(y) if y <= 1 << 63 => {
                f = y;
                scale *= 10.0;
            }
            _ => overflowed = true,
        }
    }
    if f == 0 {
        return 0;
    }
    (f as f64 * (unit as f64 / scale)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("5s"), Ok(5_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration(".5ms"), Ok(500_000));
        assert_eq!(parse_go_duration("300\u{b5}s"), Ok(300_000));
        assert_eq!(parse_go_duration("-2m"), Ok(-120_000_000_000));
        assert_eq!(parse_go_duration("+0s"), Ok(0));
        for bad in [
            "",
            "5",
            "s",
            "5x",
            ".s",
            "1.2.3s",
            "-",
            "9999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_go_duration("5x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"5x\""
        );
    }
}
