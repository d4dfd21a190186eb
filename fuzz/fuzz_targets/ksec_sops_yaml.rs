//! Fuzzes the SOPS yaml store: plaintext and encrypted loading, and emitting what loads.
#![no_main]
use ksec_sops::{Document, EmitOptions, Format, LockedFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data, Format::Yaml) {
        let _ = doc.emit(Format::Yaml, &EmitOptions::default());
    }
    let _ = LockedFile::parse(data, Format::Yaml);
});
