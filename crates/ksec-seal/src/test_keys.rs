//! Shared pre-generated RSA-4096 test keys (see testdata/README.md), and fixtures made
//! with them.
use ksec_crypto::rsa::RsaPrivateKey;
use std::sync::OnceLock;

pub(crate) const KEY_A_PEM: &[u8] = include_bytes!("../../../testdata/keys/test-key-a.pem");
pub(crate) const KEY_B_PEM: &[u8] = include_bytes!("../../../testdata/keys/test-key-b.pem");
pub(crate) const CERT_A_PEM: &[u8] = include_bytes!("../../../testdata/keys/test-cert-a.pem");
pub(crate) const CERT_EC_PEM: &[u8] = include_bytes!("../../../testdata/keys/test-cert-ec.pem");

pub(crate) fn key_a() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| RsaPrivateKey::from_pem(KEY_A_PEM).unwrap())
}

pub(crate) fn key_b() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| RsaPrivateKey::from_pem(KEY_B_PEM).unwrap())
}

/// A SealedSecret `ns/n` in the legacy v1 format: a Secret with `k: v` sealed with key A
/// as one blob under `spec.data`.
pub(crate) fn legacy_sealed_secret() -> crate::SealedSecret {
    let inner = serde_json::to_vec(&serde_json::json!({"kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "x"}, "data": {"k": "dg=="}}))
    .unwrap();
    let blob = crate::hybrid::seal(key_a().public_key(), &inner, b"ns/n").unwrap();
    let mut ss = crate::SealedSecret::default();
    ss.metadata.set_name("n");
    ss.metadata.set_namespace("ns");
    ss.legacy_data = Some(crate::hybrid::to_base64(&blob));
    ss
}
