//! The limits kube-apiserver enforces on KMS v2 plugins (k8s.io/apiserver
//! `envelope/kmsv2`), checked here before answering so a misbehaving backend
//! produces a clear plugin error instead of an apiserver rejection.

/// Largest `key_id` the apiserver accepts (bytes).
pub const MAX_KEY_ID: usize = 1024;
/// Largest ciphertext the apiserver accepts from Encrypt (bytes).
pub const MAX_CIPHERTEXT: usize = 1024;
/// Largest total size of annotation keys and values (bytes).
pub const MAX_ANNOTATIONS_BYTES: usize = 32 * 1024;
/// Largest plaintext this plugin wraps: the apiserver sends 32-byte seeds (v2) or
/// data keys (v1); anything much larger is a misdirected call.
pub const MAX_PLAINTEXT: usize = 4096;

/// Whether `key` is a fully qualified DNS name (RFC 1123 labels, at least two).
pub(crate) fn is_fqdn(key: &str) -> bool {
    key.len() <= 253
        && key.split('.').count() >= 2
        && key.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Checks a v2 Encrypt request's plaintext size.
pub fn check_encrypt(plaintext_len: usize, uid: &str) -> Result<(), tonic::Status> {
    if plaintext_len == 0 || plaintext_len > MAX_PLAINTEXT {
        return Err(tonic::Status::invalid_argument(format!(
            "plaintext must be 1..={MAX_PLAINTEXT} bytes, got {plaintext_len} (uid {uid})"
        )));
    }
    Ok(())
}

/// Checks a v2 Decrypt request against the apiserver's limits before any backend
/// call: ciphertext and key id sizes, annotation keys (DNS names) and total size.
pub fn check_decrypt(req: &crate::proto::v2::DecryptRequest) -> Result<(), tonic::Status> {
    let bad = tonic::Status::invalid_argument;
    let uid = &req.uid;
    if req.ciphertext.is_empty() || req.ciphertext.len() > MAX_CIPHERTEXT {
        return Err(bad(format!(
            "ciphertext must be 1..={MAX_CIPHERTEXT} bytes, got {} (uid {uid})",
            req.ciphertext.len()
        )));
    }
    if req.key_id.is_empty() || req.key_id.len() > MAX_KEY_ID {
        return Err(bad(format!(
            "key_id must be 1..={MAX_KEY_ID} bytes, got {} (uid {uid})",
            req.key_id.len()
        )));
    }
    let mut total = 0;
    for (k, v) in &req.annotations {
        if !is_fqdn(k) {
            return Err(bad(format!(
                "annotation key {k:?} is not a fully qualified domain name (uid {uid})"
            )));
        }
        total += k.len() + v.len();
    }
    if total > MAX_ANNOTATIONS_BYTES {
        return Err(bad(format!(
            "annotations total {total} bytes; the limit is {MAX_ANNOTATIONS_BYTES} (uid {uid})"
        )));
    }
    Ok(())
}

/// The request parser as the server runs it (protobuf decode, then the limit
/// checks), for fuzzing: never panics, whatever the bytes.
pub fn parse_decrypt_request(
    bytes: &[u8],
) -> Result<crate::proto::v2::DecryptRequest, tonic::Status> {
    use prost::Message;
    let req = crate::proto::v2::DecryptRequest::decode(bytes)
        .map_err(|e| tonic::Status::invalid_argument(format!("malformed DecryptRequest: {e}")))?;
    check_decrypt(&req)?;
    Ok(req)
}

/// Like [`parse_decrypt_request`], for v2 Encrypt requests.
pub fn parse_encrypt_request(
    bytes: &[u8],
) -> Result<crate::proto::v2::EncryptRequest, tonic::Status> {
    use prost::Message;
    let req = crate::proto::v2::EncryptRequest::decode(bytes)
        .map_err(|e| tonic::Status::invalid_argument(format!("malformed EncryptRequest: {e}")))?;
    check_encrypt(req.plaintext.len(), &req.uid)?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_requests_never_panic() {
        // xorshift: different bytes every length, no extra dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = [0u8; 300];
        for round in 0..2000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let len = round % buf.len();
            let _ = super::parse_decrypt_request(&buf[..len]);
            let _ = super::parse_encrypt_request(&buf[..len]);
        }
        use prost::Message;
        let ok = crate::proto::v2::DecryptRequest {
            ciphertext: vec![1; 10],
            uid: "u".into(),
            key_id: "k".into(),
            annotations: [("kms.ksec.dev".to_string(), vec![1])]
                .into_iter()
                .collect(),
        };
        assert!(super::parse_decrypt_request(&ok.encode_to_vec()).is_ok());
        let bad = crate::proto::v2::DecryptRequest {
            key_id: String::new(),
            ..ok
        };
        assert!(super::parse_decrypt_request(&bad.encode_to_vec()).is_err());
    }

    #[test]
    fn fqdn() {
        assert!(super::is_fqdn("kms.ksec.dev"));
        assert!(!super::is_fqdn("ksec"));
        assert!(!super::is_fqdn("Kms.ksec.dev"));
        assert!(!super::is_fqdn("-a.b"));
        assert!(!super::is_fqdn("a..b"));
    }
}
