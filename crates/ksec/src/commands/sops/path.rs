//! sops's value paths (`["a"][0]["b"]`) for `--extract`, `set` and `unset`.
use anyhow::{bail, Context, Result};
use ksec_sops::{Item, Value};

/// Parses `["a"][0]["b"]`.
pub(super) fn parse_path(s: &str) -> Result<Vec<PathSeg>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .context("a path looks like [\"key\"][0]")?;
        let end = if let Some(quoted) = inner.strip_prefix('"') {
            quoted
                .find('"')
                .map(|i| i + 2)
                .context("unterminated \"key\" in path")?
        } else {
            inner.find(']').context("missing ] in path")?
        };
        let tok = &inner[..end];
        out.push(
            if let Some(k) = tok.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                PathSeg::Key(k.to_string())
            } else {
                PathSeg::Index(
                    tok.trim()
                        .parse()
                        .with_context(|| format!("{tok:?} is not an index"))?,
                )
            },
        );
        rest = inner[end..]
            .strip_prefix(']')
            .context("missing ] in path")?;
    }
    Ok(out)
}

pub(super) enum PathSeg {
    Key(String),
    Index(usize),
}

pub(super) fn extract<'a>(items: &'a [Item], path: &[PathSeg]) -> Result<&'a Value> {
    let mut cur: Option<&Value> = None;
    for (n, seg) in path.iter().enumerate() {
        let found = match (seg, cur) {
            (PathSeg::Key(k), None) => items.iter().find_map(|i| match i {
                Item::Entry(x, v) if x == k => Some(v),
                _ => None,
            }),
            (PathSeg::Key(k), Some(v)) => v.get(k),
            // Like sops, comments count as sequence elements.
            (PathSeg::Index(i), Some(Value::Seq(vs))) => vs.get(*i),
            _ => None,
        };
        cur = Some(found.with_context(|| format!("component {} of the path not found", n + 1))?);
    }
    cur.context("empty path")
}

/// Sets (or with `None` removes) the value at `path` inside a mapping's items.
pub(super) fn set_in(items: &mut Vec<Item>, path: &[PathSeg], v: Option<Value>) -> Result<()> {
    let (PathSeg::Key(k), rest) = (&path[0], &path[1..]) else {
        bail!("an index cannot select an entry of a mapping");
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
            None => bail!("key {k:?} not found"),
        },
        (Some(p), false) => {
            if let Item::Entry(_, node) = &mut items[p] {
                set_value(node, rest, v)?;
            }
        }
        (None, false) => {
            if v.is_none() {
                bail!("key {k:?} not found");
            }
            let mut node = match rest[0] {
                PathSeg::Key(_) => Value::Map(Vec::new()),
                PathSeg::Index(_) => Value::Seq(Vec::new()),
            };
            set_value(&mut node, rest, v)?;
            items.push(Item::Entry(k.clone(), node));
        }
    }
    Ok(())
}

fn set_value(node: &mut Value, path: &[PathSeg], v: Option<Value>) -> Result<()> {
    match (node, &path[0]) {
        (Value::Map(items), PathSeg::Key(_)) => set_in(items, path, v),
        (Value::Seq(vs), PathSeg::Index(i)) => {
            let rest = &path[1..];
            if rest.is_empty() {
                match v {
                    Some(v) if *i < vs.len() => vs[*i] = v,
                    Some(v) => vs.push(v),
                    None if *i < vs.len() => {
                        vs.remove(*i);
                    }
                    None => bail!("index {i} is out of range"),
                }
                return Ok(());
            }
            if *i >= vs.len() {
                if v.is_none() {
                    bail!("index {i} is out of range");
                }
                vs.push(match rest[0] {
                    PathSeg::Key(_) => Value::Map(Vec::new()),
                    PathSeg::Index(_) => Value::Seq(Vec::new()),
                });
            }
            let at = (*i).min(vs.len() - 1);
            set_value(&mut vs[at], rest, v)
        }
        (other, PathSeg::Key(k)) => bail!("cannot select key {k:?} in a {}", other.kind()),
        (other, PathSeg::Index(i)) => bail!("cannot select index {i} in a {}", other.kind()),
    }
}
