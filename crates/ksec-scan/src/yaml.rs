//! A bounded YAML/JSON loader that remembers where each node starts.
//!
//! Findings carry a line and column (SARIF needs them), which serde-based YAML crates
//! drop. So this module builds plain `serde_json::Value`s from `saphyr-parser`'s event
//! stream and records the position of every node under its path
//! (`spec.containers[0].env[1].value`). It bounds what an attacker controls: nesting
//! depth, and the total number of nodes a document may expand to through aliases (a
//! "billion laughs" file is refused after [`Limits::max_nodes`] nodes, in memory
//! proportional to that bound). Scalars resolve by YAML 1.2's core schema, which is
//! what the scanner needs (strings stay strings; `true`, `8080`, `null` do not).
use crate::error::{Error, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Bounds of one parse.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes one stream may produce, aliases expanded.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_nodes: 1_000_000,
        }
    }
}

/// A line and column, both 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
}

/// One document of a stream.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    /// Its content.
    pub value: Value,
    /// Where it starts.
    pub start: Pos,
    positions: HashMap<String, Pos>,
}

impl Doc {
    /// A document without positions (JSON read by serde, cluster objects).
    pub fn unpositioned(value: Value) -> Self {
        Doc {
            value,
            start: Pos { line: 1, column: 1 },
            positions: HashMap::new(),
        }
    }

    /// Where the node at `path` starts; for a path the document does not have (or
    /// one inside an alias), where its nearest ancestor starts.
    pub fn pos(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.start,
            }
        }
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        merges: Vec<Value>,
        path: String,
        anchor: usize,
        first_node: usize,
    },
    Seq {
        seq: Vec<Value>,
        path: String,
        anchor: usize,
        first_node: usize,
    },
}

struct Builder {
    limits: Limits,
    nodes: usize,
    anchors: HashMap<usize, (Value, usize)>,
    stack: Vec<Frame>,
    positions: HashMap<String, Pos>,
    docs: Vec<Doc>,
    doc_start: Pos,
    root: Option<Value>,
}

fn parse_error(pos: Pos, message: impl Into<String>) -> Error {
    Error::Parse {
        what: "YAML",
        line: pos.line,
        column: pos.column,
        message: message.into(),
    }
}

/// Parses every document of a YAML (or JSON) stream. Empty documents are dropped.
pub fn parse_stream(text: &str, limits: Limits) -> Result<Vec<Doc>> {
    let mut b = Builder {
        limits,
        nodes: 0,
        anchors: HashMap::new(),
        stack: vec![],
        positions: HashMap::new(),
        docs: vec![],
        doc_start: Pos::default(),
        root: None,
    };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| {
            parse_error(
                Pos {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
                e.info(),
            )
        })?;
        b.event(ev, &span)?;
    }
    Ok(b.docs)
}

impl Builder {
    /// The path the next node gets, or `None` when the next scalar is a mapping key.
    fn child_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map {
                key: Some(k), path, ..
            }) => Some(if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            }),
            Some(Frame::Seq { seq, path, .. }) => Some(format!("{path}[{}]", seq.len())),
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<()> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(parse_error(
                pos,
                format!(
                    "the document expands to more than {} nodes (aliases included); refused",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<()> {
        let pos = pos_of(span);
        match ev {
            Event::DocumentStart(_) => {
                self.doc_start = pos;
                self.positions = HashMap::new();
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some(v) = self.root.take() {
                    if !v.is_null() {
                        self.docs.push(Doc {
                            value: v,
                            start: self.doc_start,
                            positions: std::mem::take(&mut self.positions),
                        });
                    }
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, pos)?;
                let tag_suffix = tag.as_ref().map(|t| t.suffix.as_str());
                let v = resolve(&text, style, tag_suffix);
                if anchor != 0 {
                    self.anchors.insert(anchor, (v.clone(), 1));
                }
                self.value(v, pos)?;
            }
            Event::Alias(id) => {
                let Some((v, n)) = self.anchors.get(&id).cloned() else {
                    return Err(parse_error(pos, "alias to an unknown anchor"));
                };
                self.count(n, pos)?;
                self.value(v, pos)?;
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                self.count(1, pos)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(parse_error(
                        pos,
                        format!(
                            "nesting deeper than {} levels; refused",
                            self.limits.max_depth
                        ),
                    ));
                }
                let path = match self.child_path() {
                    Some(p) => p,
                    // A complex mapping key: parsed, then named by its JSON text.
                    None => String::from("?"),
                };
                self.positions.insert(path.clone(), pos);
                let first_node = self.nodes;
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        map: Map::new(),
                        key: None,
                        merges: vec![],
                        path,
                        anchor,
                        first_node,
                    }
                } else {
                    Frame::Seq {
                        seq: vec![],
                        path,
                        anchor,
                        first_node,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (v, anchor, first_node) = match self.stack.pop() {
                    Some(Frame::Map {
                        mut map,
                        merges,
                        anchor,
                        first_node,
                        ..
                    }) => {
                        // `<<: *base` keys: the mapping's own keys win.
                        for m in merges {
                            let sources = match m {
                                Value::Array(a) => a,
                                other => vec![other],
                            };
                            for s in sources {
                                if let Value::Object(o) = s {
                                    for (k, v) in o {
                                        map.entry(k).or_insert(v);
                                    }
                                }
                            }
                        }
                        (Value::Object(map), anchor, first_node)
                    }
                    Some(Frame::Seq {
                        seq,
                        anchor,
                        first_node,
                        ..
                    }) => (Value::Array(seq), anchor, first_node),
                    None => return Err(parse_error(pos, "unbalanced document")),
                };
                if anchor != 0 {
                    let n = self.nodes - first_node + 1;
                    self.anchors.insert(anchor, (v.clone(), n));
                }
                self.attach(v, pos)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// A scalar or alias: a key, or a value.
    fn value(&mut self, v: Value, pos: Pos) -> Result<()> {
        if let Some(Frame::Map {
            key: key @ None, ..
        }) = self.stack.last_mut()
        {
            *key = Some(match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            });
            return Ok(());
        }
        if let Some(p) = self.child_path() {
            self.positions.insert(p, pos);
        }
        self.attach(v, pos)
    }

    fn attach(&mut self, v: Value, _pos: Pos) -> Result<()> {
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq { seq, .. }) => seq.push(v),
            Some(Frame::Map {
                map, key, merges, ..
            }) => match key.take() {
                Some(k) if k == "<<" => merges.push(v),
                Some(k) => {
                    map.insert(k, v);
                }
                // A mapping or sequence used as a key.
                None => *key = Some(v.to_string()),
            },
        }
        Ok(())
    }
}

/// YAML 1.2 core schema for untagged plain scalars; quoted and block scalars are strings.
fn resolve(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") | Some("binary") => return Value::String(text.to_string()),
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n.into());
    }
    if looks_float(text) {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -n } else { n })
}

fn looks_float(t: &str) -> bool {
    let b = t.trim_start_matches(['-', '+']);
    let mut digits = false;
    let mut rest = b;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_digit() {
            digits = true;
            rest = &rest[1..];
        } else {
            break;
        }
    }
    if let Some(r) = rest.strip_prefix('.') {
        rest = r;
        while let Some(c) = rest.chars().next() {
            if c.is_ascii_digit() {
                digits = true;
                rest = &rest[1..];
            } else {
                break;
            }
        }
    }
    if !digits {
        return false;
    }
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let r = r.trim_start_matches(['-', '+']);
        return !r.is_empty() && r.chars().all(|c| c.is_ascii_digit());
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(t: &str) -> Doc {
        let mut d = parse_stream(t, Limits::default()).unwrap();
        assert_eq!(d.len(), 1);
        d.remove(0)
    }

    #[test]
    fn values_and_positions() {
        let d = one("a: 1\nb:\n  - x: 'y'\n  - true\nc: 0x10\nd: 1.5\ne: ~\nf: 08\n");
        assert_eq!(
            d.value,
            json!({"a": 1, "b": [{"x": "y"}, true], "c": 16, "d": 1.5, "e": null, "f": 8})
        );
        assert_eq!(d.pos("b[0].x"), Pos { line: 3, column: 8 });
        assert_eq!(d.pos("b[1]").line, 4);
        assert_eq!(
            d.pos("b[7].zz").line,
            3,
            "falls back to the nearest ancestor (the sequence)"
        );
    }

    #[test]
    fn documents_and_lines() {
        let d = parse_stream("---\na: 1\n---\n# c\n---\nb: 2\n", Limits::default()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].pos("b").line, 6);
    }

    #[test]
    fn json_documents() {
        let d = one("{\"a\": [1, {\"b\": \"c\"}]}");
        assert_eq!(d.value, json!({"a": [1, {"b": "c"}]}));
        assert_eq!(d.pos("a[1].b").column, 17);
    }

    #[test]
    fn merge_keys_and_aliases() {
        let d = one("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        assert_eq!(d.value["m"], json!({"x": 1, "y": 3}));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut t = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            t.push_str(&format!(
                "{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse_stream(&t, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("more than 1000000 nodes"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let t = "[".repeat(150);
        let e = parse_stream(&t, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("nesting deeper than 100"), "{e}");
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse_stream("a: 1\nb: [\n", Limits::default()).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 3, .. }), "{e}");
    }
}
