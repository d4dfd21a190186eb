//! `ksec_seal::cluster` against ksec-testkit's in-memory Kubernetes API over HTTPS (not a
//! live kube-apiserver): key Secrets read for a backup, restored with rollback, and the
//! controller's Service found (or not) through the service proxy. The `ksec` binary's
//! tests run the same through the command line, with a real `ksec controller` behind the
//! proxy.
use ksec_kube::KubeOptions;
use ksec_seal::backup::{plan_restore, RestoreAction};
use ksec_seal::cluster::{create_key_secrets, existing_key_secrets, read_key_secrets, Controller};
use ksec_seal::Error;
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name)
}

/// A key Secret as the controller writes it, from test keys.
fn key_secret(ns: &str, name: &str, key: &str, cert: &str) -> Value {
    let mut pem = std::fs::read(testdata(key)).unwrap();
    pem.extend(std::fs::read(testdata(cert)).unwrap());
    ksec_seal::keys::load_private_keys(&pem, key)
        .unwrap()
        .remove(0)
        .to_secret_value(name, ns)
        .unwrap()
}

fn options(server: &ApiServer) -> KubeOptions {
    KubeOptions {
        kubeconfig: Some(server.kubeconfig(Credentials::ClientCertificate)),
        ..KubeOptions::default()
    }
}

/// A cluster with key A in kube-system and key B in team.
fn cluster_with_two_keys() -> ApiServer {
    let api = FakeApi::new();
    api.insert(
        "core/secrets",
        key_secret(
            "kube-system",
            "sealed-secrets-keyaaaaa",
            "test-key-a.pem",
            "test-cert-a.pem",
        ),
    );
    api.insert(
        "core/secrets",
        key_secret(
            "team",
            "sealed-secrets-keybbbbb",
            "test-key-b.pem",
            "test-cert-b.pem",
        ),
    );
    ApiServer::start(api)
}

#[tokio::test(flavor = "current_thread")]
async fn key_secrets_are_backed_up_and_restored_once() {
    let source = cluster_with_two_keys();
    let backup = read_key_secrets(&options(&source), None).await.unwrap();
    let names: Vec<&str> = backup.keys().iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&"sealed-secrets-keyaaaaa") && names.contains(&"sealed-secrets-keybbbbb")
    );
    let only_team = read_key_secrets(&options(&source), Some("team"))
        .await
        .unwrap();
    assert_eq!(only_team.keys().len(), 1);
    assert_eq!(only_team.keys()[0].namespace(), "team");

    let target = ApiServer::start(FakeApi::new());
    let existing = existing_key_secrets(&options(&target), &backup, None)
        .await
        .unwrap();
    assert!(existing.is_empty(), "{existing:?}");
    let plan = plan_restore(&backup, None, &existing);
    assert!(plan.iter().all(|i| i.action == RestoreAction::Create));
    let mut created = create_key_secrets(&options(&target), &plan).await.unwrap();
    created.sort();
    assert_eq!(
        created,
        [
            "kube-system/sealed-secrets-keyaaaaa",
            "team/sealed-secrets-keybbbbb"
        ]
    );
    assert_eq!(target.api().list("core/secrets").len(), 2);

    // Restored again: the cluster has every key, nothing is created.
    let existing = existing_key_secrets(&options(&target), &backup, None)
        .await
        .unwrap();
    assert_eq!(existing.len(), 2);
    let plan = plan_restore(&backup, None, &existing);
    assert!(plan
        .iter()
        .all(|i| matches!(i.action, RestoreAction::AlreadyThere { .. })));
    assert!(create_key_secrets(&options(&target), &plan)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_restore_takes_back_what_it_created() {
    let backup = read_key_secrets(&options(&cluster_with_two_keys()), None)
        .await
        .unwrap();
    let target = ApiServer::start(FakeApi::new());
    target
        .api()
        .fail(|m, p| (m.as_str() == "POST" && p.contains("/namespaces/team/")).then_some(404));
    let plan = plan_restore(&backup, None, &[]);
    let e = create_key_secrets(&options(&target), &plan)
        .await
        .unwrap_err();
    let Error::RestoreStopped {
        created,
        left,
        error,
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!((*created, left.len()), (1, 0));
    assert!(
        matches!(**error, Error::NamespaceMissing { ref namespace, .. } if namespace == "team")
    );
    assert!(
        e.to_string()
            .starts_with("nothing was restored (1 Secret(s)"),
        "{e}"
    );
    assert!(target.api().list("core/secrets").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_namespace_without_keys_is_named() {
    let server = cluster_with_two_keys();
    let e = read_key_secrets(&options(&server), Some("empty"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::NoKeySecrets { namespace: Some(ns), .. } if ns == "empty"));
    let text = e.to_string();
    assert!(
        text.contains(&server.url()) && text.contains("(namespace empty)"),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_controller_is_found_through_its_service() {
    let api = FakeApi::new();
    api.insert(
        "core/services",
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
            "spec": {"ports": [{"name": "http", "port": 8080}]}
        }),
    );
    let server = ApiServer::start(api);
    let e = Controller::find(&options(&server), "kube-system", "elsewhere")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ControllerServiceNotFound { ref name, .. } if name == "elsewhere"));

    let controller = Controller::find(
        &options(&server),
        "kube-system",
        "sealed-secrets-controller",
    )
    .await
    .unwrap();
    assert_eq!(
        controller.path("/v1/cert.pem"),
        "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"
    );
    // No pod behind the Service: the proxy answers 503, explained.
    let e = controller.certificate().await.unwrap_err();
    assert!(
        matches!(e, Error::ControllerUnavailable { code: 503, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("is it running?"), "{e}");
}
