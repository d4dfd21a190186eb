//! The plugin on OpenBao Transit while OpenBao goes away and comes back.
use super::plugin::{PyClient, Server};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ksec_keys::vault::{VaultAuth, VaultBackend, VaultConfig};
use ksec_keys::RetryPolicy;
use ksec_kms::Plugin;
use ksec_testkit::ChildGuard;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn start_bao(bin: &Path, port: u16) -> ChildGuard {
    ksec_testkit::openbao::OpenBao::start_on(bin.to_path_buf(), port).guard
}

#[test]
fn vault_outage_turns_status_unhealthy_and_the_plugin_recovers() {
    let Some(bin) = ksec_testkit::peer("bao") else {
        return;
    };
    let port = ksec_testkit::free_port();
    let mut bao = start_bao(&bin, port);
    let dir = ksec_testkit::tempdir();
    let token: PathBuf = dir.path().join("token");
    std::fs::write(&token, "root").unwrap();
    let mut cfg = VaultConfig::new(format!("http://127.0.0.1:{port}"), "ksec");
    cfg.auth = VaultAuth::Token {
        token_file: Some(token),
        token_env: None,
    };
    cfg.retry = Some(RetryPolicy {
        timeout: Duration::from_millis(500),
        attempts: 2,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    });
    let backend = Arc::new(VaultBackend::new(&cfg).unwrap());
    let plugin = Plugin::new(backend, Duration::from_secs(30), Duration::from_millis(200));
    let socket = dir.path().join("kms.sock");
    let _server = Server::start(socket.clone(), plugin);
    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = PyClient::start(&socket, &stubs) else {
        return;
    };

    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["healthz"], "ok", "{st}");
    assert_eq!(st["key_id"], "vault:transit/ksec:v1");
    let seed = [9u8; 32];
    let enc = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    assert_eq!(enc["ok"], true, "{enc}");
    assert!(enc["ciphertext"].as_str().is_some());

    // OpenBao goes away: calls fail quickly with UNAVAILABLE, Status turns unhealthy
    // once the cached healthy result expires (here: 30 s, so it is still "ok" now).
    bao.stop();
    let t = Instant::now();
    let r = c.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    assert_eq!(r["code"], "UNAVAILABLE", "{r}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let r =
        c.call(json!({"op": "decrypt", "ciphertext": enc["ciphertext"], "key_id": enc["key_id"]}));
    assert_eq!(r["code"], "UNAVAILABLE", "{r}");
    drop(c);

    // A plugin whose cache has expired reports the outage in Status.
    let backend = Arc::new(VaultBackend::new(&cfg).unwrap());
    let plugin = Plugin::new(
        backend,
        Duration::from_millis(200),
        Duration::from_millis(200),
    );
    let socket2 = dir.path().join("kms2.sock");
    let _server2 = Server::start(socket2.clone(), plugin);
    let stubs2 = dir.path().join("stubs2");
    std::fs::create_dir(&stubs2).unwrap();
    let mut c2 = PyClient::start(&socket2, &stubs2).unwrap();
    let st = c2.call(json!({"op": "status"}));
    assert_eq!(st["ok"], true, "{st}");
    assert!(
        st["healthz"].as_str().unwrap().starts_with("unhealthy"),
        "{st}"
    );
    assert!(!st["key_id"].as_str().unwrap().is_empty());

    // OpenBao returns (a fresh dev server: a new key, so old data is gone for good):
    // Status recovers by itself and calls work again; the old ciphertext is refused
    // with an error, never answered with other bytes.
    let _bao2 = start_bao(&bin, port);
    let t = Instant::now();
    loop {
        let st = c2.call(json!({"op": "status"}));
        if st["healthz"] == "ok" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "never recovered: {st}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let enc2 = c2.call(json!({"op": "encrypt", "plaintext": B64.encode(seed)}));
    let dec2 = c2
        .call(json!({"op": "decrypt", "ciphertext": enc2["ciphertext"], "key_id": enc2["key_id"]}));
    assert_eq!(dec2["plaintext"], B64.encode(seed), "{dec2}");
    let old =
        c2.call(json!({"op": "decrypt", "ciphertext": enc["ciphertext"], "key_id": enc["key_id"]}));
    assert_eq!(old["ok"], false, "{old}");
}
