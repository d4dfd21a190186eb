//! Fuzzes the SOPS ini store: plaintext and encrypted loading, and emitting what loads.
#![no_main]
use ksec_sops::{Document, EmitOptions, Format, LockedFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data, Format::Ini) {
        let _ = doc.emit(Format::Ini, &EmitOptions::default());
    }
    let _ = LockedFile::parse(data, Format::Ini);
});
