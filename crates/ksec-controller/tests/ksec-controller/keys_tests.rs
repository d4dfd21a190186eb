//! Sealing keys: takeover of Bitnami key Secrets, first-start generation, renewal,
//! cutoff, ordering, broken key Secrets, keys added while running, key preference.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use ksec_testkit::cluster::FakeApi;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_generates_a_bitnami_format_key_secret() {
    let fake = FakeApi::new();
    let ctl = start(&fake, test_config("r1"));
    wait_for("a key", T, || !ctl.handles.keys.is_empty()).await;
    let keys: Vec<_> = fake
        .list(SECRETS)
        .into_iter()
        .filter(|s| s["metadata"]["namespace"] == CONTROLLER_NS)
        .collect();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["type"], "kubernetes.io/tls");
    assert_eq!(
        k["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    assert!(k["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("sealed-secrets-key"));
    // The stored Secret is what Bitnami's tooling reads back (kubeseal --recovery-unseal).
    let bytes = serde_json::to_vec(k).unwrap();
    let loaded = ksec_seal::keys::load_private_keys(&bytes, "key Secret").unwrap();
    assert_eq!(loaded.len(), 1);
    let cert = loaded[0].cert.as_ref().unwrap();
    // Bitnami's default --my-cn is empty, and so is the subject of its certificates.
    assert_eq!(cert.common_name, None);
    assert_eq!(ctl.handles.keys.cert_pem().unwrap(), cert.to_pem());
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_bitnami_keys_are_used_never_deleted_and_the_newest_seals() {
    let fake = FakeApi::new();
    // Two keys from a Bitnami controller: B's certificate is newer.
    let old_cert = cert_aged(key_a(), Duration::from_secs(3 * 86400)).to_pem();
    let new_cert = cert_aged(key_b(), Duration::from_secs(86400)).to_pem();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keyolder", key_a(), old_cert.as_bytes()),
    );
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keynewer", key_b(), new_cert.as_bytes()),
    );
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "old", &[("a", "1")], json!({})),
        ),
    );
    fake.insert(
        SS,
        sealed(
            key_b(),
            plain_secret("app", "new", &[("a", "2")], json!({})),
        ),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("both synced", T, || {
        secret_data(&fake, "app", "old").is_some() && secret_data(&fake, "app", "new").is_some()
    })
    .await;
    assert_eq!(
        ctl.handles.keys.len(),
        2,
        "no key should have been generated"
    );
    assert_eq!(
        ctl.handles.keys.newest().unwrap().name,
        "sealed-secrets-keynewer"
    );
    assert_eq!(ctl.handles.keys.cert_pem().unwrap(), new_cert);
    ctl.stop().await;
    assert!(fake
        .get(SECRETS, CONTROLLER_NS, "sealed-secrets-keyolder")
        .is_some());

    // --key-order-priority SecretCreationTimestamp: the Secret created last wins, here A.
    let fake2 = FakeApi::new();
    fake2.insert(
        SECRETS,
        key_secret("sealed-secrets-keyb", key_b(), new_cert.as_bytes()),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // creationTimestamp has 1 s resolution
    fake2.insert(
        SECRETS,
        key_secret("sealed-secrets-keya", key_a(), old_cert.as_bytes()),
    );
    let cfg = ksec_controller::Config {
        key_order: ksec_controller::KeyOrder::SecretCreationTimestamp,
        ..test_config("r1")
    };
    let ctl = start(&fake2, cfg);
    wait_for("keys", T, || ctl.handles.keys.len() == 2).await;
    assert_eq!(
        ctl.handles.keys.newest().unwrap().name,
        "sealed-secrets-keya"
    );
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_adds_a_key_when_the_newest_is_due_and_cutoff_forces_one() {
    // Newest key is 2 days old with a 1-day renew period: a new key at once, old kept.
    let fake = FakeApi::new();
    let aged = cert_aged(key_a(), Duration::from_secs(2 * 86400)).to_pem();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keyaged", key_a(), aged.as_bytes()),
    );
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let cfg = ksec_controller::Config {
        key_renew_period: Duration::from_secs(86400),
        ..test_config("r1")
    };
    let ctl = start(&fake, cfg);
    wait_for("renewed", T, || ctl.handles.keys.len() == 2).await;
    assert_ne!(
        ctl.handles.keys.newest().unwrap().name,
        "sealed-secrets-keyaged"
    );
    wait_for("old values still open", T, || {
        secret_data(&fake, "app", "s").is_some()
    })
    .await;
    ctl.stop().await;

    // Renewal disabled (0): no new key even though the key is old.
    let fake = FakeApi::new();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keyaged", key_a(), aged.as_bytes()),
    );
    let cfg = ksec_controller::Config {
        key_renew_period: Duration::ZERO,
        ..test_config("r1")
    };
    let ctl = start(&fake, cfg);
    wait_for("leading", T, || {
        ctl.handles
            .leading
            .load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ctl.handles.keys.len(), 1);
    ctl.stop().await;

    // --key-cutoff-time after the newest key: a new key at start, even with renewal off.
    let fake = FakeApi::new();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keyaged", key_a(), aged.as_bytes()),
    );
    let cfg = ksec_controller::Config {
        key_renew_period: Duration::ZERO,
        key_cutoff_time: Some(std::time::SystemTime::now() - Duration::from_secs(3600)),
        ..test_config("r1")
    };
    let ctl = start(&fake, cfg);
    wait_for("cutoff key", T, || ctl.handles.keys.len() == 2).await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_period_elapsing_while_running_adds_keys_with_configured_labels() {
    let fake = FakeApi::new();
    let cfg = ksec_controller::Config {
        key_renew_period: Duration::from_secs(2),
        privatekey_labels: [("team".to_string(), "platform".to_string())].into(),
        privatekey_annotations: [("owner".to_string(), "sec".to_string())].into(),
        my_cn: "ksec-test".into(),
        ..test_config("r1")
    };
    let ctl = start(&fake, cfg);
    wait_for("first key", T, || ctl.handles.keys.len() == 1).await;
    wait_for("renewed key", T, || ctl.handles.keys.len() >= 2).await;
    let cert = ctl.handles.keys.newest().unwrap().key.cert.clone().unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("ksec-test"), "--my-cn");
    for k in fake.list(SECRETS) {
        assert_eq!(k["metadata"]["labels"]["team"], "platform");
        assert_eq!(
            k["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
            "active"
        );
        assert_eq!(k["metadata"]["annotations"]["owner"], "sec");
    }
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_key_secret_is_skipped_and_reported_and_compromised_keys_ignored() {
    let fake = FakeApi::new();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keygood", key_a(), &cert_a_pem()),
    );
    let mut broken = key_secret("sealed-secrets-keybroken", key_b(), &cert_a_pem());
    broken["data"]["tls.key"] = json!(base64_of(
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"
    ));
    fake.insert(SECRETS, broken);
    let mut mismatched = key_secret("sealed-secrets-keymismatch", key_b(), &cert_a_pem());
    mismatched["metadata"]["name"] = json!("sealed-secrets-keymismatch");
    fake.insert(SECRETS, mismatched);
    let mut compromised = key_secret("sealed-secrets-keycompromised", key_b(), &cert_a_pem());
    compromised["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"] =
        json!("compromised");
    fake.insert(SECRETS, compromised);
    fake.insert(
        SS,
        sealed(key_a(), plain_secret("app", "s", &[("a", "1")], json!({}))),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("synced with the good key", T, || {
        secret_data(&fake, "app", "s").is_some()
    })
    .await;
    assert_eq!(ctl.handles.keys.len(), 1);
    let bad = ctl.handles.keys.bad_keys();
    let names: Vec<&str> = bad.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{bad:?}");
    assert!(names.contains(&"sealed-secrets-keybroken"));
    assert!(
        bad.iter().any(|b| b.name == "sealed-secrets-keymismatch"
            && b.problem.contains("does not hold the public key")),
        "{bad:?}"
    );
    assert!(
        bad.iter().all(|b| !b.problem.contains("MII")),
        "key material in a message: {bad:?}"
    );
    // Each unusable key Secret gets a Warning event saying why.
    wait_for("ErrKeyUnusable events", T, || {
        event_reasons(&fake, "sealed-secrets-keybroken").contains(&"ErrKeyUnusable".to_string())
            && event_reasons(&fake, "sealed-secrets-keymismatch")
                .contains(&"ErrKeyUnusable".to_string())
    })
    .await;
    // Nothing was deleted.
    assert!(fake
        .get(SECRETS, CONTROLLER_NS, "sealed-secrets-keybroken")
        .is_some());
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_while_running_opens_what_failed_before() {
    let fake = cluster_with_key_a();
    fake.insert(
        SS,
        sealed(
            key_b(),
            plain_secret("app", "waiting", &[("a", "1")], json!({})),
        ),
    );
    let ctl = start(&fake, test_config("r1"));
    wait_for("failure reported", T, || {
        synced(&fake, "app", "waiting").is_some_and(|s| s.0 == "False")
    })
    .await;
    // An operator restores key B from a backup (Bitnami format).
    let cert_b = cert_aged(key_b(), Duration::from_secs(10 * 86400)).to_pem();
    fake.insert(
        SECRETS,
        key_secret("sealed-secrets-keyrestored", key_b(), cert_b.as_bytes()),
    );
    wait_for("opened with the restored key", T, || {
        synced(&fake, "app", "waiting").is_some_and(|s| s.0 == "True")
    })
    .await;
    assert_eq!(secret_data(&fake, "app", "waiting").unwrap()["a"], "1");
    ctl.stop().await;
}

#[test]
fn the_key_that_opened_an_object_last_is_tried_first() {
    use ksec_controller::keyring::{KeyRing, RegisteredKey};
    use ksec_seal::keys::SealingKey;
    let ring = KeyRing::new();
    let reg = |name: &str, key: &ksec_crypto::rsa::RsaPrivateKey, age: u64| RegisteredKey {
        name: name.into(),
        key: SealingKey {
            key: key.clone(),
            cert: None,
            source: name.into(),
        },
        ordering_time: std::time::SystemTime::now() - Duration::from_secs(age),
        fingerprint: key.public_key().ssh_fingerprint(),
    };
    ring.replace(vec![reg("a", key_a(), 100), reg("b", key_b(), 10)], vec![]);
    let v = sealed(
        key_a(),
        plain_secret("app", "s", &[("x", "1"), ("y", "2")], json!({})),
    );
    let names = |hint: Option<&str>| -> Vec<String> {
        ring.preferred(hint)
            .iter()
            .map(|k| k.name.clone())
            .collect()
    };
    // Cold: newest first, so B is tried (and fails) before A opens it.
    assert_eq!(names(None), ["b", "a"]);
    let (_, best) = ksec_controller::reconcile::unseal_with_ring(&v, &ring, None).unwrap();
    let fp_a = key_a().public_key().ssh_fingerprint();
    let fp_b = key_b().public_key().ssh_fingerprint();
    assert_eq!(best.as_deref(), Some(fp_a.as_str()));
    // The object's own hint comes first…
    assert_eq!(names(Some(&fp_a)), ["a", "b"]);
    assert_eq!(names(Some(&fp_b)), ["b", "a"]);
    // …and objects seen for the first time try the key that opened the most values.
    assert_eq!(names(None), ["a", "b"]);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
