//! Shared pre-generated RSA-4096 test keys (see testdata/README.md).
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
