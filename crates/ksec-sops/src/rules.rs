//! Which values get encrypted: the six suffix/regex rules and `mac_only_encrypted`
//! (sops's `shouldBeEncrypted`), plus the walk over a document that applies them
//! and computes the MAC.
use crate::cipher::{leaf_bytes, ValueCipher};
use crate::tree::{Document, Item, Value};
use crate::Error;
use ksec_crypto::hash::Sha512;
use regex::Regex;

/// The default `unencrypted_suffix` sops writes when no other rule is set.
pub(crate) const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// `sha256("sops")`: the MAC of a `mac_only_encrypted` file starts from these bytes
/// so that it can never equal the MAC of the same file without the setting.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The encryption rules of a file (stored in its metadata).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Keys ending with this suffix (anywhere on the path) stay in plaintext.
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this suffix are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this stay in plaintext.
    pub unencrypted_regex: Option<Regex>,
    /// Only keys matching this are encrypted.
    pub encrypted_regex: Option<Regex>,
    /// Values after a comment matching this stay in plaintext.
    pub unencrypted_comment_regex: Option<Regex>,
    /// Only values after a comment matching this are encrypted.
    pub encrypted_comment_regex: Option<Regex>,
    /// The MAC covers only the values that are encrypted.
    pub mac_only_encrypted: bool,
}

impl Rules {
    /// How many of the six rules are set (sops allows at most one).
    pub fn count(&self) -> usize {
        [
            self.unencrypted_suffix.is_some(),
            self.encrypted_suffix.is_some(),
            self.unencrypted_regex.is_some(),
            self.encrypted_regex.is_some(),
            self.unencrypted_comment_regex.is_some(),
            self.encrypted_comment_regex.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    /// Compiles a rule regex, naming the field when it is invalid.
    pub fn regex(field: &str, re: &str) -> Result<Regex, Error> {
        Regex::new(re).map_err(|e| Error::InvalidRegex {
            field: field.to_string(),
            reason: e.to_string(),
        })
    }

    fn should_encrypt(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        let mut enc = true;
        if let Some(s) = &self.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(s.as_str())) {
                enc = false;
            }
        }
        if let Some(s) = &self.encrypted_suffix {
            enc = path.iter().any(|p| p.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex {
            if path.iter().any(|p| r.is_match(p)) {
                enc = false;
            }
        }
        if let Some(r) = &self.encrypted_regex {
            enc = path.iter().any(|p| r.is_match(p));
        }
        if let Some(r) = &self.unencrypted_comment_regex {
            if comments.iter().flatten().any(|c| r.is_match(c)) {
                enc = false;
            }
        }
        if let Some(r) = &self.encrypted_comment_regex {
            // The comment line that matches stays readable itself; only what
            // follows it is encrypted.
            let last = comments.len().saturating_sub(1);
            let last_len = comments.last().map_or(0, Vec::len);
            enc = comments.iter().enumerate().any(|(i, cs)| {
                cs.iter()
                    .enumerate()
                    .any(|(j, c)| !(is_comment && i == last && j + 1 == last_len) && r.is_match(c))
            });
        }
        enc
    }
}

/// Walks every leaf in document order: `f(leaf, path, comments, is_comment)`
/// returns the replacement. Comments in maps are visited as `Value::Comment`.
fn walk_items<F>(
    items: &mut [Item],
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    f: &mut F,
) -> Result<(), Error>
where
    F: FnMut(&mut Value, &[String], &[Vec<String>]) -> Result<(), Error>,
{
    stack.push(Vec::new());
    for item in items.iter_mut() {
        match item {
            Item::Comment(c) => {
                push_comment(stack, c);
                let mut v = Value::Comment(std::mem::take(c));
                f(&mut v, path, stack)?;
                *c = match v {
                    Value::Comment(s) | Value::Str(s) => s,
                    _ => return Err(Error::Internal("a comment turned into a non-string")),
                };
            }
            Item::Entry(k, v) => {
                path.push(k.clone());
                walk_value(v, path, stack, f)?;
                path.pop();
                if let Some(l) = stack.last_mut() {
                    l.clear();
                }
            }
        }
    }
    stack.pop();
    Ok(())
}

fn push_comment(stack: &mut [Vec<String>], c: &str) {
    if let Some(l) = stack.last_mut() {
        l.push(c.to_string());
    }
}

fn walk_value<F>(
    v: &mut Value,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    f: &mut F,
) -> Result<(), Error>
where
    F: FnMut(&mut Value, &[String], &[Vec<String>]) -> Result<(), Error>,
{
    match v {
        Value::Map(items) => walk_items(items, path, stack, f),
        Value::Seq(vals) => {
            stack.push(Vec::new());
            for x in vals.iter_mut() {
                let is_comment = if let Value::Comment(c) = x {
                    push_comment(stack, &c.clone());
                    true
                } else {
                    false
                };
                walk_value(x, path, stack, f)?;
                if !is_comment {
                    if let Some(l) = stack.last_mut() {
                        l.clear();
                    }
                }
            }
            stack.pop();
            Ok(())
        }
        Value::Null => Ok(()),
        _ => f(v, path, stack),
    }
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn hex_upper(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02X}")).collect()
}

/// Encrypts every leaf the rules select, in place; returns the MAC (uppercase hex
/// SHA-512 over the plaintext leaves in document order).
pub(crate) fn encrypt_document(
    doc: &mut Document,
    cipher: &ValueCipher,
    rules: &Rules,
) -> Result<String, Error> {
    let mut h = Sha512::new();
    if rules.mac_only_encrypted {
        h.update(&MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut f = |v: &mut Value, path: &[String], comments: &[Vec<String>]| {
        let is_comment = matches!(v, Value::Comment(_));
        let enc = rules.should_encrypt(path, comments, is_comment);
        if (!rules.mac_only_encrypted || enc) && !is_comment {
            if let Some((b, _)) = leaf_bytes(v) {
                h.update(&b);
            }
        }
        if enc {
            let s = cipher.encrypt(v, &aad(path))?;
            *v = if is_comment {
                Value::Comment(s)
            } else {
                Value::Str(s)
            };
        }
        Ok(())
    };
    for b in &mut doc.branches {
        walk_items(b, &mut Vec::new(), &mut Vec::new(), &mut f)?;
    }
    Ok(hex_upper(&h.finish()))
}

/// Decrypts every leaf the rules select, in place; returns the MAC of the plaintext.
pub(crate) fn decrypt_document(
    doc: &mut Document,
    cipher: &mut ValueCipher,
    rules: &Rules,
) -> Result<String, Error> {
    let mut h = Sha512::new();
    if rules.mac_only_encrypted {
        h.update(&MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut f = |v: &mut Value, path: &[String], comments: &[Vec<String>]| {
        let is_comment = matches!(v, Value::Comment(_));
        let enc = rules.should_encrypt(path, comments, is_comment);
        if enc {
            let a = aad(path);
            let shown = path.join(".");
            match v {
                Value::Comment(c) => {
                    // Comments written by sops before 3.x are not encrypted: keep them.
                    if let Ok(Value::Comment(p)) = cipher.decrypt(c, &a, &shown) {
                        *v = Value::Comment(p);
                    }
                }
                Value::Str(s) => {
                    let s = std::mem::take(s);
                    *v = cipher.decrypt(&s, &a, &shown)?;
                }
                other => {
                    return Err(Error::NotEncrypted {
                        path: shown,
                        kind: other.kind(),
                    })
                }
            }
        }
        if (!rules.mac_only_encrypted || enc) && !matches!(v, Value::Comment(_)) {
            if let Some((b, _)) = leaf_bytes(v) {
                h.update(&b);
            }
        }
        Ok(())
    };
    for b in &mut doc.branches {
        walk_items(b, &mut Vec::new(), &mut Vec::new(), &mut f)?;
    }
    Ok(hex_upper(&h.finish()))
}
