//! The spec.template.data template subset.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tpl) = std::str::from_utf8(data) else { return };
    let mut values = std::collections::BTreeMap::new();
    values.insert("a".to_string(), ksec_crypto::SecretBytes::from_slice(b"v"));
    let _ = ksec_seal::internal::render_template(tpl, &values);
});
