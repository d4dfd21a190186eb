//! The whole scan of one file: parser, every rule, every output format.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ksec_scan::internal::scan_bytes("fuzz.yaml", data);
});
