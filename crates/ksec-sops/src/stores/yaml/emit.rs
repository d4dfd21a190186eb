//! A YAML emitter laid out like go-yaml v3 with sops's settings (indent 4 by
//! default): block style, sequences indented under their key, nested
//! indentation rounded up to the indent step, comments as `#` lines, multi-line
//! strings as literal blocks, strings quoted only when go-yaml would quote them.
use super::resolve::{parse_int, resolve_plain};
use crate::tree::{go_float_f, Item, Value};

/// Writes one document (a top-level mapping), plus an `extra` entry at its end
/// (the `sops` metadata) without copying the tree.
pub(crate) fn emit_document(items: &[Item], extra: Option<&Item>, indent: usize, out: &mut String) {
    let indent = indent.max(1);
    let mut e = Emitter { out, step: indent };
    if items.is_empty() && extra.is_none() {
        e.out.push_str("{}\n");
        return;
    }
    e.map(items, 0);
    if let Some(x) = extra {
        e.map(std::slice::from_ref(x), 0);
    }
}

/// Writes a single value (sops's `EmitValue`, used by `--extract`).
pub(crate) fn emit_value(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    let mut e = Emitter {
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

/// Writes block YAML into `out`, indenting nested collections by `step`.
struct Emitter<'a> {
    out: &'a mut String,
    step: usize,
}

impl Emitter<'_> {
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
                if s.starts_with([' ', '\n']) {
                    self.out.push_str(&self.step.to_string());
                }
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

/// go-yaml's `is_printable`: what may appear unescaped (no astral-plane characters).
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}')
        || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v3 floats: `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's infinities.
pub(crate) fn yaml_float(x: f64) -> String {
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
    if s.contains('\n') && !is_key {
        // go-yaml asks for a literal block for multi-line text and falls back to
        // double quotes when a space ends a line or a character is not printable
        // (tabs are fine in blocks).
        let bad = s.chars().any(|c| c != '\n' && c != '\t' && !printable(c))
            || s.split('\n').any(|l| l.ends_with(' '));
        return if bad { Style::Double } else { Style::Literal };
    }
    if s.chars().any(|c| !printable(c)) {
        return Style::Double;
    }
    let first = s.chars().next().unwrap_or(' ');
    let special_first = match first {
        '-' | '?' | ':' => s.len() == 1 || s[1..].starts_with(' '),
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => true,
        _ => false,
    };
    // NEL and the Unicode line/paragraph separators count as line breaks to go-yaml.
    let needs_quote = special_first
        || s.contains(['\u{85}', '\u{2028}', '\u{2029}'])
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
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !printable(c) || c == '\u{feff}' => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
