//! The plugin on SoftHSM 2 and on moto (AWS KMS), driven by the grpcio client.
use super::plugin::{PyClient, Server};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::awskms::{AwsKmsBackend, AwsKmsConfig};
use ksec_keys::KeyBackend;
use ksec_kms::Plugin;
use ksec_testkit::moto::Moto;
#[cfg(feature = "pkcs11")]
use ksec_testkit::softhsm::{SoftHsm, MODULE};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn round_trips(backend: Arc<dyn KeyBackend>, dir: &Path) {
    let socket = dir.join("kms.sock");
    let plugin = Plugin::new(backend, Duration::from_secs(5), Duration::from_secs(1));
    let _server = Server::start(socket.clone(), plugin);
    let stubs = dir.join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = PyClient::start(&socket, &stubs) else {
        return;
    };
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["healthz"], "ok", "{st}");
    for i in 0..20u8 {
        let seed = [i; 32];
        let enc = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
        assert_eq!(enc["ok"], true, "{enc}");
        assert_eq!(enc["key_id"], st["key_id"]);
        assert!(
            B64.decode(enc["ciphertext"].as_str().unwrap())
                .unwrap()
                .len()
                < 1024
        );
        let dec = c.call(
            json!({"op": "decrypt", "ciphertext": enc["ciphertext"], "key_id": enc["key_id"]}),
        );
        assert_eq!(dec["plaintext"], B64.encode(seed), "{dec}");
    }
    let e1 = c.call(json!({"op": "v1encrypt", "plain": B64.encode([1u8; 32])}));
    let d1 = c.call(json!({"op": "v1decrypt", "cipher": e1["cipher"]}));
    assert_eq!(d1["plain"], B64.encode([1u8; 32]), "{d1}");
}

#[cfg(feature = "pkcs11")]
#[test]
fn plugin_on_softhsm() {
    let Some(hsm) = SoftHsm::new("kms", "1234") else {
        return;
    };
    // This is the only test of this binary that loads SoftHSM.
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    hsm.keygen("kek");
    let cfg = ksec_keys::pkcs11::Pkcs11Config {
        module: MODULE.into(),
        token_label: "kms".into(),
        key_label: "kek".into(),
        pin_file: Some(hsm.pin_file()),
        pin_env: None,
        sessions: 2,
        retry: Some(ksec_keys::RetryPolicy {
            attempts: 1,
            ..Default::default()
        }),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = rt
        .block_on(ksec_keys::pkcs11::Pkcs11Backend::open(cfg))
        .unwrap();
    round_trips(Arc::new(b), hsm.dir());
}

#[test]
fn plugin_on_moto() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    // CreateKey through the plain JSON protocol (moto does not check signatures).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let arn = rt.block_on(async {
        let r = create_key(&endpoint).await;
        r["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
    });
    // Credentials for the signer (this binary's only AWS test sets them).
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let cfg = AwsKmsConfig {
        key: arn,
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let b = AwsKmsBackend::new(&cfg).unwrap();
    let dir = ksec_testkit::tempdir();
    round_trips(Arc::new(b), dir.path());
}

async fn create_key(endpoint: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(endpoint)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "TrentService.CreateKey")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body("{}")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap()
}
