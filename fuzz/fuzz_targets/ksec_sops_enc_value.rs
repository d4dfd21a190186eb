//! Fuzzes the `ENC[AES256_GCM,…]` value parser: what parses formats back to
//! something that parses to the same text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(formatted) = ksec_sops::internal::reformat_enc_value(s) {
            let again = ksec_sops::internal::reformat_enc_value(&formatted);
            assert_eq!(again.ok().as_deref(), Some(formatted.as_str()));
        }
    }
});
