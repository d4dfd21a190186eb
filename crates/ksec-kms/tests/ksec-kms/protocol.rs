//! The gRPC layer's answers to calls that are not what the plugin serves (unknown
//! methods, compressed messages, plain HTTP, broken bodies), deadlines, and a
//! graceful shutdown with calls in flight; driven by grpcio (Python), curl
//! (nghttp2) and tonic's client.
use super::plugin::{PyClient, Server};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::local::{rotate_key_file, LocalBackend};
use ksec_keys::{Health, KeyBackend, KeyId, SecretBytes, WrapContext, WrappedKey};
use ksec_kms::proto::v2::key_management_service_client::KeyManagementServiceClient;
use ksec_kms::proto::v2::EncryptRequest;
use ksec_kms::Plugin;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A local backend whose wrap takes `delay`.
#[derive(Debug)]
struct Slow {
    inner: LocalBackend,
    delay: Duration,
}

#[async_trait::async_trait]
impl KeyBackend for Slow {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }
    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> ksec_keys::Result<WrappedKey> {
        tokio::time::sleep(self.delay).await;
        self.inner.wrap(dek, ctx).await
    }
    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        ctx: &WrapContext,
    ) -> ksec_keys::Result<SecretBytes> {
        self.inner.unwrap(wrapped, ctx).await
    }
    async fn health(&self) -> ksec_keys::Result<Health> {
        self.inner.health().await
    }
}

fn slow(keys: &Path, delay: Duration) -> Arc<dyn KeyBackend> {
    Arc::new(Slow {
        inner: LocalBackend::open(keys).unwrap(),
        delay,
    })
}

/// `curl --http2-prior-knowledge` to the socket: (HTTP status, response headers).
fn curl(curl: &Path, socket: &Path, args: &[&str], dir: &Path) -> (String, String) {
    let headers = dir.join("curl-headers");
    let out = Command::new(curl)
        .args(["-sS", "--http2-prior-knowledge", "--unix-socket"])
        .arg(socket)
        .arg("-D")
        .arg(&headers)
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    (code, std::fs::read_to_string(&headers).unwrap_or_default())
}

#[test]
fn calls_the_plugin_does_not_serve_get_clear_errors_and_it_keeps_serving() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    rotate_key_file(&keys).unwrap();
    let socket = dir.path().join("kms.sock");
    let plugin = Plugin::new(
        Arc::new(LocalBackend::open(&keys).unwrap()),
        Duration::from_secs(10),
        Duration::from_secs(1),
    );
    let _server = Server::start(socket.clone(), plugin.clone());
    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = PyClient::start(&socket, &stubs) else {
        return;
    };

    let r = c.call(json!({"op": "method", "path": "/v2.KeyManagementService/Rotate"}));
    assert_eq!(r["code"], "UNIMPLEMENTED", "{r}");
    assert!(
        r["details"]
            .as_str()
            .unwrap()
            .contains("unknown method /v2.KeyManagementService/Rotate"),
        "{r}"
    );
    // A compressed request (4000 zero bytes compress well, so grpcio does compress).
    let r = c.call(json!({"op": "encrypt", "plaintext": B64.encode([0u8; 4000]), "gzip": true}));
    assert_eq!(r["code"], "UNIMPLEMENTED", "{r}");
    assert!(r["details"].as_str().unwrap().contains("compressed"), "{r}");
    // Far past any valid request: refused before it is buffered or decoded.
    let r = c.call(json!({"op": "encrypt", "plaintext": B64.encode(vec![7u8; 300 << 10])}));
    assert_eq!(r["code"], "RESOURCE_EXHAUSTED", "{r}");
    assert!(
        r["details"].as_str().unwrap().contains("larger than"),
        "{r}"
    );
    // The generic path works too: an empty message is a valid StatusRequest.
    let r = c.call(json!({"op": "method", "path": "/v2.KeyManagementService/Status"}));
    assert_eq!(r["ok"], true, "an empty StatusRequest is valid: {r}");

    let Some(curl_bin) = ksec_testkit::peer("curl") else {
        return;
    };
    let url = "http://localhost/v2.KeyManagementService/Status";
    let (code, _) = curl(&curl_bin, &socket, &[url], dir.path());
    assert_eq!(code, "405", "GET is not a gRPC call");
    let (code, _) = curl(
        &curl_bin,
        &socket,
        &["-H", "content-type: text/plain", "--data-binary", "x", url],
        dir.path(),
    );
    assert_eq!(code, "415", "only application/grpc");
    // A gRPC body cut inside its 5-byte prefix: a Trailers-Only answer, INTERNAL (13).
    let body = dir.path().join("short");
    std::fs::write(&body, [0u8, 0, 0]).unwrap();
    let data = format!("@{}", body.display());
    let (code, headers) = curl(
        &curl_bin,
        &socket,
        &[
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "--data-binary",
            &data,
            url,
        ],
        dir.path(),
    );
    assert_eq!(code, "200", "{headers}");
    assert!(headers.contains("grpc-status: 13"), "{headers}");
    assert!(
        headers.contains("grpc-message: the request body is 3 bytes"),
        "{headers}"
    );

    // Through all of that the plugin kept serving.
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["healthz"], "ok", "{st}");
    let metrics = plugin.metrics().render();
    assert!(
        metrics.contains(r#"operation="encrypt",backend="local",code="Unimplemented"} 1"#),
        "{metrics}"
    );
}

#[test]
fn deadlines_are_kept_and_shutdown_lets_calls_in_flight_finish() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    rotate_key_file(&keys).unwrap();
    let socket = dir.path().join("kms.sock");
    let plugin = Plugin::new(
        slow(&keys, Duration::from_millis(600)),
        Duration::from_secs(10),
        Duration::from_secs(1),
    );
    let mut server = Server::start(socket.clone(), plugin.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ch = ksec_kms::connect(&socket).await.unwrap();
        let mut c = KeyManagementServiceClient::new(ch);
        // tonic sends grpc-timeout; the plugin stops the call at the deadline
        // and counts it (the client alone would give up without the server noticing).
        let mut req = tonic::Request::new(EncryptRequest {
            plaintext: vec![1; 32],
            uid: "deadline".into(),
        });
        req.set_timeout(Duration::from_millis(100));
        let e = c.encrypt(req).await.unwrap_err();
        // tonic's client also keeps the deadline itself and may report it as Cancelled.
        assert!(
            matches!(
                e.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ),
            "{e:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let metrics = plugin.metrics().render();
        assert!(
            metrics.contains(r#"operation="encrypt",backend="slow",code="DeadlineExceeded"} 1"#),
            "{metrics}"
        );

        // A call in flight when shutdown begins still gets its answer.
        let mut c2 = c.clone();
        let inflight = tokio::spawn(async move {
            c2.encrypt(EncryptRequest {
                plaintext: vec![2; 32],
                uid: "in-flight".into(),
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.begin_shutdown();
        let answer = inflight
            .await
            .unwrap()
            .expect("the call in flight was answered");
        assert!(!answer.into_inner().ciphertext.is_empty());
    });
    let t = Instant::now();
    server.join();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}
