//! Each kind of credential reaches the cluster as its user; wrong or missing ones give an
//! error that names the server, the kubeconfig and the context.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

use ksec_kube::{ClusterConfig, Error, KubeOptions, Origin};
use ksec_testkit::cluster::{
    ApiServer, Credentials, FakeApi, CERT_USER, EXEC_USER, TOKEN_FILE_USER, TOKEN_USER,
};

fn options(kubeconfig: &Path) -> KubeOptions {
    KubeOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        ..KubeOptions::default()
    }
}

/// Lists ConfigMaps in the configuration's namespace, explaining a failure.
async fn list(cluster: &ClusterConfig) -> Result<Vec<ConfigMap>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client()?, cluster.namespace());
    api.list(&Default::default())
        .await
        .map(|l| l.items)
        .map_err(|e| cluster.explain(e))
}

#[tokio::test]
async fn every_credential_kind_reaches_the_cluster_as_its_user() {
    let server = ApiServer::start(FakeApi::new());
    server.api().insert(
        "core/configmaps",
        json!({"metadata": {"name": "c", "namespace": "default"}}),
    );
    for (credentials, user) in [
        (Credentials::ClientCertificate, CERT_USER),
        (Credentials::Token, TOKEN_USER),
        (Credentials::TokenFile, TOKEN_FILE_USER),
        (Credentials::Exec, EXEC_USER),
    ] {
        let path = server.kubeconfig(credentials);
        let cluster = ClusterConfig::load(&options(&path)).await.unwrap();
        assert_eq!(cluster.server(), server.url());
        assert_eq!(cluster.namespace(), "default");
        assert_eq!(
            cluster.origin(),
            &Origin::Kubeconfig {
                files: vec![path.clone()],
                context: "ksec-test".into()
            }
        );
        let items = list(&cluster).await.unwrap();
        assert_eq!(items.len(), 1, "{credentials:?}");
        let last = server.requests().pop().unwrap();
        assert_eq!(last.user.as_deref(), Some(user), "{credentials:?}");
    }
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_named_in_the_error() {
    let server = ApiServer::start(FakeApi::new());
    for credentials in [
        Credentials::None,
        Credentials::WrongToken,
        Credentials::UntrustedClientCertificate,
    ] {
        let path = server.kubeconfig(credentials);
        let cluster = ClusterConfig::load(&options(&path)).await.unwrap();
        let err = list(&cluster).await.unwrap_err();
        assert!(
            matches!(err, Error::Unauthorized { .. }),
            "{credentials:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&server.url()), "{msg}");
        assert!(msg.contains("\"ksec-test\""), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("401 Unauthorized"), "{msg}");
    }
    assert!(server.requests().iter().all(|r| r.status == 401));

    let path = server.kubeconfig(Credentials::FailingExec);
    let cluster = ClusterConfig::load(&options(&path)).await.unwrap();
    let err = list(&cluster).await.unwrap_err();
    assert!(matches!(err, Error::ExecPlugin { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("failing-exec-plugin of context \"ksec-test\""),
        "{msg}"
    );
    assert!(msg.contains("exit status: 1"), "{msg}");
    assert!(msg.contains("you are not logged in"), "{msg}");
}

#[tokio::test]
async fn a_server_that_is_gone_is_unreachable() {
    let server = ApiServer::start(FakeApi::new());
    let path = server.kubeconfig(Credentials::Token);
    let cluster = ClusterConfig::load(&options(&path)).await.unwrap();
    drop(server);
    let err = list(&cluster).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot reach the API server at https://127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_403_names_what_was_forbidden() {
    let server = ApiServer::start(FakeApi::new());
    server
        .api()
        .fail(|_, path| path.contains("/configmaps").then_some(403));
    let cluster = ClusterConfig::load(&options(&server.kubeconfig(Credentials::Token)))
        .await
        .unwrap();
    let err = list(&cluster).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert!(err.to_string().contains("/configmaps"), "{err}");
}
