//! The library against independent implementations of the Sealed Secrets format, both
//! ways and without the `ksec` binary: kubesealpy (Python), aes-gcm-rsa-oaep (Python,
//! own venv) and @linode/kubeseal-encrypt (JavaScript). The `ksec` binary's tests run
//! the same peers through the command line. `scripts/test` installs them
//! (`scripts/peers/seal.sh`); under CI a missing one fails.
use crate::peers::{linode_seal, sealed_secret_with, AesGcmRsaOaep, Kubesealpy, NAMESPACE_WIDE};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_seal::render::{self, Format};
use ksec_seal::{read_one_sealed_secret, read_secrets, reseal, unseal, Scope, Sealer};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

const SECRET_YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
data:
  user: YWRtaW4=
  password: aHVudGVyMg==
";

const SCOPES: [(&str, Scope); 3] = [
    ("strict", Scope::Strict),
    ("namespace-wide", Scope::NamespaceWide),
    ("cluster-wide", Scope::ClusterWide),
];

/// ksec's pre-generated test keys and certificates (testdata/keys).
fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name)
}

fn key(name: &str) -> RsaPrivateKey {
    RsaPrivateKey::from_pem(&std::fs::read(testdata(name)).unwrap()).unwrap()
}

fn key_a() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| key("test-key-a.pem"))
}

fn key_b() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| key("test-key-b.pem"))
}

fn sealer(cert: &str) -> Sealer {
    let pem = std::fs::read(testdata(cert)).unwrap();
    Sealer::from_certificate(&pem, cert, SystemTime::now()).unwrap()
}

/// `data.KEY` of what kubesealpy opened, decoded.
fn peer_data(opened: &serde_json::Value, key: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = opened["data"][key].as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// kubesealpy reads one plain YAML document.
fn as_kubesealpy_yaml(ss: &ksec_seal::SealedSecret) -> String {
    render::document(&ss.to_value(), Format::Yaml)
        .trim_start_matches("---\n")
        .to_string()
}

#[test]
fn kubesealpy_unseals_what_the_sealer_seals_for_every_scope() {
    let Some(peer) = Kubesealpy::find() else {
        return;
    };
    let secret = read_secrets(SECRET_YAML.as_bytes(), "secret.yaml")
        .unwrap()
        .remove(0);
    for (name, scope) in SCOPES {
        let sealed = sealer("test-cert-a.pem")
            .with_scope(scope)
            .seal(secret.clone())
            .unwrap();
        let opened = peer.unseal(
            &testdata("test-key-a.pem"),
            as_kubesealpy_yaml(&sealed).as_bytes(),
        );
        assert_eq!(peer_data(&opened, "password"), b"hunter2", "{name}");
        assert_eq!(peer_data(&opened, "user"), b"admin", "{name}");
    }
}

#[test]
fn unseal_opens_what_kubesealpy_seals_for_every_scope() {
    let Some(peer) = Kubesealpy::find() else {
        return;
    };
    for (name, scope) in SCOPES {
        let theirs = peer.seal(&testdata("test-cert-b.pem"), name, SECRET_YAML.as_bytes());
        let ss = read_one_sealed_secret(&theirs, "kubesealpy").unwrap();
        assert_eq!(ss.scope(), scope, "{name}");
        let opened = unseal(&ss, &[key_a(), key_b()]).unwrap();
        assert_eq!(
            opened.secret.data["password"].expose(),
            b"hunter2",
            "{name}"
        );
        assert_eq!(opened.secret.data["user"].expose(), b"admin", "{name}");
        assert!(
            opened.opened_by.values().all(|i| *i == 1),
            "{name}: not opened by key B"
        );
    }
}

#[test]
fn kubesealpy_unseals_what_reseal_moved_from_its_own_sealing() {
    let Some(peer) = Kubesealpy::find() else {
        return;
    };
    let theirs = peer.seal(
        &testdata("test-cert-a.pem"),
        "namespace-wide",
        SECRET_YAML.as_bytes(),
    );
    let ss = read_one_sealed_secret(&theirs, "kubesealpy").unwrap();
    let moved = reseal(&ss, &[key_a()], key_b().public_key()).unwrap();
    assert_eq!(moved.template, ss.template);
    let opened = peer.unseal(
        &testdata("test-key-b.pem"),
        as_kubesealpy_yaml(&moved).as_bytes(),
    );
    assert_eq!(peer_data(&opened, "password"), b"hunter2");
}

#[test]
fn aes_gcm_rsa_oaep_both_ways() {
    let Some(peer) = AesGcmRsaOaep::find() else {
        return;
    };
    // Sealer → peer: a raw value sealed namespace-wide.
    let value = "value from ksec-seal \u{1F512}";
    let sealed = sealer("test-cert-a.pem")
        .with_scope(Scope::NamespaceWide)
        .seal_raw(value.as_bytes(), "team", "")
        .unwrap();
    let plain = peer.decrypt(&testdata("test-key-a.pem"), "team", sealed.as_bytes());
    assert_eq!(plain, value.as_bytes());
    // Peer → unseal: its value inside a SealedSecret.
    let theirs = peer.encrypt(
        &testdata("test-cert-a.pem"),
        "prod/db",
        b"value from python",
    );
    let doc = sealed_secret_with("prod", "db", "{}", &theirs);
    let ss = read_one_sealed_secret(doc.as_bytes(), "doc").unwrap();
    let opened = unseal(&ss, &[key_a()]).unwrap();
    assert_eq!(opened.secret.data["k"].expose(), b"value from python");
    // And the peer opens it after reseal moved it to key B.
    let moved = reseal(&ss, &[key_a()], key_b().public_key()).unwrap();
    let plain = peer.decrypt(
        &testdata("test-key-b.pem"),
        "prod/db",
        moved.encrypted_data["k"].as_bytes(),
    );
    assert_eq!(plain, b"value from python");
}

#[test]
fn unseal_opens_what_linode_kubeseal_encrypt_seals() {
    let Some(sealed) = linode_seal(
        &testdata("test-cert-a.pem"),
        "shop",
        b"value from javascript",
    ) else {
        return;
    };
    let doc = sealed_secret_with("shop", "anything", NAMESPACE_WIDE, &sealed);
    let ss = read_one_sealed_secret(doc.as_bytes(), "doc").unwrap();
    assert_eq!(ss.scope(), Scope::NamespaceWide);
    let opened = unseal(&ss, &[key_b(), key_a()]).unwrap();
    assert_eq!(opened.secret.data["k"].expose(), b"value from javascript");
    assert_eq!(opened.opened_by["k"], 1);
}
