//! Interop with independent implementations of the Sealed Secrets format, both ways,
//! through the `ksec` binary: kubesealpy (Python), aes-gcm-rsa-oaep (Python, own venv)
//! and @linode/kubeseal-encrypt (JavaScript). ksec-seal's own tests run the same peers
//! against the library. `scripts/test` installs them; under CI a missing one fails.
use crate::common::*;
use std::process::Command;

fn run_peer(cmd: &mut Command, stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn peer");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn kubesealpy_unseals_what_ksec_seals_for_every_scope() {
    let Some(py) = ksec_testkit::python_with("KSEC_PYTHON", "kubesealpy") else {
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
        let out = run_peer(
            Command::new(&py)
                .arg(peer_script("kubesealpy_peer.py"))
                .arg("unseal")
                .arg(testdata("test-key-a.pem")),
            sealed.as_bytes(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(data_value(&v, "password"), b"hunter2", "{scope}");
        assert_eq!(data_value(&v, "user"), b"admin", "{scope}");
    }
}

#[test]
fn ksec_unseals_what_kubesealpy_seals_for_every_scope() {
    let Some(py) = ksec_testkit::python_with("KSEC_PYTHON", "kubesealpy") else {
        return;
    };
    let plain = SECRET_YAML
        .replace("stringData:\n  password: hunter2\n", "")
        .replace(
            "  user: YWRtaW4=\n",
            "  user: YWRtaW4=\n  password: aHVudGVyMg==\n",
        );
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = run_peer(
            Command::new(&py)
                .arg(peer_script("kubesealpy_peer.py"))
                .arg("seal")
                .arg(testdata("test-cert-b.pem"))
                .arg(scope),
            plain.as_bytes(),
        );
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
    let Some(py) = ksec_testkit::python_with("KSEC_PYTHON_AESGCM", "aes_gcm_rsa_oaep") else {
        return;
    };
    let script = peer_script("aesgcm_peer.py");
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
    let plain = run_peer(
        Command::new(&py)
            .arg(&script)
            .args(["decrypt"])
            .arg(testdata("test-key-a.pem"))
            .arg("team"),
        &sealed,
    );
    assert_eq!(plain, "value from ksec \u{1F512}".as_bytes());
    // peer → ksec: the value inside a SealedSecret that ksec unseals.
    let theirs = run_peer(
        Command::new(&py)
            .arg(&script)
            .arg("encrypt")
            .arg(testdata("test-cert-a.pem"))
            .arg("prod/db"),
        b"value from python",
    );
    let doc = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: db, namespace: prod}}\nspec:\n  encryptedData:\n    k: {}\n",
        String::from_utf8(theirs).unwrap()
    );
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
    let Some(node) = ksec_testkit::peer("node") else {
        return;
    };
    let Some(py) = ksec_testkit::python_with("KSEC_PYTHON", "cryptography") else {
        return;
    };
    let Some(modules) = std::env::var_os("KSEC_NODE_MODULES").filter(|m| {
        std::path::Path::new(m)
            .join("@linode/kubeseal-encrypt")
            .exists()
    }) else {
        ksec_testkit::missing::<()>(
            "npm @linode/kubeseal-encrypt",
            "KSEC_NODE_MODULES is unset or lacks it",
        );
        return;
    };
    let dir = ksec_testkit::tempdir();
    let spki = run_peer(
        Command::new(&py)
            .arg(peer_script("kubesealpy_peer.py"))
            .arg("spki")
            .arg(testdata("test-cert-a.pem")),
        b"",
    );
    let pub_pem = dir.path().join("pub.pem");
    std::fs::write(&pub_pem, spki).unwrap();
    let sealed = run_peer(
        Command::new(node)
            .env("KSEC_NODE_MODULES", modules)
            .arg(peer_script("linode_seal.cjs"))
            .arg(&pub_pem)
            .arg("shop"),
        b"value from javascript",
    );
    let doc = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: anything\n  namespace: shop\n  annotations: {{sealedsecrets.bitnami.com/namespace-wide: \"true\"}}\nspec:\n  encryptedData:\n    k: {}\n",
        String::from_utf8(sealed).unwrap()
    );
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
