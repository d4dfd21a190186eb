//! Flow collections: `[a, b]` and `{k: v}`, possibly across lines.
use super::parse::Parser;
use super::resolve::resolve_plain;
use crate::tree::{Item, Value};
use crate::Error;

impl Parser<'_> {
    /// A flow sequence or mapping at the current position (`[` or `{`).
    pub(super) fn flow(&mut self) -> Result<Value, Error> {
        self.enter()?;
        self.count_node()?;
        let open = self.peek();
        self.pos += 1;
        let close = if open == Some(b'[') { b']' } else { b'}' };
        let mut seq = Vec::new();
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut comments = Vec::new();
            self.skip_blank(&mut comments);
            match self.peek() {
                None => return self.fail("unterminated flow collection"),
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let (anchor, _tag) = self.properties();
            let mark = anchor.as_ref().map(|_| self.mark());
            let v = match self.peek() {
                Some(b'*') => {
                    self.pos += 1;
                    self.expand_alias()?
                }
                _ => self.flow_item()?,
            };
            if let (Some(a), Some(m)) = (anchor, mark) {
                self.define_anchor(a, &v, m);
            }
            self.skip_blank(&mut comments);
            if close == b'}' {
                let key = match &v {
                    Value::Str(s) => s.clone(),
                    other => match crate::cipher::leaf_bytes(other) {
                        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
                        None => return self.fail("only scalar keys are supported"),
                    },
                };
                if !seen.insert(key.clone()) {
                    return self.fail(format!("mapping key {key:?} already defined"));
                }
                let value = if self.peek() == Some(b':') {
                    self.pos += 1;
                    self.skip_blank(&mut comments);
                    match self.peek() {
                        Some(b',' | b'}') => {
                            self.count_node()?;
                            Value::Null
                        }
                        _ => self.flow_item()?,
                    }
                } else {
                    self.count_node()?;
                    Value::Null
                };
                items.push(Item::Entry(key, value));
            } else {
                seq.push(v);
            }
            self.skip_blank(&mut comments);
            match self.peek() {
                Some(b',') => self.pos += 1,
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

    /// A nested flow collection or a scalar inside a flow collection.
    fn flow_item(&mut self) -> Result<Value, Error> {
        let v = match self.peek() {
            Some(b'[' | b'{') => return self.flow(),
            Some(b'"') => Value::Str(self.double_quoted()?),
            Some(b'\'') => Value::Str(self.single_quoted()?),
            _ => resolve_plain(self.plain_line(true)),
        };
        self.count_scalar(&v)?;
        Ok(v)
    }
}
