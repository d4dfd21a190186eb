//! The dotenv store: `KEY=VALUE` lines (split at the first `=`, nothing trimmed
//! or unquoted, `\n` in values escaped), `#` comment lines, and the metadata
//! flattened into sorted `sops_…` keys.
use crate::metadata::{flatten, unflatten};
use crate::tree::{Document, Item, Value};
use crate::{Error, Format};

fn parse_error(line: usize, message: impl Into<String>) -> Error {
    super::parse_error(Format::Dotenv, line, message)
}

/// Parses a plaintext dotenv file.
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Item>, Error> {
    let text = super::utf8(input, Format::Dotenv)?;
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            items.push(Item::Comment(c.to_string()));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(parse_error(n + 1, "expected KEY=VALUE"));
        };
        if !seen.insert(k.to_string()) {
            return Err(parse_error(n + 1, format!("duplicate key {k:?}")));
        }
        items.push(Item::Entry(
            k.to_string(),
            Value::Str(v.replace("\\n", "\n")),
        ));
    }
    Ok(items)
}

/// Reads an encrypted dotenv file.
pub(crate) fn load_encrypted(input: &[u8]) -> Result<(Document, Value), Error> {
    let all = parse(input)?;
    let mut data = Vec::new();
    let mut meta = Vec::new();
    for i in all {
        match i {
            Item::Entry(k, Value::Str(v)) if k.starts_with("sops_") => {
                meta.push((k["sops_".len()..].to_string(), v))
            }
            other => data.push(other),
        }
    }
    if meta.is_empty() {
        return Err(Error::MetadataNotFound);
    }
    Ok((Document::single(data), unflatten(&meta)?))
}

/// Writes items (and flattened metadata).
pub(crate) fn emit(items: &[Item], meta: Option<&Value>) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for i in items {
        match i {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Entry(k, v) => {
                let s = match v {
                    Value::Map(_) | Value::Seq(_) => {
                        return Err(Error::Emit {
                            format: Format::Dotenv,
                            reason: format!(
                                "dotenv files are flat: the value of '{k}' is a {}",
                                v.kind()
                            ),
                        })
                    }
                    other => match crate::cipher::leaf_bytes(other) {
                        Some((b, _)) => String::from_utf8_lossy(&b).into_owned(),
                        None => String::new(),
                    },
                };
                let s = if matches!(v, Value::Bool(_)) {
                    s.to_lowercase()
                } else {
                    s
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&s.replace('\n', "\\n"));
                out.push('\n');
            }
        }
    }
    if let Some(m) = meta {
        for (k, v) in flatten(m) {
            out.push_str("sops_");
            out.push_str(&k);
            out.push('=');
            out.push_str(&v.replace('\n', "\\n"));
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}
