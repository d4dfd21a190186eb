//! Two replicas: exactly one leads and writes; the other takes over when it stops.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_both_lead_and_the_second_takes_over() {
    let fake = cluster_with_key_a();
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "one", &[("a", "1")], json!({})),
        ),
    );
    let r1 = start(&fake, test_config("replica-1"));
    let r2 = start(&fake, test_config("replica-2"));
    wait_for("a leader", T, || {
        r1.handles.leading.load(Ordering::SeqCst) || r2.handles.leading.load(Ordering::SeqCst)
    })
    .await;
    wait_for("synced", T, || secret_data(&fake, "app", "one").is_some()).await;
    // For a while, never both.
    for _ in 0..40 {
        let both =
            r1.handles.leading.load(Ordering::SeqCst) && r2.handles.leading.load(Ordering::SeqCst);
        assert!(!both, "both replicas lead");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let lease = fake
        .get(
            "coordination.k8s.io/leases",
            CONTROLLER_NS,
            "sealed-secrets-controller",
        )
        .unwrap();
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    // Only the leader reconciled: the follower's metrics saw no unseal request.
    let (leader, follower) = if holder == "replica-1" {
        (r1, r2)
    } else {
        (r2, r1)
    };
    assert!(leader.handles.leading.load(Ordering::SeqCst));
    assert!(!follower
        .handles
        .metrics
        .render()
        .contains("unseal_requests_total 1"));
    // Both replicas serve the certificate.
    assert!(follower.handles.keys.cert_pem().is_some());

    leader.stop().await;
    wait_for("the follower takes over", T, || {
        follower.handles.leading.load(Ordering::SeqCst)
    })
    .await;
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "two", &[("a", "2")], json!({})),
        ),
    );
    wait_for("new leader syncs", T, || {
        secret_data(&fake, "app", "two").is_some()
    })
    .await;
    let lease = fake
        .get(
            "coordination.k8s.io/leases",
            CONTROLLER_NS,
            "sealed-secrets-controller",
        )
        .unwrap();
    assert_ne!(lease["spec"]["holderIdentity"], json!(holder));
    assert!(lease["spec"]["leaseTransitions"].as_i64().unwrap() >= 1);
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_after_the_lease_expires() {
    let fake = cluster_with_key_a();
    // A Lease held by a replica that no longer renews it.
    fake.insert(
        "coordination.k8s.io/leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "sealed-secrets-controller", "namespace": CONTROLLER_NS},
               "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                        "renewTime": "2026-01-01T00:00:00.000000Z"}}),
    );
    let r = start(&fake, test_config("replica-new"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !r.handles.leading.load(Ordering::SeqCst),
        "took over before the lease duration passed"
    );
    wait_for("takeover", T, || r.handles.leading.load(Ordering::SeqCst)).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_writing() {
    let fake = cluster_with_key_a();
    let r = start(&fake, test_config("replica-1"));
    wait_for("leading", T, || r.handles.leading.load(Ordering::SeqCst)).await;
    fake.fail(|_, p| p.contains("/leases/").then_some(500));
    wait_for("stepped down", T, || {
        !r.handles.leading.load(Ordering::SeqCst)
    })
    .await;
    fake.insert(
        SS,
        sealed(
            key_a(),
            plain_secret("app", "late", &[("a", "1")], json!({})),
        ),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        fake.get(SECRETS, "app", "late").is_none(),
        "a replica without the Lease wrote"
    );
    fake.clear_faults();
    wait_for("leads again and syncs", T, || {
        secret_data(&fake, "app", "late").is_some()
    })
    .await;
    r.stop().await;
}
