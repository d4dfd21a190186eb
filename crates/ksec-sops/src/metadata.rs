//! The `sops` metadata block: key groups, last-modified time, the encrypted MAC,
//! the encryption rules and the version.
//!
//! Read in every layout sops 3.0–3.13 wrote: keys at top level (one group) or in
//! `key_groups`, lists empty, `null` or absent, any field order. Written in the
//! layout of sops 3.11+ (empty lists left out, fields in sops's struct order).
//! Key types ksec does not handle yet (AWS/GCP KMS, Azure Key Vault, Vault
//! Transit, HuaweiCloud KMS) are kept verbatim so files that name them survive
//! an edit with the same data key.
use crate::keys::Recipient;
pub(crate) use crate::master_key::MasterKey;
use crate::rules::{Rules, DEFAULT_UNENCRYPTED_SUFFIX};
use crate::tree::{Item, Value};
use crate::Error;
use std::collections::HashMap;

/// A key group: every key in it encrypts the same data key (or Shamir share).
pub type KeyGroup = Vec<MasterKey>;

/// The metadata of an encrypted file.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// Key groups (one unless Shamir secret sharing is used).
    pub key_groups: Vec<KeyGroup>,
    /// Shares needed when there are several groups.
    pub shamir_threshold: Option<u64>,
    /// RFC 3339 time of the last change; the MAC's additional data.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`).
    pub mac: String,
    /// The encryption rules.
    pub rules: Rules,
    /// The sops version that wrote the file.
    pub version: String,
}

const GROUP_LISTS: [&str; 7] = [
    "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age", "pgp",
];

fn field_str(m: &Value, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::Str(s) | Value::Time(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_str(m: &Value, k: &str) -> Option<String> {
    field_str(m, k).filter(|s| !s.is_empty())
}

fn group_from(m: &Value) -> Result<KeyGroup, Error> {
    let mut g = Vec::new();
    for list in GROUP_LISTS {
        let entries = match m.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Seq(v)) => v,
            Some(other) => {
                return Err(Error::metadata(format!(
                    "sops.{list} should be a list, found a {}",
                    other.kind()
                )))
            }
        };
        for e in entries {
            let need = |k: &str| {
                field_str(e, k)
                    .ok_or_else(|| Error::metadata(format!("an entry of sops.{list} has no {k}")))
            };
            g.push(match list {
                "age" => MasterKey::Age {
                    recipient: need("recipient")?,
                    enc: need("enc")?,
                },
                "pgp" => MasterKey::Pgp {
                    fp: need("fp")?,
                    created_at: field_str(e, "created_at").unwrap_or_default(),
                    enc: need("enc")?,
                },
                _ => MasterKey::Other {
                    kind: list.to_string(),
                    fields: match e {
                        Value::Map(items) => items.clone(),
                        _ => {
                            return Err(Error::metadata(format!(
                                "an entry of sops.{list} is not a mapping"
                            )))
                        }
                    },
                },
            });
        }
    }
    Ok(g)
}

impl Metadata {
    /// The recipients of the key groups, to encrypt a new data key for the
    /// same keys (`rotate`). A key of a type this crate does not know is an
    /// error naming it.
    pub fn recipients(&self) -> Result<Vec<Vec<Recipient>>, Error> {
        self.key_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|k| {
                        k.recipient().ok_or_else(|| Error::UnsupportedKeyType {
                            kind: k.kind().to_string(),
                            key: k.describe(),
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// Reads the `sops` mapping of a file.
    pub(crate) fn from_value(m: &Value) -> Result<Self, Error> {
        if !matches!(m, Value::Map(_)) {
            return Err(Error::metadata(format!(
                "the sops entry should be a mapping, found a {}",
                m.kind()
            )));
        }
        let mut groups = Vec::new();
        let top = group_from(m)?;
        if !top.is_empty() {
            groups.push(top);
        } else if let Some(Value::Seq(gs)) = m.get("key_groups") {
            for g in gs {
                groups.push(group_from(g)?);
            }
        }
        if groups.iter().all(Vec::is_empty) {
            return Err(Error::metadata("no keys found in the sops metadata"));
        }
        let shamir_threshold = match m.get("shamir_threshold") {
            Some(Value::Int(i)) if *i > 0 => Some(*i as u64),
            Some(Value::Str(s)) => s.parse().ok().filter(|n| *n > 0),
            _ => None,
        };
        let re = |k: &str| -> Result<Option<regex::Regex>, Error> {
            opt_str(m, k).map(|s| Rules::regex(k, &s)).transpose()
        };
        let mut rules = Rules {
            unencrypted_suffix: opt_str(m, "unencrypted_suffix"),
            encrypted_suffix: opt_str(m, "encrypted_suffix"),
            unencrypted_regex: re("unencrypted_regex")?,
            encrypted_regex: re("encrypted_regex")?,
            unencrypted_comment_regex: re("unencrypted_comment_regex")?,
            encrypted_comment_regex: re("encrypted_comment_regex")?,
            mac_only_encrypted: matches!(m.get("mac_only_encrypted"), Some(Value::Bool(true)))
                || field_str(m, "mac_only_encrypted").as_deref() == Some("true"),
        };
        match rules.count() {
            0 => rules.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.into()),
            1 => {}
            _ => {
                return Err(Error::metadata(
                    "the file sets more than one of unencrypted_suffix, encrypted_suffix, \
                     unencrypted_regex, encrypted_regex, unencrypted_comment_regex and \
                     encrypted_comment_regex; sops allows only one",
                ))
            }
        }
        Ok(Metadata {
            key_groups: groups,
            shamir_threshold,
            last_modified: field_str(m, "lastmodified")
                .ok_or_else(|| Error::metadata("sops.lastmodified is missing"))?,
            mac: field_str(m, "mac").unwrap_or_default(),
            rules,
            version: field_str(m, "version").unwrap_or_default(),
        })
    }

    /// The `sops` mapping as sops 3.11+ writes it.
    pub(crate) fn to_value(&self) -> Value {
        let mut out = Vec::new();
        let s = |v: &str| Value::Str(v.to_string());
        let entry = |k: &str, v: Value| Item::Entry(k.to_string(), v);
        let lists = |g: &KeyGroup, kind: &str| -> Vec<Value> {
            g.iter()
                .filter(|k| k.kind() == kind)
                .map(|k| match k {
                    MasterKey::Age { recipient, enc } => {
                        Value::Map(vec![entry("recipient", s(recipient)), entry("enc", s(enc))])
                    }
                    MasterKey::Pgp {
                        fp,
                        created_at,
                        enc,
                    } => Value::Map(vec![
                        entry("created_at", s(created_at)),
                        entry("enc", s(enc)),
                        entry("fp", s(fp)),
                    ]),
                    MasterKey::Other { fields, .. } => Value::Map(fields.clone()),
                })
                .collect()
        };
        let single = self.key_groups.len() == 1;
        if single {
            let g = &self.key_groups[0];
            for kind in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age"] {
                let l = lists(g, kind);
                if !l.is_empty() {
                    out.push(entry(kind, Value::Seq(l)));
                }
            }
        } else {
            if let Some(t) = self.shamir_threshold {
                out.push(entry("shamir_threshold", Value::Int(t as i64)));
            }
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut items = Vec::new();
                    for kind in [
                        "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age",
                    ] {
                        let l = lists(g, kind);
                        // sops writes hc_vault even when empty inside key groups.
                        if !l.is_empty() || kind == "hc_vault" {
                            items.push(entry(kind, Value::Seq(l)));
                        }
                    }
                    Value::Map(items)
                })
                .collect();
            out.push(entry("key_groups", Value::Seq(groups)));
        }
        out.push(entry("lastmodified", s(&self.last_modified)));
        out.push(entry("mac", s(&self.mac)));
        if single {
            let l = lists(&self.key_groups[0], "pgp");
            if !l.is_empty() {
                out.push(entry("pgp", Value::Seq(l)));
            }
        }
        let r = &self.rules;
        let strs = [
            ("unencrypted_suffix", r.unencrypted_suffix.clone()),
            ("encrypted_suffix", r.encrypted_suffix.clone()),
            (
                "unencrypted_regex",
                r.unencrypted_regex.as_ref().map(|x| x.as_str().to_string()),
            ),
            (
                "encrypted_regex",
                r.encrypted_regex.as_ref().map(|x| x.as_str().to_string()),
            ),
            (
                "unencrypted_comment_regex",
                r.unencrypted_comment_regex
                    .as_ref()
                    .map(|x| x.as_str().to_string()),
            ),
            (
                "encrypted_comment_regex",
                r.encrypted_comment_regex
                    .as_ref()
                    .map(|x| x.as_str().to_string()),
            ),
        ];
        for (k, v) in strs {
            if let Some(v) = v {
                out.push(entry(k, s(&v)));
            }
        }
        if r.mac_only_encrypted {
            out.push(entry("mac_only_encrypted", Value::Bool(true)));
        }
        out.push(entry("version", s(&self.version)));
        Value::Map(out)
    }
}

/// Flattens the metadata for the dotenv and INI stores: nested keys joined with
/// `__map_`, list positions as `__list_N`, sorted by key as sops writes them.
pub(crate) fn flatten(m: &Value) -> Vec<(String, String)> {
    fn go(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Map(items) => {
                for i in items {
                    if let Item::Entry(k, v) = i {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}__map_{k}")
                        };
                        go(&p, v, out);
                    }
                }
            }
            Value::Seq(vs) => {
                for (n, v) in vs.iter().enumerate() {
                    go(&format!("{prefix}__list_{n}"), v, out);
                }
            }
            Value::Str(s) | Value::Time(s) => out.push((prefix.to_string(), s.clone())),
            Value::Int(i) => out.push((prefix.to_string(), i.to_string())),
            Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
            Value::Float(x) => out.push((prefix.to_string(), crate::tree::go_float_f(*x))),
            _ => {}
        }
    }
    let mut out = Vec::new();
    go("", m, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Rebuilds the nested metadata from flattened `(key, value)` pairs (all values
/// read as strings, as sops does; [`Metadata::from_value`] accepts that).
///
/// Bounded by its input: a list index must be smaller than the number of pairs
/// (a valid file's lists are dense), and keys are found through an index, so a
/// file of many `sops_…` keys costs linear time.
pub(crate) fn unflatten(pairs: &[(String, String)]) -> Result<Value, Error> {
    /// A node under construction, with an index of its mapping keys.
    enum Node {
        Map(Vec<(String, Node)>, HashMap<String, usize>),
        Seq(Vec<Node>),
        Leaf(String),
        Empty,
    }
    impl Node {
        fn into_value(self) -> Value {
            match self {
                Node::Map(entries, _) => Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, n)| Item::Entry(k, n.into_value()))
                        .collect(),
                ),
                Node::Seq(items) => Value::Seq(items.into_iter().map(Node::into_value).collect()),
                Node::Leaf(s) => Value::Str(s),
                Node::Empty => Value::Null,
            }
        }
    }
    enum Segment {
        Key(String),
        Index(usize),
    }
    /// `a__map_b__list_0` → `a`, `b`, `0`.
    fn segments(key: &str, max_index: usize) -> Result<Vec<Segment>, Error> {
        let next_marker = |s: &str| {
            [s.find("__map_"), s.find("__list_")]
                .into_iter()
                .flatten()
                .min()
        };
        let mut out = Vec::new();
        let (head, mut rest) = match next_marker(key) {
            Some(i) => (&key[..i], &key[i..]),
            None => (key, ""),
        };
        out.push(Segment::Key(head.to_string()));
        while !rest.is_empty() {
            if let Some(t) = rest.strip_prefix("__map_") {
                let (k, r) = match next_marker(t) {
                    Some(i) => (&t[..i], &t[i..]),
                    None => (t, ""),
                };
                out.push(Segment::Key(k.to_string()));
                rest = r;
            } else if let Some(t) = rest.strip_prefix("__list_") {
                // The index runs to the next marker (text that is not a number
                // reads as 0, as before).
                let end = next_marker(t).unwrap_or(t.len());
                let index = t[..end].parse().unwrap_or(0);
                if index >= max_index {
                    return Err(Error::metadata(format!(
                        "{key}: list index {index} is out of range"
                    )));
                }
                out.push(Segment::Index(index));
                rest = &t[end..];
            } else {
                // `rest` always starts at a marker; this is unreachable.
                return Err(Error::metadata(format!("{key}: unreadable key")));
            }
        }
        Ok(out)
    }
    fn insert(
        node: &mut Node,
        segments: &[Segment],
        value: &str,
        slots: &mut usize,
    ) -> Result<(), Error> {
        let Some((first, rest)) = segments.split_first() else {
            *node = Node::Leaf(value.to_string());
            return Ok(());
        };
        match first {
            Segment::Key(k) => {
                if !matches!(node, Node::Map(..)) {
                    *node = Node::Map(Vec::new(), HashMap::new());
                }
                if let Node::Map(entries, index) = node {
                    let pos = *index.entry(k.clone()).or_insert_with(|| {
                        entries.push((k.clone(), Node::Empty));
                        entries.len() - 1
                    });
                    insert(&mut entries[pos].1, rest, value, slots)?;
                }
            }
            Segment::Index(i) => {
                if !matches!(node, Node::Seq(_)) {
                    *node = Node::Seq(Vec::new());
                }
                if let Node::Seq(items) = node {
                    // All lists together hold at most one element per pair (a
                    // valid file's lists are dense), so sparse indices in many
                    // lists cannot add up to more than the input.
                    let grow = (*i + 1).saturating_sub(items.len());
                    *slots = slots.checked_sub(grow).ok_or_else(|| {
                        Error::metadata(format!("list index {i} is out of range"))
                    })?;
                    items.resize_with(items.len() + grow, || Node::Empty);
                    insert(&mut items[*i], rest, value, slots)?;
                }
            }
        }
        Ok(())
    }
    let mut root = Node::Map(Vec::new(), HashMap::new());
    let mut slots = pairs.len();
    for (k, v) in pairs {
        insert(&mut root, &segments(k, pairs.len())?, v, &mut slots)?;
    }
    Ok(root.into_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_unflatten_round_trip() {
        let m = Metadata {
            key_groups: vec![vec![
                MasterKey::Age {
                    recipient: "age1x".into(),
                    enc: "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n"
                        .into(),
                },
                MasterKey::Pgp {
                    fp: "FP".into(),
                    created_at: "2020-01-01T00:00:00Z".into(),
                    enc: "pgp".into(),
                },
            ]],
            last_modified: "2020-01-01T00:00:00Z".into(),
            mac: "ENC[x]".into(),
            version: "3.11.0".into(),
            rules: Rules {
                unencrypted_suffix: Some("_unencrypted".into()),
                mac_only_encrypted: true,
                ..Rules::default()
            },
            ..Metadata::default()
        };
        let flat = flatten(&m.to_value());
        assert!(flat.iter().any(|(k, _)| k == "age__list_0__map_recipient"));
        let back = Metadata::from_value(&unflatten(&flat).unwrap()).unwrap();
        assert_eq!(back.key_groups, m.key_groups);
        assert!(back.rules.mac_only_encrypted);
        assert_eq!(back.last_modified, m.last_modified);
    }

    #[test]
    fn junk_after_a_list_index_is_not_a_crash() {
        // Found by the ksec_sops_dotenv fuzz target (it panicked before).
        let pairs = vec![(
            "__lisops__list_\u{1f}\0\0\0istl__l__".to_string(),
            String::new(),
        )];
        let _ = unflatten(&pairs);
        let pairs = vec![("a__list_0__x".to_string(), "v".to_string())];
        let _ = unflatten(&pairs);
    }

    #[test]
    fn sparse_list_indices_are_bounded_by_the_input() {
        // One list index per pair is fine; a far index, or far indices in many
        // lists, are refused instead of allocating their gaps.
        let dense: Vec<(String, String)> = (0..3)
            .map(|i| (format!("age__list_{i}__map_recipient"), "r".to_string()))
            .collect();
        assert!(unflatten(&dense).is_ok());
        let far = vec![("age__list_999999999999".to_string(), "x".to_string())];
        assert!(unflatten(&far).is_err());
        let many: Vec<(String, String)> = (0..100)
            .map(|k| (format!("l{k}__list_99"), "x".to_string()))
            .collect();
        assert!(unflatten(&many)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }

    #[test]
    fn key_groups_layout_is_read() {
        let flat = vec![
            (
                "key_groups__list_0__map_age__list_0__map_recipient".to_string(),
                "age1a".to_string(),
            ),
            (
                "key_groups__list_0__map_age__list_0__map_enc".to_string(),
                "e".to_string(),
            ),
            (
                "key_groups__list_1__map_age__list_0__map_recipient".to_string(),
                "age1b".to_string(),
            ),
            (
                "key_groups__list_1__map_age__list_0__map_enc".to_string(),
                "f".to_string(),
            ),
            (
                "lastmodified".to_string(),
                "2020-01-01T00:00:00Z".to_string(),
            ),
            ("shamir_threshold".to_string(), "2".to_string()),
        ];
        let m = Metadata::from_value(&unflatten(&flat).unwrap()).unwrap();
        assert_eq!(m.key_groups.len(), 2);
        assert_eq!(m.shamir_threshold, Some(2));
        assert_eq!(m.rules.unencrypted_suffix.as_deref(), Some("_unencrypted"));
    }
}
