//! The Helm charts under deploy/helm, rendered by the real Helm 4 and Helm 3
//! (`helm template`), every object validated against the Kubernetes API schemas of each
//! supported Kubernetes version (kubernetes-validate, strict), and compared field by
//! field with what the values ask for; `helm lint --strict` on both Helms.
//!
//! The controller chart must take the values of Bitnami's sealed-secrets chart with the
//! same meaning and derive the same names and selector labels. The expected names below
//! follow Bitnami's rules (its `_helpers.tpl`): fullnameOverride, else the release name
//! when it contains "sealed-secrets", else RELEASE-sealed-secrets; selector labels
//! app.kubernetes.io/name and app.kubernetes.io/instance. Checked by hand against Bitnami's
//! chart 2.18.5 rendered by Helm 4.1 with the same values (same objects, names,
//! namespaces, selectors, role references and subjects); that chart is not vendored here.
//! Not tested: installing into a live cluster (there is none here).
use crate::common::{ksec, write};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes versions the charts support (`kubeVersion: >=1.25.0-0`), up to the
/// newest the validator knows.
const KUBE_VERSIONS: &[&str] = &[
    "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36",
    "1.37",
];

fn chart(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/helm")
        .join(name)
}

/// A real Helm binary with private config, cache and data folders.
pub struct Helm {
    pub name: &'static str,
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        for (k, sub) in [
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_DATA_HOME", "data"),
            ("HELM_PLUGINS", "plugins"),
        ] {
            c.env(k, self.home.path().join(sub));
        }
        c
    }

    /// `helm template RELEASE CHART -n NS ARGS…`: the output, or Helm's error.
    pub fn template(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        args: &[&str],
    ) -> Result<String, String> {
        let out = self
            .command()
            .args(["template", release])
            .arg(chart)
            .args(["--namespace", namespace])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// Helm 4 and Helm 3, as scripts/peers/helm.sh installs them (`KSEC_HELM4`,
/// `KSEC_HELM3`); each missing one is skipped, or fails the test under CI.
pub fn helms() -> Vec<Helm> {
    let mut out = vec![];
    for (name, var) in [("helm 4", "KSEC_HELM4"), ("helm 3", "KSEC_HELM3")] {
        let found = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.exists());
        if let Some(bin) = found.or_else(|| {
            ksec_testkit::missing(var, "scripts/peers/helm.sh installs Helm 4 and Helm 3")
        }) {
            out.push(Helm {
                name,
                bin,
                home: ksec_testkit::tempdir(),
            });
        }
    }
    out
}

/// The rendered documents.
pub fn docs(rendered: &str) -> Vec<Value> {
    ksec_seal::docs::parse_documents(rendered.as_bytes())
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `(kind, namespace, name)` of every document, sorted.
fn identities(docs: &[Value]) -> Vec<(String, String, String)> {
    let mut ids: Vec<_> = docs
        .iter()
        .map(|d| {
            let s = |p: &str| {
                d.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
        })
        .collect();
    ids.sort();
    ids
}

/// The document of `kind` named `name`; fails the test when there is none.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", identities(docs)))
}

fn has(docs: &[Value], kind: &str) -> bool {
    docs.iter().any(|d| d["kind"] == kind)
}

/// Every document valid for every supported Kubernetes version (kinds without a schema,
/// such as ServiceMonitor, are listed in `no_schema` and checked by the caller).
pub fn assert_valid(rendered: &str, no_schema: &[&str]) {
    let Some(results) = ksec_testkit::kube_validate::validate(rendered, KUBE_VERSIONS, true) else {
        return;
    };
    assert_eq!(
        results.len(),
        docs(rendered).len() * KUBE_VERSIONS.len(),
        "the validator skipped documents"
    );
    for r in &results {
        match &r.outcome {
            ksec_testkit::kube_validate::Outcome::Valid => {}
            ksec_testkit::kube_validate::Outcome::NoSchema
                if no_schema.contains(&r.kind.as_str()) => {}
            _ => panic!("{}", r.describe()),
        }
    }
}

/// The controller's flags from a rendered Deployment are accepted by `ksec controller`:
/// it gets past its settings and stops only at the missing cluster.
fn assert_controller_accepts(args: &Value) {
    let args: Vec<String> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let out = ksec().arg("controller").args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot reach the Kubernetes API"),
        "ksec controller refused the chart's flags {args:?}: {err}"
    );
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn kustomize_crd_spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/controller/base/crd.yaml");
    docs(&std::fs::read_to_string(path).unwrap())[0]["spec"].clone()
}

#[test]
fn charts_lint_strict_on_helm_4_and_3() {
    for helm in helms() {
        for name in ["ksec-controller", "ksec-kms-plugin"] {
            let out = helm
                .command()
                .args(["lint", "--strict"])
                .arg(chart(name))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("0 chart(s) failed"),
                "{} lint --strict {name}: {text}{}",
                helm.name,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!text.contains("[WARNING]"), "{}: {text}", helm.name);
        }
    }
}

#[test]
fn controller_chart_defaults_are_where_kubeseal_looks() {
    let helms = helms();
    let mut renders = vec![];
    for helm in &helms {
        let text = helm
            .template(
                &chart("ksec-controller"),
                "sealed-secrets",
                "kube-system",
                &["--set", "fullnameOverride=sealed-secrets-controller"],
            )
            .unwrap_or_else(|e| panic!("{}: {e}", helm.name));
        renders.push(docs(&text));
        if renders.len() == 1 {
            assert_valid(&text, &[]);
        }
    }
    let Some(d) = renders.first() else { return };
    // Helm 4 and Helm 3 render the same objects.
    for other in &renders[1..] {
        assert_eq!(d, other, "Helm 4 and Helm 3 disagree");
    }
    let name = "sealed-secrets-controller";
    assert_eq!(
        identities(d),
        [
            ("ClusterRole", "", "secrets-unsealer"),
            ("ClusterRoleBinding", "", name),
            ("CustomResourceDefinition", "", "sealedsecrets.bitnami.com"),
            ("Deployment", "kube-system", name),
            ("Role", "kube-system", "sealed-secrets-controller-key-admin"),
            (
                "Role",
                "kube-system",
                "sealed-secrets-controller-service-proxier"
            ),
            (
                "RoleBinding",
                "kube-system",
                "sealed-secrets-controller-key-admin"
            ),
            (
                "RoleBinding",
                "kube-system",
                "sealed-secrets-controller-service-proxier"
            ),
            ("Service", "kube-system", name),
            (
                "Service",
                "kube-system",
                "sealed-secrets-controller-metrics"
            ),
            ("ServiceAccount", "kube-system", name),
        ]
        .map(|(k, n, m)| (k.to_string(), n.to_string(), m.to_string()))
    );
    // kubeseal reads the Service and proxies to its first port, by name.
    let svc = find(d, "Service", name);
    assert_eq!(svc["spec"]["ports"][0]["name"], "http");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    let selector = json!({
        "app.kubernetes.io/name": "sealed-secrets",
        "app.kubernetes.io/instance": "sealed-secrets",
    });
    assert_eq!(svc["spec"]["selector"], selector);
    let dep = find(d, "Deployment", name);
    assert_eq!(dep["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(dep["spec"]["template"]["metadata"]["labels"], selector);
    assert_eq!(dep["spec"]["replicas"], 1);
    assert!(!has(d, "PodDisruptionBudget"), "no PDB for one replica");
    let c = container(dep);
    assert_eq!(c["name"], "controller");
    assert_eq!(c["image"], "ghcr.io/ksec-dev/ksec:0.1.0");
    assert_eq!(c["command"], json!(["ksec", "controller"]));
    assert_eq!(
        c["args"],
        json!([
            "--update-status=true",
            "--key-prefix",
            "sealed-secrets-key",
            "--log-info-stdout=false",
            "--listen-addr",
            ":8080",
            "--listen-metrics-addr",
            ":8081"
        ])
    );
    assert_controller_accepts(&c["args"]);
    assert_eq!(c["env"][0]["name"], "POD_NAMESPACE");
    assert_eq!(
        c["ports"][0],
        json!({"name": "http", "containerPort": 8080, "protocol": "TCP"})
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    // The restricted Pod Security Standard.
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], name);
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc.get("enabled").is_none());
    // The CRD: the Kustomize base's schema, kept on uninstall.
    let crd = find(d, "CustomResourceDefinition", "sealedsecrets.bitnami.com");
    assert_eq!(crd["spec"], kustomize_crd_spec());
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    // Users reach the controller through the service proxy without admin rights.
    let proxier = find(d, "Role", "sealed-secrets-controller-service-proxier");
    assert_eq!(
        proxier["rules"][1]["resourceNames"],
        json!([
            "http:sealed-secrets-controller:",
            "http:sealed-secrets-controller:http",
            "sealed-secrets-controller"
        ])
    );
    let binding = find(
        d,
        "RoleBinding",
        "sealed-secrets-controller-service-proxier",
    );
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
    // The controller may keep its keys and its leader Lease in its namespace.
    let key_admin = find(d, "Role", "sealed-secrets-controller-key-admin");
    assert!(key_admin["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["resources"] == json!(["leases"])));
    let crb = find(d, "ClusterRoleBinding", name);
    assert_eq!(
        crb["subjects"],
        json!([{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}])
    );
    assert_eq!(crb["roleRef"]["name"], "secrets-unsealer");

    // Without fullnameOverride, names follow the release as in Bitnami's chart.
    let helm = &helms[0];
    for (release, full) in [
        ("sealed-secrets", "sealed-secrets"),
        ("my-sealed-secrets", "my-sealed-secrets"),
        ("seal", "seal-sealed-secrets"),
    ] {
        let d = docs(
            &helm
                .template(&chart("ksec-controller"), release, "ops", &[])
                .unwrap(),
        );
        let dep = find(&d, "Deployment", full);
        assert_eq!(dep["metadata"]["namespace"], "ops");
        assert_eq!(
            dep["spec"]["selector"]["matchLabels"],
            json!({"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/instance": release})
        );
        find(&d, "Service", full);
        find(&d, "Service", &format!("{full}-metrics"));
        find(&d, "Role", &format!("{full}-service-proxier"));
    }
}

/// A values file written for Bitnami's chart, keys as its values.yaml spells them.
const BITNAMI_VALUES: &str = r#"
fullnameOverride: sealed-secrets-controller
namespace: security
image:
  registry: registry.example.com
  repository: mirror/ksec
  tag: "0.1.0-rc1"
  pullPolicy: Always
  pullSecrets: [regcred]
revisionHistoryLimit: 3
secretName: cluster-keys
updateStatus: false
skipRecreate: true
keyrenewperiod: "0"
keyttl: 8760h
keycutofftime: "Mon, 14 Oct 2024 21:45:30 +0200"
rateLimit: 5
rateLimitBurst: 10
additionalNamespaces: [team-a, team-b]
privateKeyAnnotations: {owner: platform}
privateKeyLabels: {tier: critical}
logInfoStdout: true
logLevel: DEBUG
logFormat: json
maxRetries: 7
resources:
  limits: {cpu: 200m, memory: 128Mi}
  requests: {cpu: 20m, memory: 32Mi}
podSecurityContext:
  enabled: true
  fsGroup: 2000
containerSecurityContext:
  enabled: true
  runAsUser: 2001
podLabels: {team: platform}
podAnnotations: {prometheus.io/scrape: "true"}
priorityClassName: system-cluster-critical
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/os, operator: In, values: [linux]}
nodeSelector: {kubernetes.io/os: linux}
tolerations:
  - {key: dedicated, operator: Equal, value: infra, effect: NoSchedule}
service:
  type: NodePort
  port: 8443
  nodePort: 30443
  annotations: {service.beta.kubernetes.io/x: "y"}
ingress:
  enabled: true
  ingressClassName: nginx
  hostname: seal.example.com
  tls: true
  annotations: {cert-manager.io/cluster-issuer: letsencrypt}
networkPolicy:
  enabled: true
  egress:
    enabled: true
    kubeapiCidr: 10.0.0.1/32
    kubeapiPort: 6443
serviceAccount:
  create: true
  name: sealer
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::1:role/sealer"}
rbac:
  create: true
  labels: {audit: rbac}
  serviceProxier:
    subjects: |
      - apiGroup: rbac.authorization.k8s.io
        kind: Group
        name: sealers
metrics:
  serviceMonitor:
    enabled: true
    namespace: monitoring
    interval: 30s
    labels: {release: prom}
pdb:
  create: true
  minAvailable: 1
commonLabels: {env: prod}
commonAnnotations: {owner: platform-team}
"#;

#[test]
fn controller_chart_takes_bitnamis_values_with_their_meaning() {
    let dir = ksec_testkit::tempdir();
    let values = write(dir.path(), "values.yaml", BITNAMI_VALUES);
    let values = values.to_str().unwrap();
    let mut first = None;
    for helm in helms() {
        let text = helm
            .template(
                &chart("ksec-controller"),
                "sealed-secrets",
                "ignored",
                &["-f", values],
            )
            .unwrap_or_else(|e| panic!("{}: {e}", helm.name));
        let d = docs(&text);
        match &first {
            None => {
                assert_valid(&text, &["ServiceMonitor"]);
                first = Some(d);
            }
            Some(f) => assert_eq!(f, &d, "Helm 4 and Helm 3 disagree"),
        }
    }
    let Some(d) = first else { return };
    let name = "sealed-secrets-controller";
    // `namespace` places every namespaced object; commonLabels and commonAnnotations
    // reach every object.
    for doc in &d {
        let kind = doc["kind"].as_str().unwrap();
        let ns = doc["metadata"]["namespace"].as_str();
        match kind {
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" => {
                assert_eq!(ns, None)
            }
            "ServiceMonitor" => assert_eq!(ns, Some("monitoring")),
            _ => assert_eq!(ns, Some("security"), "{kind}"),
        }
        assert_eq!(doc["metadata"]["labels"]["env"], "prod", "{kind}");
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "sealed-secrets"
        );
        assert_eq!(
            doc["metadata"]["annotations"]["owner"], "platform-team",
            "{kind}"
        );
    }
    let dep = find(&d, "Deployment", name);
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 3);
    let c = container(dep);
    assert_eq!(c["image"], "registry.example.com/mirror/ksec:0.1.0-rc1");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["args"],
        json!([
            "--update-status=false",
            "--skip-recreate",
            "--key-renew-period",
            "0",
            "--key-ttl",
            "8760h",
            "--key-cutoff-time",
            "Mon, 14 Oct 2024 21:45:30 +0200",
            "--rate-limit",
            "5",
            "--rate-limit-burst",
            "10",
            "--key-prefix",
            "cluster-keys",
            "--additional-namespaces",
            "team-a,team-b",
            "--privatekey-annotations",
            "owner=platform",
            "--privatekey-labels",
            "tier=critical",
            "--log-info-stdout=true",
            "--log-level",
            "DEBUG",
            "--log-format",
            "json",
            "--listen-addr",
            ":8080",
            "--listen-metrics-addr",
            ":8081",
            "--max-unseal-retries",
            "7"
        ])
    );
    assert_controller_accepts(&c["args"]);
    assert_eq!(
        c["resources"],
        json!({"limits": {"cpu": "200m", "memory": "128Mi"}, "requests": {"cpu": "20m", "memory": "32Mi"}})
    );
    // The user's keys win; ksec's restricted defaults stay where the user set nothing.
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["fsGroup"], 2000);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(c["securityContext"]["runAsUser"], 2001);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let template = &dep["spec"]["template"]["metadata"];
    assert_eq!(template["labels"]["team"], "platform");
    assert_eq!(
        template["labels"]["app.kubernetes.io/instance"],
        "sealed-secrets"
    );
    assert_eq!(template["annotations"]["prometheus.io/scrape"], "true");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}])
    );
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
        json!(["linux"])
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(pod["serviceAccountName"], "sealer");
    let sa = find(&d, "ServiceAccount", "sealer");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::1:role/sealer"
    );

    let svc = find(&d, "Service", name);
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "http", "port": 8443, "targetPort": "http", "protocol": "TCP", "nodePort": 30443}])
    );
    assert_eq!(
        svc["metadata"]["annotations"]["service.beta.kubernetes.io/x"],
        "y"
    );

    let ing = find(&d, "Ingress", name);
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    assert_eq!(ing["spec"]["rules"][0]["host"], "seal.example.com");
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["path"],
        "/v1/cert.pem"
    );
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"],
        json!({"service": {"name": name, "port": {"name": "http"}}})
    );
    assert_eq!(
        ing["spec"]["tls"],
        json!([{"hosts": ["seal.example.com"], "secretName": "seal.example.com-tls"}])
    );
    assert_eq!(
        ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );

    let np = find(&d, "NetworkPolicy", name);
    assert_eq!(
        np["spec"]["egress"],
        json!([{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}])
    );
    assert_eq!(
        np["spec"]["ingress"],
        json!([{"ports": [{"port": 8080}, {"port": 8081}]}])
    );

    for doc in d.iter().filter(|d| {
        matches!(
            d["kind"].as_str(),
            Some("ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding")
        )
    }) {
        assert_eq!(doc["metadata"]["labels"]["audit"], "rbac");
    }
    let proxier = find(
        &d,
        "RoleBinding",
        "sealed-secrets-controller-service-proxier",
    );
    assert_eq!(
        proxier["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "sealers"}])
    );
    let crb = find(&d, "ClusterRoleBinding", name);
    assert_eq!(
        crb["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sealer", "namespace": "security"}])
    );

    let sm = find(&d, "ServiceMonitor", name);
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(
        sm["spec"]["endpoints"],
        json!([{"port": "metrics", "honorLabels": true, "interval": "30s"}])
    );
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!(["security"])
    );
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
        "metrics"
    );
    assert_eq!(
        find(&d, "Service", "sealed-secrets-controller-metrics")["metadata"]["labels"]
            ["app.kubernetes.io/component"],
        "metrics"
    );

    let pdb = find(&d, "PodDisruptionBudget", name);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(pdb["spec"].get("maxUnavailable").is_none());
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "sealed-secrets"
    );
}

#[test]
fn controller_chart_options_of_its_own_and_bitnamis_rbac_modes() {
    let Some(helm) = helms().into_iter().next() else {
        return;
    };
    let render = |args: &[&str]| {
        let text = helm
            .template(
                &chart("ksec-controller"),
                "sealed-secrets",
                "kube-system",
                args,
            )
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        (docs(&text), text)
    };
    // Several replicas get a PodDisruptionBudget unless told otherwise.
    let (d, text) = render(&["--set", "replicaCount=3"]);
    assert_valid(&text, &[]);
    assert_eq!(
        find(&d, "Deployment", "sealed-secrets")["spec"]["replicas"],
        3
    );
    assert_eq!(
        find(&d, "PodDisruptionBudget", "sealed-secrets")["spec"]["minAvailable"],
        1
    );
    let (d, _) = render(&["--set", "replicaCount=3", "--set", "pdb.create=false"]);
    assert!(!has(&d, "PodDisruptionBudget"));
    let (d, _) = render(&[
        "--set",
        "pdb.maxUnavailable=1",
        "--set",
        "pdb.minAvailable=",
        "--set",
        "pdb.create=true",
    ]);
    let spec = &find(&d, "PodDisruptionBudget", "sealed-secrets")["spec"];
    assert_eq!(
        (spec.get("minAvailable"), &spec["maxUnavailable"]),
        (None, &json!(1))
    );
    // The CRD: left to someone else, or not kept on uninstall.
    let (d, _) = render(&["--set", "crd.create=false"]);
    assert!(!has(&d, "CustomResourceDefinition"));
    let (d, _) = render(&["--set", "crd.keep=false"]);
    let crd = find(&d, "CustomResourceDefinition", "sealedsecrets.bitnami.com");
    assert!(crd["metadata"].get("annotations").is_none(), "{crd}");
    // Only CRD and RBAC.
    let (d, _) = render(&["--set", "createController=false"]);
    assert!(!has(&d, "Deployment") && !has(&d, "Service"));
    assert!(has(&d, "ClusterRole") && has(&d, "CustomResourceDefinition"));
    // Namespaced Roles instead of the ClusterRole: in the controller's namespace and in
    // each additional one, and the controller watches only those.
    let (d, text) = render(&[
        "--set",
        "rbac.clusterRole=false",
        "--set",
        "rbac.namespacedRoles=true",
        "--set",
        "additionalNamespaces={team-a,team-b}",
    ]);
    assert_valid(&text, &[]);
    assert!(!has(&d, "ClusterRole") && !has(&d, "ClusterRoleBinding"));
    for ns in ["kube-system", "team-a", "team-b"] {
        let role = d
            .iter()
            .find(|x| {
                x["kind"] == "Role"
                    && x["metadata"]["name"] == "secrets-unsealer"
                    && x["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no Role secrets-unsealer in {ns}"));
        assert_eq!(role["rules"][0]["resources"], json!(["sealedsecrets"]));
        let binding = d
            .iter()
            .find(|x| {
                x["kind"] == "RoleBinding"
                    && x["metadata"]["name"] == "sealed-secrets"
                    && x["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    }
    let args = &container(find(&d, "Deployment", "sealed-secrets"))["args"];
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--all-namespaces=false"), "{args:?}");
    assert!(args
        .windows(2)
        .any(|w| w == ["--additional-namespaces", "team-a,team-b"]));
    // No service proxier, or no binding for it.
    let (d, _) = render(&["--set", "rbac.serviceProxier.bind=false"]);
    assert!(has(&d, "Role"));
    assert!(!d.iter().any(
        |x| x["metadata"]["name"] == "sealed-secrets-service-proxier" && x["kind"] == "RoleBinding"
    ));
    // Own command and arguments, templates allowed.
    let (d, _) = render(&[
        "--set-json",
        r#"args=["--key-prefix","{{ .Release.Name }}-keys"]"#,
    ]);
    assert_eq!(
        container(find(&d, "Deployment", "sealed-secrets"))["args"],
        json!(["--key-prefix", "sealed-secrets-keys"])
    );
}

#[test]
fn controller_chart_refuses_what_it_cannot_honour() {
    let Some(helm) = helms().into_iter().next() else {
        return;
    };
    for (args, says) in [
        (
            vec![
                "--set",
                "image.repository=bitnami/sealed-secrets-controller",
            ],
            "image.repository",
        ),
        (vec!["--set", "rbac.pspEnabled=true"], "rbac.pspEnabled"),
        (
            vec!["--set", "metrics.dashboards.create=true"],
            "metrics.dashboards.create",
        ),
        (
            vec!["--set", "privateKeyLabels.tier=1"],
            "privateKeyLabels.tier",
        ),
        (
            vec!["--set", "rbac.namespacedRoles=true"],
            "rbac.clusterRole: false",
        ),
        (
            vec![
                "--set",
                "networkPolicy.enabled=true",
                "--set",
                "networkPolicy.egress.enabled=true",
            ],
            "kubeapiCidr",
        ),
    ] {
        let err = helm
            .template(
                &chart("ksec-controller"),
                "sealed-secrets",
                "kube-system",
                &args,
            )
            .expect_err(&format!("{args:?} rendered"));
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn kms_chart_runs_the_plugin_on_control_plane_nodes() {
    let dir = ksec_testkit::tempdir();
    let values = write(
        dir.path(),
        "values.yaml",
        "fullnameOverride: ksec-kms\nsocketDir: /run/kms\nhealthPort: 9787\n\
         config: |\n  vault:\n    address: https://vault:8200\n    key: k8s\n    auth: {method: kubernetes, role: kms}\n\
         serviceAccount: {automountToken: true}\n\
         extraArgs: [--allow-insecure-key-file]\nenv: [{name: VAULT_NAMESPACE, value: team}]\n\
         commonLabels: {env: prod}\n",
    );
    let mut first = None;
    for helm in helms() {
        let defaults = helm
            .template(&chart("ksec-kms-plugin"), "kms", "kube-system", &[])
            .unwrap_or_else(|e| panic!("{}: {e}", helm.name));
        let custom = helm
            .template(
                &chart("ksec-kms-plugin"),
                "kms",
                "kube-system",
                &["-f", values.to_str().unwrap()],
            )
            .unwrap_or_else(|e| panic!("{}: {e}", helm.name));
        match &first {
            None => {
                assert_valid(&defaults, &[]);
                assert_valid(&custom, &[]);
                first = Some((docs(&defaults), docs(&custom)));
            }
            Some((d, c)) => {
                assert_eq!(d, &docs(&defaults), "Helm 4 and Helm 3 disagree");
                assert_eq!(c, &docs(&custom), "Helm 4 and Helm 3 disagree");
            }
        }
    }
    let Some((d, c)) = first else { return };
    let ds = find(&d, "DaemonSet", "kms-ksec-kms");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(
        pod["nodeSelector"],
        json!({"node-role.kubernetes.io/control-plane": ""})
    );
    assert_eq!(
        pod["tolerations"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    let k = &pod["containers"][0];
    assert_eq!(
        k["command"],
        json!([
            "ksec",
            "kms",
            "serve",
            "--socket=/var/run/ksec/kms.sock",
            "--config=/etc/ksec-config/kms.yaml",
            "--health-addr=127.0.0.1:8787"
        ])
    );
    assert_eq!(
        k["readinessProbe"]["httpGet"],
        json!({"host": "127.0.0.1", "path": "/readyz", "port": 8787})
    );
    assert_eq!(k["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(k["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(k["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        pod["volumes"][0]["hostPath"],
        json!({"path": "/var/run/ksec", "type": "DirectoryOrCreate"})
    );
    assert_eq!(
        pod["volumes"][1]["hostPath"],
        json!({"path": "/etc/ksec", "type": "Directory"})
    );
    let cm = find(&d, "ConfigMap", "kms-ksec-kms-config");
    assert_eq!(
        cm["data"]["kms.yaml"],
        "local:\n  key_file: /etc/ksec/kms-keys\n"
    );
    // The same layout as the Kustomize DaemonSet (deploy/kms-plugin/daemonset).
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "ksec-kms"
    );

    let ds = find(&c, "DaemonSet", "ksec-kms");
    let pod = &ds["spec"]["template"]["spec"];
    let k = &pod["containers"][0];
    assert_eq!(
        k["command"],
        json!([
            "ksec",
            "kms",
            "serve",
            "--socket=/run/kms/kms.sock",
            "--config=/etc/ksec-config/kms.yaml",
            "--health-addr=127.0.0.1:9787",
            "--allow-insecure-key-file"
        ])
    );
    assert_eq!(
        k["env"],
        json!([{"name": "VAULT_NAMESPACE", "value": "team"}])
    );
    assert_eq!(k["livenessProbe"]["httpGet"]["port"], 9787);
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["volumes"][0]["hostPath"]["path"], "/run/kms");
    assert_eq!(k["volumeMounts"][0]["mountPath"], "/run/kms");
    let cm = find(&c, "ConfigMap", "ksec-kms-config");
    let config = &docs(cm["data"]["kms.yaml"].as_str().unwrap())[0];
    assert_eq!(config["vault"]["key"], "k8s");
    assert_eq!(ds["metadata"]["labels"]["env"], "prod");
    // A new configuration rolls the pods.
    let checksum =
        |d: &Value| d["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone();
    assert_ne!(
        checksum(ds),
        checksum(find(&d, "DaemonSet", "kms-ksec-kms"))
    );
}
