//! helm-secrets' own encrypted assets (written by the real sops), decrypted through
//! the downloader protocols, compared byte for byte with what `sops --decrypt` prints.
use crate::support::{
    assets, gpg_home, leftover_scratch, processes_mentioning, settings, sops_decrypt, stop_agent,
    values, SCRATCH,
};
use ksec_helm::{download, Settings};
use std::process::Command;

#[test]
fn pgp_import_decrypts_every_fixture_as_sops_does_and_leaves_nothing_behind() {
    let _one_at_a_time = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(assets), Some(home)) = (assets(), gpg_home()) else {
        return;
    };
    let key = assets.join("gpg/private.gpg");
    for name in [
        "secrets.yaml",
        "some-secrets.yaml",
        "secrets.trailing-newline.yaml",
        "secrets.trailing-newline.raw",
        "files/file.json",
        "files/file.properties",
        "files/file.yaml",
    ] {
        let file = values(name).unwrap();
        let Some(expected) = sops_decrypt(&file, &[("GNUPGHOME", home.path())]) else {
            return;
        };
        let url = format!("secrets+gpg-import://{}?{}", key.display(), file.display());
        let got = download(&url, &settings()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got.data),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        assert!(got.warnings.is_empty());
    }
    // The binary store keeps every trailing newline (helm-secrets #130, #714).
    let raw = values("secrets.trailing-newline.raw").unwrap();
    let url = format!("secrets+gpg-import://{}?{}", key.display(), raw.display());
    let got = download(&url, &settings()).unwrap();
    let dec = std::fs::read(values("secrets.trailing-newline.dec.raw").unwrap()).unwrap();
    assert_eq!(got.data.as_slice(), dec.as_slice());
    assert!(dec.ends_with(b"\n\n\n"));
    stop_agent(home.path());

    assert_eq!(leftover_scratch(), Vec::<std::path::PathBuf>::new());
    let mine = format!("ksec-helm-{}-", std::process::id());
    assert_eq!(
        processes_mentioning(&mine),
        Vec::<String>::new(),
        "a gpg-agent was left running"
    );
}

#[test]
fn load_gpg_keys_setting_and_literals() {
    let _one_at_a_time = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(assets), Some(home)) = (assets(), gpg_home()) else {
        return;
    };
    let key = assets.join("gpg/private.gpg");
    let s = Settings::from_lookup(|k| {
        (k == "HELM_SECRETS_LOAD_GPG_KEYS").then(|| key.display().to_string())
    })
    .unwrap();
    let file = values("secrets.yaml").unwrap();
    let expected = sops_decrypt(&file, &[("GNUPGHOME", home.path())]).unwrap();
    let got = download(&format!("secrets://{}", file.display()), &s).unwrap();
    assert_eq!(got.data.as_slice(), expected.as_slice());

    // secrets+literal://: a SOPS JSON document is decrypted, anything else kept.
    let json = values("files/file.json").unwrap();
    let expected = sops_decrypt(&json, &[("GNUPGHOME", home.path())]).unwrap();
    let text = std::fs::read_to_string(&json).unwrap();
    let got = download(&format!("secrets+literal://{text}"), &s).unwrap();
    assert_eq!(got.data.as_slice(), expected.as_slice());
    let got = download("secrets+literal://plain, text?#", &s).unwrap();
    assert_eq!(got.data.as_slice(), b"plain, text?#");
    // As in helm-secrets, a '!' names a backend first.
    let e = download("secrets+literal://hi!there", &s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"hi\""), "{e}");
    stop_agent(home.path());
    assert_eq!(leftover_scratch(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn age_import_and_alias_and_plaintext_pass_through() {
    let Some(assets) = assets() else { return };
    let key = assets.join("age/key.txt");
    let file = values("secrets.age.yaml").unwrap();
    let Some(expected) = sops_decrypt(&file, &[("SOPS_AGE_KEY_FILE", &key)]) else {
        return;
    };
    let url = format!("secrets+age-import://{}?{}", key.display(), file.display());
    assert_eq!(
        download(&url, &settings()).unwrap().data.as_slice(),
        expected.as_slice()
    );
    // The '?' prefix and the sops backend named explicitly change nothing for a file that exists.
    let url = format!(
        "secrets+age-import://?sops!{}?{}",
        key.display(),
        file.display()
    );
    assert_eq!(
        download(&url, &settings()).unwrap().data.as_slice(),
        expected.as_slice()
    );

    // A file without SOPS metadata passes through unchanged, with a warning unless quiet.
    let plain = values("secrets.dec.yaml").unwrap();
    let got = download(&format!("ksec://{}", plain.display()), &settings()).unwrap();
    assert_eq!(
        got.data.as_slice(),
        std::fs::read(&plain).unwrap().as_slice()
    );
    assert!(
        got.warnings[0].contains("no SOPS metadata"),
        "{:?}",
        got.warnings
    );
    let quiet =
        Settings::from_lookup(|k| (k == "HELM_SECRETS_QUIET").then(|| "true".into())).unwrap();
    assert!(download(&format!("secrets://{}", plain.display()), &quiet)
        .unwrap()
        .warnings
        .is_empty());

    // The noop backend passes the encrypted file as it is.
    let got = download(&format!("secrets://noop!{}", file.display()), &settings()).unwrap();
    assert_eq!(
        got.data.as_slice(),
        std::fs::read(&file).unwrap().as_slice()
    );
}

/// Files the real sops encrypts now, for a key the real age-keygen makes: CRLF line
/// ends, block scalars with kept trailing newlines, JSON, a binary file.
#[test]
fn fresh_files_from_the_real_sops_decrypt_byte_for_byte() {
    let (Some(keygen), Some(sops)) = (ksec_testkit::peer("age-keygen"), ksec_testkit::peer("sops"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    assert!(Command::new(keygen)
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap()
        .status
        .success());
    let recipient = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    for (name, plain) in [
        ("crlf.yaml", "a: one\r\nb: |\r\n  two\r\n  lines\r\n"),
        (
            "kept.yaml",
            "cert: |+\n  -----BEGIN X-----\n  abc\n\n\nafter: 1\n",
        ),
        ("doc.json", "{\n  \"a\": \"x\\ny\",\n  \"n\": 1.5\n}\n"),
        ("blob.txt", "line one\nline two\n\n\n"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, plain).unwrap();
        let out = Command::new(&sops)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .args(["encrypt", "--age", &recipient, "--in-place"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = sops_decrypt(&p, &[("SOPS_AGE_KEY_FILE", &key)]).unwrap();
        let url = format!("secrets+age-import://{}?{}", key.display(), p.display());
        let got = download(&url, &settings()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got.data),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        if name == "blob.txt" {
            assert_eq!(got.data.as_slice(), plain.as_bytes());
        }
    }
}
