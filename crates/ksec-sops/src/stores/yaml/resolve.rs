//! How go-yaml v3 resolves a plain scalar: null, booleans, integers (decimal,
//! `0x`, `0o`, `0b`), floats (with `.inf`/`.nan`), timestamps, else a string.
use crate::tree::Value;

/// go-yaml v3's resolution of a plain scalar.
pub(super) fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return Value::Int(i);
    }
    if is_float(s) {
        if let Ok(x) = s.replace('_', "").parse::<f64>() {
            return Value::Float(x);
        }
    }
    if let Some(t) = crate::time::yaml_timestamp(s) {
        return Value::Time(t);
    }
    Value::Str(s.to_string())
}

/// Integers as go-yaml v3 reads them: decimal, `0x`, `0o`, `0b` (and old `0`-octal is a string).
pub(super) fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = body.strip_prefix("0o") {
        (8, o)
    } else if let Some(b) = body.strip_prefix("0b") {
        (2, b)
    } else if body.len() > 1 && body.starts_with('0') {
        // Go's ParseInt with base 0 (which go-yaml v3 uses) reads 0755 as octal.
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_hexdigit() || c == b'_')
        || digits.starts_with('_')
    {
        return None;
    }
    let digits = digits.replace('_', "");
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

fn is_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let mant_ok = {
        let (ip, fp) = match mant.split_once('.') {
            Some((a, c)) => (a, Some(c)),
            None => (mant, None),
        };
        let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit() || c == b'_');
        match fp {
            Some(f) => digits(ip) && digits(f) && !(ip.is_empty() && f.is_empty()),
            None => !ip.is_empty() && digits(ip),
        }
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        }
    };
    mant_ok && exp_ok && (mant.contains('.') || exp.is_some() || parse_int(s).is_none())
}
