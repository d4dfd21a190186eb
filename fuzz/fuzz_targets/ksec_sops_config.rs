//! Fuzzes `.sops.yaml` reading (creation rules with every key type, key groups
//! and `merge`), the rules' `.gitattributes` globs, and the recipient texts a
//! user gives (Vault URIs, KMS ARNs and encryption contexts).
#![no_main]
use ksec_sops::{Config, Recipient};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Config::parse(Path::new("/repo/.sops.yaml"), data) {
        let _ = c.path_globs();
        let _ = c.rule_for(Path::new("/repo/secrets/a.yaml"));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ksec_sops::internal::path_regex_glob(text);
        let _ = Recipient::hc_vault(text);
        let _ = ksec_sops::parse_encryption_context(text);
        let _ = Recipient::kms(text, &[], None).identity();
    }
});
