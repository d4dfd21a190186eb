//! The `sops` metadata block: key groups, last-modified time, the encrypted MAC,
//! the encryption rules and the version.
//!
//! Read in every layout sops 3.0–3.13 wrote: keys at top level (one group) or in
//! `key_groups`, lists empty, `null` or absent, any field order. Written in the
//! layout of sops 3.11+ (empty lists left out, fields in sops's struct order).
//! Key types ksec does not handle yet (AWS/GCP KMS, Azure Key Vault, Vault
//! Transit, HuaweiCloud KMS) are kept verbatim so files that name them survive
//! an edit with the same data key.
use crate::rules::{Rules, DEFAULT_UNENCRYPTED_SUFFIX};
use crate::tree::{Item, Value};
use crate::Error;

/// One master key: something that holds an encrypted copy of the data key.
#[derive(Clone, PartialEq)]
pub enum MasterKey {
    /// An age recipient and the armored age file holding the data key.
    Age {
        /// `age1…` (or an SSH public key).
        recipient: String,
        /// The armored age payload.
        enc: String,
    },
    /// A PGP key and the armored PGP message holding the data key.
    Pgp {
        /// The key fingerprint.
        fp: String,
        /// RFC 3339 creation time.
        created_at: String,
        /// The armored PGP message.
        enc: String,
    },
    /// A key type handled elsewhere (`kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`):
    /// its entry kept as read.
    Other {
        /// The list it appeared in.
        kind: String,
        /// The entry's fields.
        fields: Vec<Item>,
    },
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl MasterKey {
    /// The key type name as sops's `--decryption-order` spells it.
    pub fn kind(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Pgp { .. } => "pgp",
            MasterKey::Other { kind, .. } => kind,
        }
    }

    /// A one-line description for messages (no secret material).
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age recipient {recipient}"),
            MasterKey::Pgp { fp, .. } => format!("pgp key {fp}"),
            MasterKey::Other { kind, fields } => {
                let id = fields
                    .iter()
                    .find_map(|i| match i {
                        Item::Entry(k, Value::Str(v))
                            if ["arn", "resource_id", "vault_url", "key_name", "key_id"]
                                .contains(&k.as_str()) =>
                        {
                            Some(v.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                format!("{kind} key {id}")
            }
        }
    }
}

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
                return Err(Error::Metadata(format!(
                    "sops.{list} should be a list, found a {}",
                    other.kind()
                )))
            }
        };
        for e in entries {
            let need = |k: &str| {
                field_str(e, k)
                    .ok_or_else(|| Error::Metadata(format!("an entry of sops.{list} has no {k}")))
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
                            return Err(Error::Metadata(format!(
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
    /// Reads the `sops` mapping of a file.
    pub fn from_value(m: &Value) -> Result<Self, Error> {
        if !matches!(m, Value::Map(_)) {
            return Err(Error::Metadata(format!(
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
            return Err(Error::Metadata("no keys found in the sops metadata".into()));
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
                return Err(Error::Metadata(
                    "the file sets more than one of unencrypted_suffix, encrypted_suffix, \
                     unencrypted_regex, encrypted_regex, unencrypted_comment_regex and \
                     encrypted_comment_regex; sops allows only one"
                        .into(),
                ))
            }
        }
        Ok(Metadata {
            key_groups: groups,
            shamir_threshold,
            last_modified: field_str(m, "lastmodified")
                .ok_or_else(|| Error::Metadata("sops.lastmodified is missing".into()))?,
            mac: field_str(m, "mac").unwrap_or_default(),
            rules,
            version: field_str(m, "version").unwrap_or_default(),
        })
    }

    /// The `sops` mapping as sops 3.11+ writes it.
    pub fn to_value(&self) -> Value {
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
pub fn flatten(m: &Value) -> Vec<(String, String)> {
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
pub fn unflatten(pairs: &[(String, String)]) -> Value {
    enum Seg {
        Key(String),
        Idx(usize),
    }
    fn segments(k: &str) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut rest = k;
        let mut first = true;
        loop {
            let next = [rest.find("__map_"), rest.find("__list_")]
                .into_iter()
                .flatten()
                .min();
            let (head, tail) = match next {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if first {
                out.push(Seg::Key(head.to_string()));
                first = false;
            }
            if tail.is_empty() {
                break;
            }
            if let Some(t) = tail.strip_prefix("__map_") {
                let end = [t.find("__map_"), t.find("__list_")]
                    .into_iter()
                    .flatten()
                    .min();
                let (k, r) = match end {
                    Some(i) => (&t[..i], &t[i..]),
                    None => (t, ""),
                };
                out.push(Seg::Key(k.to_string()));
                rest = r;
                if r.is_empty() {
                    break;
                }
                first = false;
                continue;
            }
            let t = &tail["__list_".len()..];
            let end = t.find("__").unwrap_or(t.len());
            out.push(Seg::Idx(t[..end].parse().unwrap_or(0)));
            rest = &t[end..];
            if rest.is_empty() {
                break;
            }
        }
        out
    }
    fn insert(node: &mut Value, segs: &[Seg], val: &str) {
        let Some((first, rest)) = segs.split_first() else {
            *node = Value::Str(val.to_string());
            return;
        };
        match first {
            Seg::Key(k) => {
                if !matches!(node, Value::Map(_)) {
                    *node = Value::Map(Vec::new());
                }
                if let Value::Map(items) = node {
                    let pos = items
                        .iter()
                        .position(|i| matches!(i, Item::Entry(x, _) if x == k));
                    let pos = pos.unwrap_or_else(|| {
                        items.push(Item::Entry(k.clone(), Value::Null));
                        items.len() - 1
                    });
                    if let Item::Entry(_, v) = &mut items[pos] {
                        insert(v, rest, val);
                    }
                }
            }
            Seg::Idx(i) => {
                if !matches!(node, Value::Seq(_)) {
                    *node = Value::Seq(Vec::new());
                }
                if let Value::Seq(v) = node {
                    while v.len() <= *i {
                        v.push(Value::Null);
                    }
                    insert(&mut v[*i], rest, val);
                }
            }
        }
    }
    let mut root = Value::Map(Vec::new());
    for (k, v) in pairs {
        insert(&mut root, &segments(k), v);
    }
    root
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
        let back = Metadata::from_value(&unflatten(&flat)).unwrap();
        assert_eq!(back.key_groups, m.key_groups);
        assert!(back.rules.mac_only_encrypted);
        assert_eq!(back.last_modified, m.last_modified);
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
        let m = Metadata::from_value(&unflatten(&flat)).unwrap();
        assert_eq!(m.key_groups.len(), 2);
        assert_eq!(m.shamir_threshold, Some(2));
        assert_eq!(m.rules.unencrypted_suffix.as_deref(), Some("_unencrypted"));
    }
}
