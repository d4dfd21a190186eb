//! The local backend's wrapped-key parser (version, fingerprint, nonce, tag) on
//! arbitrary bytes, under a fixed key.
#![no_main]
use ksec_keys::local::LocalBackend;
use ksec_keys::WrapContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let b = LocalBackend::from_text(
        std::path::Path::new("fuzz"),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .expect("fixed key");
    let _ = b.unwrap_sync(data, &WrapContext::new());
});
