//! Encrypt/Decrypt latency (p50, p99) and throughput of the plugin over its unix
//! socket at 1, 16, 64 and 128 concurrent callers (one HTTP/2 connection, as
//! kube-apiserver uses), with the local backend next to one AES-256-GCM operation
//! (the floor), and with OpenBao Transit next to a direct call to OpenBao.
//! The plugin runs on its own thread and runtime (as in `ksec kms serve`), the
//! callers (tonic's client) on one other thread. Closed loop: each caller sends its
//! next call when the last one returns, so p50 is at least callers / throughput.
//! Not a test: `scripts/bench-kms` (`KSEC_BENCH_KMS_LOCAL_ONLY=1` skips OpenBao).
#![allow(clippy::unwrap_used)]
use base64::Engine;
use ksec_keys::local::{rotate_key_file, LocalBackend};
use ksec_keys::vault::{VaultAuth, VaultBackend, VaultConfig};
use ksec_keys::KeyBackend;
use ksec_kms::proto::v2::key_management_service_client::KeyManagementServiceClient;
use ksec_kms::proto::v2::{DecryptRequest, EncryptRequest};
use ksec_kms::Plugin;
use ksec_testkit::bench::Stats;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

async fn measure<F, Fut>(callers: usize, total: usize, op: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    ksec_testkit::bench::measure(callers, (total / callers).max(1), 20, op).await
}

fn print(name: &str, callers: usize, s: &Stats, base: Option<(&str, &Stats)>) {
    let mut line = format!(
        "{name:<24} c={callers:<4} p50 {:>9.1?} p99 {:>9.1?} {:>8.0}/s",
        s.p50, s.p99, s.per_sec
    );
    if let Some((bn, b)) = base {
        line.push_str(&format!(
            " | {bn} p50 {:>9.1?} p99 {:>9.1?} | p50 ratio {:.1}",
            b.p50,
            b.p99,
            s.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-12)
        ));
    }
    println!("{line}");
}

/// A request with the 3 s deadline kube-apiserver puts on every KMS call (sent as
/// `grpc-timeout`; the plugin arms a timer for it).
fn deadline<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(Duration::from_secs(3));
    r
}

async fn start_plugin(dir: &Path, backend: Arc<dyn KeyBackend>) -> Channel {
    let socket = dir.join("kms.sock");
    let plugin = Plugin::new(backend, Duration::from_secs(20), Duration::from_secs(2));
    let s = socket.clone();
    // The plugin runs as `ksec kms serve` does, on its own runtime and thread: the
    // apiserver and the plugin are separate processes.
    let _plugin_thread = std::thread::Builder::new()
        .name("plugin".into())
        .spawn(move || {
            ksec_kms::runtime()
                .unwrap()
                .block_on(ksec_kms::serve(&s, plugin, std::future::pending()))
                .unwrap()
        });
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ksec_kms::connect(&socket).await.unwrap()
}

async fn plugin_rows(
    name: &str,
    ch: Channel,
    totals: [usize; 4],
    base: Option<(&str, Vec<Stats>)>,
) {
    let seed = vec![7u8; 32];
    let mut c = KeyManagementServiceClient::new(ch.clone());
    let enc = c
        .encrypt(EncryptRequest {
            plaintext: seed.clone(),
            uid: "b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    for (i, callers) in [1usize, 16, 64, 128].into_iter().enumerate() {
        let (ch2, seed2) = (ch.clone(), seed.clone());
        let e = measure(callers, totals[i], move || {
            let mut c = KeyManagementServiceClient::new(ch2.clone());
            let seed = seed2.clone();
            async move {
                c.encrypt(deadline(EncryptRequest {
                    plaintext: seed,
                    uid: "b".into(),
                }))
                .await
                .unwrap();
            }
        })
        .await;
        let (ch3, enc3) = (ch.clone(), enc.clone());
        let d = measure(callers, totals[i], move || {
            let mut c = KeyManagementServiceClient::new(ch3.clone());
            let enc = enc3.clone();
            async move {
                c.decrypt(deadline(DecryptRequest {
                    ciphertext: enc.ciphertext,
                    uid: "b".into(),
                    key_id: enc.key_id,
                    annotations: Default::default(),
                }))
                .await
                .unwrap();
            }
        })
        .await;
        let b = base.as_ref().map(|(n, v)| (*n, &v[i]));
        print(&format!("{name} Encrypt"), callers, &e, b);
        print(&format!("{name} Decrypt"), callers, &d, b);
    }
}

async fn local() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    rotate_key_file(&keys).unwrap();
    let ch = start_plugin(dir.path(), Arc::new(LocalBackend::open(&keys).unwrap())).await;
    let key = ksec_crypto::rand::secret(32).unwrap();
    let totals = [20_000, 32_000, 64_000, 64_000];
    let mut floor = Vec::new();
    for (i, callers) in [1usize, 16, 64, 128].into_iter().enumerate() {
        let key = key.clone();
        floor.push(
            measure(callers, totals[i], move || {
                let key = key.clone();
                async move {
                    let nonce = ksec_crypto::rand::array::<12>().unwrap();
                    std::hint::black_box(
                        ksec_crypto::aead::seal(key.expose(), &nonce, b"", &[7u8; 32]).unwrap(),
                    );
                }
            })
            .await,
        );
    }
    plugin_rows("local", ch, totals, Some(("one AES-GCM", floor.clone()))).await;
    lean_rows(&dir.path().join("kms.sock"), totals, &floor).await;
    go_rows(&dir.path().join("kms.sock"), totals);
}

/// A lean gRPC caller straight on `h2`: pre-encoded request, one HTTP/2 connection,
/// the apiserver's 3 s `grpc-timeout`; checks `grpc-status: 0` and decodes each
/// answer. It costs the client side a few µs per call (tonic's client and grpc-go's
/// cost more than the plugin does), so these rows show what the plugin itself
/// sustains when the caller is not the bottleneck.
async fn lean_rows(socket: &Path, totals: [usize; 4], floor: &[Stats]) {
    use ksec_kms::proto::v2::{DecryptResponse, EncryptResponse};
    use prost::Message;
    let io = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    async fn unary(
        send: h2::client::SendRequest<bytes::Bytes>,
        path: &str,
        body: bytes::Bytes,
    ) -> Vec<u8> {
        let mut send = send.ready().await.unwrap();
        let req = http::Request::post(format!("http://localhost{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", "3S")
            .body(())
            .unwrap();
        let (resp, mut out) = send.send_request(req, false).unwrap();
        out.send_data(body, true).unwrap();
        let mut recv = resp.await.unwrap().into_body();
        let mut data = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.unwrap();
            let _ = recv.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = recv.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0", "{trailers:?}");
        ksec_kms::internal::grpc::unary_message(&data)
            .unwrap()
            .to_vec()
    }
    let enc_body = bytes::Bytes::from(ksec_kms::internal::grpc::encode(&EncryptRequest {
        plaintext: vec![7u8; 32],
        uid: "b".into(),
    }));
    let enc = EncryptResponse::decode(
        &unary(
            send.clone(),
            "/v2.KeyManagementService/Encrypt",
            enc_body.clone(),
        )
        .await[..],
    )
    .unwrap();
    let dec_body = bytes::Bytes::from(ksec_kms::internal::grpc::encode(&DecryptRequest {
        ciphertext: enc.ciphertext.clone(),
        uid: "b".into(),
        key_id: enc.key_id.clone(),
        annotations: Default::default(),
    }));
    for (i, callers) in [1usize, 16, 64, 128].into_iter().enumerate() {
        let (s, b) = (send.clone(), enc_body.clone());
        let e = measure(callers, totals[i], move || {
            let (s, b) = (s.clone(), b.clone());
            async move {
                let m = unary(s, "/v2.KeyManagementService/Encrypt", b).await;
                assert!(!EncryptResponse::decode(&m[..])
                    .unwrap()
                    .ciphertext
                    .is_empty());
            }
        })
        .await;
        let (s, b) = (send.clone(), dec_body.clone());
        let d = measure(callers, totals[i], move || {
            let (s, b) = (s.clone(), b.clone());
            async move {
                let m = unary(s, "/v2.KeyManagementService/Decrypt", b).await;
                assert_eq!(
                    DecryptResponse::decode(&m[..]).unwrap().plaintext,
                    [7u8; 32]
                );
            }
        })
        .await;
        print(
            "local Encrypt (h2)",
            callers,
            &e,
            Some(("one AES-GCM", &floor[i])),
        );
        print(
            "local Decrypt (h2)",
            callers,
            &d,
            Some(("one AES-GCM", &floor[i])),
        );
    }
}

/// The local rows measured with grpc-go, kube-apiserver's gRPC implementation: the
/// Go client (`tests/kms_client_go`, built by `scripts/bench-kms`, path in
/// `KSEC_GO_KMS_CLIENT`) in `bench` mode, one process and one connection per row,
/// against this plugin's socket and against the same program's `serve` mode (KMS v2
/// on grpc-go's server, as plugins built on k8s.io/kms are, one AES-256-GCM per
/// call): p50 ratio = ksec / grpc-go server. GOMAXPROCS=1 unless set, for the
/// clients (one core, as tonic's callers above) and the Go server (one core, as the
/// plugin's one-thread runtime).
fn go_rows(socket: &Path, totals: [usize; 4]) {
    let Some(bin) = std::env::var_os("KSEC_GO_KMS_CLIENT") else {
        return println!(
            "local (grpc-go): SKIPPED (KSEC_GO_KMS_CLIENT not set; scripts/bench-kms sets it)"
        );
    };
    let procs = std::env::var("GOMAXPROCS").unwrap_or_else(|_| "1".into());
    let deadline = std::env::var("KSEC_GO_KMS_TIMEOUT").unwrap_or_else(|_| "3s".into());
    println!(
        "grpc-go client and baseline server ({}), GOMAXPROCS={procs}, per-call deadline {deadline} (KSEC_GO_KMS_TIMEOUT; the apiserver's default is 3s)",
        bin.to_string_lossy()
    );
    let go_socket = socket.with_file_name("grpc-go-server.sock");
    let _go_server = ksec_testkit::ChildGuard::spawn(
        "grpc-go baseline server",
        std::process::Command::new(&bin)
            .env("GOMAXPROCS", &procs)
            .arg("serve")
            .arg(&go_socket)
            .stdout(std::process::Stdio::null()),
    )
    .expect("start the grpc-go baseline server");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&go_socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the grpc-go baseline server never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = |sock: &Path, callers: usize, total: usize, op: &str| {
        let o = std::process::Command::new(&bin)
            .env("GOMAXPROCS", &procs)
            .arg("bench")
            .arg(sock)
            .args([callers.to_string(), total.to_string(), op.to_string()])
            .output()
            .expect("run the grpc-go KMS client");
        assert!(
            o.status.success(),
            "grpc-go client: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let us = |k: &str| Duration::from_nanos((v[k].as_f64().unwrap() * 1e3) as u64);
        Stats {
            p50: us("p50_us"),
            p99: us("p99_us"),
            per_sec: v["per_sec"].as_f64().unwrap(),
        }
    };
    for (i, callers) in [1usize, 16, 64, 128].into_iter().enumerate() {
        for (op, name) in [("encrypt", "Encrypt"), ("decrypt", "Decrypt")] {
            let ours = run(socket, callers, totals[i], op);
            let theirs = run(&go_socket, callers, totals[i], op);
            print(
                &format!("local {name} (grpc-go)"),
                callers,
                &ours,
                Some(("grpc-go server", &theirs)),
            );
        }
    }
}

async fn vault() {
    let Some(bin) = ksec_testkit::which("bao") else {
        return println!("vault: SKIPPED (no bao)");
    };
    let bao = ksec_testkit::openbao::OpenBao::start_with(bin);
    let addr = bao.addr.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t"), "root").unwrap();
    let mut cfg = VaultConfig::new(&addr, "ksec");
    cfg.auth = VaultAuth::Token {
        token_file: Some(dir.path().join("t")),
        token_env: None,
    };
    let ch = start_plugin(
        dir.path(),
        Arc::new(VaultBackend::connect(&cfg).await.unwrap()),
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{addr}/v1/transit/encrypt/ksec");
    let body = format!(
        r#"{{"plaintext":"{}"}}"#,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    let totals = [500, 800, 1280, 1280];
    let mut direct = Vec::new();
    for (i, callers) in [1usize, 16, 64, 128].into_iter().enumerate() {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        direct.push(
            measure(callers, totals[i], move || {
                let (http, url, body) = (http.clone(), url.clone(), body.clone());
                async move {
                    let r = http
                        .post(url)
                        .header("X-Vault-Token", "root")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap();
                }
            })
            .await,
        );
    }
    plugin_rows(
        "vault",
        ch,
        totals,
        Some(("direct OpenBao encrypt", direct)),
    )
    .await;
}

fn main() {
    // The callers share one thread, so on a 2-core machine the plugin and the
    // callers get a core each (with a second worker here the callers would take
    // CPU from the plugin they measure).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("ksec kms plugin over its unix socket (p50 ratio = plugin / baseline)");
        local().await;
        if std::env::var_os("KSEC_BENCH_KMS_LOCAL_ONLY").is_none() {
            vault().await;
        }
    });
}
