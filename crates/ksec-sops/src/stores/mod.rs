//! The five stores sops supports: YAML, JSON, dotenv, INI and binary.
//!
//! Every store turns bytes into a [`Document`] plus, for encrypted files, the raw
//! `sops` metadata value, and back. Every reader bounds what it builds: depth
//! (YAML 256 levels, JSON 512), YAML alias expansion (go-yaml's rule plus hard
//! caps, see `yaml/aliases.rs`), and the list indices of flattened dotenv/INI
//! metadata; everything else grows linearly with the input.
pub(crate) mod dotenv;
pub(crate) mod ini;
pub(crate) mod json;
pub(crate) mod yaml;

use crate::tree::{Document, Item, Value};
use crate::{EmitOptions, Error, Format};

/// A parse error of `format` at `line`.
pub(crate) fn parse_error(format: Format, line: usize, message: impl Into<String>) -> Error {
    Error::Parse {
        format,
        line: Some(line),
        message: message.into(),
    }
}

/// The input as text, or an error naming the line of the first byte that is
/// not UTF-8.
pub(crate) fn utf8(input: &[u8], format: Format) -> Result<&str, Error> {
    std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()]
            .iter()
            .filter(|c| **c == b'\n')
            .count();
        parse_error(format, line, "the file is not valid UTF-8")
    })
}

/// Reads a plaintext file.
pub(crate) fn load_plain(format: Format, input: &[u8]) -> Result<Document, Error> {
    let branches = match format {
        Format::Yaml => yaml::parse_documents(input)?,
        Format::Json => vec![json::parse(input)?],
        Format::Dotenv => vec![dotenv::parse(input)?],
        Format::Ini => vec![ini::parse(input)?],
        Format::Binary => vec![vec![Item::Entry(
            "data".into(),
            match std::str::from_utf8(input) {
                Ok(s) => Value::Str(s.to_string()),
                Err(_) => Value::Bytes(input.to_vec()),
            },
        )]],
    };
    let doc = Document { branches };
    let flat_sops = matches!(format, Format::Dotenv)
        && doc.branches[0]
            .iter()
            .any(|i| matches!(i, Item::Entry(k, _) if k.starts_with("sops_")));
    if doc.has_sops_key() || flat_sops {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(doc)
}

/// Reads an encrypted file: its data and its raw `sops` metadata.
pub(crate) fn load_encrypted(format: Format, input: &[u8]) -> Result<(Document, Value), Error> {
    match format {
        Format::Yaml => {
            let mut branches = yaml::parse_documents(input)?;
            let mut meta = None;
            for b in &mut branches {
                if let Some(pos) = b
                    .iter()
                    .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
                {
                    if let Item::Entry(_, v) = b.remove(pos) {
                        meta.get_or_insert(v);
                    }
                }
            }
            Ok((Document { branches }, meta.ok_or(Error::MetadataNotFound)?))
        }
        Format::Json | Format::Binary => {
            let mut items = json::parse(input)?;
            let pos = items
                .iter()
                .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
                .ok_or(Error::MetadataNotFound)?;
            let Item::Entry(_, meta) = items.remove(pos) else {
                return Err(Error::Internal("sops entry vanished"));
            };
            Ok((Document::single(items), meta))
        }
        Format::Dotenv => dotenv::load_encrypted(input),
        Format::Ini => ini::load_encrypted(input),
    }
}

/// Writes a plaintext file.
pub(crate) fn emit_plain(
    format: Format,
    doc: &Document,
    opts: &EmitOptions,
) -> Result<Vec<u8>, Error> {
    Ok(match format {
        Format::Yaml => yaml::emit_documents(&doc.branches, None, opts.indent.unwrap_or(4)),
        Format::Json => json::emit(first(doc), None, &json_indent(opts)),
        Format::Dotenv => dotenv::emit(first(doc), None)?,
        Format::Ini => ini::emit(first(doc), None)?,
        Format::Binary => {
            match first(doc).iter().find_map(|i| match i {
                Item::Entry(k, v) if k == "data" => Some(v),
                _ => None,
            }) {
                Some(Value::Str(s)) => s.as_bytes().to_vec(),
                Some(Value::Bytes(b)) => b.clone(),
                _ => {
                    return Err(Error::Emit {
                        format: Format::Binary,
                        reason: "binary output needs a single 'data' string".into(),
                    })
                }
            }
        }
    })
}

/// Writes one value as sops's `--extract` prints it: strings raw, everything else
/// in the output format (YAML ends with a newline, JSON does not).
pub(crate) fn emit_value(format: Format, v: &Value, opts: &EmitOptions) -> Vec<u8> {
    match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        _ => match format {
            Format::Json | Format::Binary => {
                let mut out = String::new();
                json::write_value(&mut out, v, 0, &json_indent(opts));
                // sops emits a mapping as a file (with a final newline), other values bare.
                if matches!(v, Value::Map(_)) {
                    out.push('\n');
                }
                out.into_bytes()
            }
            _ => yaml::emit::emit_value(v, opts.indent.unwrap_or(4)).into_bytes(),
        },
    }
}

/// Writes an encrypted file with its metadata.
pub(crate) fn emit_encrypted(
    format: Format,
    doc: &Document,
    meta: &Value,
    opts: &EmitOptions,
) -> Result<Vec<u8>, Error> {
    let sops = Item::Entry("sops".into(), meta.clone());
    Ok(match format {
        Format::Yaml => yaml::emit_documents(&doc.branches, Some(&sops), opts.indent.unwrap_or(4)),
        Format::Json | Format::Binary => json::emit(first(doc), Some(&sops), &json_indent(opts)),
        Format::Dotenv => dotenv::emit(first(doc), Some(meta))?,
        Format::Ini => ini::emit(first(doc), Some(meta))?,
    })
}

fn json_indent(opts: &EmitOptions) -> String {
    match opts.indent {
        Some(n) if n > 0 => " ".repeat(n),
        _ => "\t".into(),
    }
}

fn first(doc: &Document) -> &[Item] {
    doc.branches.first().map(Vec::as_slice).unwrap_or(&[])
}
