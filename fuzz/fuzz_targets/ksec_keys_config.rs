//! Backend configuration documents (YAML and JSON) on arbitrary text.
#![no_main]
use ksec_keys::BackendConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BackendConfig::from_yaml(text, None);
        let _ = BackendConfig::from_json(text, None);
    }
});
