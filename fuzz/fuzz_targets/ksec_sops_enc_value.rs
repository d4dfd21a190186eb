//! Fuzzes the `ENC[AES256_GCM,…]` value parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = ksec_sops::cipher::EncValue::parse(s) {
            let _ = ksec_sops::cipher::EncValue::parse(&v.format());
        }
    }
});
