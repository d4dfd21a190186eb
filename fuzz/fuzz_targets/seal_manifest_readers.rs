//! The Secret and SealedSecret readers (YAML/JSON documents), and re-rendering.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = ksec_seal::docs::parse_documents(data) else { return };
    for d in ksec_seal::docs::flatten_lists(docs) {
        if let Ok(s) = ksec_seal::Secret::from_value(&d) {
            let _ = ksec_seal::render::yaml::to_string(&s.to_value());
        }
        if let Ok(ss) = ksec_seal::SealedSecret::from_value(&d) {
            let v = ss.to_value();
            let yaml = ksec_seal::render::yaml::to_string(&v);
            // What we write must read back as what we meant.
            let back = ksec_seal::docs::parse_documents(yaml.as_bytes()).expect("our YAML parses");
            assert_eq!(back[0], v);
            let _ = ksec_seal::render::json::to_string_pretty(&v);
        }
    }
});
