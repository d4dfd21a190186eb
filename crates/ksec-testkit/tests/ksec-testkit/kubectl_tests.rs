//! The real kubectl as a peer against the HTTPS fake: what it creates, applies, patches
//! and deletes lands in the store, what the store holds it reads back, and it is refused
//! without valid credentials.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};

use crate::https_tests::echo_upstream;

/// Runs kubectl with `kubeconfig` (stdin closed: it must never wait for a prompt).
fn kubectl(kubeconfig: &Path, args: &[&str]) -> Option<Output> {
    let bin = ksec_testkit::peer("kubectl")?;
    Some(
        Command::new(bin)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// Runs kubectl and returns its stdout, failing the test on a non-zero exit.
fn ok(kubeconfig: &Path, args: &[&str]) -> Option<String> {
    let out = kubectl(kubeconfig, args)?;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: apps, labels: {tier: db}}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: apps, labels: {tier: web}}
data: {level: debug}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        env: [{name: LEVEL, value: debug}]
      - {name: sidecar, image: envoy:1}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: apps}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: busybox}]
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: sealed, namespace: apps}
spec:
  encryptedData: {password: AgBy3i4OJSWK}
  template:
    metadata: {name: sealed, namespace: apps}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: read-secrets}
subjects:
- {kind: ServiceAccount, name: default, namespace: apps}
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
"#;

#[test]
fn kubectl_applies_manifests_and_reads_them_back() {
    let server = ApiServer::start(FakeApi::new());
    let kc = server.kubeconfig(Credentials::ClientCertificate);
    let dir = ksec_testkit::tempdir();
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, MANIFESTS).unwrap();
    let file = file.to_str().unwrap();
    let Some(out) = ok(&kc, &["apply", "-f", file]) else {
        return;
    };
    assert!(
        out.contains("sealedsecret.bitnami.com/sealed created"),
        "{out}"
    );
    assert!(out.contains("clusterrolebinding.rbac.authorization.k8s.io/read-secrets created"));

    let api = server.api();
    assert_eq!(
        api.get_kind("v1", "Secret", "apps", "db").unwrap()["data"]["password"],
        "aHVudGVyMg=="
    );
    let sealed = api
        .get_kind("bitnami.com/v1alpha1", "SealedSecret", "apps", "sealed")
        .unwrap();
    assert_eq!(sealed["spec"]["encryptedData"]["password"], "AgBy3i4OJSWK");
    assert!(api
        .get_kind(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "",
            "secret-reader"
        )
        .is_some());
    assert!(api
        .get_kind("batch/v1", "CronJob", "apps", "backup")
        .is_some());

    // A second apply changes only what changed: the image and the sealed value, by
    // strategic merge (the sidecar stays) and by JSON merge patch (the custom resource).
    let changed = MANIFESTS
        .replace("nginx:1", "nginx:2")
        .replace("AgBy3i4OJSWK", "AgAAAAAA");
    std::fs::write(file, changed).unwrap();
    let out = ok(&kc, &["apply", "-f", file]).unwrap();
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("configmap/settings unchanged"), "{out}");
    let web = api
        .get_kind("apps/v1", "Deployment", "apps", "web")
        .unwrap();
    let containers = &web["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "nginx:2");
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "LEVEL", "value": "debug"}])
    );
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(web["metadata"]["generation"], 2);
    assert!(api
        .writes()
        .iter()
        .any(|w| w == "PATCH /apis/bitnami.com/v1alpha1/namespaces/apps/sealedsecrets/sealed"));

    // Reading back with selectors, in kubectl's table and as JSON.
    let out = ok(
        &kc,
        &[
            "get",
            "secrets,configmaps",
            "-n",
            "apps",
            "-l",
            "tier in (db,web)",
            "-o",
            "name",
        ],
    )
    .unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["secret/db", "configmap/settings"]
    );
    let out = ok(
        &kc,
        &[
            "get",
            "secrets",
            "-A",
            "--field-selector",
            "metadata.name=db",
        ],
    )
    .unwrap();
    assert!(
        out.starts_with("NAMESPACE") && out.contains("apps") && out.contains("db"),
        "{out}"
    );
    let all: Value = serde_json::from_str(
        &ok(
            &kc,
            &["get", "clusterroles,clusterrolebindings", "-o", "json"],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[test]
fn kubectl_generators_labels_patches_and_deletes() {
    let server = ApiServer::start(FakeApi::new());
    let kc = server.kubeconfig(Credentials::Token);
    // The typed generators send protobuf.
    let Some(_) = ok(&kc, &["create", "namespace", "team-a"]) else {
        return;
    };
    ok(
        &kc,
        &[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "team-a",
            "--from-literal=user=admin",
        ],
    )
    .unwrap();
    ok(
        &kc,
        &[
            "create",
            "configmap",
            "c1",
            "-n",
            "team-a",
            "--from-literal=k=v",
        ],
    )
    .unwrap();
    ok(&kc, &["create", "serviceaccount", "robot", "-n", "team-a"]).unwrap();
    ok(
        &kc,
        &[
            "create",
            "role",
            "r",
            "-n",
            "team-a",
            "--verb=get",
            "--resource=secrets",
        ],
    )
    .unwrap();
    ok(
        &kc,
        &[
            "create",
            "rolebinding",
            "rb",
            "-n",
            "team-a",
            "--role=r",
            "--serviceaccount=team-a:robot",
        ],
    )
    .unwrap();
    let api = server.api();
    let s1 = api.get_kind("v1", "Secret", "team-a", "s1").unwrap();
    assert_eq!(s1["data"]["user"], "YWRtaW4=");
    assert_eq!(
        api.get_kind("v1", "ConfigMap", "team-a", "c1").unwrap()["data"]["k"],
        "v"
    );
    assert!(api
        .get_kind("v1", "ServiceAccount", "team-a", "robot")
        .is_some());
    let role = api
        .get_kind("rbac.authorization.k8s.io/v1", "Role", "team-a", "r")
        .unwrap();
    assert_eq!(role["rules"][0]["resources"], json!(["secrets"]));
    assert_eq!(role["rules"][0]["verbs"], json!(["get"]));
    let rb = api
        .get_kind(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "team-a",
            "rb",
        )
        .unwrap();
    assert_eq!(rb["subjects"][0]["name"], "robot");
    assert_eq!(rb["roleRef"]["name"], "r");

    ok(&kc, &["label", "secret", "s1", "-n", "team-a", "owner=me"]).unwrap();
    ok(
        &kc,
        &[
            "patch",
            "configmap",
            "c1",
            "-n",
            "team-a",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/data/k","value":"w"}]"#,
        ],
    )
    .unwrap();
    ok(
        &kc,
        &[
            "patch",
            "configmap",
            "c1",
            "-n",
            "team-a",
            "-p",
            r#"{"data":{"n":"1"}}"#,
        ],
    )
    .unwrap();
    assert_eq!(
        api.get_kind("v1", "Secret", "team-a", "s1").unwrap()["metadata"]["labels"]["owner"],
        "me"
    );
    assert_eq!(
        api.get_kind("v1", "ConfigMap", "team-a", "c1").unwrap()["data"],
        json!({"k": "w", "n": "1"})
    );
    let out = ok(
        &kc,
        &[
            "get",
            "secret",
            "s1",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.user}",
        ],
    )
    .unwrap();
    assert_eq!(out, "YWRtaW4=");
    ok(&kc, &["delete", "secret", "s1", "-n", "team-a"]).unwrap();
    assert!(api.get_kind("v1", "Secret", "team-a", "s1").is_none());
    let out = ok(&kc, &["auth", "can-i", "get", "secrets"]).unwrap();
    assert_eq!(out.trim(), "yes");
}

#[test]
fn kubectl_sees_objects_loaded_from_files_and_the_service_proxy() {
    let server = ApiServer::start(FakeApi::new());
    let dir = ksec_testkit::tempdir();
    let file = dir.path().join("list.json");
    std::fs::write(
        &file,
        json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
             "spec": {"ports": [{"name": "http", "port": 8080}]}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "key", "namespace": "kube-system",
                          "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
             "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}
        ]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(server.api().load_file(&file).len(), 2);
    server
        .api()
        .forward_service("kube-system", "sealed-secrets-controller", echo_upstream(1));
    for credentials in [Credentials::Exec, Credentials::TokenFile] {
        let kc = server.kubeconfig(credentials);
        let Some(out) = ok(
            &kc,
            &[
                "get",
                "secrets",
                "-n",
                "kube-system",
                "-l",
                "sealedsecrets.bitnami.com/sealed-secrets-key",
                "-o",
                "name",
            ],
        ) else {
            return;
        };
        assert_eq!(out.trim(), "secret/key", "{credentials:?}");
    }
    let kc = server.kubeconfig(Credentials::ClientCertificate);
    let out = ok(
        &kc,
        &["get", "--raw",
          "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"],
    )
    .unwrap();
    assert_eq!(out, "GET /v1/cert.pem ");
}

#[test]
fn kubectl_without_valid_credentials_is_unauthorized() {
    let server = ApiServer::start(FakeApi::new());
    for credentials in [
        Credentials::None,
        Credentials::WrongToken,
        Credentials::UntrustedClientCertificate,
        Credentials::FailingExec,
    ] {
        let Some(out) = kubectl(&server.kubeconfig(credentials), &["get", "secrets"]) else {
            return;
        };
        assert!(!out.status.success(), "{credentials:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kubectl words a 401 met during discovery differently from one on a request.
        let unauthorized =
            stderr.contains("Unauthorized") || stderr.contains("provide credentials");
        let expected = match credentials {
            Credentials::FailingExec => stderr.contains("you are not logged in"),
            // Without any credentials kubectl asks for a user name before it sends
            // anything, and gives up on the closed stdin.
            Credentials::None => stderr.contains("EOF") || unauthorized,
            _ => unauthorized,
        };
        assert!(expected, "{credentials:?}: {stderr}");
    }
    assert!(server.requests().iter().all(|r| r.status == 401));
    assert!(server.api().writes().is_empty());
}
