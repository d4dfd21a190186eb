//! Fuzzes the SOPS dotenv store: plaintext and encrypted loading, and emitting what loads.
#![no_main]
use ksec_sops::{stores, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = stores::load_plain(Format::Dotenv, data) {
        let _ = stores::emit_plain(Format::Dotenv, &doc, Default::default());
    }
    let _ = stores::load_encrypted(Format::Dotenv, data);
});
