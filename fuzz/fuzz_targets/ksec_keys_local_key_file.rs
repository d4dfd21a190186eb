//! The local key-file parser on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ksec_keys::local::LocalBackend::from_text(std::path::Path::new("fuzz"), text);
    }
});
