//! YAML as `sigs.k8s.io/yaml.JSONToYAML` writes it (go-yaml v2 underneath), which is
//! how kubeseal and kubectl print YAML:
//! - mapping keys sorted in go-yaml's "natural" order (digit runs compare as numbers,
//!   non-letters before letters), two-space indentation, sequences not indented under
//!   their key;
//! - strings plain when they read back as strings, double-quoted when they would read
//!   back as something else (`"true"`, `"1"`, `""`), single-quoted when plain is not
//!   allowed (`': '`, leading indicators), literal blocks for multi-line text;
//! - long plain and single-quoted values folded at spaces past column 80.
//!
//! Written by hand: no maintained Rust YAML emitter reproduces go-yaml's choices, and
//! byte-identical output is what keeps git diffs small for teams mixing tools.
use serde_json::Value;
use std::cmp::Ordering;

const BEST_WIDTH: usize = 80;

/// Renders a JSON value as a YAML document (no `---`), ending with a newline.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_mapping(v, 0, &mut out),
        Value::Array(a) if !a.is_empty() => write_sequence(v, 0, &mut out),
        other => {
            out.push_str(&scalar(other, 0, 0));
            out.push('\n');
        }
    }
    out
}

fn sorted_entries(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut e: Vec<_> = m.iter().collect();
    e.sort_by(|a, b| natural_cmp(a.0, b.0));
    e
}

/// go-yaml v2's key order (`keyList.Less` in sorter.go), re-implemented.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn pad(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

/// Writes a mapping whose keys start at column `ind`; the first key is written at the
/// current position (the caller has already indented, or written `- `).
fn write_mapping(v: &Value, ind: usize, out: &mut String) {
    let Value::Object(m) = v else { return };
    for (n, (k, val)) in sorted_entries(m).into_iter().enumerate() {
        if n > 0 {
            pad(ind, out);
        }
        let key = key_scalar(k);
        out.push_str(&key);
        out.push(':');
        match val {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                pad(ind + 2, out);
                write_mapping(val, ind + 2, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                pad(ind, out);
                write_sequence(val, ind, out);
            }
            _ => {
                out.push(' ');
                let col = ind + key.chars().count() + 2;
                out.push_str(&scalar(val, ind + 2, col));
                out.push('\n');
            }
        }
    }
}

/// Writes a sequence whose dashes sit at column `ind` (first dash at the current position).
fn write_sequence(v: &Value, ind: usize, out: &mut String) {
    let Value::Array(a) = v else { return };
    for (n, item) in a.iter().enumerate() {
        if n > 0 {
            pad(ind, out);
        }
        out.push_str("- ");
        if is_block(item) {
            match item {
                Value::Object(_) => write_mapping(item, ind + 2, out),
                _ => write_sequence(item, ind + 2, out),
            }
        } else {
            out.push_str(&scalar(item, ind + 2, ind + 2));
            out.push('\n');
        }
    }
}

fn key_scalar(k: &str) -> String {
    match style_of(k) {
        Style::Plain => k.to_string(),
        Style::Single => single_quoted(k, usize::MAX, 0, 0),
        Style::Double | Style::Literal => double_quoted(k),
    }
}

/// A scalar value; `cont` is the indentation of continuation lines, `col` the column
/// the scalar starts at (for folding).
fn scalar(v: &Value, cont: usize, col: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => match style_of(s) {
            Style::Plain => fold_plain(s, cont, col),
            Style::Single => single_quoted(s, BEST_WIDTH, cont, col),
            Style::Double => double_quoted(s),
            Style::Literal => literal(s, cont),
        },
    }
}

#[derive(Debug, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn style_of(s: &str) -> Style {
    if !s.chars().all(printable) {
        return Style::Double;
    }
    if s.contains('\n') {
        return if literal_allowed(s) {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if !resolves_to_string(s) {
        return Style::Double;
    }
    if plain_allowed(s) {
        Style::Plain
    } else {
        Style::Single
    }
}

fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// Whether go-yaml would read `s` back, unquoted, as a string (not null/bool/number).
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return true;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let unsigned = plain.trim_start_matches(['+', '-']);
    let is_int = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    let numeric = if let Some(h) = unsigned.strip_prefix("0x") {
        is_int(h, 16)
    } else if let Some(b) = unsigned.strip_prefix("0b") {
        is_int(b, 2)
    } else if let Some(o) = unsigned.strip_prefix("0o") {
        is_int(o, 8)
    } else {
        is_int(unsigned, 10) || is_go_float(&plain) || is_base60(&plain)
    };
    !numeric
}

fn is_go_float(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return false;
    }
    t.parse::<f64>().is_ok()
}

fn is_base60(s: &str) -> bool {
    // go-yaml v2: ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let t = s.trim_start_matches(['+', '-']);
    let mut parts = t.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if head.is_empty()
        || !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return false;
    }
    for (i, p) in rest.iter().enumerate() {
        let (num, frac) = match (i == rest.len() - 1, p.split_once('.')) {
            (true, Some((n, f))) => (n, Some(f)),
            _ => (*p, None),
        };
        if num.is_empty() || num.len() > 2 || !num.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        if num.len() == 2 && num.as_bytes()[0] > b'5' {
            return false;
        }
        if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
    }
    true
}

/// libyaml's analysis of whether a single-line string may be written plain (block context).
fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let first = chars[0];
    let next_is_blank = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\t');
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if matches!(
        first,
        '#' | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        return false;
    }
    if matches!(first, '?' | ':' | '-') && next_is_blank(0) {
        return false;
    }
    if first == ' ' || first == '\t' || chars.last().is_some_and(|c| *c == ' ' || *c == '\t') {
        return false;
    }
    for i in 0..chars.len() {
        let c = chars[i];
        if c == ':' && next_is_blank(i) {
            return false;
        }
        if c == '#' && i > 0 && (chars[i - 1] == ' ' || chars[i - 1] == '\t') {
            return false;
        }
        if c == '\t' {
            return false;
        }
    }
    true
}

/// libyaml refuses block scalars when a line ends in a space before a break.
fn literal_allowed(s: &str) -> bool {
    !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'))
}

fn fold_plain(s: &str, cont: usize, col: usize) -> String {
    fold(s, cont, col, BEST_WIDTH)
}

/// go-yaml folds at a single space (not at runs of spaces) once the column exceeds the width.
fn fold(s: &str, cont: usize, mut col: usize, width: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev_space = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_space = chars.get(i + 1).is_some_and(|n| *n == ' ');
            if !prev_space && col > width && !next_space && i + 1 < chars.len() {
                out.push('\n');
                for _ in 0..cont {
                    out.push(' ');
                }
                col = cont;
            } else {
                out.push(c);
                col += 1;
            }
            prev_space = true;
        } else {
            out.push(c);
            col += 1;
            prev_space = false;
        }
    }
    out
}

fn single_quoted(s: &str, width: usize, cont: usize, col: usize) -> String {
    let escaped = s.replace('\'', "''");
    let body = if width == usize::MAX {
        escaped
    } else {
        fold(&escaped, cont, col + 1, width)
    };
    format!("'{body}'")
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !printable(c) => {
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
    out
}

fn literal(s: &str, cont: usize) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let indicator = if s.starts_with(' ') || s.starts_with('\n') {
        "2"
    } else {
        ""
    };
    let mut out = format!("|{indicator}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            for _ in 0..cont {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubeseal_shaped_document() {
        let v = json!({
            "kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1",
            "metadata": {"name": "s", "namespace": "ns", "creationTimestamp": null,
                          "annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}},
            "spec": {"template": {"metadata": {"finalizers": ["a", "b"]}, "type": "Opaque"},
                     "encryptedData": {"key10": "QQ==", "key9": "Qg=="}}
        });
        assert_eq!(
            to_string(&v),
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n  creationTimestamp: null\n  name: s\n  namespace: ns\nspec:\n  encryptedData:\n    key9: Qg==\n    key10: QQ==\n  template:\n    metadata:\n      finalizers:\n      - a\n      - b\n    type: Opaque\n"
        );
    }

    #[test]
    fn scalar_styles() {
        for (s, want) in [
            ("plain", "plain"),
            ("true", "\"true\""),
            ("", "\"\""),
            ("0123", "\"0123\""),
            ("1.5", "\"1.5\""),
            ("1:20", "\"1:20\""),
            ("a: b", "'a: b'"),
            ("*star", "'*star'"),
            ("- x", "'- x'"),
            ("it's", "it's"),
            ("#x", "'#x'"),
            ("a #b", "'a #b'"),
            ("a#b", "a#b"),
            ("v1.2.3", "v1.2.3"),
            ("1.2.3", "1.2.3"),
            ("bell\u{7}", "\"bell\\a\""),
        ] {
            assert_eq!(scalar(&json!(s), 2, 2), want, "{s:?}");
        }
    }

    #[test]
    fn literal_blocks_for_multi_line() {
        let v = json!({"k": "line1\nline2\n", "j": "a\nb"});
        assert_eq!(to_string(&v), "j: |-\n  a\n  b\nk: |\n  line1\n  line2\n");
    }

    #[test]
    fn long_values_fold_at_spaces_past_80_columns() {
        let long = "word ".repeat(30).trim_end().to_string();
        let out = to_string(&json!({"description": long}));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines[1].starts_with("  word"));
        let rejoined = out.replace("\n  ", " ");
        assert_eq!(rejoined.trim_end(), format!("description: {long}"));
    }

    #[test]
    fn natural_key_order() {
        let mut keys = vec!["b", "a10", "a9", "A", "a.b", "a-b", "_x", "1"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["_x", "1", "A", "a-b", "a.b", "a9", "a10", "b"]);
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let v = json!({"a": {"b": ["x: y", "true", "", "12", "#c", "line\nnext", "tab\there"]}, "n": 3, "z": null});
        let back: Value =
            Value::deserialize(serde_norway::Deserializer::from_str(&to_string(&v))).unwrap();
        assert_eq!(back, v);
    }
    use serde::Deserialize;
}
