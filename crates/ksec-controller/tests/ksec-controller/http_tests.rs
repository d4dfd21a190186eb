//! The HTTP endpoints and the metrics endpoint, as kubeseal and Prometheus use them.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ksec_controller::http::{metrics_router, router, HttpState, RateLimiter};
use ksec_controller::keyring::{KeyRing, RegisteredKey};
use ksec_controller::Metrics;
use ksec_seal::keys::SealingKey;
use serde_json::json;
use tower::ServiceExt;

use crate::harness::*;

fn state(rate: u32, burst: u32) -> Arc<HttpState> {
    let ring = KeyRing::new();
    let reg = |name: &str, key: &ksec_crypto::rsa::RsaPrivateKey, age: u64| RegisteredKey {
        name: name.into(),
        key: SealingKey {
            key: key.clone(),
            cert: Some(cert_aged(key, Duration::from_secs(age))),
            source: name.into(),
        },
        ordering_time: std::time::SystemTime::now() - Duration::from_secs(age),
        fingerprint: key.public_key().ssh_fingerprint(),
    };
    // B is the newest.
    ring.replace(
        vec![reg("a", key_a(), 86400), reg("b", key_b(), 10)],
        vec![],
    );
    Arc::new(HttpState {
        keys: Arc::new(ring),
        metrics: Arc::new(Metrics::new("test")),
        limiter: RateLimiter::new(rate, burst),
    })
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Vec<u8>,
    xff: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if !xff.is_empty() {
        req = req.header("x-forwarded-for", xff);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn healthz_cert_verify_rotate_and_metrics() {
    let st = state(100, 100);
    let app = router(st.clone());
    assert_eq!(
        call(&app, "GET", "/healthz", vec![], "").await,
        (StatusCode::OK, "ok\n".into())
    );

    let (code, pem) = call(&app, "GET", "/v1/cert.pem", vec![], "").await;
    assert_eq!(code, StatusCode::OK);
    let cert = ksec_crypto::x509::Certificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(
        cert.rsa_public_key().unwrap().spki_der(),
        key_b().public_key().spki_der(),
        "not the newest key"
    );

    let good = sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({})));
    let body = serde_json::to_vec(&good).unwrap();
    assert_eq!(
        call(&app, "POST", "/v1/verify", body.clone(), "").await.0,
        StatusCode::OK
    );
    let mut moved = good.clone();
    moved["metadata"]["name"] = json!("renamed");
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/verify",
            serde_json::to_vec(&moved).unwrap(),
            ""
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (code, msg) = call(
        &app,
        "POST",
        "/v1/verify",
        b"kind: ConfigMap\n".to_vec(),
        "",
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(msg.contains("not a SealedSecret"), "{msg}");
    let two = format!(
        "---\n{}\n---\n{}\n",
        serde_json::to_string(&good).unwrap(),
        serde_json::to_string(&good).unwrap()
    );
    let (code, msg) = call(&app, "POST", "/v1/verify", two.into_bytes(), "").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(msg.contains("exactly one"), "{msg}");

    // Rotate: re-sealed with the newest key (B), same values, template kept.
    let mut with_tpl = good.clone();
    with_tpl["spec"]["template"]["data"] = json!({"url": "x://{{ .a }}"});
    let (code, out) = call(
        &app,
        "POST",
        "/v1/rotate",
        serde_json::to_vec(&with_tpl).unwrap(),
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{out}");
    let rotated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_ne!(
        rotated["spec"]["encryptedData"]["a"],
        good["spec"]["encryptedData"]["a"]
    );
    assert_eq!(rotated["spec"]["template"]["data"]["url"], "x://{{ .a }}");
    let ss = ksec_seal::SealedSecret::from_value(&rotated).unwrap();
    let opened = ksec_seal::unseal(&ss, &[key_b()]).expect("opens with the newest key alone");
    assert_eq!(opened.secret.data["url"].expose(), b"x://1");
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/rotate",
            serde_json::to_vec(&moved).unwrap(),
            ""
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    let text = st.metrics.render();
    assert!(text.contains("sealed_secrets_controller_http_requests_total{path=\"/v1/verify\",code=\"200\",method=\"post\"} 1"), "{text}");
    assert!(text.contains("sealed_secrets_controller_http_requests_total{path=\"/v1/verify\",code=\"409\",method=\"post\"} 1"), "{text}");
    assert!(text.contains("sealed_secrets_controller_http_request_duration_seconds_count{path=\"/v1/cert.pem\",method=\"get\"} 1"), "{text}");

    let (code, metrics) = call(
        &metrics_router(st.metrics.clone()),
        "GET",
        "/metrics",
        vec![],
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(metrics.contains("sealed_secrets_controller_build_info{revision=\"test\"} 1"));
}

#[tokio::test]
async fn verify_and_rotate_are_rate_limited_per_client() {
    let st = state(1, 2);
    let app = router(st);
    let body = serde_json::to_vec(
        &json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "n", "namespace": "ns"}, "spec": {"encryptedData": {}}}),
    )
    .unwrap();
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(
            call(&app, "POST", "/v1/verify", body.clone(), "10.0.0.1")
                .await
                .0,
        );
    }
    // rate 1/s with burst 2: three pass at once, then 429.
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{codes:?}"
    );
    // Another client, and another path, have their own budget; cert.pem is not limited.
    assert_ne!(
        call(&app, "POST", "/v1/verify", body.clone(), "10.0.0.2")
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        call(&app, "POST", "/v1/rotate", body.clone(), "10.0.0.1")
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(
            call(&app, "GET", "/v1/cert.pem", vec![], "10.0.0.1")
                .await
                .0,
            StatusCode::OK
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_ne!(
        call(&app, "POST", "/v1/verify", body, "10.0.0.1").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_on_real_sockets() {
    let fake = cluster_with_key_a();
    let port = ksec_testkit::free_port();
    let mport = ksec_testkit::free_port();
    let cfg = ksec_controller::Config {
        listen_addr: ([127, 0, 0, 1], port).into(),
        listen_metrics_addr: ([127, 0, 0, 1], mport).into(),
        ..test_config("r1")
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let client = fake.client();
    let task = tokio::spawn(ksec_controller::run(client, cfg, async move {
        let _ = rx.await;
    }));
    let get = |p: u16, path: &'static str| async move {
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                s.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing listens on {p}");
    };
    let cert = get(port, "/v1/cert.pem").await;
    assert!(cert.starts_with("HTTP/1.1 200"), "{cert}");
    assert!(cert.contains("-----BEGIN CERTIFICATE-----"));
    let metrics = get(mport, "/metrics").await;
    assert!(
        metrics.contains("sealed_secrets_controller_build_info"),
        "{metrics}"
    );
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
