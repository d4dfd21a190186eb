//! Fuzzes the SOPS json store: plaintext and encrypted loading, and emitting what loads.
#![no_main]
use ksec_sops::{Document, EmitOptions, Format, LockedFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data, Format::Json) {
        let _ = doc.emit(Format::Json, &EmitOptions::default());
    }
    let _ = LockedFile::parse(data, Format::Json);
});
