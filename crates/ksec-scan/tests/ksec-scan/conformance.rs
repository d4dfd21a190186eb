//! kubescape conformance: every test case of kubescape's regolibrary rules for the
//! controls ksec implements, run through ksec's rules, compared on the failing objects
//! and their paths. Cases where ksec deliberately differs are listed (with the reason)
//! here and in the crate README; the test fails if one of them starts to conform, so
//! the list stays true.
use ksec_scan::{Finding, Options, Scanner};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Controls ksec implements.
const IMPLEMENTED: &[&str] = &[
    "C-0012", "C-0015", "C-0034", "C-0066", "C-0141", "C-0142", "C-0161", "C-0186", "C-0190",
    "C-0207", "C-0255", "C-0259", "C-0267",
];

/// (rule/case, why ksec differs on purpose).
const DIFFERENCES: &[(&str, &str)] = &[
    ("audit-policy-content/failed-many-rules-for-one-resources",
     "kubescape's C-0161 also wants rules for pods, deployments, exec, configmaps and tokenreviews; ksec judges Secrets only, and the first rule matching Secrets logs them at Metadata"),
    ("audit-policy-content/failed-missing-one",
     "same: pods are not covered, but the first rule matching Secrets logs them at Metadata"),
    ("ensure-that-the-api-server-encryption-provider-config-argument-is-set-as-appropriate/passed",
     "aescbc is accepted by kubescape; Kubernetes no longer recommends it (CBC padding oracle), so ksec warns; its key is the placeholder `<BASE 64 ENCODED SECRET>`, which kube-apiserver refuses"),
    ("ensure-that-the-api-server-encryption-providers-are-appropriately-configured/passed",
     "same configuration: aescbc with a placeholder key"),
    ("rule-credentials-configmap/test",
     "`aws_access_key_id: XXXX`: an access key id is an identifier and XXXX a placeholder; ksec's names must end in a credential noun, kubescape matches `key` anywhere"),
    ("rule-credentials-configmap/test-allowed-values-keys",
     "same `aws_access_key_id: XXXX`"),
    ("rule-credentials-in-env-var/deployment",
     "`some-name: JWT`: kubescape's value pattern `JWT` matches the word; ksec's JWT detector needs a token whose header decodes to JSON naming `alg`"),
    ("rule-credentials-in-env-var/pod",
     "`some-name: my_key_value`: kubescape's value pattern `_key_` matches any text containing it; no credential is there"),
    ("rule-credentials-in-env-var/pod-allowed-values-keys",
     "same `some-name: my_key_value`"),
    ("rule-credentials-in-env-var/workloads",
     "`azure_batch_key: Hello from the environment`: `KEY` alone is not a credential noun for ksec (CACHE_KEY, SORT_KEY), and the value is prose"),
];

struct Case {
    rule: String,
    name: String,
    dir: PathBuf,
    controls: Vec<String>,
}

pub(crate) fn library() -> Option<PathBuf> {
    Some(ksec_testkit::fixtures()?.join("kubescape-regolibrary"))
}

/// rule name → control ids (implemented ones only).
fn rule_controls(lib: &Path) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(lib.join("controls")).unwrap() {
        let v: Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let id = v["controlID"].as_str().unwrap().to_string();
        if !IMPLEMENTED.contains(&id.as_str()) {
            continue;
        }
        for r in v["rulesNames"].as_array().unwrap() {
            m.entry(r.as_str().unwrap().to_string())
                .or_default()
                .push(id.clone());
        }
    }
    m
}

fn cases(lib: &Path) -> Vec<Case> {
    let rc = rule_controls(lib);
    let mut out = vec![];
    for (rule, controls) in rc {
        let tests = lib.join("rules").join(&rule).join("test");
        let Ok(rd) = std::fs::read_dir(&tests) else {
            continue; // secret-etcd-encryption-cloud: no test cases in the fixtures
        };
        let mut dirs: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
        dirs.sort();
        for dir in dirs {
            out.push(Case {
                rule: rule.clone(),
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                controls: controls.clone(),
            });
        }
    }
    out
}

pub(crate) fn input_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    if dir.join("input.yaml").is_file() {
        files.push(dir.join("input.yaml"));
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("input")) {
        files.extend(rd.map(|e| e.unwrap().path()));
    }
    files.sort();
    files
}

/// An expected alert: the object, and the paths that may carry it (empty: any).
#[derive(Debug)]
struct Alert {
    kind: String,
    name: String,
    paths: BTreeSet<String>,
    /// kubescape's fix paths: where something should be added; the finding may sit on
    /// the node that would receive it (`resources[0].providers` for `…providers[1]`).
    fix_paths: BTreeSet<String>,
}

fn expected(dir: &Path) -> Vec<Alert> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let obj = &a["alertObject"];
            let (kind, name, rbac) = match obj["k8sApiObjects"].as_array().and_then(|l| l.first()) {
                Some(o) => (
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or(""),
                    false,
                ),
                None => {
                    let e = &obj["externalObjects"];
                    let kind = e["kind"].as_str().unwrap_or("");
                    let rbac = e.get("relatedObjects").is_some();
                    (
                        kind,
                        if rbac {
                            e["name"].as_str().unwrap_or("")
                        } else {
                            ""
                        },
                        rbac,
                    )
                }
            };
            let mut paths = BTreeSet::new();
            let mut fix_paths = BTreeSet::new();
            if !rbac {
                for k in ["failedPaths", "reviewPaths", "deletePaths"] {
                    for p in a[k].as_array().into_iter().flatten() {
                        paths.insert(p.as_str().unwrap().to_string());
                    }
                }
                for p in a["fixPaths"].as_array().into_iter().flatten() {
                    fix_paths.insert(p["path"].as_str().unwrap().to_string());
                }
            }
            Alert {
                kind: kind.into(),
                name: name.into(),
                paths,
                fix_paths,
            }
        })
        .collect()
}

fn matches(a: &Alert, f: &Finding) -> bool {
    f.kind == a.kind
        && (a.name.is_empty() || f.name == a.name)
        && ((a.paths.is_empty() && a.fix_paths.is_empty())
            || a.paths.contains(&f.path)
            || a.fix_paths.iter().any(|p| {
                p == &f.path
                    || p.strip_prefix(f.path.as_str())
                        .is_some_and(|rest| rest.starts_with('['))
            }))
}

/// ksec's findings for the case's controls.
fn ksec_findings(case: &Case) -> Vec<Finding> {
    let mut s = Scanner::new(Options::default());
    for f in input_files(&case.dir) {
        let text = std::fs::read_to_string(&f).unwrap();
        s.scan_text(&f.file_name().unwrap().to_string_lossy(), &text);
    }
    s.finish()
        .findings
        .into_iter()
        .filter(|f| f.controls.iter().any(|c| case.controls.contains(c)))
        .collect()
}

/// Whether findings and alerts match one to one (every alert found, nothing extra).
fn conforms(alerts: &[Alert], findings: &[Finding]) -> bool {
    alerts
        .iter()
        .all(|a| findings.iter().any(|f| matches(a, f)))
        && findings
            .iter()
            .all(|f| alerts.iter().any(|a| matches(a, f)))
}

#[test]
fn kubescape_cases_of_implemented_controls() {
    let Some(lib) = library() else { return };
    let all = cases(&lib);
    assert!(
        all.len() >= 60,
        "only {} cases found in {}",
        all.len(),
        lib.display()
    );
    let mut report = vec![];
    let mut wrong = vec![];
    for case in &all {
        let id = format!("{}/{}", case.rule, case.name);
        let alerts = expected(&case.dir);
        let findings = ksec_findings(case);
        let ok = conforms(&alerts, &findings);
        let listed = DIFFERENCES.iter().any(|(c, _)| *c == id);
        report.push(format!(
            "{} {id}",
            if ok {
                "same"
            } else if listed {
                "diff"
            } else {
                "FAIL"
            }
        ));
        if ok == listed {
            wrong.push(format!(
                "{id}: {}\n  expected: {alerts:?}\n  ksec: {:?}",
                if ok {
                    "conforms but is listed as a difference"
                } else {
                    "differs and is not listed"
                },
                findings
                    .iter()
                    .map(|f| (&f.rule, &f.kind, &f.name, &f.path))
                    .collect::<Vec<_>>()
            ));
        }
    }
    let same = report.iter().filter(|l| l.starts_with("same")).count();
    eprintln!(
        "{}\nconformance: {same} of {} cases match kubescape, {} listed differences",
        report.join("\n"),
        all.len(),
        DIFFERENCES.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same cases through kubescape's own Rego rules, evaluated by regorus.
#[cfg(feature = "rego")]
#[test]
fn kubescape_cases_through_regorus() {
    let Some(lib) = library() else { return };
    let mut wrong = vec![];
    let all = cases(&lib);
    for case in &all {
        let mut policy = ksec_scan::policy::Policy::load(&lib).unwrap();
        if let Ok(b) = std::fs::read(case.dir.join("data.json")) {
            policy.set_inputs(&serde_json::from_slice(&b).unwrap());
        }
        let mut objects = vec![];
        for f in input_files(&case.dir) {
            let text = std::fs::read_to_string(&f).unwrap();
            for d in ksec_scan::yaml::parse_stream(&text, Default::default()).unwrap() {
                objects.push(d.value);
            }
        }
        let findings = policy.evaluate(&objects, "case", Some(&case.rule)).unwrap();
        let alerts = expected(&case.dir);
        if !conforms(&alerts, &findings) {
            wrong.push(format!(
                "{}/{}: expected {alerts:?}\n  regorus: {:?}",
                case.rule,
                case.name,
                findings
                    .iter()
                    .map(|f| (&f.kind, &f.name, &f.path))
                    .collect::<Vec<_>>()
            ));
        }
    }
    eprintln!(
        "regorus: {} of {} cases match kubescape's expectations",
        all.len() - wrong.len(),
        all.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
