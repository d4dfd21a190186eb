//! Running the controller against the fake API in a test: keys, objects, waiting.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_controller::{Config, Handles, Namespaces};
use ksec_crypto::rsa::RsaPrivateKey;
use ksec_crypto::x509::{self, Certificate};
use ksec_seal::{SealedSecret, Sealer, Secret};
use serde_json::{json, Value};

use ksec_testkit::cluster::{merge_patch, FakeApi};

pub const CONTROLLER_NS: &str = "kube-system";
pub const SS: &str = "bitnami.com/sealedsecrets";
pub const SECRETS: &str = "core/secrets";
pub const EVENTS: &str = "events.k8s.io/events";

fn testdata(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Pre-generated RSA-4096 test key A (testdata/keys).
pub fn key_a() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| RsaPrivateKey::from_pem(&testdata("test-key-a.pem")).unwrap())
}

/// Pre-generated RSA-4096 test key B.
pub fn key_b() -> &'static RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| RsaPrivateKey::from_pem(&testdata("test-key-b.pem")).unwrap())
}

/// The PEM of key A's certificate, as Bitnami's controller made it.
pub fn cert_a_pem() -> Vec<u8> {
    testdata("test-cert-a.pem")
}

/// A certificate for `key` whose validity starts `age` ago.
pub fn cert_aged(key: &RsaPrivateKey, age: Duration) -> Certificate {
    x509::self_signed_sealing_cert(
        key,
        "sealed-secret",
        SystemTime::now() - age,
        Duration::from_secs(10 * 365 * 86400),
    )
    .unwrap()
}

/// A key Secret in Bitnami's format (what its controller writes).
pub fn key_secret(name: &str, key: &RsaPrivateKey, cert_pem: &[u8]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": CONTROLLER_NS,
                     "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
        "data": {
            "tls.crt": STANDARD.encode(cert_pem),
            "tls.key": STANDARD.encode(key.to_pkcs1_pem().unwrap().as_bytes()),
        }
    })
}

/// A fake cluster holding one sealing key Secret (key A, as the controller makes them).
pub fn cluster_with_key_a() -> FakeApi {
    let fake = FakeApi::new();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keya", key_a(), &cert_a_pem()),
    );
    fake
}

/// A Secret document to seal.
pub fn plain_secret(ns: &str, name: &str, data: &[(&str, &str)], extra: Value) -> Secret {
    let mut v = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()});
    merge_patch(&mut v, &extra);
    Secret::from_value(&v).unwrap()
}

/// Seals with ksec's own sealer (interop with kubesealpy is tested separately).
pub fn sealed(key: &RsaPrivateKey, secret: Secret) -> Value {
    let ss: SealedSecret = Sealer::new(key.public_key().clone()).seal(secret).unwrap();
    ss.to_value()
}

/// Settings for tests: fast leases, small generated keys, no listeners.
pub fn test_config(identity: &str) -> Config {
    Config {
        namespace: CONTROLLER_NS.into(),
        identity: identity.into(),
        key_size: 2048,
        lease_duration: Duration::from_millis(1500),
        lease_renew: Duration::from_millis(200),
        namespaces: Namespaces::All,
        ..Config::default()
    }
}

/// A controller running in the background; stops when dropped.
pub struct Running {
    pub handles: Handles,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ksec_controller::Error>>>,
}

impl Running {
    /// Stops it (releasing the Lease) and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(10), t).await;
            let r = r
                .expect("controller did not stop")
                .expect("controller panicked");
            r.expect("controller failed");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Starts a controller on `fake`.
pub fn start(fake: &FakeApi, config: Config) -> Running {
    let handles = Handles::new(&config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let client = fake.client();
    let h = handles.clone();
    let task = tokio::spawn(async move {
        ksec_controller::run_with(client, config, h, None, async move {
            let _ = rx.await;
        })
        .await
    });
    Running {
        handles,
        stop: Some(tx),
        task: Some(task),
    }
}

/// Waits until `cond` holds (polling), or panics naming `what`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Synced condition of a stored SealedSecret: (status, message).
pub fn synced(fake: &FakeApi, ns: &str, name: &str) -> Option<(String, String)> {
    let ss = fake.get(SS, ns, name)?;
    let c = ss["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Synced")?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

/// Decoded data of a stored Secret.
pub fn secret_data(fake: &FakeApi, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let s = fake.get(SECRETS, ns, name)?;
    Some(
        s["data"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let b = STANDARD.decode(v.as_str().unwrap_or("")).unwrap();
                        (k.clone(), String::from_utf8_lossy(&b).into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Reasons of the events recorded about `name`.
pub fn event_reasons(fake: &FakeApi, name: &str) -> Vec<String> {
    fake.list(EVENTS)
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name)
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Notes of the events about `name` with `reason`.
pub fn event_notes(fake: &FakeApi, name: &str, reason: &str) -> Vec<String> {
    fake.list(EVENTS)
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name && e["reason"] == reason)
        .map(|e| e["note"].as_str().unwrap_or("").to_string())
        .collect()
}

pub const T: Duration = Duration::from_secs(20);
