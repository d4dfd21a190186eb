//! A v2 Encrypt request as the plugin parses it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ksec_kms::internal::parse_encrypt_request(data);
});
