//! Fuzzes the age identity text reader (X25519 and `AGE-PLUGIN-…` lines, as
//! in `SOPS_AGE_KEY` and key files) and the armored payload reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let mut svc = ksec_sops::keys::age::AgeService::empty();
        svc.add_identities(s, "fuzz");
        let _ = svc.decrypt_payload(s);
    }
});
