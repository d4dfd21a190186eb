//! The reconciler against the fake API: Secrets, owner references, status, events,
//! ownership rules, recreation, idempotence, templates, legacy data, bad input.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unseals_into_an_owned_secret_with_status_event_and_metrics_then_stays_quiet() {
    let fake = cluster_with_key_a();
    let ss = sealed(
        key_a(),
        plain_secret(
            "app",
            "db",
            &[("user", "admin"), ("password", "hunter2")],
            json!({"type": "kubernetes.io/basic-auth",
                   "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}}}),
        ),
    );
    let ss = fake.insert(SS, ss);
    let ctl = start(&fake, test_config("r1"));
    wait_for("Synced=True", T, || {
        synced(&fake, "app", "db").is_some_and(|s| s.0 == "True")
    })
    .await;

    let secret = fake.get(SECRETS, "app", "db").expect("Secret created");
    assert_eq!(
        secret_data(&fake, "app", "db").unwrap()["password"],
        "hunter2"
    );
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["metadata"]["labels"]["team"], "a");
    assert_eq!(secret["metadata"]["annotations"]["note"], "x");
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "SealedSecret");
    assert_eq!(owner["apiVersion"], "bitnami.com/v1alpha1");
    assert_eq!(owner["uid"], ss["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    let stored = fake.get(SS, "app", "db").unwrap();
    assert_eq!(stored["status"]["observedGeneration"], 1);
    wait_for("Unsealed event", T, || {
        event_reasons(&fake, "db").contains(&"Unsealed".to_string())
    })
    .await;
    let text = ctl.handles.metrics.render();
    assert!(text.contains("sealed_secrets_controller_condition_info{namespace=\"app\",name=\"db\",condition=\"Synced\"} 1"), "{text}");
    assert!(!text.contains("unseal_errors_total{"), "{text}");

    // A second pass changes nothing: a new key re-triggers every SealedSecret, and this
    // reconciliation must write no Secret, no status and no event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes_before = fake.writes().len();
    let cert_b = cert_aged(key_b(), Duration::from_secs(86400)).to_pem();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keybbbbb", key_b(), cert_b.as_bytes()),
    );
    wait_for("the second reconciliation", T, || {
        ctl.handles
            .metrics
            .render()
            .contains("unseal_requests_total 2")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new_writes: Vec<String> = fake.writes()[writes_before..].to_vec();
    assert!(
        new_writes.iter().all(|w| w.contains("/leases/")),
        "second pass wrote {new_writes:?}"
    );
    // A deleted SealedSecret's condition series goes away (no stale dashboards).
    fake.delete(SS, "app", "db");
    wait_for("condition_info forgotten", T, || {
        !ctl.handles.metrics.render().contains("name=\"db\"")
    })
    .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_sealedsecret_updates_secret_and_observed_generation() {
    let fake = cluster_with_key_a();
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("first sync", T, || secret_data(&fake, "app", "s").is_some()).await;
    let mut next = sealed(
        key_a(),
        plain_secret("app", "s", &[("a", "2"), ("b", "3")], json!({})),
    );
    let old = fake.get(SS, "app", "s").unwrap();
    next["metadata"] = old["metadata"].clone();
    fake.update(SS, next);
    wait_for("updated data", T, || {
        secret_data(&fake, "app", "s")
            .is_some_and(|d| d.get("a").map(String::as_str) == Some("2") && d.len() == 2)
    })
    .await;
    wait_for("observedGeneration 2", T, || {
        fake.get(SS, "app", "s").unwrap()["status"]["observedGeneration"] == 2
    })
    .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_secret_is_recreated_unless_skip_recreate() {
    for skip in [false, true] {
        let fake = cluster_with_key_a();
        fake.insert(
            SS,
            sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
        );
        let ctl = start(
            &fake,
            ksec_controller::Config {
                skip_recreate: skip,
                ..test_config("r1")
            },
        );
        wait_for("first sync", T, || synced(&fake, "app", "s").is_some()).await;
        assert!(fake.delete(SECRETS, "app", "s"));
        if skip {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert!(
                fake.get(SECRETS, "app", "s").is_none(),
                "--skip-recreate recreated the Secret"
            );
        } else {
            wait_for("recreation", T, || secret_data(&fake, "app", "s").is_some()).await;
        }
        ctl.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_sealedsecret_garbage_collects_its_secret_but_not_with_skip_owner() {
    let fake = cluster_with_key_a();
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "owned", &[("a", "1")], json!({})),
        ),
    );
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "free", &[("a", "1")], json!({})),
        ),
    );
    let mut free = fake.get(SS, "app", "free").unwrap();
    free["metadata"]["annotations"] =
        json!({"sealedsecrets.bitnami.com/skip-set-owner-references": "true"});
    fake.update(SS, free);
    let ctl = start(&fake, test_config("r1"));
    wait_for("both synced", T, || {
        secret_data(&fake, "app", "owned").is_some() && secret_data(&fake, "app", "free").is_some()
    })
    .await;
    assert!(fake.get(SECRETS, "app", "free").unwrap()["metadata"]
        .get("ownerReferences")
        .is_none());
    ctl.stop().await;
    fake.delete(SS, "app", "owned");
    fake.delete(SS, "app", "free");
    assert!(fake.get(SECRETS, "app", "owned").is_none());
    assert!(fake.get(SECRETS, "app", "free").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_secret_is_left_alone_unless_annotated_managed_or_patch() {
    let fake = cluster_with_key_a();
    let foreign = |name: &str, annotations: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": "app", "annotations": annotations},
               "data": {"mine": "b3JpZ2luYWw=", "a": "b2xk"}})
    };
    fake.insert(SECRETS, foreign("theirs", json!({})));
    fake.insert(
        SECRETS,
        foreign(
            "managed",
            json!({"sealedsecrets.bitnami.com/managed": "true"}),
        ),
    );
    fake.insert(
        SECRETS,
        foreign(
            "patched",
            json!({"sealedsecrets.bitnami.com/patch": "true"}),
        ),
    );
    for name in ["theirs", "managed", "patched"] {
        fake.insert(
            SS,
            sealed(
                key_a(),
                plain_secret("app", name, &[("a", "new")], json!({})),
            ),
        );
    }
    let ctl = start(&fake, test_config("r1"));
    wait_for("all three reconciled", T, || {
        ["theirs", "managed", "patched"]
            .iter()
            .all(|n| synced(&fake, "app", n).is_some())
    })
    .await;

    let (st, msg) = synced(&fake, "app", "theirs").unwrap();
    assert_eq!(st, "False");
    assert!(
        msg.contains("\"theirs\" already exists and is not managed by SealedSecret"),
        "{msg}"
    );
    let theirs = secret_data(&fake, "app", "theirs").unwrap();
    assert_eq!(theirs["a"], "old", "a foreign Secret was modified");
    wait_for("ErrUpdateFailed event", T, || {
        event_reasons(&fake, "theirs").contains(&"ErrUpdateFailed".into())
    })
    .await;
    assert!(ctl
        .handles
        .metrics
        .render()
        .contains("reason=\"unmanaged\",namespace=\"app\""));

    // managed: taken over and overwritten (values, annotations, owner).
    assert_eq!(synced(&fake, "app", "managed").unwrap().0, "True");
    let managed = fake.get(SECRETS, "app", "managed").unwrap();
    assert_eq!(secret_data(&fake, "app", "managed").unwrap().len(), 1);
    assert_eq!(
        managed["metadata"]["ownerReferences"][0]["kind"],
        "SealedSecret"
    );

    // patch: values merged in, the Secret's other values kept, no owner taken.
    assert_eq!(synced(&fake, "app", "patched").unwrap().0, "True");
    let patched = secret_data(&fake, "app", "patched").unwrap();
    assert_eq!(patched["a"], "new");
    assert_eq!(patched["mine"], "original");
    assert!(fake.get(SECRETS, "app", "patched").unwrap()["metadata"]
        .get("ownerReferences")
        .is_none());
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_reported_and_the_rest_keeps_working_then_recover() {
    let fake = cluster_with_key_a();
    // Sealed for another namespace: strict scope binds namespace and name.
    let mut moved = sealed(
        key_a(),
        plain_secret("elsewhere", "moved", &[("a", "1")], json!({})),
    );
    moved["metadata"]["namespace"] = json!("app");
    fake.insert(SS, moved);
    // Sealed with a key the controller does not have.
    fake.insert(
        SS,
        sealed(
            key_b(),
            plain_secret("app", "otherkey", &[("a", "1")], json!({})),
        ),
    );
    // Malformed: a value that is not base64, and one whose spec is of the wrong shape.
    let mut garbage = sealed(
        key_a(),
        plain_secret("app", "garbage", &[("a", "1")], json!({})),
    );
    garbage["spec"]["encryptedData"]["a"] = json!("!!not base64!!");
    fake.insert(SS, garbage);
    fake.insert(
        SS,
        json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "shape", "namespace": "app"}, "spec": {"encryptedData": "oops"}}),
    );
    // And one good one.
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "good", &[("a", "1")], json!({})),
        ),
    );

    let ctl = start(&fake, test_config("r1"));
    wait_for("all reported", T, || {
        ["moved", "otherkey", "garbage", "shape", "good"]
            .iter()
            .all(|n| synced(&fake, "app", n).is_some())
    })
    .await;
    assert_eq!(synced(&fake, "app", "good").unwrap().0, "True");
    for (name, want) in [
        ("moved", "no key could decrypt"),
        ("otherkey", "no key could decrypt"),
        ("garbage", "a: not valid base64"),
        ("shape", "spec.encryptedData: must be a mapping"),
    ] {
        let (st, msg) = synced(&fake, "app", name).unwrap();
        assert_eq!(st, "False", "{name}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(
            fake.get(SECRETS, "app", name).is_none(),
            "{name} produced a Secret"
        );
        wait_for("ErrUnsealFailed", T, || {
            event_reasons(&fake, name).contains(&"ErrUnsealFailed".into())
        })
        .await;
    }
    let text = ctl.handles.metrics.render();
    assert!(
        text.contains("reason=\"unseal\",namespace=\"app\""),
        "{text}"
    );
    assert!(
        text.contains("name=\"moved\",condition=\"Synced\"} -1"),
        "{text}"
    );

    // Fixed in place: the status recovers.
    let mut fixed = sealed(
        key_a(),
        plain_secret("app", "garbage", &[("a", "1")], json!({})),
    );
    fixed["metadata"] = fake.get(SS, "app", "garbage").unwrap()["metadata"].clone();
    fake.update(SS, fixed);
    wait_for("recovered", T, || {
        synced(&fake, "app", "garbage").is_some_and(|s| s.0 == "True" && s.1.is_empty())
    })
    .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_write_failures_are_retried_and_reported() {
    let fake = cluster_with_key_a();
    fake.fail(|m, p| (m == "POST" && p == "/api/v1/namespaces/app/secrets").then_some(500));
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("ErrUpdateFailed", T, || {
        event_reasons(&fake, "s").contains(&"ErrUpdateFailed".into())
    })
    .await;
    // The event is recorded before the status is written: wait for both.
    wait_for("Synced=False", T, || {
        synced(&fake, "app", "s").is_some_and(|s| s.0 == "False")
    })
    .await;
    assert!(ctl
        .handles
        .metrics
        .render()
        .contains("reason=\"update\",namespace=\"app\""));
    fake.clear_faults();
    // Retries with backoff pick it up once the API accepts writes again.
    wait_for("created after the fault cleared", T, || {
        secret_data(&fake, "app", "s").is_some()
    })
    .await;
    wait_for("Synced=True", T, || {
        synced(&fake, "app", "s").is_some_and(|s| s.0 == "True")
    })
    .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_write_failure_is_counted_and_update_status_false_writes_none() {
    let fake = cluster_with_key_a();
    fake.fail(|m, p| (m == "PATCH" && p.ends_with("/status")).then_some(500));
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("Secret", T, || secret_data(&fake, "app", "s").is_some()).await;
    wait_for("status error metric", T, || {
        ctl.handles
            .metrics
            .render()
            .contains("reason=\"status\",namespace=\"app\"")
    })
    .await;
    ctl.stop().await;

    let fake = cluster_with_key_a();
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let ctl = start(
        &fake,
        ksec_controller::Config {
            update_status: false,
            ..test_config("r1")
        },
    );
    wait_for("Secret", T, || secret_data(&fake, "app", "s").is_some()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.get(SS, "app", "s").unwrap().get("status").is_none());
    assert!(!fake.writes().iter().any(|w| w.ends_with("/status")));
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_data_immutable_and_legacy_spec_data() {
    let fake = cluster_with_key_a();
    let mut ss = sealed(
        key_a(),
        plain_secret(
            "app",
            "tpl",
            &[("user", "admin"), ("pass", " s3cret ")],
            json!({"immutable": true}),
        ),
    );
    ss["spec"]["template"]["data"] = json!({
        "url": "postgres://{{ index . \"user\" }}:{{ .pass | trim }}@db/{{ .user | upper }}",
        "pass": null
    });
    fake.insert(SS, ss);
    // Legacy v1 format: the whole Secret sealed as one blob under spec.data.
    let inner = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "legacy", "namespace": "app"}, "data": {"k": "dmFsdWU="}}))
    .unwrap();
    let blob = ksec_seal::hybrid::seal(key_a().public_key(), &inner, b"app/legacy").unwrap();
    fake.insert(
        SS,
        json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "legacy", "namespace": "app"},
        "spec": {"data": ksec_seal::hybrid::to_base64(&blob)}}),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("both synced", T, || {
        secret_data(&fake, "app", "tpl").is_some() && secret_data(&fake, "app", "legacy").is_some()
    })
    .await;
    let d = secret_data(&fake, "app", "tpl").unwrap();
    assert_eq!(d["url"], "postgres://admin:s3cret@db/ADMIN");
    assert!(!d.contains_key("pass"));
    assert_eq!(fake.get(SECRETS, "app", "tpl").unwrap()["immutable"], true);
    assert_eq!(secret_data(&fake, "app", "legacy").unwrap()["k"], "value");

    // An immutable Secret whose values change cannot be updated: reported, not deleted.
    let mut next = sealed(
        key_a(),
        plain_secret(
            "app",
            "tpl",
            &[("user", "root"), ("pass", "x")],
            json!({"immutable": true}),
        ),
    );
    next["metadata"] = fake.get(SS, "app", "tpl").unwrap()["metadata"].clone();
    fake.update(SS, next);
    wait_for("immutable reported", T, || {
        synced(&fake, "app", "tpl").is_some_and(|s| s.0 == "False" && s.1.contains("immutable"))
    })
    .await;
    assert_eq!(secret_data(&fake, "app", "tpl").unwrap()["user"], "admin");
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_label_selector_limit_what_is_watched() {
    let fake = cluster_with_key_a();
    let labelled = |ns: &str, name: &str| {
        let mut v = sealed(key_a(), plain_secret(ns, name, &[("a", "1")], json!({})));
        v["metadata"]["labels"] = json!({"ksec": "yes"});
        v
    };
    fake.insert(SS, labelled("team-a", "s"));
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("team-a", "unlabelled", &[("a", "1")], json!({})),
        ),
    );
    fake.insert(SS, labelled("team-b", "s"));
    let cfg = ksec_controller::Config {
        namespaces: ksec_controller::Namespaces::Only(vec!["team-a".into(), CONTROLLER_NS.into()]),
        label_selector: "ksec=yes".into(),
        ..test_config("r1")
    };
    let ctl = start(&fake, cfg);
    wait_for("team-a/s", T, || {
        secret_data(&fake, "team-a", "s").is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        fake.get(SECRETS, "team-b", "s").is_none(),
        "watched a namespace outside the list"
    );
    assert!(
        fake.get(SECRETS, "team-a", "unlabelled").is_none(),
        "ignored the label selector"
    );
    ctl.stop().await;
}
