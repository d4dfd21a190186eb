//! The JSON store: key order kept, duplicate keys rejected, integers kept apart
//! from floats, written with tab indentation like sops (Go's `json.Indent` with
//! `"\t"`, HTML characters escaped as Go's encoder does).
use crate::tree::{Item, Value};
use crate::Error;

/// The deepest nesting of arrays and objects accepted.
const MAX_DEPTH: usize = 512;

fn parse_error(line: Option<usize>, message: impl Into<String>) -> Error {
    Error::Parse {
        format: crate::Format::Json,
        line,
        message: message.into(),
    }
}

/// The parser's state over one JSON text.
struct Parser<'a> {
    bytes: &'a [u8],
    /// The current byte offset.
    pos: usize,
    /// The current nesting depth.
    depth: usize,
}

impl Parser<'_> {
    /// The 1-based line of the current position (for error messages only).
    fn line(&self) -> usize {
        1 + self.bytes[..self.pos.min(self.bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }
    fn fail<T>(&self, what: &str) -> Result<T, Error> {
        Err(parse_error(Some(self.line()), what))
    }
    fn skip_whitespace(&mut self) {
        while self.pos < self.bytes.len()
            && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<Value, Error> {
        self.skip_whitespace();
        if self.depth > MAX_DEPTH {
            return self.fail("nesting too deep");
        }
        match self.bytes.get(self.pos) {
            None => self.fail("unexpected end of input"),
            Some(b'{') => {
                self.pos += 1;
                self.depth += 1;
                let mut items: Vec<Item> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_whitespace();
                        if self.bytes.get(self.pos) != Some(&b'"') {
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
                self.pos += 1;
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
            Some(b't') if self.bytes[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.bytes[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            Some(b'n') if self.bytes[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::Null)
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.pos < self.bytes.len()
                    && matches!(
                        self.bytes[self.pos],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.pos += 1;
                }
                let number = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("");
                if let Ok(n) = number.parse::<i64>() {
                    Ok(Value::Int(n))
                } else if let Ok(x) = number.parse::<f64>() {
                    Ok(Value::Float(x))
                } else {
                    self.fail("invalid number")
                }
            }
            Some(_) => self.fail("unexpected character"),
        }
    }
    fn hex4(&mut self) -> Result<u32, Error> {
        let hex = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| parse_error(Some(self.line()), "truncated \\u escape"))?;
        self.pos += 4;
        u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
            .map_err(|_| parse_error(Some(self.line()), "invalid \\u escape"))
    }
    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.bytes.get(self.pos) else {
                return self.fail("unterminated string");
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return self.fail("unterminated string");
                    };
                    self.pos += 1;
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
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
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
            .map_err(|_| parse_error(Some(self.line()), "string is not valid UTF-8"))
    }
}

/// Parses a JSON document whose top level must be an object.
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut parser = Parser {
        bytes: input,
        pos: 0,
        depth: 0,
    };
    parser.skip_whitespace();
    if parser.bytes.get(parser.pos) != Some(&b'{') {
        return Err(parse_error(
            None,
            "the top level must be an object ({…}); sops cannot encrypt top-level arrays or scalars",
        ));
    }
    let v = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return parser.fail("trailing data after the top-level object");
    }
    match v {
        Value::Map(items) => Ok(items),
        _ => Err(Error::Internal("object parsed as non-map")),
    }
}

/// Parses any JSON value (used for `set` values).
pub(crate) fn parse_value(input: &[u8]) -> Result<Value, Error> {
    let mut parser = Parser {
        bytes: input,
        pos: 0,
        depth: 0,
    };
    let v = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return parser.fail("trailing data after the value");
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
pub(crate) fn write_string(out: &mut String, s: &str) {
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
pub(crate) fn write_value(out: &mut String, v: &Value, depth: usize, indent: &str) {
    let pad = |out: &mut String, d: usize| {
        for _ in 0..d {
            out.push_str(indent);
        }
    };
    match v {
        Value::Map(items) => write_map(out, items.iter(), depth, indent),
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

fn write_map<'a>(
    out: &mut String,
    items: impl Iterator<Item = &'a Item>,
    depth: usize,
    indent: &str,
) {
    let entries: Vec<(&String, &Value)> = items
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
        for _ in 0..depth + 1 {
            out.push_str(indent);
        }
        write_string(out, k);
        out.push_str(": ");
        write_value(out, v, depth + 1, indent);
        if n + 1 < entries.len() {
            out.push(',');
        }
        out.push('\n');
    }
    for _ in 0..depth {
        out.push_str(indent);
    }
    out.push('}');
}

/// Emits a top-level object (plus an `extra` entry such as `sops`, without
/// copying the tree) followed by a newline.
pub(crate) fn emit(items: &[Item], extra: Option<&Item>, indent: &str) -> Vec<u8> {
    let mut out = String::new();
    write_map(&mut out, items.iter().chain(extra), 0, indent);
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit() {
        let items = parse(br#"{"a": 1, "b": [1.5, true, null, "x<"], "c": {}}"#).unwrap();
        let s = String::from_utf8(emit(&items, None, "\t")).unwrap();
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
