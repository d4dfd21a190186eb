//! Reading key files, backups and certificates from disk.
use ksec_seal::{backup_from_files, load_key_files, open_backup, read_certificate, Error};
use std::path::{Path, PathBuf};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name)
}

#[test]
fn certificates_come_from_files_and_file_urls() {
    let path = testdata("test-cert-a.pem");
    let want = std::fs::read(&path).unwrap();
    assert_eq!(read_certificate(path.to_str().unwrap()).unwrap(), want);
    let url = format!("file://{}", path.display());
    assert_eq!(read_certificate(&url).unwrap(), want);
    let e = read_certificate("/nonexistent/cert.pem").unwrap_err();
    assert!(matches!(e, Error::ReadFile { .. }));
    assert_eq!(e.to_string(), "cannot read /nonexistent/cert.pem");
}

#[test]
fn key_files_load_and_plain_backups_open() {
    let keys = load_key_files(
        &[testdata("test-key-a.pem"), testdata("test-key-b.pem")],
        &[],
    )
    .unwrap();
    assert_eq!(keys.len(), 2);
    let dir = ksec_testkit::tempdir();
    let pem = String::from_utf8(std::fs::read(testdata("test-key-a.pem")).unwrap()).unwrap();
    let cert = String::from_utf8(std::fs::read(testdata("test-cert-a.pem")).unwrap()).unwrap();
    let secret = ksec_seal::keys::load_private_keys(format!("{pem}{cert}").as_bytes(), "a")
        .unwrap()
        .remove(0)
        .to_secret_value("sealed-secrets-keyaaaaa", "kube-system")
        .unwrap();
    let file = dir.path().join("keys.json");
    std::fs::write(&file, serde_json::to_vec(&secret).unwrap()).unwrap();
    let backup = backup_from_files(std::slice::from_ref(&file)).unwrap();
    assert_eq!(backup.keys()[0].name(), "sealed-secrets-keyaaaaa");
    assert_eq!(open_backup(&file, &[]).unwrap().keys().len(), 1);

    // An encrypted backup needs identities; as input of a backup it is refused.
    let encrypted = dir.path().join("keys.age");
    std::fs::write(&encrypted, "-----BEGIN AGE ENCRYPTED FILE-----\n").unwrap();
    let e = open_backup(&encrypted, &[]).unwrap_err();
    assert!(matches!(e, Error::EncryptedBackup { .. }), "{e}");
    let e = backup_from_files(&[file, encrypted]).unwrap_err();
    assert!(matches!(e, Error::AlreadyEncrypted { .. }), "{e}");
}
