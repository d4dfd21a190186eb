use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::local::{rotate_key_file, LocalBackend};
use ksec_keys::KeyBackend;
use ksec_kms::Plugin;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The Python grpcio client over generated stubs (shared with the CLI tests).
pub(crate) use ksec_testkit::kms_client::PyKmsClient as PyClient;

/// Runs the plugin in a thread on the runtime `ksec kms serve` uses; stops it on drop.
pub(crate) struct Server {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(socket: PathBuf, plugin: Arc<Plugin>) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = socket.clone();
        let thread = std::thread::spawn(move || {
            ksec_kms::runtime().unwrap().block_on(async move {
                ksec_kms::serve(&s, plugin, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        ksec_testkit::wait_for_socket(&socket, Duration::from_secs(10));
        Self {
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Starts the shutdown (GOAWAY, then the drain) without waiting for it.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the plugin has stopped; panics if serving failed.
    pub(crate) fn join(mut self) {
        self.begin_shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("the plugin's serve() failed");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn local(path: &Path) -> Arc<dyn KeyBackend> {
    Arc::new(LocalBackend::open(path).unwrap())
}

#[test]
fn v2_and_v1beta1_over_the_socket_with_rotation_and_limits() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    let id1 = rotate_key_file(&keys).unwrap();
    let socket = dir.path().join("kms.sock");
    let plugin = Plugin::new(
        local(&keys),
        Duration::from_secs(10),
        Duration::from_secs(1),
    );
    let _server = Server::start(socket.clone(), plugin.clone());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = PyClient::start(&socket, &stubs) else {
        return;
    };

    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["ok"], true, "{st}");
    assert_eq!(st["version"], "v2");
    assert_eq!(st["healthz"], "ok");
    assert_eq!(st["key_id"], id1.as_str());

    let seed = [42u8; 32];
    let enc = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    assert_eq!(enc["ok"], true, "{enc}");
    assert_eq!(enc["key_id"], id1.as_str());
    let ct1 = enc["ciphertext"].as_str().unwrap().to_string();
    assert!(B64.decode(&ct1).unwrap().len() < 1024);
    let dec = c.call(json!({"op": "decrypt", "ciphertext": ct1, "key_id": id1.as_str()}));
    assert_eq!(dec["plaintext"], B64.encode(seed), "{dec}");

    // Rotation: a new key on top, the backend reloaded; Status reports the new
    // key id; what the old key wrapped still decrypts.
    let id2 = rotate_key_file(&keys).unwrap();
    plugin.replace_backend(local(&keys));
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["key_id"], id2.as_str(), "{st}");
    let dec = c.call(json!({"op": "decrypt", "ciphertext": ct1, "key_id": id1.as_str()}));
    assert_eq!(dec["plaintext"], B64.encode(seed), "{dec}");
    let enc2 = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    assert_eq!(enc2["key_id"], id2.as_str());

    // Bad input: gRPC errors the apiserver can log; the server keeps serving.
    let mut tampered = B64.decode(&ct1).unwrap();
    let n = tampered.len();
    tampered[n - 1] ^= 1;
    let r = c.call(
        json!({"op": "decrypt", "ciphertext": B64.encode(&tampered), "key_id": id1.as_str()}),
    );
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = c.call(
        json!({"op": "decrypt", "ciphertext": B64.encode([1u8; 2000]), "key_id": id1.as_str()}),
    );
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = c.call(json!({"op": "decrypt", "ciphertext": ct1, "key_id": ""}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = c.call(json!({"op": "decrypt", "ciphertext": ct1, "key_id": id1.as_str(), "annotations": {"NotFQDN": "eA=="}}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = c.call(json!({"op": "encrypt", "plaintext": ""}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    let r = c.call(json!({"op": "encrypt", "plaintext": B64.encode(vec![0u8; 5000])}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    // A key file without the old key: the old ciphertext is refused, never garbage.
    std::fs::write(
        &keys,
        format!("{}\n", ksec_keys::local::generate_key_line().unwrap()),
    )
    .unwrap();
    plugin.replace_backend(local(&keys));
    let r = c.call(json!({"op": "decrypt", "ciphertext": ct1, "key_id": id1.as_str()}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
    assert!(r["details"].as_str().unwrap().contains("not in"), "{r}");
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["healthz"], "ok");

    // v1beta1 on the same socket; a v2 ciphertext is not a v1 one.
    let v = c.call(json!({"op": "v1version"}));
    assert_eq!(v["version"], "v1beta1", "{v}");
    assert_eq!(v["runtime_name"], "ksec");
    let v = c.call(json!({"op": "v1version", "version": "v2"}));
    assert_eq!(v["code"], "INVALID_ARGUMENT", "{v}");
    let e1 = c.call(json!({"op": "v1encrypt", "plain": B64.encode(seed)}));
    let d1 = c.call(json!({"op": "v1decrypt", "cipher": e1["cipher"]}));
    assert_eq!(d1["plain"], B64.encode(seed), "{d1}");
    let enc3 = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    let r = c.call(json!({"op": "v1decrypt", "cipher": enc3["ciphertext"]}));
    assert_eq!(r["code"], "INVALID_ARGUMENT", "{r}");
}

#[test]
fn refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    rotate_key_file(&keys).unwrap();
    let path = dir.path().join("not-a-socket");
    std::fs::write(&path, "data").unwrap();
    let plugin = Plugin::new(local(&keys), Duration::from_secs(1), Duration::from_secs(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(ksec_kms::serve(&path, plugin, async {}))
        .unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
}
