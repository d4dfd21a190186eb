//! A YAML emitter laid out like go-yaml v3 with sops's settings (indent 4 by
//! default): block style, sequences indented under their key, nested
//! indentation rounded up to the indent step, comments as `#` lines, multi-line
//! strings as literal blocks, strings quoted only when go-yaml would quote them.
use super::parse::{parse_int, resolve_plain};
use crate::tree::{go_float_f, Item, Value};

/// Writes one document (a top-level mapping).
pub fn emit_document(items: &[Item], indent: usize, out: &mut String) {
    let indent = indent.max(1);
    let mut e = E { out, step: indent };
    if items.is_empty() {
        e.out.push_str("{}\n");
        return;
    }
    e.map(items, 0);
}

/// Writes a single value (sops's `EmitValue`, used by `--extract`).
pub fn emit_value(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    let mut e = E {
        out: &mut out,
        step: indent.max(1),
    };
    match v {
        Value::Map(items) if !items.is_empty() => e.map(items, 0),
        Value::Seq(vs) if !vs.is_empty() => e.seq(vs, 0),
        other => {
            e.leaf(other, 0);
            e.out.push('\n');
        }
    }
    out
}

struct E<'a> {
    out: &'a mut String,
    step: usize,
}

impl E<'_> {
    fn pad(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    /// Indentation of a collection nested under a mapping key at `col`.
    fn nested(&self, col: usize) -> usize {
        self.step * ((col + self.step) / self.step)
    }

    /// A block mapping whose keys sit at `col`; the first key is written at the
    /// current position (after `- ` in a sequence), the rest after padding.
    fn map(&mut self, items: &[Item], col: usize) {
        let mut first = true;
        for it in items {
            if !first {
                self.pad(col);
            }
            first = false;
            match it {
                Item::Comment(c) => {
                    self.out.push('#');
                    self.out.push_str(c);
                    self.out.push('\n');
                }
                Item::Entry(k, v) => {
                    if k == "<<" {
                        self.out.push_str("!!merge <<");
                    } else {
                        self.scalar_str(k, col, true);
                    }
                    self.out.push(':');
                    self.value_after_key(v, col);
                }
            }
        }
    }

    fn value_after_key(&mut self, v: &Value, col: usize) {
        match v {
            Value::Map(items) if has_entries_or_comments(items) => {
                self.out.push('\n');
                let c = self.nested(col);
                self.pad(c);
                self.map(items, c);
            }
            Value::Seq(vs) if !vs.is_empty() => {
                self.out.push('\n');
                let c = self.nested(col);
                self.pad(c);
                self.seq(vs, c);
            }
            _ => {
                self.out.push(' ');
                self.leaf(v, col);
                self.out.push('\n');
            }
        }
    }

    /// A block sequence whose dashes sit at `col`; the first item at the current position.
    fn seq(&mut self, vs: &[Value], col: usize) {
        let mut first = true;
        for v in vs {
            if !first {
                self.pad(col);
            }
            first = false;
            match v {
                Value::Comment(c) if !c.starts_with("ENC[") => {
                    self.out.push('#');
                    self.out.push_str(c);
                    self.out.push('\n');
                }
                Value::Map(items) if has_entries_or_comments(items) => {
                    self.out.push_str("- ");
                    self.map(items, col + 2);
                }
                Value::Seq(inner) if !inner.is_empty() => {
                    self.out.push_str("- ");
                    self.seq(inner, col + 2);
                }
                _ => {
                    self.out.push_str("- ");
                    self.leaf(v, col + 2);
                    self.out.push('\n');
                }
            }
        }
    }

    fn leaf(&mut self, v: &Value, col: usize) {
        match v {
            Value::Map(_) => self.out.push_str("{}"),
            Value::Seq(_) => self.out.push_str("[]"),
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(x) => self.out.push_str(&yaml_float(*x)),
            Value::Time(t) => self.out.push_str(t),
            Value::Str(s) | Value::Comment(s) => self.scalar_str(s, col, false),
            Value::Bytes(b) => self.scalar_str(&String::from_utf8_lossy(b), col, false),
        }
    }

    fn scalar_str(&mut self, s: &str, col: usize, is_key: bool) {
        match style(s, is_key) {
            Style::Plain => self.out.push_str(s),
            Style::Single => {
                self.out.push('\'');
                self.out.push_str(&s.replace('\'', "''"));
                self.out.push('\'');
            }
            Style::Double => double(self.out, s),
            Style::Literal => {
                let trailing = s.len() - s.trim_end_matches('\n').len();
                self.out.push('|');
                match trailing {
                    0 => self.out.push('-'),
                    1 => {}
                    _ => self.out.push('+'),
                }
                self.out.push('\n');
                let ind = self.nested(col.saturating_sub(0)).max(col + 1);
                let ind = if ind <= col { col + self.step } else { ind };
                let body = if trailing >= 1 { &s[..s.len() - 1] } else { s };
                for line in body.split('\n') {
                    if !line.is_empty() {
                        self.pad(ind);
                        self.out.push_str(line);
                    }
                    self.out.push('\n');
                }
                // The caller adds the final line break.
                self.out.pop();
            }
        }
    }
}

fn has_entries_or_comments(items: &[Item]) -> bool {
    !items.is_empty()
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v3 floats: `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's infinities.
pub fn yaml_float(x: f64) -> String {
    if x.is_nan() {
        return ".nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Go's shortest 'g': exponent form when the decimal exponent is < -4 or >= 6.
    let e = format!("{x:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let (sign, d) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        return format!("{mant}e{sign}{d:02}");
    }
    go_float_f(x)
}

fn is_yaml11_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn style(s: &str, is_key: bool) -> Style {
    if s.is_empty() {
        return Style::Double;
    }
    // Would it read back as something other than this string?
    if !matches!(resolve_plain(s), Value::Str(_)) || is_yaml11_bool(s) || parse_int(s).is_some() {
        return Style::Double;
    }
    let printable = |c: char| {
        c == '\n'
            || (c >= ' ' && c != '\u{7f}' && !('\u{80}'..'\u{a0}').contains(&c) && c != '\u{feff}')
    };
    if s.chars().any(|c| !printable(c)) || s.contains('\t') || s.contains('\r') {
        return Style::Double;
    }
    if s.contains('\n') {
        if is_key {
            return Style::Double;
        }
        // Literal blocks cannot carry leading spaces on the first line or
        // trailing spaces on a line; go-yaml falls back to double quotes.
        let bad = s.starts_with([' ', '\n']) || s.split('\n').any(|l| l.ends_with(' '));
        return if bad { Style::Double } else { Style::Literal };
    }
    let first = s.chars().next().unwrap_or(' ');
    let special_first = match first {
        '-' | '?' | ':' => s.len() == 1 || s[1..].starts_with(' '),
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => true,
        _ => false,
    };
    let needs_quote = special_first
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with("---")
        || s.starts_with("...")
        || (is_key && s.contains(['[', ']', '{', '}', ',']));
    if needs_quote {
        Style::Single
    } else {
        Style::Plain
    }
}

fn double(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || ('\u{80}'..'\u{a0}').contains(&c) => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            '\u{feff}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
}
