//! The sealed value parser: base64 text, length prefix, RSA part, AES-GCM part.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static ksec_crypto::rsa::RsaPrivateKey {
    static K: OnceLock<ksec_crypto::rsa::RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| {
        ksec_crypto::rsa::RsaPrivateKey::from_pem(include_bytes!("../../testdata/keys/test-key-a.pem")).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = ksec_seal::hybrid::open(key(), data, b"ns/name");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = ksec_seal::hybrid::from_base64(text) {
            let _ = ksec_seal::hybrid::open_with_any(&[key()], &bytes, b"");
        }
    }
});
