//! The plugin's configuration file (`ksec kms serve --config`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ksec_kms::PluginConfig::from_yaml(text, "fuzz");
    }
});
