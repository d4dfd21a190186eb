//! The AWS shared config/credentials file parser (INI, `[profile NAME]` sections)
//! on arbitrary text: every profile it returns came from a section header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for config_file in [false, true] {
            let profiles = ksec_keys::internal::parse_aws_profiles(text, config_file);
            assert!(profiles.len() <= text.matches('[').count());
        }
    }
});
