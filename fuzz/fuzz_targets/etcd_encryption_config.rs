//! The EncryptionConfiguration parser and checker.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ksec_etcd::encryption_config::parse(data) {
        let _ = ksec_etcd::encryption_config::check(&v, Default::default());
    }
});
