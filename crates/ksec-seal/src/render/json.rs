//! JSON exactly as Go's `encoding/json.MarshalIndent(v, "", "  ")` writes it: `": "`
//! after keys, HTML-safe escapes (`<`, `>`, `&` as `\u003c` …), U+2028/U+2029 escaped.
//! Key order is the order of the `serde_json` map (callers build Go's struct order;
//! Go sorts map keys, which `BTreeMap`-built maps already are).
use serde_json::Value;

/// Pretty JSON without a trailing newline.
pub fn to_string_pretty(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, 0, &mut out);
    out
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_value(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_value(item, level + 1, out);
            }
            indent(level, out);
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_string(k, out);
                out.push_str(": ");
                write_value(item, level + 1, out);
            }
            indent(level, out);
            out.push('}');
        }
    }
}

/// A JSON string literal with Go's escaping rules.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_go_marshal_indent() {
        let v = json!({"kind": "X", "metadata": {"creationTimestamp": null, "labels": {}}, "list": [1, "a"], "e": []});
        assert_eq!(
            to_string_pretty(&v),
            "{\n  \"kind\": \"X\",\n  \"metadata\": {\n    \"creationTimestamp\": null,\n    \"labels\": {}\n  },\n  \"list\": [\n    1,\n    \"a\"\n  ],\n  \"e\": []\n}"
        );
    }

    #[test]
    fn escapes_like_go() {
        let mut s = String::new();
        write_string("a<b>&\"\\\n\u{1}\u{2028}é", &mut s);
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\u2028é\"");
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let v = json!({"a": {"b": [true, false, null, 1.5, "x<y"]}});
        let back: Value = serde_json::from_str(&to_string_pretty(&v)).unwrap();
        assert_eq!(back, v);
    }
}
