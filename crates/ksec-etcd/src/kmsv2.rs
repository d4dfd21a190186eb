//! KMS v2's `EncryptedObject` (k8s.io/apiserver `envelope/kmsv2/v2/api.proto`): the
//! protobuf after the `k8s:enc:kms:v2:<name>:` prefix, decoded without allocation and
//! checked with the apiserver's `ValidateEncryptedObject` rules.
//!
//! ```text
//! message EncryptedObject {
//!   bytes encryptedData = 1;            // [32-byte HKDF info when seeded] 12-byte nonce, AES-GCM
//!   string keyID = 2;
//!   bytes encryptedDEKSource = 3;       // what the plugin's Encrypt returned
//!   map<string, bytes> annotations = 4;
//!   EncryptedDEKSourceType encryptedDEKSourceType = 5;  // 0 AES_GCM_KEY, 1 HKDF_SHA256_XNONCE_AES_GCM_SEED
//! }
//! ```
use crate::error::ValueError;
use crate::storage::DekSource;
use crate::wire::{map_entry, Reader};
use std::collections::BTreeMap;

/// The apiserver's limits (`kmsv2/envelope.go`).
const KEY_ID_MAX: usize = 1024;
const DEK_SOURCE_MAX: usize = 1024;
const ANNOTATIONS_MAX: usize = 32 * 1024;

/// A decoded, validated `EncryptedObject`, borrowing from the stored value.
#[derive(Debug)]
pub(crate) struct EncryptedObject<'a> {
    pub(crate) encrypted_data: &'a [u8],
    pub(crate) key_id: &'a str,
    pub(crate) encrypted_dek_source: &'a [u8],
    pub(crate) annotations: BTreeMap<&'a str, &'a [u8]>,
    pub(crate) source_type: DekSource,
}

fn invalid(reason: impl Into<String>) -> ValueError {
    ValueError::KmsV2Object {
        reason: reason.into(),
    }
}

impl<'a> EncryptedObject<'a> {
    /// Decodes and validates. proto3 semantics: a repeated scalar field keeps its last
    /// value; map entries accumulate (a repeated key keeps the last value).
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, ValueError> {
        let mut r = Reader::new(bytes);
        let mut o = EncryptedObject {
            encrypted_data: &[],
            key_id: "",
            encrypted_dek_source: &[],
            annotations: BTreeMap::new(),
            source_type: DekSource::AesGcmKey,
        };
        let mut source_type = 0u64;
        let mut annotation_bytes = 0usize;
        while let Some((field, value)) = r.next_field().map_err(invalid)? {
            match field {
                1 => o.encrypted_data = value.bytes("encryptedData").map_err(invalid)?,
                2 => o.key_id = value.str("keyID").map_err(invalid)?,
                3 => o.encrypted_dek_source = value.bytes("encryptedDEKSource").map_err(invalid)?,
                4 => {
                    let entry = value.bytes("annotations").map_err(invalid)?;
                    annotation_bytes += entry.len();
                    if annotation_bytes > 2 * ANNOTATIONS_MAX {
                        return Err(invalid(
                            "annotations are far larger than the apiserver's 32 KiB",
                        ));
                    }
                    let (k, v) = map_entry(entry, "annotations").map_err(invalid)?;
                    o.annotations.insert(k, v);
                }
                5 => source_type = value.varint("encryptedDEKSourceType").map_err(invalid)?,
                _ => {}
            }
        }
        o.source_type = match source_type {
            0 => DekSource::AesGcmKey,
            1 => DekSource::HkdfSeed,
            t => return Err(invalid(format!("unknown encryptedDEKSourceType: {t}"))),
        };
        if o.encrypted_data.is_empty() {
            return Err(invalid("encrypted data is empty"));
        }
        match o.encrypted_dek_source.len() {
            0 => return Err(invalid("encrypted DEK source is empty")),
            n if n > DEK_SOURCE_MAX => {
                return Err(invalid(format!(
                "encrypted DEK source is {n} bytes, which exceeds the max size of {DEK_SOURCE_MAX}"
            )))
            }
            _ => {}
        }
        match o.key_id.len() {
            0 => return Err(invalid("keyID is empty")),
            n if n > KEY_ID_MAX => {
                return Err(invalid(format!(
                    "keyID is {n} bytes, which exceeds the max size of {KEY_ID_MAX}"
                )))
            }
            _ => {}
        }
        let mut total = 0usize;
        for (k, v) in &o.annotations {
            if !is_fully_qualified_domain_name(k) {
                return Err(invalid(format!(
                    "annotation key {k:?} is not a fully qualified domain name"
                )));
            }
            total += k.len() + v.len();
        }
        if total > ANNOTATIONS_MAX {
            return Err(invalid(format!(
                "total size of annotations is {total}, but should be <= {ANNOTATIONS_MAX}"
            )));
        }
        Ok(o)
    }
}

/// `validation.IsFullyQualifiedDomainName`: a DNS-1123 subdomain (a trailing dot
/// allowed) with at least two labels.
fn is_fully_qualified_domain_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').count() >= 2
        && name.split('.').all(label_ok)
}

/// Encodes an `EncryptedObject` (tests and fuzz seeds; ksec never writes to etcd).
#[cfg(test)]
pub(crate) fn encode(
    data: &[u8],
    key_id: &str,
    dek_source: &[u8],
    annotations: &[(&str, &[u8])],
    source_type: u64,
) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(out: &mut Vec<u8>, n: u64, b: &[u8]) {
        varint(out, n << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    let mut out = vec![];
    field(&mut out, 1, data);
    field(&mut out, 2, key_id.as_bytes());
    field(&mut out, 3, dek_source);
    for (k, v) in annotations {
        let mut e = vec![];
        field(&mut e, 1, k.as_bytes());
        field(&mut e, 2, v);
        field(&mut out, 4, &e);
    }
    if source_type != 0 {
        varint(&mut out, 5 << 3);
        varint(&mut out, source_type);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_validates_like_the_apiserver() {
        let b = encode(b"data", "kid", b"wrapped", &[("a.example.com", b"x")], 1);
        let o = EncryptedObject::decode(&b).unwrap();
        assert_eq!(o.encrypted_data, b"data");
        assert_eq!(o.key_id, "kid");
        assert_eq!(o.encrypted_dek_source, b"wrapped");
        assert_eq!(o.annotations["a.example.com"], b"x");
        assert_eq!(o.source_type, DekSource::HkdfSeed);

        let err = |b: Vec<u8>| EncryptedObject::decode(&b).unwrap_err().to_string();
        assert!(err(encode(b"d", "k", b"w", &[], 2)).contains("unknown encryptedDEKSourceType: 2"));
        assert!(err(encode(b"", "k", b"w", &[], 0)).contains("encrypted data is empty"));
        assert!(err(encode(b"d", "", b"w", &[], 0)).contains("keyID is empty"));
        assert!(err(encode(b"d", "k", b"", &[], 0)).contains("DEK source is empty"));
        assert!(err(encode(b"d", "k", &[0; 1025], &[], 0)).contains("exceeds the max size of 1024"));
        assert!(err(encode(b"d", &"k".repeat(1025), b"w", &[], 0)).contains("keyID is 1025 bytes"));
        assert!(err(encode(b"d", "k", b"w", &[("nodots", b"")], 0)).contains("fully qualified"));
        let big = vec![0u8; 33 * 1024];
        assert!(
            err(encode(b"d", "k", b"w", &[("a.b", &big)], 0)).contains("total size of annotations")
        );
    }

    #[test]
    fn domain_names() {
        for ok in ["a.b", "local-kek.kms.kubernetes.io", "x.y.", "a1.b-2.c"] {
            assert!(is_fully_qualified_domain_name(ok), "{ok}");
        }
        for bad in ["", "a", "A.b", "-a.b", "a-.b", "a..b", "a_b.c", "."] {
            assert!(!is_fully_qualified_domain_name(bad), "{bad}");
        }
    }
}
