//! A cluster to talk to: ksec-testkit's in-memory Kubernetes API served over HTTPS with
//! kubeconfigs (client certificates, tokens, exec plugins), and a real `ksec controller`
//! process running against it, reached through the API server's service proxy exactly as
//! kubeseal reaches Bitnami's controller. Not a live kube-apiserver (none can be had
//! here): RBAC is not enforced by the fake, so the proxier Role is checked in the
//! deploy tests instead.
use crate::common::{ksec_path, testdata};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use ksec_testkit::{http_get, ChildGuard};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const NS: &str = "kube-system";
pub const NAME: &str = "sealed-secrets-controller";
pub const KEY_A: &str = "sealed-secrets-keyaaaaa";

/// A key Secret as the controller writes it, from a PEM key and certificate.
pub fn key_secret(ns: &str, name: &str, key_pem: &[u8], cert_pem: &[u8]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.key": STANDARD.encode(key_pem), "tls.crt": STANDARD.encode(cert_pem)}
    })
}

/// Test key A as a key Secret.
pub fn key_a_secret(ns: &str, name: &str) -> Value {
    key_secret(
        ns,
        name,
        &std::fs::read(testdata("test-key-a.pem")).unwrap(),
        &std::fs::read(testdata("test-cert-a.pem")).unwrap(),
    )
}

/// The Service of the controller, as the chart and the Kustomize base make it.
pub fn controller_service(ns: &str, name: &str, port_name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ports": [{"name": port_name, "port": 8080, "targetPort": "http"}]}
    })
}

/// The HTTPS API server with a running `ksec controller` behind the Service
/// kube-system/sealed-secrets-controller.
pub struct TestCluster {
    pub server: ApiServer,
    pub controller: Option<ChildGuard>,
    pub controller_addr: std::net::SocketAddr,
}

impl TestCluster {
    /// The cluster holds test key A (kube-system/sealed-secrets-keyaaaaa) and the
    /// controller's Service; the controller keeps that key (no renewal).
    pub fn start() -> Self {
        let api = FakeApi::new();
        api.insert("core/secrets", key_a_secret(NS, KEY_A));
        api.insert("core/services", controller_service(NS, NAME, "http"));
        Self::start_with(api)
    }

    /// A controller on `api`, which must hold the Service.
    pub fn start_with(api: FakeApi) -> Self {
        let server = ApiServer::start(api);
        let kubeconfig = server.kubeconfig(Credentials::ClientCertificate);
        let port = ksec_testkit::free_port();
        let metrics = ksec_testkit::free_port();
        let controller = ChildGuard::spawn(
            "ksec controller",
            Command::new(ksec_path())
                .args(["controller", "--key-renew-period=0", "--log-level=ERROR"])
                // Bitnami's default limit (2/s, burst 2) would refuse the tests' quick
                // successive /v1/verify and /v1/rotate calls on a fast machine.
                .args(["--rate-limit=1000", "--rate-limit-burst=1000"])
                .arg(format!("--listen-addr=127.0.0.1:{port}"))
                .arg(format!("--listen-metrics-addr=127.0.0.1:{metrics}"))
                .env("KUBECONFIG", &kubeconfig)
                .env("POD_NAMESPACE", NS)
                .env("HOSTNAME", "ksec-controller-test")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        server.api().forward_service(NS, NAME, addr);
        let cluster = Self {
            server,
            controller: Some(controller),
            controller_addr: addr,
        };
        cluster.wait_for_certificate();
        cluster
    }

    /// Waits until the controller serves its certificate (it has loaded its keys).
    fn wait_for_certificate(&self) {
        let start = Instant::now();
        loop {
            if http_get(self.controller_addr, "/v1/cert.pem").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "ksec controller did not serve /v1/cert.pem within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A kubeconfig for the API server.
    pub fn kubeconfig(&self, credentials: Credentials) -> PathBuf {
        self.server.kubeconfig(credentials)
    }

    /// The certificate the controller serves.
    pub fn certificate(&self) -> Vec<u8> {
        http_get(self.controller_addr, "/v1/cert.pem").unwrap().1
    }

    /// Paths of the requests the API server answered, with their status.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path, r.status))
            .collect()
    }
}

/// The DER of the first certificate of a PEM text, to compare certificates.
pub fn cert_der(pem: &[u8]) -> Vec<u8> {
    ksec_crypto::x509::Certificate::from_pem(pem)
        .unwrap()
        .der()
        .to_vec()
}

/// Writes `text` to `dir/name`.
pub fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    crate::common::write(dir, name, text)
}
