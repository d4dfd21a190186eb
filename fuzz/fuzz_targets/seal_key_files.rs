//! Key files: PEM, key Secrets, Lists; and certificates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ksec_seal::keys::load_private_keys(data, "fuzz");
    let _ = ksec_seal::keys::load_sealing_cert(data, "fuzz", std::time::SystemTime::UNIX_EPOCH);
});
