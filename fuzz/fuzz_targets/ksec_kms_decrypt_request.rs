//! A v2 Decrypt request as the plugin parses it (protobuf, then the apiserver's
//! limits), then unwrapped by a local backend: errors, never panics.
#![no_main]
use ksec_keys::local::LocalBackend;
use ksec_keys::WrapContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ksec_kms::internal::parse_decrypt_request(data) {
        let b = LocalBackend::from_text(
            std::path::Path::new("fuzz"),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        )
        .expect("fixed key");
        let _ = b.unwrap_sync(&req.ciphertext, &WrapContext::new().with("ksec.dev/kms-api", "v2"));
    }
});
