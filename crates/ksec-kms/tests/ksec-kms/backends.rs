//! The plugin on SoftHSM 2 and on moto (AWS KMS), driven by the grpcio client.
use super::plugin::{PyClient, Server};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::awskms::{AwsKmsBackend, AwsKmsConfig};
use ksec_keys::KeyBackend;
use ksec_kms::Plugin;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
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
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    let Some(util) = ksec_testkit::peer("softhsm2-util") else {
        return;
    };
    let Some(tool) = ksec_testkit::peer("pkcs11-tool") else {
        return;
    };
    let dir = ksec_testkit::tempdir();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    // This is the only test of this binary that loads SoftHSM.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ok = |c: &mut Command| {
        assert!(c
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap()
            .status
            .success())
    };
    ok(Command::new(util).args([
        "--init-token",
        "--free",
        "--label",
        "kms",
        "--pin",
        "1234",
        "--so-pin",
        "1234",
    ]));
    ok(Command::new(tool).args([
        "--module",
        MODULE,
        "--token-label",
        "kms",
        "--login",
        "--pin",
        "1234",
        "--keygen",
        "--key-type",
        "aes:32",
        "--label",
        "kek",
    ]));
    std::fs::write(dir.path().join("pin"), "1234\n").unwrap();
    let cfg = ksec_keys::Pkcs11Config {
        module: MODULE.into(),
        token_label: "kms".into(),
        key_label: "kek".into(),
        pin_file: Some(dir.path().join("pin")),
        pin_env: None,
        sessions: 2,
        retry: ksec_keys::RetryPolicy {
            attempts: 1,
            ..Default::default()
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = rt
        .block_on(ksec_keys::pkcs11::Pkcs11Backend::open(cfg))
        .unwrap();
    round_trips(Arc::new(b), dir.path());
}

#[test]
fn plugin_on_moto() {
    let Some(moto) = ksec_testkit::peer("moto_server") else {
        return;
    };
    let port = ksec_testkit::free_port();
    let _g = ksec_testkit::ChildGuard::spawn(
        "moto_server",
        Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    ksec_testkit::wait_for_port(port, Duration::from_secs(60));
    let endpoint = format!("http://127.0.0.1:{port}");
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
    // A raw HTTP/1.1 request: this crate's tests do not otherwise need an HTTP client.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = "{}";
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.CreateKey\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let json = out.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{out}: {e}"))
}
