//! How a value is stored in etcd, read from the value alone (no keys needed): the
//! apiserver's prefixes `k8s:enc:<provider>:v1:<key or provider name>:` and, for KMS v2,
//! the key id and DEK-source type inside the `EncryptedObject`. Anything without the
//! `k8s:enc:` prefix is what the `identity` provider wrote: plaintext.
use crate::error::ValueError;
use crate::kmsv2;
use serde::Serialize;
use std::fmt;

/// What every encrypted value starts with.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";
/// The protobuf envelope kube-apiserver writes objects in (`runtime.Unknown` after it).
pub const PROTOBUF_MAGIC: &[u8] = b"k8s\x00";

/// Longest key or provider name accepted in a prefix (the apiserver bounds neither, but
/// KMS names and key names are short; this keeps a corrupt value from being scanned far).
const MAX_NAME: usize = 1024;

/// How one value is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "provider", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Storage {
    /// Plaintext, as the `identity` provider writes it.
    Identity {
        /// The encoding of the plaintext object.
        format: PlainFormat,
    },
    /// `aescbc` with the named key.
    Aescbc {
        /// Key name from the EncryptionConfiguration.
        key: String,
    },
    /// `aesgcm` with the named key.
    Aesgcm {
        /// Key name.
        key: String,
    },
    /// `secretbox` with the named key.
    Secretbox {
        /// Key name.
        key: String,
    },
    /// KMS v1 (a per-value data key wrapped by the plugin).
    #[serde(rename = "kms-v1")]
    KmsV1 {
        /// KMS provider name.
        name: String,
    },
    /// KMS v2.
    #[serde(rename = "kms-v2")]
    KmsV2 {
        /// KMS provider name.
        name: String,
        /// The plugin's key id when the value was written.
        #[serde(rename = "keyID")]
        key_id: String,
        /// What the plugin wrapped.
        #[serde(rename = "dekSource")]
        dek_source: DekSource,
    },
}

/// How a plaintext object is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlainFormat {
    /// `k8s\0` + `runtime.Unknown` protobuf (built-in types).
    Protobuf,
    /// JSON (custom resources).
    Json,
    /// Neither: not written by kube-apiserver as an object.
    Unrecognized,
}

/// The KMS v2 `EncryptedDEKSourceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DekSource {
    /// 0, `AES_GCM_KEY`: the plugin wrapped the AES-256 data key itself (Kubernetes 1.27).
    AesGcmKey,
    /// 1, `HKDF_SHA256_XNONCE_AES_GCM_SEED`: the plugin wrapped a seed; each write derives
    /// its key from it (Kubernetes 1.28 and later).
    HkdfSeed,
}

impl Storage {
    /// Short kind: `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms v1`, `kms v2`.
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::Identity { .. } => "identity",
            Storage::Aescbc { .. } => "aescbc",
            Storage::Aesgcm { .. } => "aesgcm",
            Storage::Secretbox { .. } => "secretbox",
            Storage::KmsV1 { .. } => "kms v1",
            Storage::KmsV2 { .. } => "kms v2",
        }
    }

    /// True for plaintext.
    pub fn is_plaintext(&self) -> bool {
        matches!(self, Storage::Identity { .. })
    }

    /// The key (name, provider, KMS v2 key id) the value is stored under, as shown in
    /// reports; empty for plaintext.
    pub fn key_label(&self) -> String {
        match self {
            Storage::Identity { .. } => String::new(),
            Storage::Aescbc { key } | Storage::Aesgcm { key } | Storage::Secretbox { key } => {
                key.clone()
            }
            Storage::KmsV1 { name } => name.clone(),
            Storage::KmsV2 {
                name,
                key_id,
                dek_source,
            } => format!("{name} key {key_id:?} ({dek_source})"),
        }
    }

    /// True when `retired` names this value's key: a key name (aescbc, aesgcm,
    /// secretbox), a KMS provider name, or a KMS v2 key id.
    pub fn uses_key(&self, retired: &str) -> bool {
        match self {
            Storage::Identity { .. } => false,
            Storage::Aescbc { key } | Storage::Aesgcm { key } | Storage::Secretbox { key } => {
                key == retired
            }
            Storage::KmsV1 { name } => name == retired,
            Storage::KmsV2 { name, key_id, .. } => name == retired || key_id == retired,
        }
    }
}

impl fmt::Display for DekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DekSource::AesGcmKey => "AES-GCM key",
            DekSource::HkdfSeed => "HKDF seed",
        })
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Identity { format } => write!(f, "identity (plaintext, {format:?})"),
            other => write!(f, "{} {}", other.kind(), other.key_label()),
        }
    }
}

/// The provider kinds a prefix can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrefixKind {
    Aescbc,
    Aesgcm,
    Secretbox,
    KmsV1,
    KmsV2,
}

impl PrefixKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            PrefixKind::Aescbc => "aescbc",
            PrefixKind::Aesgcm => "aesgcm",
            PrefixKind::Secretbox => "secretbox",
            PrefixKind::KmsV1 => "kms v1",
            PrefixKind::KmsV2 => "kms v2",
        }
    }
}

/// An encrypted value split at its prefix: provider kind, key/provider name, the rest.
pub(crate) struct Prefixed<'a> {
    pub(crate) kind: PrefixKind,
    pub(crate) name: &'a str,
    pub(crate) body: &'a [u8],
}

/// Splits `k8s:enc:<provider>:<version>:<name>:` off a value. `Ok(None)` for plaintext.
pub(crate) fn split(value: &[u8]) -> Result<Option<Prefixed<'_>>, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    let Some(rest) = value.strip_prefix(ENCRYPTED_PREFIX) else {
        return Ok(None);
    };
    const KINDS: [(&[u8], PrefixKind); 5] = [
        (b"aescbc:v1:", PrefixKind::Aescbc),
        (b"aesgcm:v1:", PrefixKind::Aesgcm),
        (b"secretbox:v1:", PrefixKind::Secretbox),
        (b"kms:v1:", PrefixKind::KmsV1),
        (b"kms:v2:", PrefixKind::KmsV2),
    ];
    let Some((kind, after)) = KINDS
        .iter()
        .find_map(|(p, k)| rest.strip_prefix(*p).map(|a| (*k, a)))
    else {
        // Show the provider and version part only (short, never ciphertext).
        let shown: Vec<u8> = rest
            .split(|b| *b == b':')
            .take(2)
            .collect::<Vec<_>>()
            .join(&b':');
        let shown = String::from_utf8_lossy(&shown[..shown.len().min(40)]).into_owned();
        return Err(ValueError::UnknownPrefix {
            prefix: format!("k8s:enc:{shown}:"),
        });
    };
    let end = after
        .iter()
        .take(MAX_NAME + 1)
        .position(|b| *b == b':')
        .ok_or(ValueError::Truncated {
            what: "the key name and its ':'",
            need: 1,
            have: 0,
        })?;
    let name = std::str::from_utf8(&after[..end]).map_err(|_| ValueError::UnknownPrefix {
        prefix: format!("k8s:enc:{}:(name not UTF-8)", kind.label()),
    })?;
    Ok(Some(Prefixed {
        kind,
        name,
        body: &after[end + 1..],
    }))
}

/// The encoding of a plaintext value.
pub(crate) fn plain_format(value: &[u8]) -> PlainFormat {
    if value.starts_with(PROTOBUF_MAGIC) {
        PlainFormat::Protobuf
    } else if value.first() == Some(&b'{') {
        PlainFormat::Json
    } else {
        PlainFormat::Unrecognized
    }
}

/// Classifies one stored value. For KMS v2 the `EncryptedObject` is decoded and checked
/// as the apiserver checks it; no key is needed for any of this.
pub fn classify(value: &[u8]) -> Result<Storage, ValueError> {
    let Some(p) = split(value)? else {
        return Ok(Storage::Identity {
            format: plain_format(value),
        });
    };
    let name = p.name.to_string();
    Ok(match p.kind {
        PrefixKind::Aescbc => {
            at_least(p.body, CBC_MIN, "the AES-CBC IV and one block")?;
            if !(p.body.len() - 16).is_multiple_of(16) {
                return Err(ValueError::Truncated {
                    what: "whole AES-CBC blocks",
                    need: (p.body.len() - 16).next_multiple_of(16) + 16,
                    have: p.body.len(),
                });
            }
            Storage::Aescbc { key: name }
        }
        PrefixKind::Aesgcm => {
            at_least(p.body, GCM_MIN, "the AES-GCM nonce and tag")?;
            Storage::Aesgcm { key: name }
        }
        PrefixKind::Secretbox => {
            at_least(p.body, 24 + 16, "the secretbox nonce and tag")?;
            Storage::Secretbox { key: name }
        }
        PrefixKind::KmsV1 => {
            let (_, data) = kms_v1_parts(p.body)?;
            at_least(data, GCM_MIN, "the encrypted data")?;
            Storage::KmsV1 { name }
        }
        PrefixKind::KmsV2 => {
            let o = kmsv2::EncryptedObject::decode(p.body)?;
            let min = match o.source_type {
                DekSource::AesGcmKey => GCM_MIN,
                DekSource::HkdfSeed => 32 + GCM_MIN,
            };
            at_least(o.encrypted_data, min, "the encrypted data")?;
            Storage::KmsV2 {
                name,
                key_id: o.key_id.to_string(),
                dek_source: o.source_type,
            }
        }
    })
}

/// The shortest AES-GCM data: a 12-byte nonce and a 16-byte tag.
const GCM_MIN: usize = 12 + 16;
/// The shortest AES-CBC data: a 16-byte IV and one block.
const CBC_MIN: usize = 32;

fn at_least(b: &[u8], need: usize, what: &'static str) -> Result<(), ValueError> {
    if b.len() < need {
        return Err(ValueError::Truncated {
            what,
            need,
            have: b.len(),
        });
    }
    Ok(())
}

/// Splits a KMS v1 body: a big-endian u16 length, the wrapped DEK, the encrypted data.
pub(crate) fn kms_v1_parts(body: &[u8]) -> Result<(&[u8], &[u8]), ValueError> {
    if body.len() < 2 {
        return Err(ValueError::Truncated {
            what: "the wrapped data key's length",
            need: 2,
            have: body.len(),
        });
    }
    let n = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let rest = &body[2..];
    if rest.len() < n {
        return Err(ValueError::Truncated {
            what: "the wrapped data key",
            need: n,
            have: rest.len(),
        });
    }
    Ok(rest.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_provider_and_key() {
        assert_eq!(
            classify(b"k8s\x00\x0a\x02").unwrap(),
            Storage::Identity {
                format: PlainFormat::Protobuf
            }
        );
        assert_eq!(
            classify(b"{\"kind\":\"Widget\"}").unwrap(),
            Storage::Identity {
                format: PlainFormat::Json
            }
        );
        let with = |prefix: &str, n: usize| [prefix.as_bytes(), &vec![0u8; n]].concat();
        assert_eq!(
            classify(&with("k8s:enc:aescbc:v1:key1:", 48)).unwrap(),
            Storage::Aescbc { key: "key1".into() }
        );
        assert_eq!(
            classify(&with("k8s:enc:secretbox:v1:k:", 40)).unwrap(),
            Storage::Secretbox { key: "k".into() }
        );
        assert_eq!(
            classify(&with("k8s:enc:kms:v1:vault:\x00\x02ab", 28)).unwrap(),
            Storage::KmsV1 {
                name: "vault".into()
            }
        );
        // Too short for what each cipher needs.
        for (v, what) in [
            (with("k8s:enc:aescbc:v1:key1:", 40), "whole AES-CBC blocks"),
            (
                with("k8s:enc:aescbc:v1:key1:", 16),
                "the AES-CBC IV and one block",
            ),
            (
                with("k8s:enc:aesgcm:v1:g:", 27),
                "the AES-GCM nonce and tag",
            ),
            (
                with("k8s:enc:secretbox:v1:k:", 39),
                "the secretbox nonce and tag",
            ),
        ] {
            assert!(
                matches!(classify(&v), Err(ValueError::Truncated { what: w, .. }) if w == what),
                "{what}: {:?}",
                classify(&v)
            );
        }
    }

    #[test]
    fn bad_prefixes_are_reported() {
        assert_eq!(classify(b""), Err(ValueError::Empty));
        assert_eq!(
            classify(b"k8s:enc:rot13:v1:k:abc"),
            Err(ValueError::UnknownPrefix {
                prefix: "k8s:enc:rot13:v1:".into()
            })
        );
        assert!(matches!(
            classify(b"k8s:enc:aesgcm:v1:no-colon-ever"),
            Err(ValueError::Truncated { .. })
        ));
        assert!(matches!(
            classify(b"k8s:enc:kms:v1:p:\x01\x00ab"),
            Err(ValueError::Truncated {
                what: "the wrapped data key",
                need: 256,
                have: 2
            })
        ));
        assert!(matches!(
            classify(b"k8s:enc:kms:v2:p:\xff"),
            Err(ValueError::KmsV2Object { .. })
        ));
    }

    #[test]
    fn retired_keys_match_names_providers_and_key_ids() {
        let v2 = Storage::KmsV2 {
            name: "ksec".into(),
            key_id: "abc".into(),
            dek_source: DekSource::HkdfSeed,
        };
        assert!(v2.uses_key("ksec") && v2.uses_key("abc") && !v2.uses_key("other"));
        assert!(Storage::Aescbc { key: "k1".into() }.uses_key("k1"));
        assert!(!Storage::Identity {
            format: PlainFormat::Json
        }
        .uses_key(""));
    }

    proptest::proptest! {
        /// The value decoders never panic (the same entry point as the fuzz target),
        /// on random bytes and on random bytes behind each real prefix.
        #[test]
        fn value_decoders_never_panic(
            prefix in proptest::sample::select(vec![
                "", "k8s:enc:aescbc:v1:k:", "k8s:enc:aesgcm:v1:k:", "k8s:enc:secretbox:v1:k:",
                "k8s:enc:kms:v1:p:", "k8s:enc:kms:v2:p:", "k8s\x00",
            ]),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let v = [prefix.as_bytes(), &body].concat();
            crate::internal::decode_value(&v);
        }
    }
}
