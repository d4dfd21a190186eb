//! Flow collections: `[a, b]` and `{k: v}`, possibly across lines.
use super::parse::P;
use super::resolve::resolve_plain;
use crate::tree::{Item, Value};
use crate::Error;

impl P<'_> {
    pub(super) fn flow(&mut self) -> Result<Value, Error> {
        self.enter()?;
        let open = self.peek();
        self.i += 1;
        let close = if open == Some(b'[') { b']' } else { b'}' };
        let mut seq = Vec::new();
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut cm = Vec::new();
            self.skip_blank(&mut cm);
            match self.peek() {
                None => return self.fail("unterminated flow collection"),
                Some(c) if c == close => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            let (anchor, _tag) = self.props()?;
            let v = match self.peek() {
                Some(b'[' | b'{') => self.flow()?,
                Some(b'"') => Value::Str(self.double_quoted()?),
                Some(b'\'') => Value::Str(self.single_quoted()?),
                Some(b'*') => {
                    self.i += 1;
                    let st = self.i;
                    while !matches!(
                        self.peek(),
                        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
                    ) {
                        self.i += 1;
                    }
                    let name = &self.s[st..self.i];
                    match self.anchors.get(name) {
                        Some(v) => v.clone(),
                        None => return self.fail(format!("unknown alias *{name}")),
                    }
                }
                _ => {
                    let t = self.plain_line(true).to_string();
                    resolve_plain(&t)
                }
            };
            if let Some(a) = anchor {
                self.anchors.insert(a, v.clone());
            }
            self.skip_blank(&mut cm);
            if close == b'}' {
                let k = match &v {
                    Value::Str(s) => s.clone(),
                    other => match crate::cipher::leaf_bytes(other) {
                        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
                        None => return self.fail("only scalar keys are supported"),
                    },
                };
                if !seen.insert(k.clone()) {
                    return self.fail(format!("mapping key {k:?} already defined"));
                }
                let val = if self.peek() == Some(b':') {
                    self.i += 1;
                    self.skip_blank(&mut cm);
                    match self.peek() {
                        Some(b'[' | b'{') => self.flow()?,
                        Some(b'"') => Value::Str(self.double_quoted()?),
                        Some(b'\'') => Value::Str(self.single_quoted()?),
                        Some(b',') | Some(b'}') => Value::Null,
                        _ => {
                            let t = self.plain_line(true).to_string();
                            resolve_plain(&t)
                        }
                    }
                } else {
                    Value::Null
                };
                items.push(Item::Entry(k, val));
            } else {
                seq.push(v);
            }
            self.skip_blank(&mut cm);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return self.fail("expected ',' or the end of the flow collection"),
            }
        }
        self.depth -= 1;
        Ok(if close == b'}' {
            Value::Map(items)
        } else {
            Value::Seq(seq)
        })
    }
}
