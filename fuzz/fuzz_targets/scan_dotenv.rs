//! ksec-scan's dotenv reader and the rules on its pairs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ksec_scan::internal::parse_dotenv(text);
        let _ = ksec_scan::internal::scan_bytes("fuzz.env", data);
    }
});
