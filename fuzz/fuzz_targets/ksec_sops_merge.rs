//! Fuzzes the three-way merge of documents (the git merge driver's core): the
//! input is three YAML documents separated by NUL bytes.
#![no_main]
use ksec_sops::{Document, EmitOptions, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(b), Some(o), Some(t)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let parse = |x: &[u8]| Document::parse(x, Format::Yaml).ok();
    let (Some(b), Some(o), Some(t)) = (parse(b), parse(o), parse(t)) else {
        return;
    };
    let (merged, conflicts) = ksec_sops::internal::merge_documents(&b, &o, &t);
    if conflicts.is_empty() {
        let _ = merged.emit(Format::Yaml, &EmitOptions::default());
    }
    // The same change on both sides is no conflict.
    let (_, none) = ksec_sops::internal::merge_documents(&b, &o, &o);
    assert!(none.is_empty());
});
