//! Key backups (a decrypted `ksec keys backup`, or any manifest of key Secrets): read,
//! written again, read back to the same keys.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(backup) = ksec_seal::backup::Backup::from_manifest(data, "fuzz") else {
        return;
    };
    let text = backup.to_manifest();
    let back = ksec_seal::backup::Backup::from_manifest(text.as_bytes(), "again")
        .expect("a backup we wrote reads back");
    let fps = |b: &ksec_seal::backup::Backup| {
        b.keys()
            .iter()
            .map(|k| (k.namespace().to_string(), k.name().to_string(), k.fingerprint()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fps(&backup), fps(&back));
    let _ = ksec_seal::backup::is_encrypted(data);
});
