//! `ksec controller`: flags and SEALED_SECRETS_* variables are checked before any API
//! call, and errors name the flag. (The controller itself is tested in ksec-controller.)
//! Then `ksec seal` and `kubeseal` against a running `ksec controller`, through the API
//! server's service proxy (the harness is in cluster.rs): --fetch-cert, sealing without
//! --cert, --validate, --re-encrypt, kubeseal's flags and variables, and bad input.
use crate::cluster::{cert_der, controller_service, file, TestCluster, NAME, NS};
use crate::common::{ksec, ksec_path, parse, stdout_of, testdata, unseal, write, SECRET_YAML};
use ksec_testkit::cluster::{Credentials, FakeApi};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;
use std::path::Path;

#[test]
fn help_lists_bitnamis_flags_with_their_variables() {
    let out = ksec().args(["controller", "--help"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for flag in [
        "key-prefix",
        "key-size",
        "key-ttl",
        "my-cn",
        "key-renew-period",
        "key-cutoff-time",
        "key-order-priority",
        "privatekey-labels",
        "privatekey-annotations",
        "all-namespaces",
        "additional-namespaces",
        "label-selector",
        "update-status",
        "skip-recreate",
        "watch-for-secrets",
        "max-unseal-retries",
        "listen-addr",
        "listen-metrics-addr",
        "rate-limit",
        "rate-limit-burst",
        "log-level",
        "log-format",
    ] {
        assert!(text.contains(&format!("--{flag}")), "missing --{flag}");
        let var = format!("SEALED_SECRETS_{}", flag.to_uppercase().replace('-', "_"));
        assert!(text.contains(&var), "missing {var}");
    }
}

#[test]
fn bad_values_from_flags_and_environment_fail_naming_the_flag() {
    ksec()
        .args(["controller", "--key-order-priority=Newest"])
        .assert()
        .failure()
        .stderr(contains("--key-order-priority"));
    ksec()
        .args(["controller"])
        .env("SEALED_SECRETS_KEY_CUTOFF_TIME", "yesterday")
        .assert()
        .failure()
        .stderr(contains("--key-cutoff-time"));
    ksec()
        .args(["controller"])
        .env("SEALED_SECRETS_LOG_FORMAT", "xml")
        .assert()
        .failure()
        .stderr(contains("--log-format"));
    ksec()
        .args(["controller", "--key-renew-period=30d"])
        .assert()
        .failure()
        .stderr(contains("not a duration"));
}

fn seal_in(kubeconfig: &Path) -> assert_cmd::Command {
    let mut c = ksec();
    c.args(["seal", "--kubeconfig"]).arg(kubeconfig);
    c
}

#[test]
fn seal_fetches_the_certificate_through_the_service_proxy() {
    let c = TestCluster::start();
    let dir = ksec_testkit::tempdir();
    let kubeconfig = c.kubeconfig(Credentials::ClientCertificate);
    let cert_a = std::fs::read(testdata("test-cert-a.pem")).unwrap();
    let pem = stdout_of(seal_in(&kubeconfig).arg("--fetch-cert"));
    assert_eq!(cert_der(&pem), cert_der(&cert_a));
    assert_eq!(pem, c.certificate());
    // Sealing without --cert uses it: key A opens the result.
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.yaml");
    seal_in(&kubeconfig)
        .arg("-f")
        .arg(&secret)
        .arg("-w")
        .arg(&sealed)
        .assert()
        .success();
    unseal(testdata("test-key-a.pem"), &sealed).success();
    // kubeseal's two requests: the Service, then its first port's name in the proxy path.
    let reqs = c.requests();
    let get = |path: &str| ("GET".to_string(), path.to_string(), 200);
    assert!(
        reqs.contains(&get(
            "/api/v1/namespaces/kube-system/services/sealed-secrets-controller"
        )),
        "{reqs:?}"
    );
    assert!(
        reqs.contains(&get("/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem")),
        "{reqs:?}"
    );
    // As kubeseal, with each kind of credential, and kubeseal's variables.
    let link = dir.path().join("kubeseal");
    std::os::unix::fs::symlink(ksec_path(), &link).unwrap();
    for creds in [
        Credentials::Token,
        Credentials::TokenFile,
        Credentials::Exec,
    ] {
        let out = assert_cmd::Command::new(&link)
            .env("SEALED_SECRETS_KUBECONFIG", c.kubeconfig(creds))
            .env("SEALED_SECRETS_FETCH_CERT", "true")
            .env_remove("SEALED_SECRETS_CERT")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(cert_der(&out), cert_der(&cert_a), "{creds:?}");
    }
}

#[test]
fn controller_name_namespace_and_context_namespace_are_kubeseals() {
    // The controller's Service under another name and namespace, with another port name.
    let api = FakeApi::new();
    api.insert(
        "core/secrets",
        crate::cluster::key_a_secret(NS, crate::cluster::KEY_A),
    );
    api.insert("core/services", controller_service(NS, NAME, "http"));
    api.insert(
        "core/services",
        controller_service("sealing", "sealer", "web"),
    );
    let c = TestCluster::start_with(api);
    c.server
        .api()
        .forward_service("sealing", "sealer", c.controller_addr);
    let dir = ksec_testkit::tempdir();
    // A context whose namespace is team-a: a Secret without one is sealed for team-a.
    let kubeconfig = dir.path().join("config");
    c.server
        .kubeconfig_builder(Credentials::ClientCertificate)
        .context("team")
        .namespace("team-a")
        .write(&kubeconfig);
    let secret = file(
        dir.path(),
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n",
    );
    let out = stdout_of(
        seal_in(&kubeconfig)
            .args([
                "--controller-namespace",
                "sealing",
                "--controller-name",
                "sealer",
                "-o",
                "yaml",
                "-f",
            ])
            .arg(&secret),
    );
    let sealed = parse(&out);
    assert_eq!(sealed["metadata"]["namespace"], "team-a");
    let sealed_file = write(
        dir.path(),
        "sealed.yaml",
        std::str::from_utf8(&out).unwrap(),
    );
    unseal(testdata("test-key-a.pem"), &sealed_file).success();
    assert!(c.requests().iter().any(|(_, p, s)| p
        == "/api/v1/namespaces/sealing/services/http:sealer:web/proxy/v1/cert.pem"
        && *s == 200));
    // The same from kubeseal's environment variables, and -n over the context.
    let out = stdout_of(
        ksec()
            .arg("seal")
            .env("SEALED_SECRETS_KUBECONFIG", &kubeconfig)
            .env("SEALED_SECRETS_CONTEXT", "team")
            .env("SEALED_SECRETS_CONTROLLER_NAMESPACE", "sealing")
            .env("SEALED_SECRETS_CONTROLLER_NAME", "sealer")
            .env("SEALED_SECRETS_NAMESPACE", "team-b")
            .args(["-o", "yaml", "-f"])
            .arg(&secret),
    );
    assert_eq!(parse(&out)["metadata"]["namespace"], "team-b");
    // --context names a context the kubeconfig lacks: the error lists the ones it has.
    seal_in(&kubeconfig)
        .args(["--context", "prod", "--fetch-cert"])
        .assert()
        .failure()
        .stderr(contains("\"prod\"").and(contains("team")));
}

#[test]
fn validate_and_re_encrypt_ask_the_controller() {
    let c = TestCluster::start();
    let dir = ksec_testkit::tempdir();
    let kubeconfig = c.kubeconfig(Credentials::ClientCertificate);
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    // Sealed offline for key A: the controller can open it.
    let sealed = dir.path().join("sealed.yaml");
    crate::common::seal_cmd(&testdata("test-cert-a.pem"), &secret, &sealed)
        .assert()
        .success();
    seal_in(&kubeconfig)
        .arg("--validate")
        .arg("-f")
        .arg(&sealed)
        .assert()
        .success();
    assert!(c.requests().iter().any(|(m, p, s)| m == "POST"
        && p == "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/verify"
        && *s == 200));
    // Sealed for key B, which the controller does not have: kubeseal's message.
    let foreign = dir.path().join("foreign.yaml");
    crate::common::seal_cmd(&testdata("test-cert-b.pem"), &secret, &foreign)
        .assert()
        .success();
    seal_in(&kubeconfig)
        .arg("--validate")
        .arg("-f")
        .arg(&foreign)
        .assert()
        .failure()
        .stderr(contains("unable to decrypt sealed secret: db"));

    // A newer key joins the cluster; --re-encrypt moves the file to it, in place.
    let new_key = dir.path().join("new-key.yaml");
    ksec()
        .args([
            "keys",
            "new",
            "--bits",
            "2048",
            "--name",
            "sealed-secrets-keynewer",
            "-w",
        ])
        .arg(&new_key)
        .assert()
        .success();
    let new_key_value = parse(&std::fs::read(&new_key).unwrap());
    c.server.api().insert("core/secrets", new_key_value);
    let start = std::time::Instant::now();
    while cert_der(&c.certificate())
        == cert_der(&std::fs::read(testdata("test-cert-a.pem")).unwrap())
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the controller never took the new key"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let before = std::fs::read(&sealed).unwrap();
    seal_in(&kubeconfig)
        .arg("--re-encrypt")
        .arg("-f")
        .arg(&sealed)
        .assert()
        .success();
    assert_ne!(std::fs::read(&sealed).unwrap(), before);
    unseal(&new_key, &sealed).success();
    unseal(testdata("test-key-a.pem"), &sealed).failure();
    let rotated = parse(&std::fs::read(&sealed).unwrap());
    assert_eq!(rotated["kind"], "SealedSecret");
    assert_eq!(
        rotated["spec"]["template"]["metadata"]["annotations"]["team"],
        "payments"
    );
    assert_eq!(rotated["metadata"]["creationTimestamp"], Value::Null);
    // kubeseal's deprecated spelling, from its variable.
    let copy = write(
        dir.path(),
        "copy.yaml",
        std::str::from_utf8(&before).unwrap(),
    );
    seal_in(&kubeconfig)
        .env("SEALED_SECRETS_ROTATE", "true")
        .arg("-f")
        .arg(&copy)
        .assert()
        .success();
    unseal(&new_key, &copy).success();
    // From standard input to standard output; the old file is left alone.
    let out = stdout_of(
        seal_in(&kubeconfig)
            .args(["--rotate", "-o", "yaml"])
            .write_stdin(before),
    );
    assert!(std::str::from_utf8(&out)
        .unwrap()
        .contains("kind: SealedSecret"));
    // What no key of the controller opens is refused, and the file is not touched.
    let foreign_before = std::fs::read(&foreign).unwrap();
    seal_in(&kubeconfig)
        .arg("--re-encrypt")
        .arg("-f")
        .arg(&foreign)
        .assert()
        .failure()
        .stderr(contains("unable to rotate secret prod/db"));
    assert_eq!(std::fs::read(&foreign).unwrap(), foreign_before);
}

/// Serves one fixed certificate at /v1/cert.pem, as a controller with a bad key would.
fn serve_certificate(pem: Vec<u8>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                pem.len()
            );
            let _ = s.write_all(&pem);
        }
    });
    addr
}

#[test]
fn cluster_errors_name_the_item_and_what_to_do_and_write_nothing() {
    let mut c = TestCluster::start();
    let dir = ksec_testkit::tempdir();
    let kubeconfig = c.kubeconfig(Credentials::ClientCertificate);
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let out = dir.path().join("sealed.yaml");
    let fails = |cmd: &mut assert_cmd::Command, says: &[&str]| {
        let o = cmd
            .arg("-f")
            .arg(&secret)
            .arg("-w")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "succeeded: {err}");
        for s in says {
            assert!(err.contains(s), "{s:?} not in: {err}");
        }
        assert!(!out.exists(), "{} was written", out.display());
    };
    // A wrong Service name or namespace.
    fails(
        seal_in(&kubeconfig).args(["--controller-name", "nope"]),
        &["Service kube-system/nope", "not found", "--controller-name"],
    );
    fails(
        seal_in(&kubeconfig).args(["--controller-namespace", "sealed-secrets"]),
        &[
            "Service sealed-secrets/sealed-secrets-controller",
            "--controller-namespace",
        ],
    );
    // A kubeconfig without credentials, or with a failing exec plugin.
    fails(
        &mut seal_in(&c.kubeconfig(Credentials::None)),
        &["401 Unauthorized", "--cert"],
    );
    fails(
        &mut seal_in(&c.kubeconfig(Credentials::FailingExec)),
        &["you are not logged in"],
    );
    // No kubeconfig at all.
    fails(
        ksec()
            .arg("seal")
            .env("KUBECONFIG", dir.path().join("missing")),
        &["no kubeconfig found", "--cert"],
    );
    // A certificate that is not RSA, or has expired, served by the "controller".
    let ec = serve_certificate(std::fs::read(testdata("test-cert-ec.pem")).unwrap());
    c.server
        .api()
        .insert("core/services", controller_service(NS, "ec", "http"));
    c.server.api().forward_service(NS, "ec", ec);
    fails(
        seal_in(&kubeconfig).args(["--controller-name", "ec"]),
        &["controller kube-system/ec", "RSA", "--controller-name"],
    );
    let pem_dir = dir.path().join("short");
    ksec()
        .args(["keys", "new", "--bits", "2048", "--ttl", "1s", "--pem-dir"])
        .arg(&pem_dir)
        .assert()
        .success();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let expired = serve_certificate(std::fs::read(pem_dir.join("tls.crt")).unwrap());
    c.server
        .api()
        .insert("core/services", controller_service(NS, "old", "http"));
    c.server.api().forward_service(NS, "old", expired);
    fails(
        seal_in(&kubeconfig).args(["--controller-name", "old"]),
        &["expired", "renewed"],
    );
    // The controller is down: the proxy has nowhere to go.
    if let Some(mut p) = c.controller.take() {
        p.stop();
    }
    fails(
        &mut seal_in(&kubeconfig),
        &["does not answer", "503", "--cert"],
    );
}

/// The check of docs/controller.md after a migration: the controller unseals what is in
/// the cluster and `kubectl wait … --for=condition=Synced` (the real kubectl) sees it.
#[test]
fn kubectl_wait_sees_sealed_secrets_synced() {
    let Some(kubectl) = ksec_testkit::peer("kubectl") else {
        return;
    };
    let c = TestCluster::start();
    let dir = ksec_testkit::tempdir();
    let kubeconfig = c.kubeconfig(Credentials::ClientCertificate);
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.json");
    seal_in(&kubeconfig)
        .arg("-f")
        .arg(&secret)
        .arg("-w")
        .arg(&sealed)
        .assert()
        .success();
    c.server.api().insert(
        "bitnami.com/sealedsecrets",
        parse(&std::fs::read(&sealed).unwrap()),
    );
    let out = std::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "wait",
            "sealedsecrets",
            "--all",
            "--all-namespaces",
            "--for=condition=Synced",
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl wait: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));
    let unsealed = c.server.api().get("core/secrets", "prod", "db").unwrap();
    assert_eq!(unsealed["metadata"]["annotations"]["team"], "payments");
}
