//! The value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! Each leaf is sealed with AES-256-GCM under the file's data key, a fresh 32-byte
//! IV and, as additional data, its key path joined with `:` plus a trailing `:`
//! (sops's `aes/cipher.go`). The `type` tells how to turn the plaintext back into a
//! typed value. Empty strings stay empty and unencrypted, as in sops.
use crate::keys::DataKey;
use crate::tree::{go_float_f, Value};
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_crypto::aead::{open_wide, seal_wide, SOPS_NONCE_LEN, TAG_LEN};
use ksec_crypto::SecretBytes;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// A parsed `ENC[…]` value (still encrypted).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EncValue {
    /// Ciphertext without the tag.
    pub(crate) data: Vec<u8>,
    /// The IV (32 bytes when sops wrote it; any length is accepted on read).
    pub(crate) iv: Vec<u8>,
    /// The 16-byte GCM tag.
    pub(crate) tag: Vec<u8>,
    /// The plaintext type: `str`, `int`, `float`, `bool`, `bytes`, `time`, `comment`.
    pub(crate) kind: String,
}

impl std::fmt::Debug for EncValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncValue({} bytes, type {})", self.data.len(), self.kind)
    }
}

impl EncValue {
    /// Parses `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`. The error names the field
    /// that is wrong, never the value.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let body = s
            .strip_prefix("ENC[AES256_GCM,data:")
            .ok_or("does not start with ENC[AES256_GCM,data:")?;
        // sops's regex anchors only the start and matches `]` anywhere after type.
        let end = body.rfind(']').ok_or("has no closing ]")?;
        let body = &body[..end];
        let (rest, kind) = body.rsplit_once(",type:").ok_or("has no type field")?;
        let (rest, tag) = rest.rsplit_once(",tag:").ok_or("has no tag field")?;
        let (data, iv) = rest.rsplit_once(",iv:").ok_or("has no iv field")?;
        let dec = |what: &str, v: &str| {
            B64.decode(v)
                .map_err(|_| format!("its {what} is not valid base64"))
        };
        let v = EncValue {
            data: dec("data", data)?,
            iv: dec("iv", iv)?,
            tag: dec("tag", tag)?,
            kind: kind.to_string(),
        };
        if v.tag.len() != TAG_LEN {
            return Err(format!(
                "its tag has {} bytes, expected {TAG_LEN}",
                v.tag.len()
            ));
        }
        if v.kind.is_empty() || v.data.is_empty() && v.kind.is_empty() {
            return Err("its type is empty".into());
        }
        Ok(v)
    }

    /// The `ENC[…]` text.
    pub(crate) fn format(&self) -> String {
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(&self.data),
            B64.encode(&self.iv),
            B64.encode(&self.tag),
            self.kind
        )
    }
}

/// The bytes sops encrypts and hashes for a leaf (`sops.ToBytes`), with its type name.
/// `None` for nodes that are not leaves.
pub(crate) fn leaf_bytes(v: &Value) -> Option<(Zeroizing<Vec<u8>>, &'static str)> {
    let z = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
    Some(match v {
        Value::Str(s) => (z(s), "str"),
        Value::Int(i) => (z(&i.to_string()), "int"),
        Value::Float(x) => (z(&go_float_f(*x)), "float"),
        Value::Bool(b) => (z(if *b { "True" } else { "False" }), "bool"),
        Value::Time(t) => (z(t), "time"),
        // sops's walker turns []byte into a string before encrypting.
        Value::Bytes(b) => (Zeroizing::new(b.clone()), "str"),
        Value::Comment(c) => (z(c), "comment"),
        Value::Map(_) | Value::Seq(_) | Value::Null => return None,
    })
}

/// Turns decrypted bytes back into a value of the named type.
fn typed(kind: &str, plain: SecretBytes) -> Result<Value, String> {
    let text = || {
        std::str::from_utf8(plain.expose())
            .map(str::to_owned)
            .map_err(|_| format!("its {kind} plaintext is not UTF-8"))
    };
    Ok(match kind {
        // Binary files may hold bytes that are not UTF-8; sops types them str too.
        "str" => match std::str::from_utf8(plain.expose()) {
            Ok(s) => Value::Str(s.to_owned()),
            Err(_) => Value::Bytes(plain.expose().to_vec()),
        },
        "comment" => Value::Comment(text()?),
        "bytes" => Value::Bytes(plain.expose().to_vec()),
        "int" | "int64" => {
            let t = Zeroizing::new(text()?);
            Value::Int(
                t.parse()
                    .map_err(|_| "its int plaintext is not an integer".to_string())?,
            )
        }
        "float" => {
            let t = Zeroizing::new(text()?);
            Value::Float(parse_go_float(&t).ok_or("its float plaintext is not a number")?)
        }
        "bool" => {
            let t = Zeroizing::new(text()?);
            // Go's strconv.ParseBool.
            Value::Bool(match t.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                _ => return Err("its bool plaintext is not a boolean".into()),
            })
        }
        "time" => Value::Time(text()?),
        other => return Err(format!("its type {other:?} is unknown")),
    })
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn stash_key(aad: &str, kind: &str, plain: &[u8]) -> [u8; 32] {
    let mut buf = Zeroizing::new(Vec::with_capacity(aad.len() + kind.len() + plain.len() + 2));
    buf.extend_from_slice(aad.as_bytes());
    buf.push(0);
    buf.extend_from_slice(kind.as_bytes());
    buf.push(0);
    buf.extend_from_slice(plain);
    ksec_crypto::hash::sha256(&buf)
}

/// Encrypts and decrypts leaves under one data key. Remembers the IV of every value
/// it decrypted so that re-encrypting an unchanged value gives the same ciphertext
/// (sops's stash), which keeps diffs of edited files small.
pub(crate) struct ValueCipher {
    key: DataKey,
    // Keyed by a digest of (path, type, plaintext) so no plaintext is kept here.
    stash: HashMap<[u8; 32], [u8; SOPS_NONCE_LEN]>,
}

impl std::fmt::Debug for ValueCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueCipher(..)")
    }
}

impl ValueCipher {
    /// A cipher under the data key.
    pub(crate) fn new(key: DataKey) -> Self {
        Self {
            key,
            stash: HashMap::new(),
        }
    }

    /// The data key.
    pub(crate) fn key(&self) -> &DataKey {
        &self.key
    }

    /// Remembers the IVs `other` saw too (the caller checked the keys match).
    pub(crate) fn absorb(&mut self, other: &ValueCipher) {
        for (k, iv) in &other.stash {
            self.stash.entry(*k).or_insert(*iv);
        }
    }

    /// Encrypts a leaf to its `ENC[…]` string; empty strings and comments stay empty.
    pub(crate) fn encrypt(&self, v: &Value, aad: &str) -> Result<String, Error> {
        let (plain, kind) = leaf_bytes(v).ok_or(Error::Internal("encrypting a non-leaf"))?;
        if plain.is_empty() && matches!(v, Value::Str(_) | Value::Comment(_) | Value::Bytes(_)) {
            return Ok(String::new());
        }
        // A new file has nothing stashed: skip hashing every value for nothing.
        let stashed = match self.stash.is_empty() {
            true => None,
            false => self.stash.get(&stash_key(aad, kind, &plain)),
        };
        let iv = match stashed {
            Some(iv) => *iv,
            None => ksec_crypto::rand::array::<SOPS_NONCE_LEN>()?,
        };
        let (data, tag) = seal_wide(self.key.expose(), &iv, aad.as_bytes(), &plain)?;
        Ok(EncValue {
            data,
            iv: iv.to_vec(),
            tag: tag.to_vec(),
            kind: kind.to_string(),
        }
        .format())
    }

    /// Decrypts an `ENC[…]` string at `path` (for messages) with additional data
    /// `aad`, and remembers its IV (see [`open`](Self::open)).
    pub(crate) fn decrypt(&mut self, s: &str, aad: &str, path: &str) -> Result<Value, Error> {
        let mut seen = Vec::new();
        let v = self.open(s, aad, Some(path), Some(&mut seen))?;
        self.remember(seen);
        Ok(v)
    }

    /// Remembers IVs gathered by [`open`](Self::open).
    pub(crate) fn remember(&mut self, seen: Vec<StashEntry>) {
        self.stash.extend(seen);
    }

    /// Decrypts an `ENC[…]` string with additional data `aad`; errors name
    /// `path` (by default the key path the AAD spells). With `remember`,
    /// pushes the value's IV keyed by what would be encrypted again, so an
    /// unchanged value gets its old ciphertext back.
    pub(crate) fn open(
        &self,
        s: &str,
        aad: &str,
        path: Option<&str>,
        remember: Option<&mut Vec<StashEntry>>,
    ) -> Result<Value, Error> {
        if s.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        let path = || path.map_or_else(|| crate::pass::shown(aad), str::to_string);
        let ev = EncValue::parse(s).map_err(|why| Error::MalformedValue {
            path: path(),
            reason: why,
        })?;
        let tag: [u8; TAG_LEN] =
            ev.tag
                .as_slice()
                .try_into()
                .map_err(|_| Error::MalformedValue {
                    path: path(),
                    reason: "bad tag length".into(),
                })?;
        let iv: [u8; SOPS_NONCE_LEN] =
            ev.iv
                .as_slice()
                .try_into()
                .map_err(|_| Error::MalformedValue {
                    path: path(),
                    reason: format!(
                        "its iv has {} bytes, expected {SOPS_NONCE_LEN}",
                        ev.iv.len()
                    ),
                })?;
        let plain = open_wide(self.key.expose(), &iv, aad.as_bytes(), &ev.data, &tag)
            .map_err(|_| Error::ValueDecrypt { path: path() })?;
        let v = typed(&ev.kind, plain).map_err(|why| Error::MalformedValue {
            path: path(),
            reason: why,
        })?;
        // Stash the IV under the exact bytes we would encrypt again.
        if let Some(seen) = remember {
            if let Some((bytes, kind)) = leaf_bytes(&v) {
                seen.push((stash_key(aad, kind, &bytes), iv));
            }
        }
        Ok(v)
    }
}

/// A remembered IV: the digest of (path, type, plaintext) and the IV.
pub(crate) type StashEntry = ([u8; 32], [u8; SOPS_NONCE_LEN]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        let s = "ENC[AES256_GCM,data:8CvE,iv:tjchf/lmMpXDOA1tLE/N4oY9IqJIzfQ/7NlvQlDUtoA=,tag:1aFCHIRp3j/VPNcCEsE95A==,type:str]";
        let v = EncValue::parse(s).unwrap();
        assert_eq!(v.iv.len(), 32);
        assert_eq!(v.kind, "str");
        assert_eq!(v.format(), s);
    }

    #[test]
    fn malformed_values_name_the_field() {
        assert!(
            EncValue::parse("ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]")
                .unwrap_err()
                .contains("data")
        );
        assert!(
            EncValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,type:str]")
                .unwrap_err()
                .contains("tag")
        );
        assert!(EncValue::parse("plain").is_err());
    }

    #[test]
    fn typed_round_trip_and_stash() {
        let mut c = ValueCipher::new(DataKey::from_secret(SecretBytes::new(vec![3; 32])).unwrap());
        for v in [
            Value::Str("hé".into()),
            Value::Int(-42),
            Value::Float(2.5),
            Value::Bool(true),
            Value::Time("2001-12-14T00:00:00Z".into()),
            Value::Comment(" c".into()),
        ] {
            let e = c.encrypt(&v, "a:b:").unwrap();
            assert!(e.starts_with("ENC[AES256_GCM,data:"));
            assert_eq!(c.decrypt(&e, "a:b:", "a.b").unwrap(), v);
            // Same value, same path: the stashed IV gives the same ciphertext.
            assert_eq!(c.encrypt(&v, "a:b:").unwrap(), e);
            assert!(matches!(
                c.decrypt(&e, "a:c:", "a.c"),
                Err(Error::ValueDecrypt { .. })
            ));
        }
        assert_eq!(c.encrypt(&Value::Str(String::new()), "x:").unwrap(), "");
    }
}
