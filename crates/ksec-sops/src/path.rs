//! Value paths as sops writes them (`["a"][0]["b"]`, for `--extract`, `set` and
//! `unset`): parsing, and getting, setting and removing the value a path names.
use crate::tree::{Item, Value};
use crate::Error;

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    /// `["key"]`.
    Key(String),
    /// `[0]`.
    Index(usize),
}

/// A path into a document, e.g. `["spec"]["containers"][0]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreePath {
    segments: Vec<PathSegment>,
}

impl std::fmt::Display for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.segments {
            match s {
                PathSegment::Key(k) => write!(f, "[{k:?}]")?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for TreePath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl From<Vec<PathSegment>> for TreePath {
    fn from(segments: Vec<PathSegment>) -> Self {
        Self { segments }
    }
}

impl TreePath {
    /// Parses `["a"][0]["b"]` (sops's syntax: keys in double quotes, with no
    /// escapes; indices as decimal numbers).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let fail = |reason: &str| Error::path(text, reason);
        let mut segments = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('[')
                .ok_or_else(|| fail("a path looks like [\"key\"][0]"))?;
            let end = if let Some(quoted) = inner.strip_prefix('"') {
                quoted
                    .find('"')
                    .map(|i| i + 2)
                    .ok_or_else(|| fail("unterminated \"key\""))?
            } else {
                inner.find(']').ok_or_else(|| fail("missing ]"))?
            };
            let token = &inner[..end];
            segments.push(
                if let Some(k) = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    PathSegment::Key(k.to_string())
                } else {
                    PathSegment::Index(
                        token
                            .trim()
                            .parse()
                            .map_err(|_| fail(&format!("{token:?} is not an index")))?,
                    )
                },
            );
            rest = inner[end..]
                .strip_prefix(']')
                .ok_or_else(|| fail("missing ]"))?;
        }
        Ok(Self { segments })
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// True for the empty path (the whole document).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The value the path names in a top-level mapping's `items`.
    pub fn get<'a>(&self, items: &'a [Item]) -> Result<&'a Value, Error> {
        let mut current: Option<&Value> = None;
        for (n, segment) in self.segments.iter().enumerate() {
            let found = match (segment, current) {
                (PathSegment::Key(k), None) => items.iter().find_map(|i| match i {
                    Item::Entry(x, v) if x == k => Some(v),
                    _ => None,
                }),
                (PathSegment::Key(k), Some(v)) => v.get(k),
                // Like sops, comments count as sequence elements.
                (PathSegment::Index(i), Some(Value::Seq(vs))) => vs.get(*i),
                _ => None,
            };
            current = Some(found.ok_or_else(|| {
                Error::path(self, format!("component {} of the path not found", n + 1))
            })?);
        }
        current.ok_or_else(|| Error::path(self, "empty path"))
    }

    /// Sets the value at the path in a top-level mapping's `items`, creating
    /// the mappings and sequences on the way.
    pub fn set(&self, items: &mut Vec<Item>, value: Value) -> Result<(), Error> {
        self.set_in(items, &self.segments, Some(value))
    }

    /// Removes the value at the path.
    pub fn unset(&self, items: &mut Vec<Item>) -> Result<(), Error> {
        self.set_in(items, &self.segments, None)
    }

    /// Sets (or with `None` removes) the value at `path` inside a mapping's items.
    fn set_in(
        &self,
        items: &mut Vec<Item>,
        path: &[PathSegment],
        v: Option<Value>,
    ) -> Result<(), Error> {
        let Some((first, rest)) = path.split_first() else {
            return Err(Error::path(self, "empty path"));
        };
        let PathSegment::Key(k) = first else {
            return Err(Error::path(
                self,
                "an index cannot select an entry of a mapping",
            ));
        };
        let pos = items
            .iter()
            .position(|i| matches!(i, Item::Entry(x, _) if x == k));
        match (pos, rest.is_empty()) {
            (Some(p), true) => match v {
                Some(v) => items[p] = Item::Entry(k.clone(), v),
                None => {
                    items.remove(p);
                }
            },
            (None, true) => match v {
                Some(v) => items.push(Item::Entry(k.clone(), v)),
                None => return Err(Error::path(self, format!("key {k:?} not found"))),
            },
            (Some(p), false) => {
                if let Item::Entry(_, node) = &mut items[p] {
                    self.set_value(node, rest, v)?;
                }
            }
            (None, false) => {
                if v.is_none() {
                    return Err(Error::path(self, format!("key {k:?} not found")));
                }
                let mut node = empty_for(&rest[0]);
                self.set_value(&mut node, rest, v)?;
                items.push(Item::Entry(k.clone(), node));
            }
        }
        Ok(())
    }

    fn set_value(
        &self,
        node: &mut Value,
        path: &[PathSegment],
        v: Option<Value>,
    ) -> Result<(), Error> {
        match (node, &path[0]) {
            (Value::Map(items), PathSegment::Key(_)) => self.set_in(items, path, v),
            (Value::Seq(vs), PathSegment::Index(i)) => {
                let rest = &path[1..];
                if rest.is_empty() {
                    match v {
                        Some(v) if *i < vs.len() => vs[*i] = v,
                        Some(v) => vs.push(v),
                        None if *i < vs.len() => {
                            vs.remove(*i);
                        }
                        None => {
                            return Err(Error::path(self, format!("index {i} is out of range")))
                        }
                    }
                    return Ok(());
                }
                if *i >= vs.len() {
                    if v.is_none() {
                        return Err(Error::path(self, format!("index {i} is out of range")));
                    }
                    vs.push(empty_for(&rest[0]));
                }
                let at = (*i).min(vs.len() - 1);
                self.set_value(&mut vs[at], rest, v)
            }
            (other, PathSegment::Key(k)) => Err(Error::path(
                self,
                format!("cannot select key {k:?} in a {}", other.kind()),
            )),
            (other, PathSegment::Index(i)) => Err(Error::path(
                self,
                format!("cannot select index {i} in a {}", other.kind()),
            )),
        }
    }
}

/// The empty collection a missing step creates.
fn empty_for(next: &PathSegment) -> Value {
    match next {
        PathSegment::Key(_) => Value::Map(Vec::new()),
        PathSegment::Index(_) => Value::Seq(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_get_set_unset() {
        let p = TreePath::parse(r#"["a"][1]["b"]"#).unwrap();
        assert_eq!(p.to_string(), r#"["a"][1]["b"]"#);
        assert_eq!(p.segments().len(), 3);
        let mut items = vec![Item::Entry(
            "a".into(),
            Value::Seq(vec![Value::Int(1), Value::Map(vec![])]),
        )];
        p.set(&mut items, Value::Bool(true)).unwrap();
        assert_eq!(p.get(&items).unwrap(), &Value::Bool(true));
        p.unset(&mut items).unwrap();
        assert!(p.get(&items).is_err());
        assert!(p
            .unset(&mut items)
            .unwrap_err()
            .to_string()
            .contains("not found"));
        for bad in ["a", r#"["a"#, "[x]", r#"["a""#] {
            assert!(
                matches!(TreePath::parse(bad), Err(Error::Path { .. })),
                "{bad}"
            );
        }
        let idx = TreePath::parse("[0]").unwrap();
        assert!(idx
            .set(&mut items, Value::Null)
            .unwrap_err()
            .to_string()
            .contains("index cannot select"));
    }
}
