//! The INI store (sops uses go-ini): sections become top-level keys, their
//! entries a mapping; `;`/`#` comments; the metadata in a `[sops]` section,
//! flattened, with multi-line values either escaped as `\n` (sops ≤ 3.13.0) or in
//! `"""` blocks (3.13.1+). Both are read; `\n` escapes are written.
use crate::metadata::{flatten, unflatten};
use crate::tree::{Document, Item, Value};
use crate::{Error, Format};

fn parse_error(line: usize, message: impl Into<String>) -> Error {
    super::parse_error(Format::Ini, line, message)
}

/// Parses an INI file into sections.
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let text = super::utf8(input, Format::Ini)?;
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut top: Vec<Item> = Vec::new();
    let mut default: Vec<Item> = Vec::new();
    let mut current: Option<(String, Vec<Item>)> = None;
    // go-ini joins consecutive comment lines and gives them to the next section
    // or key; sops strips the first marker and keeps a section's comment first in
    // its mapping and a key's comment right after the key.
    let mut pending_lines: Vec<String> = Vec::new();
    let mut seen_sections = std::collections::HashSet::new();
    // Keys of the current section and of the default one, to find duplicates
    // without scanning (a scan per key would be quadratic in a large section).
    let mut section_keys: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut default_keys: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line = raw.trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending_lines.push(line.to_string());
            continue;
        }
        if line.starts_with('[') {
            let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                return Err(parse_error(i, "section header without closing ]"));
            };
            if let Some((n, items)) = current.take() {
                top.push(Item::Entry(n, Value::Map(items)));
            }
            if !seen_sections.insert(name.to_string()) {
                return Err(parse_error(i, format!("duplicate section [{name}]")));
            }
            let mut items = Vec::new();
            if let Some(c) = take_comment(&mut pending_lines) {
                items.push(c);
            }
            current = Some((name.to_string(), items));
            section_keys.clear();
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(parse_error(i, "expected key = value"));
        };
        let key = line[..pos].trim().to_string();
        let mut value = line[pos + 1..].trim().to_string();
        if let Some(rest) = value.strip_prefix("\"\"\"") {
            // A """ block, possibly spanning lines.
            let mut acc = rest.to_string();
            while !acc.ends_with("\"\"\"") {
                if i >= lines.len() {
                    return Err(parse_error(i, "unterminated \"\"\" value"));
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
            // An inline comment becomes the key's comment.
            pending_lines.push(value[p + 1..].trim().to_string());
            value = value[..p].trim_end().to_string();
        }
        let (target, keys) = match &mut current {
            Some((_, items)) => (items, &mut section_keys),
            None => (&mut default, &mut default_keys),
        };
        if !keys.insert(key.clone()) {
            return Err(parse_error(i, format!("duplicate key {key:?}")));
        }
        target.push(Item::Entry(key, Value::Str(value)));
        if let Some(c) = take_comment(&mut pending_lines) {
            target.push(c);
        }
    }
    if let Some((n, items)) = current.take() {
        top.push(Item::Entry(n, Value::Map(items)));
    }
    if !default.is_empty() {
        top.insert(0, Item::Entry("DEFAULT".into(), Value::Map(default)));
    }
    Ok(top)
}

/// Joins pending comment lines as go-ini does and strips the first marker as sops does.
fn take_comment(lines: &mut Vec<String>) -> Option<Item> {
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join("\n");
    lines.clear();
    let stripped = if joined.starts_with(';') {
        joined.trim_start_matches([';', ' '])
    } else {
        joined.trim_start_matches(['#', ' '])
    };
    Some(Item::Comment(stripped.to_string()))
}

/// Writes a comment as go-ini does: every line gets a `; ` unless it has a marker.
fn write_comment(out: &mut String, c: &str) {
    for line in c.split('\n') {
        match line.chars().next() {
            Some(m @ ('#' | ';')) => {
                out.push(m);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            _ => {
                out.push_str("; ");
                out.push_str(line);
            }
        }
        out.push('\n');
    }
}

/// Quotes a value as go-ini does when it would not read back otherwise.
fn quote_value(v: &str) -> String {
    if v.contains('\n') || v.contains('`') {
        format!("\"\"\"{v}\"\"\"")
    } else if v.contains(['#', ';']) {
        format!("`{v}`")
    } else if v.trim() != v {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

/// Reads an encrypted INI file.
pub(crate) fn load_encrypted(input: &[u8]) -> Result<(Document, Value), Error> {
    let mut items = parse(input)?;
    let pos = items
        .iter()
        .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
        .ok_or(Error::MetadataNotFound)?;
    let Item::Entry(_, Value::Map(meta)) = items.remove(pos) else {
        return Err(Error::metadata("the [sops] section is empty"));
    };
    let pairs: Vec<(String, String)> = meta
        .into_iter()
        .filter_map(|i| match i {
            Item::Entry(k, Value::Str(v)) => Some((k, v.replace("\\n", "\n"))),
            _ => None,
        })
        .collect();
    Ok((Document::single(items), unflatten(&pairs)?))
}

fn value_text(v: &Value) -> String {
    match crate::cipher::leaf_bytes(v) {
        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
        None => String::new(),
    }
}

fn write_section(
    out: &mut String,
    name: &str,
    items: &[Item],
    escape_newlines: bool,
) -> Result<(), Error> {
    let mut rest = items;
    if let Some((Item::Comment(c), tail)) = rest.split_first() {
        write_comment(out, c);
        rest = tail;
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
    // A comment item belongs to the key before it; go-ini writes it above that key.
    let mut n = 0;
    while n < rest.len() {
        match &rest[n] {
            Item::Comment(_) => {}
            Item::Entry(k, v) => {
                if matches!(v, Value::Map(_) | Value::Seq(_)) {
                    return Err(Error::Emit {
                        format: Format::Ini,
                        reason: format!(
                            "INI files have one level of sections: '{name}.{k}' is a {}",
                            v.kind()
                        ),
                    });
                }
                if let Some(Item::Comment(c)) = rest.get(n + 1) {
                    write_comment(out, c);
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
                if escape_newlines {
                    out.push_str(&t.replace('\n', "\\n"));
                } else {
                    out.push_str(&quote_value(&t));
                }
                out.push('\n');
            }
        }
        n += 1;
    }
    Ok(())
}

/// Writes sections (and the `[sops]` section).
pub(crate) fn emit(items: &[Item], meta: Option<&Value>) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    let mut first = true;
    for it in items {
        match it {
            Item::Entry(name, Value::Map(entries)) => {
                if !first {
                    out.push('\n');
                }
                first = false;
                write_section(&mut out, name, entries, false)?;
            }
            Item::Entry(name, v) => {
                return Err(Error::Emit {
                    format: Format::Ini,
                    reason: format!(
                        "INI needs sections at the top level: '{name}' is a {}",
                        v.kind()
                    ),
                })
            }
            Item::Comment(c) => write_comment(&mut out, c),
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
        write_section(&mut out, "sops", &flat, true)?;
    }
    Ok(out.into_bytes())
}
