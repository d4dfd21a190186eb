//! kubectl's cluster flags (`--server --token --certificate-authority`, …) on every ksec
//! command that talks to a cluster, as CI jobs pass them to kubeseal: no kubeconfig at
//! all (`KUBECONFIG` points nowhere), the HTTPS test cluster checking who asked.
use crate::cluster::{key_a_secret, TestCluster, KEY_A, NS};
use crate::common::{ksec, stdout_of, testdata};
use ksec_testkit::cluster::{ApiServer, FakeApi, TOKEN_USER};
use std::path::{Path, PathBuf};

/// `--server URL --token TOKEN --certificate-authority CA` for `server`, the CA written
/// into `dir`.
fn server_flags(server: &ApiServer, dir: &Path) -> Vec<String> {
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    vec![
        "--server".into(),
        server.url(),
        "--token".into(),
        server.token().into(),
        "--certificate-authority".into(),
        ca.display().to_string(),
    ]
}

/// The fingerprint column of `ksec keys list`'s lines that mention `what`.
fn fingerprints(stdout: &[u8], what: &str) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn key_a_fingerprint() -> String {
    let out = stdout_of(
        ksec()
            .args(["keys", "list"])
            .arg(testdata("test-key-a.pem")),
    );
    fingerprints(&out, "test-key-a.pem").pop().unwrap()
}

#[test]
fn keys_list_and_backup_reach_the_cluster_with_a_server_and_token() {
    let api = FakeApi::new();
    api.insert("core/secrets", key_a_secret(NS, KEY_A));
    let server = ApiServer::start(api);
    let dir = ksec_testkit::tempdir();
    let flags = server_flags(&server, dir.path());

    let out = stdout_of(ksec().args(["keys", "list"]).args(&flags));
    let listed = fingerprints(&out, &format!("Secret {NS}/{KEY_A}"));
    assert_eq!(listed, [key_a_fingerprint()]);
    let seen = server.requests();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.path.as_str(), last.user.as_deref()),
        ("/api/v1/secrets", Some(TOKEN_USER))
    );

    // One namespace; and the kubeconfig's flags do not mix with files.
    let out = ksec()
        .args(["keys", "list", "-n", "team"])
        .args(&flags)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("namespace team"), "{err}");
    ksec()
        .args(["keys", "list"])
        .arg(testdata("test-key-a.pem"))
        .args(["--server", "https://127.0.0.1:1"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("cannot be used with"));

    // A backup read the same way opens to the same key.
    let Some(keygen) = ksec_testkit::peer("age-keygen") else {
        return;
    };
    let id = dir.path().join("id.txt");
    let recipient = ksec_testkit::age_keygen(&keygen, &id);
    let backup = dir.path().join("keys.age");
    ksec()
        .args(["keys", "backup", "--age", &recipient, "-w"])
        .arg(&backup)
        .args(&flags)
        .assert()
        .success();
    let out = stdout_of(ksec().args(["keys", "list", "-i"]).arg(&id).arg(&backup));
    assert_eq!(
        fingerprints(&out, &format!("Secret {NS}/{KEY_A}")),
        [key_a_fingerprint()]
    );

    // And restored the same way, into another namespace: planned, then created.
    let plan = stdout_of(
        ksec()
            .args(["keys", "restore", "--dry-run", "-n", "team", "-i"])
            .arg(&id)
            .arg(&backup)
            .args(&flags),
    );
    let plan = String::from_utf8_lossy(&plan);
    assert!(
        plan.lines()
            .any(|l| l.starts_with("team") && l.contains(KEY_A) && l.ends_with("create")),
        "{plan}"
    );
    assert!(server.api().get("core/secrets", "team", KEY_A).is_none());
    ksec()
        .args(["keys", "restore", "-n", "team", "-i"])
        .arg(&id)
        .arg(&backup)
        .args(&flags)
        .assert()
        .success();
    assert!(server.api().get("core/secrets", "team", KEY_A).is_some());
    let created = server
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        (created.path.as_str(), created.user.as_deref()),
        ("/api/v1/namespaces/team/secrets", Some(TOKEN_USER))
    );
}

#[test]
fn a_wrong_token_or_an_unverified_server_is_a_clear_error() {
    let server = ApiServer::start(FakeApi::new());
    let dir = ksec_testkit::tempdir();
    let mut flags = server_flags(&server, dir.path());
    flags[3] = "not-a-token-this-cluster-knows".into();
    let out = ksec().args(["keys", "list"]).args(&flags).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(err.contains(&server.url()), "{err}");
    assert!(!err.contains("not-a-token"), "{err}");

    // Without the CA the server's certificate is not trusted; skipping the check works.
    let bare = ["--server", &server.url(), "--token", server.token()];
    let out = ksec().args(["keys", "list"]).args(bare).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the API server"), "{err}");
    let out = ksec()
        .args(["keys", "list", "--insecure-skip-tls-verify"])
        .args(bare)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Reached and authenticated: the cluster simply has no keys.
    assert!(err.contains("has no sealing key Secrets"), "{err}");
    assert_eq!(server.requests().last().unwrap().status, 200);

    // kubectl's timeout spellings, and a clear word for others.
    ksec()
        .args(["keys", "list", "--request-timeout", "soon"])
        .args(bare)
        .assert()
        .failure()
        .stderr(predicates::str::contains("\"soon\""));
}

#[test]
fn scan_cluster_reaches_the_cluster_with_a_server_and_token() {
    let server = ApiServer::start(FakeApi::new());
    server.api().insert(
        "core/configmaps",
        serde_json::json!({"metadata": {"name": "c", "namespace": "shop"}}),
    );
    let dir = ksec_testkit::tempdir();
    let out = ksec()
        .args(["scan", "--cluster", "-o", "json", "-n", "shop"])
        .args(server_flags(&server, dir.path()))
        .args(["--request-timeout", "30s"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.requests();
    assert!(requests
        .iter()
        .any(|r| r.path == "/api/v1/namespaces/shop/configmaps"));
    assert!(requests
        .iter()
        .all(|r| r.user.as_deref() == Some(TOKEN_USER)));

    // The cluster flags need --cluster; the kubeconfig's cluster entry is --kube-cluster.
    ksec()
        .args(["scan", "--server", &server.url()])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--cluster"));
    let out = ksec()
        .args([
            "scan",
            "--cluster",
            "--kube-cluster",
            "nowhere",
            "--kubeconfig",
        ])
        .arg(server.kubeconfig(ksec_testkit::cluster::Credentials::Token))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster \"nowhere\" is not in"), "{err}");
}

#[test]
fn seal_fetches_the_certificate_with_flags_or_kubeseals_variables() {
    let cluster = TestCluster::start();
    let dir = ksec_testkit::tempdir();
    let flags = server_flags(&cluster.server, dir.path());
    let want = cluster.certificate();
    let got = stdout_of(ksec().args(["seal", "--fetch-cert"]).args(&flags));
    assert_eq!(got, want);
    // The controller itself talks to the server too (as the certificate user).
    let fetched = cluster
        .server
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/proxy/v1/cert.pem"))
        .unwrap();
    assert_eq!(fetched.user.as_deref(), Some(TOKEN_USER));

    // kubeseal's SEALED_SECRETS_* variables, -s for --server.
    let ca: PathBuf = flags[5].clone().into();
    let got = stdout_of(
        ksec()
            .args(["seal", "--fetch-cert", "-s", &cluster.server.url()])
            .env("SEALED_SECRETS_TOKEN", cluster.server.token())
            .env("SEALED_SECRETS_CERTIFICATE_AUTHORITY", &ca),
    );
    assert_eq!(got, want);

    // The token's variable is not shown in the help.
    let help = ksec()
        .args(["seal", "--help"])
        .env("SEALED_SECRETS_TOKEN", "token-in-the-environment")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("SEALED_SECRETS_TOKEN"), "{text}");
    assert!(!text.contains("token-in-the-environment"), "{text}");
}
