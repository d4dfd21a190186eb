//! `ksec keys`: keys and certificates in the controller's formats.
use crate::common::*;
use predicates::str::contains;

#[test]
fn new_key_secret_is_shaped_like_the_controllers_and_works() {
    let dir = ksec_testkit::tempdir();
    let key_file = dir.path().join("key.yaml");
    ksec()
        .args(["keys", "new", "--bits", "2048", "-w"])
        .arg(&key_file)
        .assert()
        .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v = parse(&std::fs::read(&key_file).unwrap());
    assert_eq!(v["type"], "kubernetes.io/tls");
    assert_eq!(v["metadata"]["namespace"], "kube-system");
    assert_eq!(
        v["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    assert!(v["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("sealed-secrets-key"));
    assert!(String::from_utf8(data_value(&v, "tls.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // cert → seal → unseal with the Secret as the key file.
    let cert = ksec()
        .args(["keys", "cert"])
        .arg(&key_file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, &cert).unwrap();
    let parsed = ksec_crypto::x509::Certificate::from_pem(&cert).unwrap();
    assert_eq!(
        parsed.common_name, None,
        "the controller's default --my-cn is empty"
    );
    assert_eq!(parsed.not_after - parsed.not_before, 87_600 * 3600);
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.yaml");
    seal_cmd(&cert_file, &secret, &sealed).assert().success();
    unseal(&key_file, &sealed).success();
    ksec()
        .args(["keys", "list"])
        .arg(&key_file)
        .assert()
        .success()
        .stdout(contains("SHA256:"))
        .stdout(contains(" 2048 "));
}

#[test]
fn pem_output_and_fingerprint_match_openssh() {
    let dir = ksec_testkit::tempdir();
    ksec()
        .args(["keys", "new", "--bits", "2048", "--pem-dir"])
        .arg(dir.path())
        .assert()
        .success();
    let listed = ksec()
        .args(["keys", "list"])
        .arg(dir.path().join("tls.key"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let listed = String::from_utf8(listed).unwrap();
    let Some(ssh_keygen) = ksec_testkit::peer("ssh-keygen") else {
        return;
    };
    let out = std::process::Command::new(ssh_keygen)
        .arg("-lf")
        .arg(dir.path().join("tls.key"))
        .output()
        .unwrap();
    let theirs = String::from_utf8(out.stdout).unwrap();
    let fp = theirs
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        fp.starts_with("SHA256:") && listed.contains(&fp),
        "ours: {listed}\nssh-keygen: {theirs}"
    );
}
