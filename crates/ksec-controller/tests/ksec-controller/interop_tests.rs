//! Takeover of a Bitnami cluster: SealedSecrets sealed by another implementation
//! (kubesealpy, with the certificate of a Bitnami-format key Secret) are opened by the
//! controller, in all three scopes.

use serde_json::json;

use crate::harness::*;
use ksec_testkit::cluster::FakeApi;

const SEAL_PY: &str = r#"
import sys
from kubesealpy import Sealer
from kubesealpy.scopes import SealingScope
sealer = Sealer.from_certificate_file(sys.argv[1])
docs = [
    sealer.seal(name="strict", namespace="app", data={"password": b"p@ss w0rd\n", "bin": bytes(range(256))},
                scope=SealingScope.STRICT, secret_type="Opaque", labels={"from": "kubesealpy"}),
    sealer.seal(name="nswide", namespace="app", data={"token": b"ns-token"}, scope=SealingScope.NAMESPACE_WIDE),
    sealer.seal(name="cluster", namespace="app", data={"token": b"cluster-token"}, scope=SealingScope.CLUSTER_WIDE),
]
print("\n---\n".join(d.to_yaml() for d in docs))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealedsecrets_sealed_by_kubesealpy_with_a_bitnami_key_are_unsealed() {
    let Some(py) = ksec_testkit::python_with("KSEC_PYTHON", "kubesealpy") else {
        return;
    };
    let dir = ksec_testkit::tempdir();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, cert_a_pem()).unwrap();
    let out = std::process::Command::new(py)
        .args(["-c", SEAL_PY])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubesealpy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = ksec_seal::docs::parse_documents(&out.stdout).unwrap();
    assert_eq!(docs.len(), 3);

    let fake = FakeApi::new();
    // Bitnami's oldest key layout: the Secret named exactly the prefix, without the label.
    let mut legacy = key_secret("sealed-secrets-key", key_a(), &cert_a_pem());
    legacy["metadata"]["labels"] = json!({});
    fake.insert(SECRETS, legacy);
    for mut d in docs {
        if d["metadata"]["name"] == "nswide" {
            // Namespace-wide values may be renamed within the namespace.
            d["metadata"]["name"] = json!("nswide-renamed");
        }
        if d["metadata"]["name"] == "cluster" {
            // Cluster-wide values may move anywhere.
            d["metadata"]["namespace"] = json!("other");
        }
        fake.insert(SS, d);
    }
    let ctl = start(&fake, test_config("r1"));
    wait_for("all three", T, || {
        secret_data(&fake, "app", "strict").is_some()
            && secret_data(&fake, "app", "nswide-renamed").is_some()
            && secret_data(&fake, "other", "cluster").is_some()
    })
    .await;
    // The legacy key Secret named exactly the prefix was taken over, no key generated.
    assert_eq!(ctl.handles.keys.len(), 1);
    let strict = fake.get(SECRETS, "app", "strict").unwrap();
    use base64::Engine;
    let bin = base64::engine::general_purpose::STANDARD
        .decode(strict["data"]["bin"].as_str().unwrap())
        .unwrap();
    assert_eq!(bin, (0u8..=255).collect::<Vec<_>>());
    assert_eq!(
        secret_data(&fake, "app", "strict").unwrap()["password"],
        "p@ss w0rd\n"
    );
    assert_eq!(strict["metadata"]["labels"]["from"], "kubesealpy");
    assert_eq!(
        secret_data(&fake, "app", "nswide-renamed").unwrap()["token"],
        "ns-token"
    );
    assert_eq!(
        secret_data(&fake, "other", "cluster").unwrap()["token"],
        "cluster-token"
    );
    // The status is written after the Secret: wait for it rather than read it at once.
    wait_for("Synced status of both", T, || {
        ["strict", "nswide-renamed"]
            .iter()
            .all(|n| synced(&fake, "app", n).is_some())
    })
    .await;
    for n in ["strict", "nswide-renamed"] {
        assert_eq!(synced(&fake, "app", n).unwrap().0, "True", "{n}");
    }
    ctl.stop().await;
}
