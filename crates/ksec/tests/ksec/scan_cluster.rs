//! `ksec scan --cluster` against the in-memory Kubernetes API served over HTTPS with a
//! kubeconfig, as a user runs it: the same findings as a file scan of the same objects
//! (the scan corpus and every kubescape test case), Secrets read as metadata only (proved
//! from the server's request log), 403s skipped while the scan goes on, one namespace or
//! all, controllers judged once, kube-apiserver's files read when the API serves them.
use crate::common::ksec;
use crate::scan::{corpus, secrets};
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// The store keys of the kinds a cluster scan reads.
fn resource_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "CronJob" => "batch/cronjobs",
        "Job" => "batch/jobs",
        "Deployment" => "apps/deployments",
        "StatefulSet" => "apps/statefulsets",
        "DaemonSet" => "apps/daemonsets",
        "ReplicaSet" => "apps/replicasets",
        "Pod" => "core/pods",
        "ServiceAccount" => "core/serviceaccounts",
        "ConfigMap" => "core/configmaps",
        "Secret" => "core/secrets",
        "Role" => "rbac.authorization.k8s.io/roles",
        "RoleBinding" => "rbac.authorization.k8s.io/rolebindings",
        "ClusterRole" => "rbac.authorization.k8s.io/clusterroles",
        "ClusterRoleBinding" => "rbac.authorization.k8s.io/clusterrolebindings",
        "SealedSecret" => "bitnami.com/sealedsecrets",
        _ => return None,
    })
}

/// The objects of a YAML or JSON file (lists and arrays flattened).
fn objects_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let docs = ksec_scan::yaml::parse_stream(&text, ksec_scan::yaml::Limits::default()).unwrap();
    let mut out = vec![];
    for d in docs {
        match d.value {
            Value::Array(items) => out.extend(items),
            v if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                out.extend(v["items"].as_array().cloned().unwrap_or_default())
            }
            v => out.push(v),
        }
    }
    out
}

/// The objects a cluster scan would read, once each (kind, namespace, name).
fn readable(objects: Vec<Value>) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    objects
        .into_iter()
        .filter(|o| {
            let Some(kind) = o["kind"].as_str().filter(|k| resource_of(k).is_some()) else {
                return false;
            };
            let key = (
                kind.to_string(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            seen.insert(key)
        })
        .collect()
}

pub fn load(api: &FakeApi, objects: &[Value]) {
    for o in objects {
        api.insert(resource_of(o["kind"].as_str().unwrap()).unwrap(), o.clone());
    }
}

fn unload(api: &FakeApi, objects: &[Value]) {
    for o in objects {
        let key = resource_of(o["kind"].as_str().unwrap()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        let ns = if key.contains("cluster") {
            ""
        } else {
            o["metadata"]["namespace"].as_str().unwrap_or("default")
        };
        api.delete(key, ns, name);
    }
}

pub struct Run {
    pub report: Value,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn scan_cluster(server: &ApiServer, extra: &[&str]) -> Run {
    let out = ksec()
        .args([
            "scan",
            "--cluster",
            "-o",
            "json",
            "--fail-on",
            "low",
            "--kubeconfig",
        ])
        .arg(server.kubeconfig(Credentials::Token))
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    Run {
        report,
        code: out.status.code().unwrap(),
        stdout,
        stderr,
    }
}

fn scan_files(path: &Path) -> Value {
    let out = ksec()
        .arg("scan")
        .arg(path)
        .args(["-o", "json", "--fail-on", "low"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A finding without where it was read from (file, line, fingerprint); a missing
/// namespace is `default`, as the API server stores it.
fn essence(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] != "KSEC-SECRET-PLAINTEXT")
        .map(|f| {
            format!(
                "{} {} {}/{}/{} {} | {} | {}",
                f["rule"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["namespace"].as_str().unwrap_or("default"),
                f["name"].as_str().unwrap(),
                f["path"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
                f.get("related").map(Value::to_string).unwrap_or_default(),
            )
        })
        .collect()
}

/// Writes `objects` as one multi-document file for the file scan.
pub fn write_objects(dir: &Path, objects: &[Value]) -> std::path::PathBuf {
    let text: String = objects.iter().map(|o| format!("---\n{o}\n")).collect();
    let p = dir.join("objects.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_corpus_from_a_cluster_gives_the_findings_of_its_files_and_no_secret_data_is_requested() {
    let d = ksec_testkit::tempdir();
    corpus(d.path());
    let mut objects = vec![];
    for f in [
        "secret.yaml",
        "deploy.yaml",
        "configmap.yaml",
        "rbac.yaml",
        "sealed.yaml",
    ] {
        objects.extend(objects_of(&d.path().join(f)));
    }
    let objects = readable(objects);
    let server = ApiServer::start(FakeApi::new());
    load(server.api(), &objects);
    let run = scan_cluster(&server, &[]);
    assert_eq!(run.code, 1, "high findings: {}\n{}", run.stdout, run.stderr);
    let files_dir = ksec_testkit::tempdir();
    let files = scan_files(&write_objects(files_dir.path(), &objects));
    let (cluster, from_files) = (essence(&run.report), essence(&files));
    assert!(!cluster.is_empty());
    assert_eq!(
        cluster, from_files,
        "cluster findings differ from file findings"
    );
    // Files have a plaintext Secret; in a cluster a Secret is where it belongs.
    assert!(files["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "KSEC-SECRET-PLAINTEXT"));
    let findings = run.report["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .all(|f| f["rule"] != "KSEC-SECRET-PLAINTEXT"));
    // Findings name the object instead of a file.
    let env = findings
        .iter()
        .find(|f| f["rule"] == "KSEC-ENV-CREDENTIAL")
        .unwrap();
    assert_eq!(env["file"], "Deployment/shop/api");
    assert_eq!(env["line"], 0);
    let rbac = findings
        .iter()
        .find(|f| f["rule"] == "KSEC-RBAC-SECRETS")
        .unwrap();
    assert_eq!(rbac["file"], "ClusterRoleBinding/read-secrets");
    // Every request for Secrets asked for metadata only, and none named a Secret.
    let requests = server.requests();
    let secret_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/secrets"))
        .collect();
    assert!(!secret_requests.is_empty(), "Secrets were listed");
    for r in &secret_requests {
        assert!(
            r.accept.contains("as=PartialObjectMetadataList"),
            "a request for Secret data: {r:?}"
        );
        assert!(
            r.path.ends_with("/secrets"),
            "a single Secret was read: {r:?}"
        );
        assert_eq!(r.method, "GET");
    }
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "the scan only reads"
    );
    // The server's answers to those requests, replayed as they were sent, hold no value of
    // a Secret; the same list asked for whole objects does (so the replay can tell).
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let answer = |path: &str, query: &str, accept: &str| {
        http.get(format!("{}{path}?{query}", server.url()))
            .bearer_auth(server.token())
            .header("Accept", accept)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let leaks = |body: &str| {
        use base64::Engine;
        secrets().iter().any(|s| {
            body.contains(s.as_str())
                || body.contains(&base64::engine::general_purpose::STANDARD.encode(s))
        })
    };
    for r in &secret_requests {
        let body = answer(&r.path, &r.query, &r.accept);
        let list: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list["kind"], "PartialObjectMetadataList", "{body}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{body}");
        assert!(!leaks(&body) && !body.contains("\"data\""), "{body}");
        let whole = answer(&r.path, &r.query, "application/json");
        assert!(leaks(&whole), "the whole list carries the values: {whole}");
    }
    // Nothing of the Secrets' values reaches the report.
    for secret in secrets() {
        let tail = &secret[secret.len() - 10..];
        assert!(!run.stdout.contains(tail) && !run.stderr.contains(tail));
    }
    let notes = run.report["notes"].to_string();
    assert!(
        notes.contains("1 Secret(s) read as metadata only"),
        "{notes}"
    );
    assert!(notes.contains("every namespace"), "{notes}");
}

/// kubescape's test inputs of the implemented controls, case by case: what the cluster
/// scan finds on the objects the API serves is what the file scan finds on them.
#[test]
fn kubescape_cases_from_a_cluster_give_the_findings_of_their_files() {
    let Some(fx) = ksec_testkit::fixtures() else {
        return;
    };
    let rules = fx.join("kubescape-regolibrary/rules");
    let server = ApiServer::start(FakeApi::new());
    let (mut compared, mut with_findings) = (0, 0);
    let mut rule_dirs: Vec<_> = std::fs::read_dir(&rules)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    rule_dirs.sort();
    for rule in rule_dirs {
        let Ok(cases) = std::fs::read_dir(rule.join("test")) else {
            continue;
        };
        let mut cases: Vec<_> = cases.map(|e| e.unwrap().path()).collect();
        cases.sort();
        for case in cases {
            let mut inputs = vec![];
            if case.join("input.yaml").is_file() {
                inputs.push(case.join("input.yaml"));
            }
            if let Ok(rd) = std::fs::read_dir(case.join("input")) {
                inputs.extend(rd.map(|e| e.unwrap().path()));
            }
            inputs.sort();
            let objects = readable(inputs.iter().flat_map(|p| objects_of(p)).collect());
            if objects.is_empty() {
                continue;
            }
            load(server.api(), &objects);
            let run = scan_cluster(&server, &[]);
            unload(server.api(), &objects);
            let dir = ksec_testkit::tempdir();
            let files = scan_files(&write_objects(dir.path(), &objects));
            let name = format!(
                "{}/{}",
                rule.file_name().unwrap().to_string_lossy(),
                case.file_name().unwrap().to_string_lossy()
            );
            assert_ne!(run.code, 2, "{name}: {}\n{}", run.stdout, run.stderr);
            let cluster = essence(&run.report);
            assert_eq!(cluster, essence(&files), "{name}");
            compared += 1;
            with_findings += usize::from(!cluster.is_empty());
        }
    }
    assert!(compared >= 50, "only {compared} cases compared");
    assert!(
        with_findings >= 30,
        "only {with_findings} cases with findings"
    );
    eprintln!("{compared} kubescape cases compared, {with_findings} with findings");
}

fn deployment(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "x",
                "env": [{"name": "DB_PASSWORD", "value": "hunter2-in-env"}]}]}}}
    })
}

fn files_of(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn forbidden_lists_are_skipped_and_the_scan_goes_on() {
    let server = ApiServer::start(FakeApi::new());
    server
        .api()
        .insert("apps/deployments", deployment("shop", "api"));
    server.api().fail(|_, path| {
        (path.ends_with("/secrets") || path.ends_with("/clusterroles")).then_some(403)
    });
    let run = scan_cluster(&server, &[]);
    assert_eq!(run.code, 2, "something was skipped: {}", run.stdout);
    let skipped: Vec<String> = run.report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["file"].as_str().unwrap(),
                s["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[0].starts_with("clusterroles: forbidden (403)"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].starts_with("secrets (all namespaces): forbidden (403)"),
        "{skipped:?}"
    );
    assert!(
        files_of(&run.report).contains("Deployment/shop/api"),
        "the scan went on"
    );
    assert!(run.stderr.contains("-n NAMESPACE"), "{}", run.stderr);
}

#[test]
fn one_namespace_or_all() {
    let server = ApiServer::start(FakeApi::new());
    for ns in ["shop", "blog"] {
        server
            .api()
            .insert("apps/deployments", deployment(ns, "api"));
    }
    let all = scan_cluster(&server, &[]);
    assert_eq!(
        files_of(&all.report),
        BTreeSet::from([
            "Deployment/blog/api".to_string(),
            "Deployment/shop/api".to_string()
        ])
    );
    assert_eq!(
        files_of(&scan_cluster(&server, &["-A"]).report),
        files_of(&all.report)
    );
    let before = server.requests().len();
    let shop = scan_cluster(&server, &["-n", "shop"]);
    assert_eq!(
        files_of(&shop.report),
        BTreeSet::from(["Deployment/shop/api".to_string()])
    );
    // Namespaced lists stay in the namespace; RBAC's cluster-wide lists and the
    // kube-apiserver lookup in kube-system are the only others.
    for r in &server.requests()[before..] {
        let ok = r.path.contains("/namespaces/shop/")
            || r.path.ends_with("/clusterroles")
            || r.path.ends_with("/clusterrolebindings")
            || (r.path == "/api/v1/namespaces/kube-system/pods"
                && r.query.contains("labelSelector=component%3Dkube-apiserver"));
        assert!(ok, "{r:?}");
    }
    let notes = shop.report["notes"].to_string();
    assert!(notes.contains("namespace shop"), "{notes}");
    // -n and -A contradict each other.
    let out = ksec()
        .args(["scan", "--cluster", "-A", "-n", "shop"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Cluster flags need --cluster.
    let out = ksec().args(["scan", "-n", "shop", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn what_a_controller_made_is_judged_through_the_controller() {
    let server = ApiServer::start(FakeApi::new());
    let api = server.api();
    let dep = api.insert("apps/deployments", deployment("shop", "api"));
    let owned = |kind: &str, owner: &Value, name: &str| {
        let mut o = deployment("shop", name);
        o["kind"] = json!(kind);
        o["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": true}]);
        o
    };
    let rs = api.insert("apps/replicasets", owned("ReplicaSet", &dep, "api-7d9f"));
    let mut pod = owned("Pod", &rs, "api-7d9f-x1");
    pod["apiVersion"] = json!("v1");
    pod["spec"] = pod["spec"]["template"]["spec"].clone();
    api.insert("core/pods", pod);
    // A Pod whose owner was not among the scanned objects is judged itself.
    let mut orphan = deployment("shop", "orphan");
    orphan["apiVersion"] = json!("v1");
    orphan["kind"] = json!("Pod");
    orphan["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u-node", "controller": true}]);
    orphan["spec"] = orphan["spec"]["template"]["spec"].clone();
    api.insert("core/pods", orphan);
    // Bindings the API server maintains are not judged; the roles they name still are known.
    api.insert(
        "rbac.authorization.k8s.io/clusterroles",
        json!({"metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    );
    api.insert(
        "rbac.authorization.k8s.io/clusterrolebindings",
        json!({"metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "subjects": [{"kind": "Group", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}],
               "roleRef": {"kind": "ClusterRole", "name": "cluster-admin", "apiGroup": "rbac.authorization.k8s.io"}}),
    );
    api.insert(
        "rbac.authorization.k8s.io/clusterrolebindings",
        json!({"metadata": {"name": "ops-admin"},
               "subjects": [{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}],
               "roleRef": {"kind": "ClusterRole", "name": "cluster-admin", "apiGroup": "rbac.authorization.k8s.io"}}),
    );
    let run = scan_cluster(&server, &[]);
    let env_files: BTreeSet<String> = run.report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "KSEC-ENV-CREDENTIAL")
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        env_files,
        BTreeSet::from([
            "Deployment/shop/api".to_string(),
            "Pod/shop/orphan".to_string()
        ])
    );
    let subjects: BTreeSet<String> = run.report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "KSEC-RBAC-SECRETS")
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects, BTreeSet::from(["ops".to_string()]));
    let notes = run.report["notes"].to_string();
    assert!(
        notes.contains("2 object(s) made by a scanned controller"),
        "{notes}"
    );
    assert!(
        notes.contains("1 RBAC binding(s) the API server maintains"),
        "{notes}"
    );
}

fn apiserver_pod(volumes: Value, mounts: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                     "labels": {"component": "kube-apiserver", "tier": "control-plane"},
                     "annotations": {"kubernetes.io/config.mirror": "abc"}},
        "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.33.0",
            "command": ["kube-apiserver", "--encryption-provider-config=/etc/kubernetes/enc/config.yaml",
                        "--audit-policy-file", "/etc/kubernetes/audit/policy.yaml"],
            "volumeMounts": mounts}],
            "volumes": volumes}
    })
}

#[test]
fn kube_apiserver_files_are_read_when_the_api_serves_them() {
    // A kubeadm static pod: both files on the node.
    let server = ApiServer::start(FakeApi::new());
    server.api().insert(
        "core/pods",
        apiserver_pod(
            json!([{"name": "enc", "hostPath": {"path": "/etc/kubernetes/enc", "type": "DirectoryOrCreate"}},
                   {"name": "audit", "hostPath": {"path": "/etc/kubernetes/audit/policy.yaml", "type": "File"}}]),
            json!([{"name": "enc", "mountPath": "/etc/kubernetes/enc", "readOnly": true},
                   {"name": "audit", "mountPath": "/etc/kubernetes/audit/policy.yaml", "readOnly": true}]),
        ),
    );
    let run = scan_cluster(&server, &["-n", "shop"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let notes = run.report["notes"].to_string();
    assert!(
        notes.contains("EncryptionConfiguration /etc/kubernetes/enc/config.yaml is on the control-plane node (hostPath /etc/kubernetes/enc/config.yaml)"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "audit policy /etc/kubernetes/audit/policy.yaml is on the control-plane node"
        ),
        "{notes}"
    );
    assert!(
        run.report["findings"].as_array().unwrap().is_empty(),
        "{}",
        run.stdout
    );

    // A self-hosted apiserver whose files come from a ConfigMap.
    let server = ApiServer::start(FakeApi::new());
    let key = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs9PQ==";
    server.api().insert(
        "core/configmaps",
        json!({"metadata": {"name": "apiserver-files", "namespace": "kube-system"},
               "data": {
                 "encryption.yaml": format!("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {{}}\n  - aescbc:\n      keys:\n      - name: k1\n        secret: {key}\n"),
                 "policy.yaml": "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"}}),
    );
    server.api().insert(
        "core/pods",
        apiserver_pod(
            json!([{"name": "files", "configMap": {"name": "apiserver-files", "items": [
                {"key": "encryption.yaml", "path": "enc/config.yaml"},
                {"key": "policy.yaml", "path": "audit/policy.yaml"}]}}]),
            json!([{"name": "files", "mountPath": "/etc/kubernetes"}]),
        ),
    );
    let run = scan_cluster(&server, &[]);
    let findings = run.report["findings"].as_array().unwrap();
    let enc: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "KSEC-ENCRYPTION-CONFIG")
        .collect();
    assert!(
        enc.iter()
            .all(|f| f["file"] == "ConfigMap/kube-system/apiserver-files"
                && f["kind"] == "EncryptionConfiguration"
                && f["name"] == "/etc/kubernetes/enc/config.yaml"),
        "{enc:?}"
    );
    assert!(
        enc.iter().any(|f| f["severity"] == "high"
            && f["path"] == "resources[0].providers[1].aescbc.keys[0].secret"),
        "the key inline in a ConfigMap: {enc:?}"
    );
    assert!(
        enc.iter().any(|f| f["path"]
            .as_str()
            .unwrap()
            .starts_with("resources[0].providers")),
        "identity first: {enc:?}"
    );
    let audit = findings
        .iter()
        .find(|f| f["rule"] == "KSEC-AUDIT-SECRETS")
        .unwrap();
    assert_eq!(
        (audit["severity"].as_str(), audit["path"].as_str()),
        (Some("high"), Some("rules[0]"))
    );
    assert!(!run.stdout.contains(key) && !run.stdout.contains("secret-key-that"));
}

#[test]
fn refused_credentials_and_a_missing_server_end_the_scan_with_their_reason() {
    let server = ApiServer::start(FakeApi::new());
    let kubeconfig = server.kubeconfig(Credentials::WrongToken);
    let out = ksec()
        .args(["scan", "--cluster", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains(&kubeconfig.display().to_string()),
        "{err}"
    );
    // The kubeconfig outlives the server (its own copy lives in the server's directory).
    let d = ksec_testkit::tempdir();
    let kubeconfig = d.path().join("config");
    std::fs::copy(server.kubeconfig(Credentials::Token), &kubeconfig).unwrap();
    drop(server);
    let out = ksec()
        .args(["scan", "--cluster", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the API server"), "{err}");
}
