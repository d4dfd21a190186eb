//! The fake over HTTPS: kube-rs clients built from the generated kubeconfigs, each kind of
//! credential, the 401s a real API server gives, discovery, and the service proxy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use ksec_testkit::cluster::{
    ApiServer, Credentials, FakeApi, CERT_USER, EXEC_USER, TOKEN_FILE_USER, TOKEN_USER,
};

/// A kube-rs client from a kubeconfig file, as any kube-rs program makes one, but
/// without kube's retries of 503s (15, with backoff up to minutes), as kubectl.
pub(crate) async fn client(kubeconfig: &Path) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

/// A plain HTTP server on 127.0.0.1 that answers every request with its own method,
/// path and body, as `text/plain`; it serves `count` requests, then stops.
pub(crate) fn echo_upstream(count: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut words = request_line.split_whitespace();
            let text = format!(
                "{} {} {}",
                words.next().unwrap(),
                words.next().unwrap(),
                String::from_utf8_lossy(&body)
            );
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn every_credential_kind_authenticates_as_its_user() {
    let server = ApiServer::start(FakeApi::new());
    server.api().insert(
        "core/configmaps",
        json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}),
    );
    for (credentials, user) in [
        (Credentials::ClientCertificate, CERT_USER),
        (Credentials::Token, TOKEN_USER),
        (Credentials::TokenFile, TOKEN_FILE_USER),
        (Credentials::Exec, EXEC_USER),
    ] {
        let api: Api<ConfigMap> =
            Api::namespaced(client(&server.kubeconfig(credentials)).await, "default");
        let cm = api.get("c").await.unwrap();
        assert_eq!(cm.data.unwrap()["k"], "v", "{credentials:?}");
        let last = server.requests().pop().unwrap();
        assert_eq!(last.user.as_deref(), Some(user), "{credentials:?}");
        assert_eq!(last.path, "/api/v1/namespaces/default/configmaps/c");
        assert_eq!(last.status, 200);
    }
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_401() {
    let server = ApiServer::start(FakeApi::new());
    for credentials in [
        Credentials::None,
        Credentials::WrongToken,
        Credentials::UntrustedClientCertificate,
    ] {
        let api: Api<Secret> =
            Api::namespaced(client(&server.kubeconfig(credentials)).await, "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(
            matches!(&err, kube::Error::Api(s) if s.code == 401 && s.reason == "Unauthorized"),
            "{credentials:?}: {err:?}"
        );
    }
    assert!(server
        .requests()
        .iter()
        .all(|r| r.status == 401 && r.user.is_none()));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn writes_over_https_land_in_the_shared_store() {
    let server = ApiServer::start(FakeApi::new());
    let c = client(&server.kubeconfig(Credentials::Token)).await;
    let namespaces: Api<Namespace> = Api::all(c.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap(),
        )
        .await
        .unwrap();
    let stored = server.api().get("core/namespaces", "", "team-a").unwrap();
    assert_eq!(stored["status"]["phase"], "Active");
    assert!(stored["metadata"].get("namespace").is_none());

    let secrets: Api<Secret> = Api::namespaced(c.clone(), "team-a");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"a": "b"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let s = server
        .api()
        .get_kind("v1", "Secret", "team-a", "s")
        .unwrap();
    assert_eq!(s["data"]["a"], "Yg==");
    assert_eq!(s["type"], "Opaque");
    assert!(s.get("stringData").is_none());

    let roles: Api<ClusterRole> = Api::all(c.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert!(server
        .api()
        .get("rbac.authorization.k8s.io/clusterroles", "", "reader")
        .is_some());

    // Deleting the namespace takes what is in it along.
    namespaces
        .delete("team-a", &Default::default())
        .await
        .unwrap();
    assert!(server.api().list("core/secrets").is_empty());
}

#[tokio::test]
async fn discovery_lists_the_served_groups() {
    let server = ApiServer::start(FakeApi::new());
    let c = client(&server.kubeconfig(Credentials::ClientCertificate)).await;
    let version = c.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let discovery = kube::Discovery::new(c).run().await.unwrap();
    for (group, kind) in [
        ("", "Secret"),
        ("apps", "Deployment"),
        ("batch", "CronJob"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("bitnami.com", "SealedSecret"),
        ("coordination.k8s.io", "Lease"),
        ("events.k8s.io", "Event"),
    ] {
        let g = discovery
            .groups()
            .find(|g| g.name() == group)
            .unwrap_or_else(|| panic!("group {group:?} not discovered"));
        assert!(
            g.recommended_resources()
                .iter()
                .any(|(r, _)| r.kind == kind),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn the_service_proxy_forwards_to_a_local_server() {
    let server = ApiServer::start(FakeApi::new());
    server.api().load_str(
        "apiVersion: v1\nkind: Service\nmetadata: {name: sealed-secrets-controller, namespace: kube-system}\n\
         spec: {ports: [{name: http, port: 8080}]}\n",
    );
    server
        .api()
        .forward_service("kube-system", "sealed-secrets-controller", echo_upstream(3));
    let c = client(&server.kubeconfig(Credentials::Token)).await;
    let get = |path: &str| {
        http::Request::get(format!("/api/v1/namespaces/kube-system/services/{path}"))
            .body(vec![])
            .unwrap()
    };
    // kubeseal's form: scheme, name and port name.
    let text = c
        .request_text(get("http:sealed-secrets-controller:http/proxy/v1/cert.pem"))
        .await
        .unwrap();
    assert_eq!(text, "GET /v1/cert.pem ");
    // By port number, with a query and a body.
    let post = http::Request::post(
        "/api/v1/namespaces/kube-system/services/sealed-secrets-controller:8080/proxy/v1/verify?x=1",
    )
    .body(b"sealed".to_vec())
    .unwrap();
    assert_eq!(
        c.request_text(post).await.unwrap(),
        "POST /v1/verify?x=1 sealed"
    );
    // In process too, through FakeApi::client.
    let text = server
        .api()
        .client()
        .request_text(get("sealed-secrets-controller/proxy/"))
        .await
        .unwrap();
    assert_eq!(text, "GET / ");

    // As the API server answers when the Service or its port is not there.
    let err = c
        .request_text(get("http:nothing-here:http/proxy/v1/cert.pem"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message.contains("services \"nothing-here\" not found")),
        "{err:?}"
    );
    let err = c
        .request_text(get("http:sealed-secrets-controller:metrics/proxy/"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 503 && s.message.contains("metrics")),
        "{err:?}"
    );
}
