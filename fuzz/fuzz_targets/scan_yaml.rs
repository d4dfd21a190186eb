//! ksec-scan's bounded YAML loader (positions, aliases, depth).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let limits = ksec_scan::yaml::Limits {
            max_depth: 100,
            max_nodes: 100_000,
        };
        if let Ok(docs) = ksec_scan::yaml::parse_stream(text, limits) {
            for d in docs {
                let _ = d.pos("spec.containers[0].env[0].value");
            }
        }
    }
});
