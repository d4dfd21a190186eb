//! The EncryptionConfiguration checker and its typed form.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ksec_etcd::encryption_config::check(data, Default::default());
    let _ = ksec_etcd::encryption_config::EncryptionConfiguration::from_text(data, "fuzz");
});
