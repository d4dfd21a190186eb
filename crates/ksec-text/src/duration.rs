//! Go's `time.ParseDuration`, exactly: an optional sign, then one or more decimal numbers
//! (with an optional fraction) each followed by a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`,
//! `m`, `h`), or the bare `0`. Arithmetic is in integer nanoseconds, as Go's, so `0.1s`
//! is exactly 100 ms and values past `i64::MAX` nanoseconds are errors, not wrapped.
//! ksec adds one unit, `d` (24 h), for certificate validity periods.
use crate::Error;
use std::time::Duration;

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration of zero or more (`720h`, `1h30m`, `1.5s`, `30d`, `0`).
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let nanos = parse_signed_duration(s)?;
    if nanos < 0 {
        return Err(Error::NegativeDuration {
            value: s.to_string(),
        });
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a duration that may be negative (`-2s`), into nanoseconds, as Go's
/// `time.Duration` holds it. Leading and trailing spaces are ignored; spaces inside are not.
pub fn parse_signed_duration(s: &str) -> Result<i64, Error> {
    let invalid = |reason| Error::InvalidDuration {
        value: s.to_string(),
        reason,
    };
    let text = s.trim();
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut total: u64 = 0;
    let overflow = || Error::DurationOverflow {
        value: s.to_string(),
    };
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            fraction = &after_dot[..len];
            rest = &after_dot[len..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid("a number is missing before the unit"));
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(invalid("a unit is missing (ns, us, ms, s, m, h or d)"));
        }
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| invalid("unknown unit (use ns, us, ms, s, m, h or d)"))?;
        let whole_value: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut value = whole_value.checked_mul(scale).ok_or_else(overflow)?;
        // The fraction is added digit by digit, as Go does, dropping digits beyond
        // what a nanosecond can resolve instead of rounding through floating point.
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value = value
                .checked_add(u64::from(digit - b'0') * place)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(value).ok_or_else(overflow)?;
    }
    if negative {
        if total > i64::MAX as u64 + 1 {
            return Err(overflow());
        }
        Ok((-(total as i128)) as i64)
    } else {
        i64::try_from(total).map_err(|_| overflow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_syntax() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("3s", 3_000_000_000),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1.5h", 5_400_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("0.1s", 100_000_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            ("1us", 1_000),
            ("7ns", 7),
            ("-2s", -2_000_000_000),
            ("+2s", 2_000_000_000),
            ("720h", 720 * 3_600_000_000_000),
            ("30d", 30 * 86_400_000_000_000),
            ("1h0m0s", 3_600_000_000_000),
            (" 5m ", 300_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_signed_duration(text), Ok(*nanos), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in [
            "", "3", "3 s", "s", ".s", "1y", "1.5", "--1s", "1h 30m", "-",
        ] {
            assert!(
                matches!(
                    parse_signed_duration(bad),
                    Err(Error::InvalidDuration { .. })
                ),
                "{bad:?}"
            );
        }
        for big in ["9223372036854775808ns", "3000000h", "99999999999999999999s"] {
            assert!(
                matches!(
                    parse_signed_duration(big),
                    Err(Error::DurationOverflow { .. })
                ),
                "{big}"
            );
        }
    }

    #[test]
    fn unsigned_refuses_negative_with_a_message_naming_the_value() {
        let e = parse_duration("-1h").unwrap_err();
        assert!(matches!(e, Error::NegativeDuration { .. }));
        assert!(e.to_string().contains("\"-1h\""));
        let e = parse_duration("10y").unwrap_err().to_string();
        assert!(e.contains("\"10y\"") && e.contains("unknown unit"), "{e}");
    }

    proptest! {
        #[test]
        fn hours_and_minutes_add_up(h in 0u64..100_000, m in 0u64..60, s in 0u64..60) {
            let d = parse_duration(&format!("{h}h{m}m{s}s")).unwrap();
            prop_assert_eq!(d, Duration::from_secs(h * 3600 + m * 60 + s));
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_signed_duration(&s);
        }
    }
}
