//! The fake API behaves like kube-apiserver where the controller relies on it.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

use ksec_testkit::cluster::FakeApi;

fn secret(name: &str, labels: serde_json::Value) -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "ns1", "labels": labels},
        "data": {"a": "YQ=="}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_conflict_patch_list_watch_delete() {
    let fake = FakeApi::new();
    let api: Api<Secret> = Api::namespaced(fake.client(), "ns1");
    let s = api
        .create(&PostParams::default(), &secret("s1", json!({"k": "v"})))
        .await
        .unwrap();
    let rv1 = s.metadata.resource_version.clone().unwrap();
    assert!(s.metadata.uid.is_some());
    let again = api
        .create(&PostParams::default(), &secret("s1", json!({})))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");

    // A stale resourceVersion is a conflict.
    let mut stale = s.clone();
    stale.metadata.resource_version = Some("0".into());
    let err = api
        .replace("s1", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409),
        "{err}"
    );

    let patched = api
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_ne!(patched.metadata.resource_version.unwrap(), rv1);
    assert_eq!(patched.metadata.labels.unwrap()["k"], "v");

    api.create(&PostParams::default(), &secret("s2", json!({"k": "w"})))
        .await
        .unwrap();
    let l = api
        .list(&ListParams::default().labels("k=v"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    let l = api
        .list(&ListParams::default().labels("k in (v,w),x"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);

    let from = l.metadata.resource_version.unwrap();
    let mut w = api
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    api.delete("s2", &DeleteParams::default()).await.unwrap();
    match w.next().await.unwrap().unwrap() {
        WatchEvent::Deleted(s) => assert_eq!(s.metadata.name.unwrap(), "s2"),
        other => panic!("unexpected {other:?}"),
    }
    // Other patch types are refused, so the controller cannot rely on them by accident.
    let err = api
        .patch("s1", &PatchParams::apply("x"), &Patch::Apply(json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("merge"), "{err}");
}

#[tokio::test]
async fn owner_references_are_garbage_collected_and_immutable_secrets_refused() {
    let fake = FakeApi::new();
    let owner = fake.insert(
        "core/configmaps",
        json!({"metadata": {"name": "o", "namespace": "ns1"}}),
    );
    let uid = owner["metadata"]["uid"].as_str().unwrap();
    fake.insert(
        "core/secrets",
        json!({"metadata": {"name": "d", "namespace": "ns1",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid, "controller": true}]},
            "immutable": true, "data": {"a": "YQ=="}}),
    );
    let api: Api<Secret> = Api::namespaced(fake.client(), "ns1");
    let err = api
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "Yg=="}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err}"
    );
    assert!(fake.delete("core/configmaps", "ns1", "o"));
    assert!(fake.get("core/secrets", "ns1", "d").is_none());
}
