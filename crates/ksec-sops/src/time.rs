//! RFC 3339 times the way Go's `time` package prints them (sops's
//! `lastmodified`, `created_at`, and YAML timestamps).

/// Now, UTC, to the second: `2006-01-02T15:04:05Z`.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_unix(secs)
}

/// Formats seconds since the epoch as RFC 3339 UTC.
pub(crate) fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The text sops uses as the MAC's additional data: `lastmodified` parsed and
/// printed again as Go's `time.RFC3339` (fractional seconds dropped).
pub(crate) fn mac_aad(last_modified: &str) -> String {
    match last_modified.find('.') {
        Some(dot) if last_modified[..dot].contains('T') => {
            let tail = &last_modified[dot + 1..];
            let zone = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{}{}", &last_modified[..dot], zone)
        }
        _ => last_modified.to_string(),
    }
}

/// Recognises a YAML timestamp (YAML 1.1 `timestamp` as go-yaml accepts it) and
/// returns it as Go's `time.Time` text form (RFC 3339 with nanoseconds trimmed).
pub(crate) fn yaml_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 10 || !digits(0..4) || b[4] != b'-' {
        return None;
    }
    // Month and day may have one digit in YAML 1.1; go-yaml accepts 2006-1-2 too.
    let mut i = 5;
    let num = |i: &mut usize| -> Option<u32> {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - st < 2 {
            *i += 1;
        }
        if *i == st {
            return None;
        }
        s[st..*i].parse().ok()
    };
    let mo = num(&mut i)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let d = num(&mut i)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let date = format!("{}-{mo:02}-{d:02}", &s[..4]);
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = b[i];
    if !(sep == b'T' || sep == b't' || sep == b' ' || sep == b'\t') {
        return None;
    }
    let rest = s[i + 1..].trim_start();
    let rb = rest.as_bytes();
    let mut j = 0;
    let two = |j: &mut usize| -> Option<u32> {
        let st = *j;
        while *j < rb.len() && rb[*j].is_ascii_digit() && *j - st < 2 {
            *j += 1;
        }
        if *j == st {
            return None;
        }
        rest[st..*j].parse().ok()
    };
    let h = two(&mut j)?;
    if rb.get(j) != Some(&b':') {
        return None;
    }
    j += 1;
    let mi = two(&mut j)?;
    if rb.get(j) != Some(&b':') {
        return None;
    }
    j += 1;
    let se = two(&mut j)?;
    let mut frac = String::new();
    if rb.get(j) == Some(&b'.') {
        j += 1;
        let st = j;
        while j < rb.len() && rb[j].is_ascii_digit() {
            j += 1;
        }
        frac = rest[st..j].trim_end_matches('0').to_string();
    }
    let zone = rest[j..].trim_start();
    let zone = match zone {
        "" | "Z" | "z" => "Z".to_string(),
        z if (z.starts_with('+') || z.starts_with('-')) && z.len() >= 2 => {
            let (sign, hm) = z.split_at(1);
            let (zh, zm) = match hm.split_once(':') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None if hm.len() <= 2 => (hm.to_string(), "00".to_string()),
                None => (hm[..2].to_string(), hm[2..].to_string()),
            };
            let zh: u32 = zh.parse().ok()?;
            let zm: u32 = zm.parse().ok()?;
            if zh == 0 && zm == 0 {
                "Z".to_string()
            } else {
                format!("{sign}{zh:02}:{zm:02}")
            }
        }
        _ => return None,
    };
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!("{date}T{h:02}:{mi:02}:{se:02}{frac}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(mac_aad("2020-10-07T15:49:13Z"), "2020-10-07T15:49:13Z");
        assert_eq!(
            mac_aad("2020-10-07T15:49:13.123+02:00"),
            "2020-10-07T15:49:13+02:00"
        );
        assert_eq!(
            yaml_timestamp("2001-12-14").as_deref(),
            Some("2001-12-14T00:00:00Z")
        );
        assert_eq!(
            yaml_timestamp("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            yaml_timestamp("2001-12-14 21:59:43.10 -5").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(yaml_timestamp("2001-13-14"), None);
        assert_eq!(yaml_timestamp("hello"), None);
    }
}
