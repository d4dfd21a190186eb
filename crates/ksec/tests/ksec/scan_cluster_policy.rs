//! `ksec scan --cluster --policy DIR` (feature `rego`) against the in-memory Kubernetes
//! API served over HTTPS: kubescape's secret rules find on the cluster what they find in
//! a file holding the same objects, name the live object, print no value, and a policy
//! that does not compile is refused, by file name, before the cluster is read.
use crate::common::ksec;
use crate::scan_cluster::{load, scan_cluster, write_objects};
use ksec_testkit::cluster::{ApiServer, FakeApi};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const CM_PASSWORD: &str = "Zq7vN2xw-configmap-pw";
const ENV_PASSWORD: &str = "Hx4mT9pl-env-pw";
const SECRET_PASSWORD: &str = "Lr8cK3yd-secret-pw";

/// A ConfigMap and a Pod env with credentials, a Secret the Pod mounts and reads into
/// its env, and a ServiceAccount whose Role reads Secrets.
fn objects() -> Vec<Value> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_PASSWORD);
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "settings", "namespace": "shop"},
               "data": {"db_password": CM_PASSWORD}}),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "db", "namespace": "shop"},
               "data": {"password": b64}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "app", "namespace": "shop"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "secret-reader", "namespace": "shop"},
               "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "app-reads-secrets", "namespace": "shop"},
               "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "api", "namespace": "shop"},
               "spec": {"serviceAccountName": "app",
                        "containers": [{"name": "c", "image": "shop/api:1", "command": ["/api", "--port=8080"],
                            "env": [{"name": "DB_PASSWORD", "value": ENV_PASSWORD},
                                    {"name": "DB_PASS_REF", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                            "volumeMounts": [{"name": "db", "mountPath": "/db"}]}],
                        "volumes": [{"name": "db", "secret": {"secretName": "db"}}]}}),
    ]
}

/// Rule, kind, namespace/name of each Rego finding.
fn rego(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"].as_str().unwrap().starts_with("REGO-"))
        .map(|f| {
            format!(
                "{} {}/{}/{}",
                f["rule"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["namespace"].as_str().unwrap_or("-"),
                f["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn kubescape_rules_find_on_a_cluster_what_they_find_in_a_file_of_the_same_objects() {
    let Some(fx) = ksec_testkit::fixtures() else {
        return;
    };
    let lib = fx.join("kubescape-regolibrary");
    let server = ApiServer::start(FakeApi::new());
    load(server.api(), &objects());
    let run = scan_cluster(&server, &["--policy", lib.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);

    let dir = ksec_testkit::tempdir();
    let file = write_objects(dir.path(), &objects());
    let out = ksec()
        .arg("scan")
        .arg(&file)
        .arg("--policy")
        .arg(&lib)
        .args(["-o", "json", "--fail-on", "low"])
        .output()
        .unwrap();
    let from_file: Value = serde_json::from_slice(&out.stdout).unwrap();

    let cluster = rego(&run.report);
    assert_eq!(cluster, rego(&from_file), "cluster and file differ");
    for expected in [
        "REGO-rule-credentials-configmap ConfigMap/shop/settings",
        "REGO-rule-credentials-in-env-var Pod/shop/api",
        "REGO-rule-secrets-in-env-var Pod/shop/api",
        "REGO-workload-mounted-secrets Pod/shop/api",
        "REGO-rule-can-list-get-secrets-v1 ServiceAccount/shop/app",
    ] {
        assert!(
            cluster.contains(expected),
            "{expected} missing: {cluster:?}"
        );
    }
    // Rules for kube-apiserver get its pod alone (kubescape's `apiserver-pod`
    // aggregator): an application's command line is not judged for etcd encryption.
    assert!(
        !cluster
            .iter()
            .any(|f| f.starts_with("REGO-etcd-encryption-native")),
        "{cluster:?}"
    );
    // Findings name the live object (a subject: through its binding), never a file.
    let findings = run.report["findings"].as_array().unwrap();
    let file_of = |rule: &str| {
        findings
            .iter()
            .find(|f| f["rule"] == rule)
            .map(|f| f["file"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        file_of("REGO-rule-credentials-configmap"),
        "ConfigMap/shop/settings"
    );
    assert_eq!(file_of("REGO-workload-mounted-secrets"), "Pod/shop/api");
    assert_eq!(
        file_of("REGO-rule-can-list-get-secrets-v1"),
        "RoleBinding/shop/app-reads-secrets"
    );
    let notes = run.report["notes"].to_string();
    assert!(
        notes.contains("rule(s) evaluated on 6 cluster object(s)"),
        "{notes}"
    );
    for value in [CM_PASSWORD, ENV_PASSWORD, SECRET_PASSWORD] {
        assert!(
            !run.stdout.contains(value) && !run.stderr.contains(value),
            "{value} printed"
        );
    }
}

#[test]
fn a_policy_that_does_not_compile_is_named_before_the_cluster_is_read() {
    let dir = ksec_testkit::tempdir();
    std::fs::write(
        dir.path().join("bad.rego"),
        "package ksec.bad\n\ndeny contains msga if {\n\tmsga := \n}\n",
    )
    .unwrap();
    let server = ApiServer::start(FakeApi::new());
    let run = scan_cluster(&server, &["--policy", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("bad.rego"), "{}", run.stderr);
    assert!(server.requests().is_empty(), "the cluster was read");
}
