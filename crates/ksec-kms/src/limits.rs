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

#[cfg(test)]
mod tests {
    #[test]
    fn fqdn() {
        assert!(super::is_fqdn("kms.ksec.dev"));
        assert!(!super::is_fqdn("ksec"));
        assert!(!super::is_fqdn("Kms.ksec.dev"));
        assert!(!super::is_fqdn("-a.b"));
        assert!(!super::is_fqdn("a..b"));
    }
}
