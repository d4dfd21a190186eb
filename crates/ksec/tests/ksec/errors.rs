//! Bad input: a clear error naming the item, a non-zero exit, and no output written.
use crate::common::*;
use predicates::prelude::*;
use predicates::str::contains;

fn seal_fails(dir: &std::path::Path, secret: &str, cert: &std::path::Path, want: &str) {
    let input = write(dir, "in.yaml", secret);
    let out = dir.join("out.yaml");
    seal_cmd(cert, &input, &out)
        .assert()
        .failure()
        .stderr(contains(want));
    assert!(!out.exists(), "no output file may be created on error");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ksec-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn secret_without_namespace_or_name() {
    let dir = ksec_testkit::tempdir();
    let cert = testdata("test-cert-a.pem");
    seal_fails(
        dir.path(),
        &SECRET_YAML.replace("  namespace: prod\n", ""),
        &cert,
        "no metadata.namespace",
    );
    seal_fails(
        dir.path(),
        &SECRET_YAML.replace("  name: db\n", ""),
        &cert,
        "no metadata.name",
    );
    seal_fails(
        dir.path(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\n",
        &cert,
        "--allow-empty-data",
    );
    seal_fails(
        dir.path(),
        "kind: ConfigMap\n",
        &cert,
        "expected kind Secret",
    );
    seal_fails(
        dir.path(),
        "kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {k: 'not base64!'}\n",
        &cert,
        "data.k: not valid base64",
    );
    seal_fails(
        dir.path(),
        "kind: Secret\nmetadata: [\n",
        &cert,
        "invalid YAML",
    );
}

#[test]
fn expired_or_non_rsa_or_missing_certificates() {
    let dir = ksec_testkit::tempdir();
    seal_fails(
        dir.path(),
        SECRET_YAML,
        &testdata("test-cert-ec.pem"),
        "expected an RSA public key",
    );
    seal_fails(
        dir.path(),
        SECRET_YAML,
        &testdata("test-key-a.pem"),
        "no PEM CERTIFICATE",
    );
    seal_fails(
        dir.path(),
        SECRET_YAML,
        &dir.path().join("missing.pem"),
        "missing.pem",
    );
    let key = ksec_crypto::rsa::RsaPrivateKey::from_pem(
        &std::fs::read(testdata("test-key-a.pem")).unwrap(),
    )
    .unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let old = ksec_crypto::x509::self_signed_sealing_cert(
        &key,
        "old",
        std::time::SystemTime::now() - 10 * day,
        day,
    )
    .unwrap();
    let old_path = write(dir.path(), "old.crt", &old.to_pem());
    seal_fails(dir.path(), SECRET_YAML, &old_path, "certificate expired on");
}

#[test]
fn corrupted_truncated_and_foreign_values_name_their_key() {
    let dir = ksec_testkit::tempdir();
    let input = write(dir.path(), "in.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.json");
    seal_cmd(&testdata("test-cert-a.pem"), &input, &sealed)
        .assert()
        .success();
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sealed).unwrap()).unwrap();
    let pw = v["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    v["spec"]["encryptedData"]["password"] =
        serde_json::Value::String(pw[..pw.len() / 2].to_string() + "==");
    let broken = write(dir.path(), "broken.json", &v.to_string());
    let out = dir.path().join("plain.yaml");
    ksec()
        .args(["unseal", "-k"])
        .arg(testdata("test-key-a.pem"))
        .arg("-f")
        .arg(&broken)
        .arg("-w")
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("password:"))
        .stderr(contains("user").not());
    assert!(!out.exists());
    // Sealed for prod/db, presented as prod/other: refused.
    let moved = std::fs::read_to_string(&sealed).unwrap().replacen(
        "\"name\": \"db\"",
        "\"name\": \"other\"",
        1,
    );
    let moved = write(dir.path(), "moved.json", &moved);
    unseal(testdata("test-key-a.pem"), &moved)
        .failure()
        .stderr(contains("for another name/namespace/scope"));
    // The wrong key.
    unseal(testdata("test-key-b.pem"), &sealed)
        .failure()
        .stderr(contains("no key could decrypt"));
}

#[test]
fn unreadable_or_wrong_key_files() {
    let dir = ksec_testkit::tempdir();
    let sealed = write(dir.path(), "s.yaml", "kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n");
    unseal(dir.path().join("nope.pem"), &sealed)
        .failure()
        .stderr(contains("nope.pem"));
    let junk = write(
        dir.path(),
        "junk.pem",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    );
    unseal(&junk, &sealed)
        .failure()
        .stderr(contains("junk.pem"));
    use std::os::unix::fs::PermissionsExt;
    let unreadable = write(dir.path(), "locked.pem", "x");
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&unreadable).is_err() {
        unseal(&unreadable, &sealed)
            .failure()
            .stderr(contains("locked.pem"));
    }
}

#[test]
fn secret_values_never_appear_in_errors() {
    let dir = ksec_testkit::tempdir();
    let secret = "kind: Secret\nmetadata: {name: x}\nstringData: {password: TOPSECRETVALUE}\n";
    let input = write(dir.path(), "in.yaml", secret);
    ksec()
        .args(["seal", "--cert"])
        .arg(testdata("test-cert-a.pem"))
        .arg("-f")
        .arg(&input)
        .assert()
        .failure()
        .stderr(contains("TOPSECRETVALUE").not());
}
