//! The INI store (sops uses go-ini): sections become top-level keys, their
//! entries a mapping; `;`/`#` comments; the metadata in a `[sops]` section,
//! flattened, with multi-line values either escaped as `\n` (sops ≤ 3.13.0) or in
//! `"""` blocks (3.13.1+). Both are read; `\n` escapes are written.
use crate::metadata::{flatten, unflatten};
use crate::tree::{Document, Item, Value};
use crate::Error;

fn perr(line: usize, msg: &str) -> Error {
    Error::Parse {
        format: "INI",
        msg: format!("line {line}: {msg}"),
    }
}

/// Parses an INI file into sections.
pub fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let s = std::str::from_utf8(input).map_err(|_| perr(1, "the file is not valid UTF-8"))?;
    let lines: Vec<&str> = s
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut top: Vec<Item> = Vec::new();
    let mut default: Vec<Item> = Vec::new();
    let mut current: Option<(String, Vec<Item>)> = None;
    let mut pending: Vec<Item> = Vec::new();
    let mut seen_sections = std::collections::HashSet::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line = raw.trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix(';').or_else(|| line.strip_prefix('#')) {
            pending.push(Item::Comment(c.trim().to_string()));
            continue;
        }
        if line.starts_with('[') {
            let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                return Err(perr(i, "section header without closing ]"));
            };
            if let Some((n, items)) = current.take() {
                top.push(Item::Entry(n, Value::Map(items)));
            }
            if !seen_sections.insert(name.to_string()) {
                return Err(perr(i, &format!("duplicate section [{name}]")));
            }
            // Comments above a section are written above it again.
            let mut items = Vec::new();
            items.append(&mut pending);
            current = Some((name.to_string(), items));
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(perr(i, "expected key = value"));
        };
        let key = line[..pos].trim().to_string();
        let mut value = line[pos + 1..].trim().to_string();
        if let Some(rest) = value.strip_prefix("\"\"\"") {
            // A """ block, possibly spanning lines.
            let mut acc = rest.to_string();
            while !acc.ends_with("\"\"\"") {
                if i >= lines.len() {
                    return Err(perr(i, "unterminated \"\"\" value"));
                }
                acc.push('\n');
                acc.push_str(lines[i]);
                i += 1;
            }
            acc.truncate(acc.len() - 3);
            value = acc;
        } else if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('`') && value.ends_with('`')))
        {
            value = value[1..value.len() - 1].to_string();
        } else if let Some(p) = value.find(" ;").or_else(|| value.find(" #")) {
            pending.push(Item::Comment(value[p + 2..].trim().to_string()));
            value = value[..p].trim_end().to_string();
        }
        let target = match &mut current {
            Some((_, items)) => items,
            None => &mut default,
        };
        if target
            .iter()
            .any(|it| matches!(it, Item::Entry(k, _) if *k == key))
        {
            return Err(perr(i, &format!("duplicate key {key:?}")));
        }
        target.append(&mut pending);
        target.push(Item::Entry(key, Value::Str(value)));
    }
    if let Some((n, items)) = current.take() {
        top.push(Item::Entry(n, Value::Map(items)));
    }
    if !default.is_empty() {
        top.insert(0, Item::Entry("DEFAULT".into(), Value::Map(default)));
    }
    top.extend(pending);
    Ok(top)
}

/// Reads an encrypted INI file.
pub fn load_encrypted(input: &[u8]) -> Result<(Document, Value), Error> {
    let mut items = parse(input)?;
    let pos = items
        .iter()
        .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
        .ok_or(Error::MetadataNotFound)?;
    let Item::Entry(_, Value::Map(meta)) = items.remove(pos) else {
        return Err(Error::Metadata("the [sops] section is empty".into()));
    };
    let pairs: Vec<(String, String)> = meta
        .into_iter()
        .filter_map(|i| match i {
            Item::Entry(k, Value::Str(v)) => Some((k, v.replace("\\n", "\n"))),
            _ => None,
        })
        .collect();
    Ok((Document::single(items), unflatten(&pairs)))
}

fn value_text(v: &Value) -> String {
    match crate::cipher::leaf_bytes(v) {
        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
        None => String::new(),
    }
}

fn write_section(out: &mut String, name: &str, items: &[Item]) -> Result<(), Error> {
    let mut lead = Vec::new();
    let mut rest = items;
    while let Some((Item::Comment(c), tail)) = rest.split_first() {
        lead.push(c.clone());
        rest = tail;
    }
    for c in lead {
        out.push_str("; ");
        out.push_str(&c);
        out.push('\n');
    }
    out.push('[');
    out.push_str(name);
    out.push_str("]\n");
    let width = rest
        .iter()
        .filter_map(|i| match i {
            Item::Entry(k, _) => Some(k.chars().count()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    for it in rest {
        match it {
            Item::Comment(c) => {
                out.push_str("; ");
                out.push_str(c);
                out.push('\n');
            }
            Item::Entry(k, v) => {
                if matches!(v, Value::Map(_) | Value::Seq(_)) {
                    return Err(Error::Unsupported(format!(
                        "INI files have one level of sections: '{name}.{k}' is a {}",
                        v.kind()
                    )));
                }
                out.push_str(k);
                for _ in k.chars().count()..width {
                    out.push(' ');
                }
                out.push_str(" = ");
                let t = value_text(v);
                let t = if matches!(v, Value::Bool(_)) {
                    t.to_lowercase()
                } else {
                    t
                };
                out.push_str(&t.replace('\n', "\\n"));
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// Writes sections (and the `[sops]` section).
pub fn emit(items: &[Item], meta: Option<&Value>) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    let mut first = true;
    for it in items {
        match it {
            Item::Entry(name, Value::Map(entries)) => {
                if !first {
                    out.push('\n');
                }
                first = false;
                write_section(&mut out, name, entries)?;
            }
            Item::Entry(name, v) => {
                return Err(Error::Unsupported(format!(
                    "INI needs sections at the top level: '{name}' is a {}",
                    v.kind()
                )))
            }
            Item::Comment(c) => {
                out.push_str("; ");
                out.push_str(c);
                out.push('\n');
            }
        }
    }
    if let Some(m) = meta {
        let flat: Vec<Item> = flatten(m)
            .into_iter()
            .map(|(k, v)| Item::Entry(k, Value::Str(v)))
            .collect();
        if !first {
            out.push('\n');
        }
        write_section(&mut out, "sops", &flat)?;
    }
    Ok(out.into_bytes())
}
