//! Interop with independent implementations of the Sealed Secrets format, both ways,
//! through the `ksec` binary: kubesealpy (Python), aes-gcm-rsa-oaep (Python, own venv)
//! and @linode/kubeseal-encrypt (JavaScript). ksec-seal's own tests run the same peers
//! against the library (the peer calls are shared: `peers.rs` there). `scripts/test`
//! installs them; under CI a missing one fails.
use crate::common::*;

#[path = "../../../ksec-seal/tests/peers/peers.rs"]
mod peers;
use peers::{linode_seal, sealed_secret_with, AesGcmRsaOaep, Kubesealpy, NAMESPACE_WIDE};

#[test]
fn kubesealpy_unseals_what_ksec_seals_for_every_scope() {
    let Some(peer) = Kubesealpy::find() else {
        return;
    };
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let dir = ksec_testkit::tempdir();
        let input = write(dir.path(), "s.yaml", SECRET_YAML);
        let sealed = ksec()
            .args(["seal", "-o", "yaml", "--scope", scope, "--cert"])
            .arg(testdata("test-cert-a.pem"))
            .arg("-f")
            .arg(&input)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        // kubesealpy reads one plain YAML document.
        let sealed = String::from_utf8(sealed)
            .unwrap()
            .trim_start_matches("---\n")
            .to_string();
        let v = peer.unseal(&testdata("test-key-a.pem"), sealed.as_bytes());
        assert_eq!(data_value(&v, "password"), b"hunter2", "{scope}");
        assert_eq!(data_value(&v, "user"), b"admin", "{scope}");
    }
}

#[test]
fn ksec_unseals_what_kubesealpy_seals_for_every_scope() {
    let Some(peer) = Kubesealpy::find() else {
        return;
    };
    let plain = SECRET_YAML
        .replace("stringData:\n  password: hunter2\n", "")
        .replace(
            "  user: YWRtaW4=\n",
            "  user: YWRtaW4=\n  password: aHVudGVyMg==\n",
        );
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = peer.seal(&testdata("test-cert-b.pem"), scope, plain.as_bytes());
        let out = ksec()
            .args(["unseal", "-o", "json", "-k"])
            .arg(testdata("test-key-a.pem"))
            .arg("-k")
            .arg(testdata("test-key-b.pem"))
            .write_stdin(sealed)
            .assert()
            .success()
            .stderr(predicates::str::contains("test-key-b.pem"))
            .get_output()
            .stdout
            .clone();
        let v = parse(&out);
        assert_eq!(data_value(&v, "password"), b"hunter2", "{scope}");
        assert_eq!(data_value(&v, "user"), b"admin", "{scope}");
    }
}

#[test]
fn aes_gcm_rsa_oaep_both_ways() {
    let Some(peer) = AesGcmRsaOaep::find() else {
        return;
    };
    // ksec → peer: a raw value sealed namespace-wide.
    let dir = ksec_testkit::tempdir();
    let value = write(dir.path(), "v.bin", "value from ksec \u{1F512}");
    let sealed = ksec()
        .args([
            "seal",
            "--raw",
            "--scope",
            "namespace-wide",
            "-n",
            "team",
            "--from-file",
        ])
        .arg(&value)
        .arg("--cert")
        .arg(testdata("test-cert-a.pem"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let plain = peer.decrypt(&testdata("test-key-a.pem"), "team", &sealed);
    assert_eq!(plain, "value from ksec \u{1F512}".as_bytes());
    // peer → ksec: the value inside a SealedSecret that ksec unseals.
    let theirs = peer.encrypt(
        &testdata("test-cert-a.pem"),
        "prod/db",
        b"value from python",
    );
    let doc = sealed_secret_with("prod", "db", "{}", &theirs);
    let out = ksec()
        .args(["unseal", "-o", "json", "-k"])
        .arg(testdata("test-key-a.pem"))
        .write_stdin(doc)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(data_value(&parse(&out), "k"), b"value from python");
}

#[test]
fn ksec_unseals_what_linode_kubeseal_encrypt_seals() {
    let Some(sealed) = linode_seal(
        &testdata("test-cert-a.pem"),
        "shop",
        b"value from javascript",
    ) else {
        return;
    };
    let doc = sealed_secret_with("shop", "anything", NAMESPACE_WIDE, &sealed);
    let out = ksec()
        .args(["unseal", "-o", "json", "-k"])
        .arg(testdata("test-key-a.pem"))
        .write_stdin(doc)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(data_value(&parse(&out), "k"), b"value from javascript");
}
