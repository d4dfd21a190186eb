//! The JSON store: key order kept, duplicate keys rejected, integers kept apart
//! from floats, written with tab indentation like sops (Go's `json.Indent` with
//! `"\t"`, HTML characters escaped as Go's encoder does).
use crate::tree::{Item, Value};
use crate::Error;

fn err(msg: String) -> Error {
    Error::Parse {
        format: "JSON",
        msg,
    }
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn line(&self) -> usize {
        1 + self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }
    fn fail<T>(&self, what: &str) -> Result<T, Error> {
        Err(err(format!("line {}: {what}", self.line())))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        if self.depth > 512 {
            return self.fail("nesting too deep");
        }
        match self.s.get(self.i) {
            None => self.fail("unexpected end of input"),
            Some(b'{') => {
                self.i += 1;
                self.depth += 1;
                let mut items: Vec<Item> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return self.fail("expected a string key");
                        }
                        let k = self.string()?;
                        if !seen.insert(k.clone()) {
                            return self.fail(&format!("duplicate key {k:?}"));
                        }
                        if !self.eat(b':') {
                            return self.fail(&format!("expected ':' after key {k:?}"));
                        }
                        let v = self.value()?;
                        items.push(Item::Entry(k, v));
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b'}') {
                            break;
                        }
                        return self.fail("expected ',' or '}'");
                    }
                }
                self.depth -= 1;
                Ok(Value::Map(items))
            }
            Some(b'[') => {
                self.i += 1;
                self.depth += 1;
                let mut v = Vec::new();
                if !self.eat(b']') {
                    loop {
                        v.push(self.value()?);
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b']') {
                            break;
                        }
                        return self.fail("expected ',' or ']'");
                    }
                }
                self.depth -= 1;
                Ok(Value::Seq(v))
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Value::Null)
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let st = self.i;
                self.i += 1;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[st..self.i]).unwrap_or("");
                if let Ok(n) = t.parse::<i64>() {
                    Ok(Value::Int(n))
                } else if let Ok(x) = t.parse::<f64>() {
                    Ok(Value::Float(x))
                } else {
                    self.fail("invalid number")
                }
            }
            Some(_) => self.fail("unexpected character"),
        }
    }
    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| err("truncated \\u escape".into()))?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).unwrap_or("x"), 16)
            .map_err(|_| err(format!("line {}: invalid \\u escape", self.line())))
    }
    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.fail("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.fail("unterminated string");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => return self.fail("invalid escape in string"),
                    }
                }
                c if c < 0x20 => return self.fail("control character in string"),
                c => out.push(c),
            }
        }
        String::from_utf8(out)
            .map_err(|_| err(format!("line {}: string is not valid UTF-8", self.line())))
    }
}

/// Parses a JSON document whose top level must be an object.
pub fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut p = P {
        s: input,
        i: 0,
        depth: 0,
    };
    p.ws();
    if p.s.get(p.i) != Some(&b'{') {
        return Err(err(
            "the top level must be an object ({…}); sops cannot encrypt top-level arrays or scalars".into(),
        ));
    }
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return p.fail("trailing data after the top-level object");
    }
    match v {
        Value::Map(items) => Ok(items),
        _ => Err(Error::Internal("object parsed as non-map")),
    }
}

/// Parses any JSON value (used for `set` values).
pub fn parse_value(input: &[u8]) -> Result<Value, Error> {
    let mut p = P {
        s: input,
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return p.fail("trailing data after the value");
    }
    Ok(v)
}

/// Go's `encoding/json` float format.
fn go_json_float(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{x:e}");
        // Rust prints 1e22 / 1e-7; Go prints 1e+22 / 1e-07.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        let digits = if digits.len() < 2 {
            format!("0{digits}")
        } else {
            digits.to_string()
        };
        // Go trims e-07 to e-7 for json.
        let digits = digits.trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        return format!("{m}e{sign}{digits}");
    }
    crate::tree::go_float_f(x)
}

/// Writes a JSON string as Go's encoder does (HTML-safe escapes).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a value with tab indentation at `depth`.
pub fn write_value(out: &mut String, v: &Value, depth: usize, indent: &str) {
    let pad = |out: &mut String, d: usize| {
        for _ in 0..d {
            out.push_str(indent);
        }
    };
    match v {
        Value::Map(items) => {
            let entries: Vec<(&String, &Value)> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Entry(k, v) => Some((k, v)),
                    Item::Comment(_) => None,
                })
                .collect();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            for (n, (k, v)) in entries.iter().enumerate() {
                pad(out, depth + 1);
                write_string(out, k);
                out.push_str(": ");
                write_value(out, v, depth + 1, indent);
                if n + 1 < entries.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, depth);
            out.push('}');
        }
        Value::Seq(vs) => {
            let vs: Vec<&Value> = vs
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if vs.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (n, v) in vs.iter().enumerate() {
                pad(out, depth + 1);
                write_value(out, v, depth + 1, indent);
                if n + 1 < vs.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Str(s) | Value::Time(s) => write_string(out, s),
        Value::Comment(s) => write_string(out, s),
        Value::Bytes(b) => write_string(out, &String::from_utf8_lossy(b)),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(x) => out.push_str(&go_json_float(*x)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// Emits a top-level object followed by a newline.
pub fn emit(items: &[Item], indent: &str) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, &Value::Map(items.to_vec()), 0, indent);
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit() {
        let items = parse(br#"{"a": 1, "b": [1.5, true, null, "x<"], "c": {}}"#).unwrap();
        let s = String::from_utf8(emit(&items, "\t")).unwrap();
        assert_eq!(s, "{\n\t\"a\": 1,\n\t\"b\": [\n\t\t1.5,\n\t\ttrue,\n\t\tnull,\n\t\t\"x\\u003c\"\n\t],\n\t\"c\": {}\n}\n");
        assert!(parse(b"[1]").is_err());
        assert!(parse(br#"{"a":1,"a":2}"#)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
        assert_eq!(go_json_float(1e22), "1e+22");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1000.0), "1000");
    }
}
