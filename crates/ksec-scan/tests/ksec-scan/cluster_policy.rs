//! Rego policies on a live cluster (features `cluster` and `rego`), against
//! ksec-testkit's HTTPS API server: kubescape's secret rules fire on the objects the API
//! serves exactly as on the same objects in a file, findings name the live object, a rule
//! that matches nothing finds nothing, values never reach a finding, and a policy that
//! fails or meets its bounds is reported by name while the scan goes on.
use crate::conformance::{input_files, library};
use ksec_kube::KubeOptions;
use ksec_scan::cluster::ClusterOptions;
use ksec_scan::policy::{EvalLimits, Policy};
use ksec_scan::{Finding, Options, Report, Scanner};
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// The kinds a cluster scan reads, in the versions the test API serves.
const READ: &[(&str, &str)] = &[
    ("batch/v1", "CronJob"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
];

/// The objects of a case's input files that a cluster scan would read, once each.
fn readable(files: &[std::path::PathBuf]) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for d in ksec_scan::yaml::parse_stream(&text, Default::default()).unwrap() {
            let items = match d.value {
                Value::Array(items) => items,
                v => vec![v],
            };
            for o in items {
                let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
                let read = READ
                    .iter()
                    .any(|(v, k)| *v == s("/apiVersion") && *k == s("/kind"));
                let key = (
                    s("/kind").to_string(),
                    s("/metadata/namespace").to_string(),
                    s("/metadata/name").to_string(),
                );
                if read && seen.insert(key) {
                    out.push(o);
                }
            }
        }
    }
    out
}

fn scan_cluster(server: &ApiServer, policy: Policy) -> Report {
    let kube = KubeOptions {
        kubeconfig: Some(server.kubeconfig(Credentials::Token)),
        ..KubeOptions::default()
    };
    let mut scanner = Scanner::new(Options::default());
    scanner.add_policy(policy);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scanner.scan_kubeconfig(&kube, &ClusterOptions::default()))
        .unwrap();
    scanner.finish()
}

fn serve(objects: &[Value]) -> ApiServer {
    let server = ApiServer::start(FakeApi::new());
    for o in objects {
        server.api().load_str(&o.to_string());
    }
    server
}

/// Rule, kind, namespace (the API server's `default` when a file has none) and name.
fn essence(findings: &[Finding]) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.rule.starts_with("REGO-"))
        .map(|f| {
            format!(
                "{} {}/{}/{}",
                f.rule,
                f.kind,
                f.namespace.as_deref().unwrap_or("default"),
                f.name
            )
        })
        .collect()
}

/// Every test case of kubescape's secret rules, served by the API and written as a
/// file: every rule of the library evaluated on both, the same findings.
#[test]
fn kubescape_rules_fire_on_cluster_objects_as_on_the_same_objects_in_a_file() {
    let Some(lib) = library() else { return };
    let mut cases: Vec<_> = std::fs::read_dir(lib.join("rules"))
        .unwrap()
        .flat_map(|r| {
            std::fs::read_dir(r.unwrap().path().join("test"))
                .into_iter()
                .flatten()
        })
        .map(|c| c.unwrap().path())
        .collect();
    cases.sort();
    let (mut compared, mut fired) = (0, BTreeSet::new());
    for case in &cases {
        let objects = readable(&input_files(case));
        if objects.is_empty() {
            continue;
        }
        let mut policy = Policy::load(&lib).unwrap();
        if let Ok(b) = std::fs::read(case.join("data.json")) {
            policy.set_inputs(&serde_json::from_slice(&b).unwrap());
        }
        let from_file = policy.evaluate(&objects, "case.yaml", None).unwrap();
        let server = serve(&objects);
        let report = scan_cluster(&server, policy);
        let name = case
            .strip_prefix(lib.join("rules"))
            .unwrap()
            .display()
            .to_string();
        assert!(report.skipped.is_empty(), "{name}: {:?}", report.skipped);
        let cluster: Vec<Finding> = report
            .findings
            .into_iter()
            .filter(|f| f.rule.starts_with("REGO-"))
            .collect();
        assert_eq!(essence(&cluster), essence(&from_file), "{name}");
        for f in &cluster {
            // The live object, where a file scan names the file; no line.
            assert_ne!(f.file, "case.yaml", "{name}");
            let kind = f.file.split('/').next().unwrap();
            assert!(READ.iter().any(|(_, k)| *k == kind), "{name}: {f:?}");
            assert_eq!(f.line, 0);
            fired.insert(f.rule.clone());
        }
        compared += 1;
    }
    assert!(compared >= 50, "only {compared} cases compared");
    for rule in [
        "REGO-rule-credentials-in-env-var",
        "REGO-rule-credentials-configmap",
        "REGO-rule-secrets-in-env-var",
        "REGO-workload-mounted-secrets",
        "REGO-rule-can-list-get-secrets-v1",
        "REGO-automount-service-account",
    ] {
        assert!(
            fired.contains(rule),
            "{rule} never fired on a cluster: {fired:?}"
        );
    }
    eprintln!("{compared} cases compared; rules that fired on the cluster: {fired:?}");
}

const CM_VALUE: &str = "s3cr3t-from-the-configmap";
const ENV_VALUE: &str = "hunter2-in-the-env";

fn cluster_objects() -> Vec<Value> {
    let docs = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop}}
data: {{db_password: {CM_VALUE}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
stringData: {{password: only-in-the-secret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: api, namespace: shop}}
spec:
  containers:
  - name: c
    image: x
    env: [{{name: DB_PASSWORD, value: {ENV_VALUE}}}]
    volumeMounts: [{{name: db, mountPath: /db}}]
  volumes: [{{name: db, secret: {{secretName: db}}}}]
"#
    );
    ksec_scan::yaml::parse_stream(&docs, Default::default())
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// A folder of plain Rego files.
fn rego_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

const NEVER: &str = r#"package ksec.never

deny contains msga if {
	some obj in input
	obj.kind == "NoSuchKind"
	msga := {"alertMessage": "never", "alertObject": {"k8sApiObjects": [obj]}}
}
"#;

/// A careless rule that quotes the values it looks at.
const QUOTING: &str = r#"package ksec.quoting

deny contains msga if {
	cm := input[_]
	cm.kind == "ConfigMap"
	some key
	value := cm.data[key]
	msga := {
		"alertMessage": sprintf("%v has %v=%v", [cm.metadata.name, key, value]),
		"alertScore": 7,
		"failedPaths": [sprintf("data[%v]", [value])],
		"alertObject": {"k8sApiObjects": [cm]},
	}
}

deny contains msga if {
	pod := input[_]
	pod.kind == "Pod"
	env := pod.spec.containers[_].env[_]
	msga := {
		"alertMessage": sprintf("%v sets %v to %v", [pod.metadata.name, env.name, env.value]),
		"alertObject": {"k8sApiObjects": [pod]},
	}
}
"#;

#[test]
fn findings_name_the_live_object_quote_no_value_and_a_rule_that_matches_nothing_finds_nothing() {
    let objects = cluster_objects();
    let server = serve(&objects);
    let dir = rego_dir(&[("never.rego", NEVER), ("quoting.rego", QUOTING)]);
    let report = scan_cluster(&server, Policy::load(dir.path()).unwrap());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let rego: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("REGO-"))
        .collect();
    assert!(rego.iter().all(|f| f.rule != "REGO-never"), "{rego:?}");
    let cm = rego
        .iter()
        .find(|f| f.kind == "ConfigMap")
        .unwrap_or_else(|| panic!("{rego:?}"));
    assert_eq!(cm.rule, "REGO-quoting");
    assert_eq!(cm.file, "ConfigMap/shop/settings");
    assert_eq!(cm.message, "settings has db_password=[withheld]");
    assert_eq!(cm.path, "data[[withheld]]");
    let pod = rego.iter().find(|f| f.kind == "Pod").unwrap();
    assert_eq!(pod.file, "Pod/shop/api");
    assert_eq!(pod.message, "api sets DB_PASSWORD to [withheld]");
    let text = format!(
        "{}{}{}",
        ksec_scan::output::json(&report),
        ksec_scan::output::sarif(&report),
        ksec_scan::output::table(&report)
    );
    for v in [CM_VALUE, ENV_VALUE] {
        assert!(!text.contains(v), "{v} in the report");
    }
    // The same rules on the same objects in a file: same objects, same messages.
    let from_file = Policy::load(dir.path())
        .unwrap()
        .evaluate(&objects, "objects.yaml", None)
        .unwrap();
    let shape = |f: &Finding| {
        (
            f.rule.clone(),
            f.kind.clone(),
            f.name.clone(),
            f.message.clone(),
            f.path.clone(),
        )
    };
    assert_eq!(
        rego.iter().map(|f| shape(f)).collect::<BTreeSet<_>>(),
        from_file.iter().map(shape).collect::<BTreeSet<_>>()
    );
    let notes = report.notes.join("\n");
    assert!(notes.contains("2 rule(s) evaluated on"), "{notes}");
}

/// A rule that spins: stopped by the time limit.
const SPIN: &str = r#"package ksec.spin

deny contains msga if {
	r := numbers.range(1, 20000)
	n := count({i | some i, j; r[i]; r[j]; i > j})
	n > 0
	msga := {"alertMessage": "spun", "alertObject": {"k8sApiObjects": [input[0]]}}
}
"#;

const BROKEN: &str = "package ksec.broken\n\ndeny contains msga if {\n\tmsga := \n}\n";

#[test]
fn a_policy_that_fails_or_meets_its_bounds_is_named_and_the_scan_goes_on() {
    // A policy that does not compile is refused when loaded, before any cluster is read.
    let dir = rego_dir(&[("broken.rego", BROKEN)]);
    let e = Policy::load(dir.path()).unwrap_err();
    assert!(matches!(e, ksec_scan::Error::Policy { .. }), "{e}");
    assert!(e.to_string().contains("broken.rego"), "{e}");

    let server = serve(&cluster_objects());
    let dir = rego_dir(&[("spin.rego", SPIN)]);
    let mut slow = Policy::load(dir.path()).unwrap();
    slow.set_limits(EvalLimits {
        time_per_rule: Duration::from_millis(200),
        ..EvalLimits::default()
    });
    let started = std::time::Instant::now();
    let report = scan_cluster(&server, slow);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    let s = &report.skipped[0];
    assert!(Path::new(&s.file).ends_with("spin.rego"), "{s:?}");
    assert!(s.reason.contains("time limit"), "{s:?}");
    // The scanner's own rules still ran.
    assert!(report
        .findings
        .iter()
        .any(|f| f.rule == "KSEC-ENV-CREDENTIAL" && f.file == "Pod/shop/api"));
    assert_eq!(report.exit_code(ksec_scan::Severity::High), 2);

    // More objects than one evaluation takes: refused, named after the policy.
    let dir = rego_dir(&[("never.rego", NEVER)]);
    let mut small = Policy::load(dir.path()).unwrap();
    small.set_limits(EvalLimits {
        max_objects: 2,
        ..EvalLimits::default()
    });
    let report = scan_cluster(&server, small);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].file, dir.path().display().to_string());
    assert!(
        report.skipped[0]
            .reason
            .contains("more than 2 to evaluate at once"),
        "{:?}",
        report.skipped
    );
    assert!(report.skipped[0].is_too_many_objects());
    assert!(!report.skipped[0].is_forbidden());
}
