//! `ksec kms serve` as kube-apiserver meets it: a unix socket driven by a gRPC
//! client that is not ours (Python grpcio stubs from the official proto), health
//! endpoints, SIGHUP reload after a key rotation, graceful shutdown.
use super::common;
use base64::Engine;
use ksec_keys::local::rotate_key_file;
use ksec_testkit::kms_client::PyKmsClient as Py;
use ksec_testkit::softhsm::{SoftHsm, MODULE};
use ksec_testkit::{signal, ChildGuard};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// GET `path` from 127.0.0.1:`port`: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let (code, body) = ksec_testkit::http_get(([127, 0, 0, 1], port).into(), path)
        .unwrap_or_else(|| panic!("nothing answers HTTP on port {port}"));
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn kms_serve_local_backend_reload_health_and_shutdown() {
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("keys");
    let id1 = rotate_key_file(&keys).unwrap();
    let socket = dir.path().join("kms.sock");
    let port = ksec_testkit::free_port();
    let mut server = ChildGuard::spawn(
        "ksec kms serve",
        Command::new(common::ksec_path())
            .args(["kms", "serve", "--backend", "local", "--key-file"])
            .arg(&keys)
            .arg("--socket")
            .arg(&socket)
            .args(["--health-addr", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let pid = server.id();
    server.wait_for_socket(&socket, Duration::from_secs(20));
    ksec_testkit::wait_for_port(port, Duration::from_secs(10));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = Py::start(&socket, &stubs) else {
        return;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let st = c.call(json!({"op": "status"}));
    assert_eq!(
        (st["version"].as_str(), st["healthz"].as_str()),
        (Some("v2"), Some("ok")),
        "{st}"
    );
    assert_eq!(st["key_id"], id1.as_str());
    let seed = [5u8; 32];
    let enc = c.call(json!({"op": "encrypt", "plaintext": b64.encode(seed)}));
    assert_eq!(enc["key_id"], id1.as_str(), "{enc}");

    let (code, body) = http_get(port, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert_eq!(http_get(port, "/livez").0, 200);
    let (_, metrics) = http_get(port, "/metrics");
    assert!(
        metrics.contains("ksec_kms_calls_total{api=\"v2\",operation=\"encrypt\",backend=\"local\",code=\"OK\"} 1"),
        "{metrics}"
    );

    // Rotate the key file and send SIGHUP: the new key id, no restart, old data readable.
    let id2 = rotate_key_file(&keys).unwrap();
    signal(pid, "-HUP");
    let t = Instant::now();
    loop {
        let st = c.call(json!({"op": "status"}));
        if st["key_id"] == id2.as_str() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no reload: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let dec =
        c.call(json!({"op": "decrypt", "ciphertext": enc["ciphertext"], "key_id": enc["key_id"]}));
    assert_eq!(dec["plaintext"], b64.encode(seed), "{dec}");

    // A broken key file is not loaded: the previous keys keep serving.
    std::fs::write(&keys, "not base64\n").unwrap();
    signal(pid, "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["key_id"], id2.as_str(), "{st}");
    assert_eq!(st["healthz"], "ok");

    // SIGTERM: a clean exit, the socket removed.
    drop(c);
    signal(pid, "-TERM");
    let status = server.wait_for_exit(Duration::from_secs(10));
    let mut err = String::new();
    server
        .take_stderr()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("reload failed"), "{err}");
    assert!(!socket.exists());
}

#[test]
fn kms_serve_explains_missing_settings() {
    let out = common::ksec()
        .args(["kms", "serve", "--socket", "/tmp/x.sock"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--backend"));
    let out = common::ksec()
        .args([
            "kms",
            "serve",
            "--backend",
            "vault",
            "--socket",
            "/tmp/x.sock",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--vault-transit-key"));
    let dir = ksec_testkit::tempdir();
    let cfg = dir.path().join("kms.yaml");
    std::fs::write(
        &cfg,
        "socket: /tmp/x.sock\nbackend:\n  local: {key_fil: /k}\n",
    )
    .unwrap();
    let out = common::ksec()
        .args(["kms", "serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kms.yaml") && err.contains("key_fil"), "{err}");
}

#[test]
fn kms_serve_reads_the_deploy_configmap_form() {
    // deploy/kms-plugin's ConfigMap holds a bare backend block; socket and health
    // address come from the flags.
    let dir = ksec_testkit::tempdir();
    let keys = dir.path().join("kms-keys");
    rotate_key_file(&keys).unwrap();
    let cfg = dir.path().join("kms.yaml");
    std::fs::write(
        &cfg,
        format!(
            "# One backend block\nlocal:\n  key_file: {}\n",
            keys.display()
        ),
    )
    .unwrap();
    let socket = dir.path().join("kms.sock");
    let port = ksec_testkit::free_port();
    let mut server = ChildGuard::spawn(
        "ksec kms serve",
        Command::new(common::ksec_path())
            .args(["kms", "serve", "--config"])
            .arg(&cfg)
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--health-addr=127.0.0.1:{port}"))
            .stderr(Stdio::null()),
    )
    .unwrap();
    ksec_testkit::wait_for_port(port, Duration::from_secs(20));
    let (code, body) = http_get(port, "/readyz");
    assert_eq!(code, 200, "{body}");
    assert!(socket.exists());
    signal(server.id(), "-TERM");
    server.wait_for_exit(Duration::from_secs(10));
}

/// Starts `ksec kms serve` with `args` and `envs`, waits for the socket.
fn serve(args: &[String], envs: &[(&str, String)], socket: &Path) -> ChildGuard {
    let mut cmd = Command::new(common::ksec_path());
    cmd.args(["kms", "serve", "--socket"])
        .arg(socket)
        .args(args)
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut server = ChildGuard::spawn("ksec kms serve", &mut cmd).unwrap();
    server.wait_for_socket(socket, Duration::from_secs(20));
    server
}

fn round_trip(c: &mut Py) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let st = c.call(json!({"op": "status"}));
    assert_eq!(st["healthz"], "ok", "{st}");
    let enc = c.call(json!({"op": "encrypt", "plaintext": b64.encode([3u8; 32])}));
    let dec =
        c.call(json!({"op": "decrypt", "ciphertext": enc["ciphertext"], "key_id": enc["key_id"]}));
    assert_eq!(dec["plaintext"], b64.encode([3u8; 32]), "{dec}");
    st["key_id"].as_str().unwrap().to_string()
}

#[test]
fn kms_serve_pkcs11_flags_with_the_pin_from_the_environment() {
    let Some(hsm) = SoftHsm::new("kms", "4321") else {
        return;
    };
    hsm.keygen("kek");
    let (dir, conf) = (hsm.dir(), &hsm.conf);
    let socket = dir.join("kms.sock");
    let args: Vec<String> = [
        "--backend",
        "pkcs11",
        "--pkcs11-module",
        MODULE,
        "--pkcs11-token-label",
        "kms",
        "--pkcs11-key-label",
        "kek",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The PIN travels in KSEC_PKCS11_PIN, never on the command line.
    let envs = [
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("KSEC_PKCS11_PIN", "4321".to_string()),
    ];
    let server = serve(&args, &envs, &socket);
    let stubs = dir.join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = Py::start(&socket, &stubs) else {
        return;
    };
    let id = round_trip(&mut c);
    assert!(id.starts_with("pkcs11:token=kms;object=kek;kcv="), "{id}");
    drop(server);

    // Without a PIN the command explains where the PIN comes from.
    let out = common::ksec()
        .args(["kms", "serve", "--socket"])
        .arg(dir.join("x.sock"))
        .args(&args)
        .env("SOFTHSM2_CONF", conf)
        .env_remove("KSEC_PKCS11_PIN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KSEC_PKCS11_PIN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kms_serve_vault_flags() {
    let Some(bao) = ksec_testkit::openbao::OpenBao::start() else {
        return;
    };
    // A mount and key of their own, as an apiserver's plugin would have.
    bao.cli(&["secrets", "enable", "-path=kms-transit", "transit"]);
    bao.cli(&["write", "-f", "kms-transit/keys/apiserver"]);
    let addr = bao.addr.clone();
    let dir = ksec_testkit::tempdir();
    let token = dir.path().join("token");
    std::fs::write(&token, "root\n").unwrap();
    let socket = dir.path().join("kms.sock");
    let args: Vec<String> = vec![
        "--backend".into(),
        "vault".into(),
        "--vault-addr".into(),
        addr.clone(),
        "--vault-transit-key".into(),
        "apiserver".into(),
        "--vault-transit-mount".into(),
        "kms-transit".into(),
        "--vault-token-file".into(),
        token.display().to_string(),
    ];
    let _server = serve(&args, &[], &socket);
    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    let Some(mut c) = Py::start(&socket, &stubs) else {
        return;
    };
    assert_eq!(round_trip(&mut c), "vault:kms-transit/apiserver:v1");
    bao.cli(&["write", "-f", "kms-transit/keys/apiserver/rotate"]);
    // The key id follows the rotation once the health cache refreshes or a wrap
    // reports the new version.
    let b64 = base64::engine::general_purpose::STANDARD;
    let enc = c.call(json!({"op": "encrypt", "plaintext": b64.encode([1u8; 32])}));
    assert_eq!(enc["key_id"], "vault:kms-transit/apiserver:v2", "{enc}");
}

#[test]
fn rotate_key_puts_a_new_key_on_top_with_private_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = ksec_testkit::tempdir();
    let file = dir.path().join("kms-keys");
    let first = common::stdout_of(
        common::ksec()
            .args(["kms", "rotate-key", "--key-file"])
            .arg(&file),
    );
    let second = common::stdout_of(
        common::ksec()
            .args(["kms", "rotate-key", "--key-file"])
            .arg(&file),
    );
    assert_ne!(first, second, "each rotation makes a new key id");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().filter(|l| !l.trim().is_empty()).count(), 2);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.lines().next().unwrap().trim())
        .unwrap();
    assert_eq!(key.len(), 32);
}
