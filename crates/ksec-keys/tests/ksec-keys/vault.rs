//! Vault Transit against a real OpenBao dev server.
use super::common;
use ksec_keys::vault::{VaultAuth, VaultBackend, VaultConfig};
use ksec_keys::{KeyBackend, KeyError, WrapContext, WrappedKey};
use ksec_testkit::ChildGuard;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Bao = ksec_testkit::openbao::OpenBao;

/// A Vault config for the dev server's `ksec` key with a token from `token_file`.
fn config(bao: &Bao, token_file: PathBuf) -> VaultConfig {
    let mut c = VaultConfig::new(&bao.addr, "ksec");
    c.auth = VaultAuth::Token {
        token_file: Some(token_file),
        token_env: None,
    };
    c.retry = Some(common::fast_retry());
    c
}

fn token_file(dir: &tempfile::TempDir, name: &str, token: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{token}\n")).unwrap();
    p
}

const POLICY: &str = r#"
path "transit/keys/ksec" { capabilities = ["read"] }
path "transit/encrypt/ksec" { capabilities = ["update"] }
path "transit/decrypt/ksec" { capabilities = ["update"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_round_trip_rotation_and_interop() {
    let Some(bao) = Bao::start() else { return };
    let dir = ksec_testkit::tempdir();
    let b = VaultBackend::connect(&config(&bao, token_file(&dir, "t", "root")))
        .await
        .unwrap();
    assert_eq!(b.key_id().as_str(), "vault:transit/ksec:v1");
    let ctx = WrapContext::new().with("ns", "default");
    let dek = common::marked_dek();
    let w1 = b.wrap(&dek, &ctx).await.unwrap();
    let ct1 = String::from_utf8(w1.ciphertext.clone()).unwrap();
    assert!(ct1.starts_with("vault:v1:"), "{ct1}");
    assert_eq!(b.unwrap(&w1, &ctx).await.unwrap(), dek);

    // The real CLI decrypts what we wrapped (associated data = the context's AAD).
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = bao.cli(&[
        "write",
        "-field=plaintext",
        "transit/decrypt/ksec",
        &format!("ciphertext={ct1}"),
        &format!("associated_data={}", b64.encode(ctx.aad())),
    ]);
    assert_eq!(b64.decode(plain).unwrap(), dek.expose());

    // Rotation: the key id follows the latest version; v1 ciphertexts still unwrap.
    bao.cli(&["write", "-f", "transit/keys/ksec/rotate"]);
    let h = b.health().await.unwrap();
    assert_eq!(h.key_id.as_str(), "vault:transit/ksec:v2");
    assert_eq!(b.key_id().as_str(), "vault:transit/ksec:v2");
    let w2 = b.wrap(&dek, &ctx).await.unwrap();
    assert!(w2.ciphertext.starts_with(b"vault:v2:"));
    assert_eq!(w2.key_id.as_str(), "vault:transit/ksec:v2");
    assert_eq!(b.unwrap(&w1, &ctx).await.unwrap(), dek);
    assert_eq!(b.unwrap(&w2, &ctx).await.unwrap(), dek);

    // A ciphertext the CLI made with the older version unwraps too.
    let cli_ct = bao.cli(&[
        "write",
        "-field=ciphertext",
        "transit/encrypt/ksec",
        "key_version=1",
        &format!("plaintext={}", b64.encode(dek.expose())),
        &format!("associated_data={}", b64.encode(ctx.aad())),
    ]);
    assert!(cli_ct.starts_with("vault:v1:"));
    let from_cli = WrappedKey {
        key_id: b.key_id(),
        ciphertext: cli_ct.into_bytes(),
    };
    assert_eq!(b.unwrap(&from_cli, &ctx).await.unwrap(), dek);

    // Another context, a tampered ciphertext, garbage: typed errors without the key.
    let e = b
        .unwrap(&w2, &WrapContext::new().with("ns", "other"))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    let mut t = w2.clone();
    let n = t.ciphertext.len();
    t.ciphertext[n - 3] = if t.ciphertext[n - 3] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let e = b.unwrap(&t, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    let e = b
        .unwrap(
            &WrappedKey {
                key_id: b.key_id(),
                ciphertext: b"junk".to_vec(),
            },
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains("SECRET-DEK"));

    // Raising min_decryption_version makes v1 unreadable: a clear refusal.
    bao.cli(&[
        "write",
        "transit/keys/ksec/config",
        "min_decryption_version=2",
    ]);
    let e = b.unwrap(&w1, &ctx).await.unwrap_err();
    assert!(matches!(e, KeyError::Unwrap { .. }), "{e}");

    let mut patient = config(&bao, token_file(&dir, "patient", "root"));
    patient.retry = Some(common::patient_retry());
    let b = VaultBackend::connect(&patient).await.unwrap();
    common::concurrent_round_trips(Arc::new(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_credentials_missing_key_and_outage() {
    let Some(mut bao) = Bao::start() else { return };
    let dir = ksec_testkit::tempdir();

    let e = VaultBackend::connect(&config(&bao, token_file(&dir, "bad", "s.not-a-real-token")))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Auth { .. }), "{e}");
    assert!(!e.to_string().contains("not-a-real-token"), "{e}");

    let mut c = config(&bao, token_file(&dir, "t", "root"));
    c.key = "nope".into();
    let e = VaultBackend::connect(&c).await.unwrap_err();
    assert!(
        matches!(e, KeyError::Key { .. }) && e.to_string().contains("write -f transit/keys/nope"),
        "{e}"
    );

    // A token whose policy lacks transit: refused, not retried.
    let weak = bao.cli(&["token", "create", "-field=token", "-policy=default"]);
    let e = VaultBackend::connect(&config(&bao, token_file(&dir, "weak", &weak)))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Auth { .. }), "{e}");

    // The peer goes away mid-run: calls fail fast with a transient error; no hang.
    let b = VaultBackend::connect(&config(&bao, token_file(&dir, "t", "root")))
        .await
        .unwrap();
    let ctx = WrapContext::new();
    let w = b.wrap(&common::marked_dek(), &ctx).await.unwrap();
    bao.guard.stop();
    let start = Instant::now();
    let e = b.unwrap(&w, &ctx).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, KeyError::Unavailable { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(b.health().await.is_err());
}

/// A Transit key that exists only inside an OpenBao namespace (OpenBao 2.3+): found
/// through `namespace:` (the `X-Vault-Namespace` header on the token lookup and on
/// every Transit call), named in the key id, and not found without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_key_inside_a_namespace() {
    let Some(bao) = Bao::start() else { return };
    bao.transit_in_namespace("team", "team-transit", "nskey");
    let dir = ksec_testkit::tempdir();
    let mut c = config(&bao, token_file(&dir, "t", "root"));
    c.mount = "team-transit".into();
    c.key = "nskey".into();
    c.namespace = Some("team".into());
    let b = VaultBackend::connect(&c).await.unwrap();
    assert_eq!(b.key_id().as_str(), "vault:team/team-transit/nskey:v1");
    let ctx = WrapContext::new().with("ns", "default");
    let dek = common::marked_dek();
    let w = b.wrap(&dek, &ctx).await.unwrap();
    assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), dek);
    // The real CLI, in the namespace, reads what was wrapped there.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = bao.cli(&[
        "write",
        "-namespace=team",
        "-field=plaintext",
        "team-transit/decrypt/nskey",
        &format!(
            "ciphertext={}",
            String::from_utf8(w.ciphertext.clone()).unwrap()
        ),
        &format!("associated_data={}", b64.encode(ctx.aad())),
    ]);
    assert_eq!(b64.decode(plain).unwrap(), dek.expose());
    // Outside the namespace (the root one, or another) the mount does not exist.
    for ns in [None, Some("other".to_string())] {
        c.namespace = ns;
        if c.namespace.is_none() && std::env::var_os("VAULT_NAMESPACE").is_some() {
            continue; // the environment's namespace would be used
        }
        assert!(VaultBackend::connect(&c).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_approle_login_and_token_renewal() {
    let Some(bao) = Bao::start() else { return };
    let dir = ksec_testkit::tempdir();
    let policy = dir.path().join("policy.hcl");
    std::fs::write(&policy, POLICY).unwrap();
    bao.cli(&["policy", "write", "ksec", policy.to_str().unwrap()]);

    // A renewable token that lives 3 s: used for 6 s, it must be renewed in time.
    let short = bao.cli(&[
        "token",
        "create",
        "-field=token",
        "-policy=ksec",
        "-ttl=3s",
        "-explicit-max-ttl=60s",
    ]);
    let b = VaultBackend::connect(&config(&bao, token_file(&dir, "short", &short)))
        .await
        .unwrap();
    let ctx = WrapContext::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        let w = b
            .wrap(&common::marked_dek(), &ctx)
            .await
            .expect("wrap after renewal");
        assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), common::marked_dek());
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // AppRole: role id + secret id from a file; short tokens are re-issued by login.
    bao.cli(&["auth", "enable", "approle"]);
    bao.cli(&[
        "write",
        "auth/approle/role/ksec",
        "token_policies=ksec",
        "token_ttl=2s",
        "token_max_ttl=2s",
    ]);
    let role_id = bao.cli(&["read", "-field=role_id", "auth/approle/role/ksec/role-id"]);
    let secret_id = bao.cli(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/ksec/secret-id",
    ]);
    let mut c = VaultConfig::new(&bao.addr, "ksec");
    c.retry = Some(common::fast_retry());
    c.auth = VaultAuth::Approle {
        mount: "approle".into(),
        role_id: role_id.clone(),
        secret_id_file: Some(token_file(&dir, "sid", &secret_id)),
        secret_id_env: None,
    };
    let b = VaultBackend::connect(&c).await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let w = b
            .wrap(&common::marked_dek(), &ctx)
            .await
            .expect("wrap with approle");
        assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), common::marked_dek());
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    // A wrong secret id is an authentication error naming the login path.
    c.auth = VaultAuth::Approle {
        mount: "approle".into(),
        role_id,
        secret_id_file: Some(token_file(
            &dir,
            "bad-sid",
            "00000000-0000-0000-0000-000000000000",
        )),
        secret_id_env: None,
    };
    let e = VaultBackend::connect(&c).await.unwrap_err();
    assert!(
        matches!(e, KeyError::Auth { .. }) && e.to_string().contains("auth/approle/login"),
        "{e}"
    );
}

#[tokio::test]
async fn a_silent_vault_times_out() {
    let silent = common::Silent::start();
    let mut c = VaultConfig::new(format!("http://127.0.0.1:{}", silent.port), "ksec");
    c.auth = VaultAuth::Token {
        token_file: None,
        token_env: Some("KSEC_TEST_UNUSED".into()),
    };
    std::env::set_var("KSEC_TEST_UNUSED", "root");
    c.retry = Some(common::fast_retry());
    let b = VaultBackend::new(&c).unwrap();
    let start = Instant::now();
    let e = b
        .wrap(&common::marked_dek(), &WrapContext::new())
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Timeout { .. }), "{e}");
    // 2 attempts × 400 ms + backoff: well under 3 s.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_over_tls_with_a_custom_ca() {
    let Some(bin) = ksec_testkit::peer("bao") else {
        return;
    };
    let dir = ksec_testkit::tempdir();
    let certs = dir.path().join("tls");
    std::fs::create_dir(&certs).unwrap();
    let port = ksec_testkit::free_port();
    let _guard = ChildGuard::spawn(
        "bao",
        Command::new(&bin)
            .args(["server", "-dev", "-dev-tls", "-dev-root-token-id=root"])
            .arg(format!("-dev-tls-cert-dir={}", certs.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start bao -dev-tls");
    ksec_testkit::wait_for_port(port, Duration::from_secs(30));
    let addr = format!("https://127.0.0.1:{port}");
    let ca = certs.join("vault-ca.pem");
    let cli = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("BAO_ADDR", &addr)
            .env("BAO_CACERT", &ca)
            .env("BAO_TOKEN", "root")
            .output()
            .unwrap()
            .status
            .success()
    };
    let start = Instant::now();
    while !(ca.exists() && cli(&["status"])) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "bao -dev-tls never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cli(&["secrets", "enable", "transit"]));
    assert!(cli(&["write", "-f", "transit/keys/ksec"]));

    let mut c = VaultConfig::new(&addr, "ksec");
    c.auth = VaultAuth::Token {
        token_file: Some(token_file(&dir, "t", "root")),
        token_env: None,
    };
    c.retry = Some(common::fast_retry());
    // Without the CA: the server's certificate is not trusted.
    let e = VaultBackend::connect(&c).await.unwrap_err();
    assert!(matches!(e, KeyError::Unavailable { .. }), "{e}");
    // With it: TLS works end to end.
    c.ca_file = Some(ca.clone());
    let b = VaultBackend::connect(&c).await.unwrap();
    let ctx = WrapContext::new();
    let w = b.wrap(&common::marked_dek(), &ctx).await.unwrap();
    assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), common::marked_dek());
}

/// A stand-in for kube-apiserver's TokenReview endpoint (no apiserver binary can be
/// had here): answers `authenticated: true` for one JWT, false for any other. What
/// is under test is OpenBao's real Kubernetes auth method and our login.
struct TokenReview {
    port: u16,
    _stop: std::sync::mpsc::Sender<()>,
}

impl TokenReview {
    fn start(good_jwt: String) -> Self {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(120)
                && matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty))
            {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let body = loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break Some(body.to_string());
                        }
                    }
                };
                let ok = body.as_deref().is_some_and(|b| b.contains(&good_jwt));
                let answer = serde_json::json!({
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "status": if ok { serde_json::json!({
                        "authenticated": true,
                        "audiences": ["https://kubernetes.default.svc.cluster.local"],
                        "user": {
                            "username": "system:serviceaccount:kube-system:ksec-kms",
                            "uid": "6f0c4b2e-1111-2222-3333-444455556666",
                            "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system"]
                        }
                    }) } else { serde_json::json!({"authenticated": false, "error": "invalid token"}) }
                })
                .to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Self { port, _stop: tx }
    }
}

/// An unsigned service-account JWT with the claims Kubernetes puts in one.
fn sa_jwt(uid: &str) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b.encode(r#"{"alg":"RS256","kid":"test"}"#);
    let claims = serde_json::json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": "system:serviceaccount:kube-system:ksec-kms",
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": 4_102_444_800u64,
        "iat": 1_700_000_000u64,
        "kubernetes.io": {
            "namespace": "kube-system",
            "serviceaccount": {"name": "ksec-kms", "uid": uid}
        }
    });
    format!(
        "{header}.{}.{}",
        b.encode(claims.to_string()),
        b.encode("not-a-real-signature")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_kubernetes_service_account_login() {
    let Some(bao) = Bao::start() else { return };
    let dir = ksec_testkit::tempdir();
    let jwt = sa_jwt("6f0c4b2e-1111-2222-3333-444455556666");
    let review = TokenReview::start(jwt.clone());
    let policy = dir.path().join("policy.hcl");
    std::fs::write(&policy, POLICY).unwrap();
    bao.cli(&["policy", "write", "ksec", policy.to_str().unwrap()]);
    bao.cli(&["auth", "enable", "kubernetes"]);
    bao.cli(&[
        "write",
        "auth/kubernetes/config",
        &format!("kubernetes_host=http://127.0.0.1:{}", review.port),
        "disable_local_ca_jwt=true",
        // Required with disable_local_ca_jwt; unused for an http:// host. Any
        // certificate does: the repository's test certificate.
        &format!(
            "kubernetes_ca_cert=@{}",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/keys/test-cert-a.pem")
                .display()
        ),
    ]);
    bao.cli(&[
        "write",
        "auth/kubernetes/role/kms",
        "bound_service_account_names=ksec-kms",
        "bound_service_account_namespaces=kube-system",
        "token_policies=ksec",
        "token_ttl=60s",
    ]);
    let jwt_file = token_file(&dir, "sa-token", &jwt);
    let mut c = VaultConfig::new(&bao.addr, "ksec");
    c.retry = Some(common::fast_retry());
    c.auth = VaultAuth::Kubernetes {
        mount: "kubernetes".into(),
        role: "kms".into(),
        jwt_file,
    };
    let b = VaultBackend::connect(&c).await.unwrap();
    let ctx = WrapContext::new();
    let w = b.wrap(&common::marked_dek(), &ctx).await.unwrap();
    assert_eq!(b.unwrap(&w, &ctx).await.unwrap(), common::marked_dek());

    // A token the (stand-in) apiserver does not vouch for: refused at login.
    c.auth = VaultAuth::Kubernetes {
        mount: "kubernetes".into(),
        role: "kms".into(),
        jwt_file: token_file(
            &dir,
            "other",
            &sa_jwt("00000000-0000-0000-0000-000000000000"),
        ),
    };
    let e = VaultBackend::connect(&c).await.unwrap_err();
    assert!(
        matches!(e, KeyError::Auth { .. }) && e.to_string().contains("auth/kubernetes/login"),
        "{e}"
    );
}
