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

#[test]
fn a_directory_is_resealed_file_by_file_and_counted() {
    use ksec_crypto::rsa::RsaPrivateKey;
    use ksec_seal::{read_secrets, render, reseal_files, unseal, FileReseal, Sealer};
    let key = |f: &str| RsaPrivateKey::from_pem(&std::fs::read(testdata(f)).unwrap()).unwrap();
    let (a, b) = (key("test-key-a.pem"), key("test-key-b.pem"));
    let secret = read_secrets(
        b"kind: Secret\napiVersion: v1\nmetadata: {name: db, namespace: prod}\nstringData: {pw: x}\n",
        "s",
    )
    .unwrap()
    .remove(0);
    let sealed_for = |k: &RsaPrivateKey| {
        let ss = Sealer::new(k.public_key().clone())
            .seal(secret.clone())
            .unwrap();
        render::document(&ss.to_value(), render::Format::Yaml)
    };
    let dir = ksec_testkit::tempdir();
    std::fs::write(dir.path().join("a.yaml"), sealed_for(&a)).unwrap();
    std::fs::write(dir.path().join("b.yaml"), sealed_for(&b)).unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "kind: ConfigMap\napiVersion: v1\n",
    )
    .unwrap();
    let files = ksec_seal::manifest_files(&[dir.path().to_path_buf()]).unwrap();

    // Keys: only A; new key: B. a.yaml moves to B, b.yaml cannot open, c.yaml is no SealedSecret.
    let mut written = vec![];
    let mut seen = vec![];
    let summary = reseal_files(
        &files,
        &[&a],
        b.public_key(),
        |f, text| {
            written.push((f.to_path_buf(), text.to_string()));
            Ok(())
        },
        |f, outcome| {
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            seen.push(match outcome {
                FileReseal::Resealed { values } => format!("{name}: {values}"),
                FileReseal::Skipped => format!("{name}: skipped"),
                FileReseal::Failed(e) => {
                    assert!(e.to_string().contains("b.yaml"), "{e}");
                    format!("{name}: failed")
                }
                _ => unreachable!(),
            });
        },
    );
    assert_eq!(
        (summary.resealed, summary.skipped, summary.failed),
        (1, 1, 1)
    );
    assert_eq!(seen, ["a.yaml: 1", "b.yaml: failed", "c.yaml: skipped"]);
    assert_eq!(written.len(), 1);
    let resealed = ksec_seal::read_one_sealed_secret(written[0].1.as_bytes(), "a").unwrap();
    assert_eq!(
        unseal(&resealed, &[&b]).unwrap().secret.data["pw"].expose(),
        b"x"
    );

    // A writer's failure counts as the file's, with the writer's message.
    let summary = reseal_files(
        &files[..1],
        &[&a],
        b.public_key(),
        |_, _| Err("disk full".into()),
        |_, outcome| {
            assert!(matches!(outcome, FileReseal::Failed(e) if e.to_string() == "disk full"));
        },
    );
    assert_eq!(summary.failed, 1);
}
