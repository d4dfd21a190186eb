//! What a values file is, and its plaintext.
//!
//! Encryption is recognised by the SOPS metadata the file parses to, never by
//! searching its text. The format comes from the name for dotenv and INI files, and
//! from the content otherwise, as helm-secrets' `auto` type does: a JSON object whose
//! only value is `data` is a binary file (sops's binary store: its plaintext is the
//! raw bytes, trailing newlines and all), another JSON object is JSON, everything
//! else is YAML. The plaintext is what `sops --decrypt` prints, byte for byte.
use crate::error::{Error, Result};
use crate::keys::Keys;
use ksec_sops::{Config, EmitOptions, Format, Item, LockedFile, Zeroizing};
use std::path::Path;

/// A values file after looking at it.
pub(crate) enum Plain {
    /// It was a SOPS file: its plaintext.
    Decrypted(Zeroizing<Vec<u8>>),
    /// It has no SOPS metadata: its bytes are the values as they are.
    NotEncrypted,
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plain::Decrypted(b) => write!(f, "Decrypted({} bytes)", b.len()),
            Plain::NotEncrypted => f.write_str("NotEncrypted"),
        }
    }
}

/// The SOPS format a file is read in: from its name for dotenv and INI, else from its
/// content (`{` first: JSON, else YAML).
pub fn detect_format(name: &str, bytes: &[u8]) -> Format {
    if let f @ (Format::Dotenv | Format::Ini) = Format::from_path(Path::new(name)) {
        return f;
    }
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Format::Json,
        _ => Format::Yaml,
    }
}

/// True if `bytes` parse as a SOPS file (they carry valid `sops` metadata).
pub fn is_encrypted(name: &str, bytes: &[u8]) -> bool {
    ksec_sops::is_encrypted(bytes, detect_format(name, bytes))
}

/// Decrypts a values file, or says it is not encrypted. `name` names it in errors
/// (and picks dotenv/INI); `config` is the `.sops.yaml` in effect, for its YAML/JSON
/// indent (as sops uses it) and to name its creation rule when no key opens the file.
/// `keys` is called only for an encrypted file (loading keys may run gpg).
pub(crate) fn decrypt<K: std::borrow::Borrow<Keys>>(
    name: &str,
    bytes: &[u8],
    config: Option<&Config>,
    keys: impl FnOnce() -> Result<K>,
) -> Result<Plain> {
    let format = detect_format(name, bytes);
    let locked = match LockedFile::parse(bytes, format) {
        Ok(l) => l,
        // Encrypted values without metadata: the file lost its end.
        Err(e @ ksec_sops::Error::MetadataNotFound) if has(bytes, b"ENC[AES256_GCM,") => {
            return Err(Error::Damaged {
                file: name.to_string(),
                source: Box::new(e),
            })
        }
        Err(ksec_sops::Error::MetadataNotFound) => return Ok(Plain::NotEncrypted),
        Err(e) if looks_like_sops(bytes) => {
            return Err(Error::Damaged {
                file: name.to_string(),
                source: Box::new(e),
            })
        }
        // Not a SOPS file in any shape (a certificate, a properties file): the
        // values are the bytes, and Helm judges them.
        Err(_) => return Ok(Plain::NotEncrypted),
    };
    let described: Vec<String> = locked
        .key_groups()
        .iter()
        .flatten()
        .map(ksec_sops::MasterKey::describe)
        .collect();
    let keys = keys()?;
    let open = keys.borrow().open(locked).map_err(|source| {
        // Which keys the file names, and which the rule names, matter when none opened it.
        let no_key = matches!(source, ksec_sops::Error::NoKey { .. });
        Error::Decrypt {
            file: name.to_string(),
            keys: if no_key { described } else { Vec::new() },
            rule: if no_key { rule_for(config, name) } else { None },
            source: Box::new(source),
        }
    })?;
    let output = match format {
        Format::Json if is_binary_store(open.document().branches.first()) => Format::Binary,
        f => f,
    };
    let emit = EmitOptions::resolve(None, config, output);
    open.to_plaintext(output, &emit)
        .map(Plain::Decrypted)
        .map_err(|source| Error::Decrypt {
            file: name.to_string(),
            keys: Vec::new(),
            rule: None,
            source: Box::new(source),
        })
}

/// sops's binary store: a JSON object whose only entry is the string `data`.
fn is_binary_store(branch: Option<&Vec<Item>>) -> bool {
    let Some(items) = branch else { return false };
    let entries: Vec<&Item> = items
        .iter()
        .filter(|i| matches!(i, Item::Entry(..)))
        .collect();
    matches!(entries.as_slice(), [Item::Entry(k, ksec_sops::Value::Str(_))] if k == "data")
}

/// A file that does not parse but carries SOPS's marks (an encrypted value, or a
/// `sops` metadata entry) is a damaged SOPS file, not plaintext to pass on.
fn looks_like_sops(bytes: &[u8]) -> bool {
    has(bytes, b"ENC[AES256_GCM,") || has(bytes, b"\nsops:") || has(bytes, b"\"sops\":")
}

fn has(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The creation rule that applies to `file`: of the `.sops.yaml` in effect, else of
/// the one found upward from the file's folder (where its author ran sops).
fn rule_for(config: Option<&Config>, file: &str) -> Option<String> {
    if let Some(c) = config {
        return describe_rule(c, file);
    }
    let folder = std::path::absolute(Path::new(file))
        .ok()?
        .parent()?
        .to_path_buf();
    let found = Config::find(None, &folder).ok().flatten()?;
    describe_rule(&found, file)
}

/// The creation rule of `.sops.yaml` that matches `file`, as a message line.
fn describe_rule(config: &Config, file: &str) -> Option<String> {
    let rule = config.rule_for(Path::new(file))?;
    let keys: Vec<String> = rule
        .groups
        .iter()
        .flatten()
        .map(ksec_sops::Recipient::describe)
        .collect();
    if keys.is_empty() {
        return None;
    }
    Some(format!(
        "{} has a creation rule for this file naming: {}",
        config.path.display(),
        keys.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_content_and_name() {
        assert_eq!(detect_format("x.yaml", b"a: 1\n"), Format::Yaml);
        assert_eq!(detect_format("x.yaml", b"\n  {\"a\": 1}"), Format::Json);
        assert_eq!(detect_format("x.txt", b"\xef\xbb\xbf{}"), Format::Json);
        assert_eq!(detect_format("x.env", b"{A=1"), Format::Dotenv);
        assert_eq!(detect_format("x.ini", b"[s]\na=1"), Format::Ini);
        assert_eq!(detect_format("cert.pem", b"-----BEGIN"), Format::Yaml);
    }

    #[test]
    fn sops_marks() {
        assert!(looks_like_sops(b"a: ENC[AES256_GCM,data:xx"));
        assert!(looks_like_sops(b"a: 1\nsops:\n  mac: x"));
        assert!(!looks_like_sops(b"key: value\n"));
    }
}
