//! `ksec scan` driven as a user drives it: a corpus with known credentials and known
//! bait (SealedSecret ciphertexts, SOPS values, resource names), every output format,
//! exit codes, baselines, the ignore annotation, bad input, git history, Helm charts and
//! Kustomize directories rendered by the real tools, and the peers (checkov,
//! detect-secrets, sarif-tools) on the same corpus.
use crate::common::{ksec, write};
use ksec_testkit::git;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The credentials written into the corpus. None may appear in any output.
pub(crate) fn secrets() -> Vec<String> {
    vec![
        "Tr0ub4dor-and-3-horses".into(),
        "AKIAZ7QH3LPXW4NRT2VB".into(),
        "s3cr3t-Pa55w0rd-db".into(),
        ksec_scan::internal::github_token("q8Zr2LmV7xKp4NwT1bYc6HdJ9sFa3G"),
        "sk_live_9fQ2mXr7LpT4vN8wK3zB6yHc".into(),
        "xoxb-918273645012-7Hq2LmZ9pXr4Vt".into(),
        "Spring-DS-pw-77qx".into(),
        "values-file-pw-4471".into(),
    ]
}

/// Writes the corpus; returns (dir, bait files that must give no finding).
pub(crate) fn corpus(dir: &Path) -> Vec<&'static str> {
    let s = secrets();
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    write(
        dir,
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ntype: Opaque\nstringData:\n  password: {}\ndata:\n  aws_access_key_id: {}\n",
            s[0],
            b64(&s[1])
        ),
    );
    write(
        dir,
        "deploy.yaml",
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      serviceAccountName: ci-token-deployer
      containers:
      - name: api
        image: shop/api:1.0
        env:
        - name: DB_PASSWORD
          value: {}
        - name: GITHUB_TOKEN
          value: {}
        - name: DB_PASSWORD_FILE
          value: /run/secrets/db
        - name: DATABASE_URL
          value: postgres://app:$(DB_PASSWORD)@db:5432/app
        - name: SECRET_STORE
          value: vault
        - name: API_TOKEN
          valueFrom:
            secretKeyRef: {{name: db-credentials-7d9f8b6c5a, key: token}}
        volumeMounts:
        - {{name: creds, mountPath: /run/secrets}}
      volumes:
      - name: creds
        secret: {{secretName: db-credentials-7d9f8b6c5a}}
",
            s[2], s[3]
        ),
    );
    write(
        dir,
        "configmap.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: shop\ndata:\n  STRIPE_KEY: {}\n  application.properties: |\n    spring.datasource.url=jdbc:postgresql://db/app\n    spring.datasource.password={}\n  TOKEN_TTL: \"3600\"\n",
            s[4], s[6]
        ),
    );
    write(
        dir,
        "rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- apiGroups: [\"\"]
  resources: [\"secrets\"]
  verbs: [\"get\", \"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: read-secrets}
subjects:
- {kind: Group, name: dev, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
",
    );
    // Bait: ciphertexts that look like credentials to entropy and keyword checks.
    let cipher = |n: u8| {
        let bytes: Vec<u8> = (0..300u32)
            .map(|i| (i * 37 + u32::from(n) * 101) as u8 ^ 0x5a)
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    write(
        dir,
        "sealed.yaml",
        &format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: shop\nspec:\n  encryptedData:\n    password: {}\n    api_token: {}\n  template:\n    metadata: {{name: db, namespace: shop}}\n    type: Opaque\n",
            cipher(1),
            cipher(2)
        ),
    );
    write(
        dir,
        ".env",
        &format!("SLACK_BOT_TOKEN={}\nLOG_LEVEL=debug\n", s[5]),
    );
    write(
        dir,
        "values.yaml",
        &format!("db:\n  host: db\n  password: {}\nreplicas: 2\n", s[7]),
    );
    if let Some(fx) = ksec_testkit::fixtures() {
        let sops = fx.join("sops/helm-secrets/tests/assets/values/sops/secrets.yaml");
        std::fs::copy(&sops, dir.join("secrets.sops.yaml")).unwrap();
    }
    vec!["sealed.yaml", "secrets.sops.yaml"]
}

fn scan_json(dir: &Path, extra: &[&str]) -> (Value, i32) {
    let out = ksec()
        .arg("scan")
        .arg(dir)
        .args(["-o", "json"])
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code().unwrap())
}

fn findings(v: &Value) -> Vec<&Value> {
    v["findings"].as_array().unwrap().iter().collect()
}

fn has(v: &Value, rule: &str, file_suffix: &str) -> bool {
    findings(v)
        .iter()
        .any(|f| f["rule"] == rule && f["file"].as_str().unwrap().ends_with(file_suffix))
}

#[test]
fn corpus_findings_and_json_fields() {
    let d = ksec_testkit::tempdir();
    let bait = corpus(d.path());
    let (v, code) = scan_json(d.path(), &[]);
    assert_eq!(code, 1, "high findings exit 1: {v:#}");
    for (rule, file) in [
        ("KSEC-SECRET-PLAINTEXT", "secret.yaml"),
        ("KSEC-ENV-CREDENTIAL", "deploy.yaml"),
        ("KSEC-SECRET-ENV", "deploy.yaml"),
        ("KSEC-SECRET-VOLUME", "deploy.yaml"),
        ("KSEC-SA-TOKEN-AUTOMOUNT", "deploy.yaml"),
        ("KSEC-CONFIGMAP-CREDENTIAL", "configmap.yaml"),
        ("KSEC-RBAC-SECRETS", "rbac.yaml"),
        ("KSEC-CONFIG-CREDENTIAL", ".env"),
        ("KSEC-CONFIG-CREDENTIAL", "values.yaml"),
    ] {
        assert!(has(&v, rule, file), "{rule} in {file}: {v:#}");
    }
    for b in bait {
        assert!(
            findings(&v)
                .iter()
                .all(|f| !f["file"].as_str().unwrap().ends_with(b)),
            "no finding on {b}: {v:#}"
        );
    }
    // Not findings: *_FILE paths, $(VAR) references, SECRET_STORE, TOKEN_TTL.
    let env: Vec<&str> = findings(&v)
        .iter()
        .filter(|f| f["rule"] == "KSEC-ENV-CREDENTIAL")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        [
            "spec.template.spec.containers[0].env[0].value",
            "spec.template.spec.containers[0].env[1].value"
        ]
    );
    let plain = findings(&v)
        .into_iter()
        .find(|f| f["rule"] == "KSEC-SECRET-PLAINTEXT")
        .unwrap();
    assert_eq!(
        plain["severity"], "high",
        "a detector recognised the AWS key: {plain}"
    );
    assert_eq!(plain["controls"], serde_json::json!([]));
    for field in [
        "rule",
        "controls",
        "severity",
        "title",
        "file",
        "line",
        "kind",
        "namespace",
        "name",
        "path",
        "message",
        "fingerprint",
    ] {
        assert!(plain.get(field).is_some(), "field {field}");
    }
    assert_eq!(
        (plain["line"].as_u64(), plain["kind"].as_str()),
        (Some(8), Some("Secret"))
    );
    let rbac = findings(&v)
        .into_iter()
        .find(|f| f["rule"] == "KSEC-RBAC-SECRETS")
        .unwrap();
    assert_eq!(
        (
            rbac["kind"].as_str(),
            rbac["name"].as_str(),
            rbac["severity"].as_str()
        ),
        (Some("Group"), Some("dev"), Some("high"))
    );
    assert_eq!(v["summary"]["skipped"], 0);
}

#[test]
fn no_output_format_carries_a_secret_or_its_hash() {
    let d = ksec_testkit::tempdir();
    corpus(d.path());
    let baseline = d.path().join("out/baseline.json");
    std::fs::create_dir_all(d.path().join("out")).unwrap();
    let mut texts = vec![];
    for fmt in ["table", "json", "sarif"] {
        let out = ksec()
            .arg("scan")
            .arg(d.path())
            .args(["-o", fmt, "--fail-on", "low", "--write-baseline"])
            .arg(&baseline)
            .env("KSEC_LOG", "trace")
            .output()
            .unwrap();
        texts.push((
            fmt.to_string(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
        texts.push((
            format!("{fmt} stderr"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
        texts.push((
            "baseline".into(),
            std::fs::read_to_string(&baseline).unwrap(),
        ));
    }
    use base64::Engine;
    for secret in secrets() {
        let sha256 = hex(&ksec_crypto::hash::sha256(secret.as_bytes()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
        // Public type prefixes may show; the rest of the value may not.
        let body = &secret[secret.len() - 10..];
        for (what, text) in &texts {
            for needle in [secret.as_str(), body, &sha256[..16], b64.as_str()] {
                assert!(
                    !text.contains(needle),
                    "{what} contains a secret (or its hash/encoding)"
                );
            }
        }
    }
    assert!(
        texts[0].1.contains("KSEC-SECRET-PLAINTEXT"),
        "the table has findings"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn sarif_structure_and_sarif_tools_read_it_back() {
    let d = ksec_testkit::tempdir();
    corpus(d.path());
    let out = ksec()
        .arg("scan")
        .arg(d.path())
        .args(["-o", "sarif"])
        .output()
        .unwrap();
    let sarif_text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&sarif_text).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().all(|r| r["help"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("ksec") || !t.is_empty())));
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1, "{r}");
        assert_eq!(
            r["partialFingerprints"]["ksecLocationHash/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
    }
    let Some(sarif) = ksec_testkit::peer("sarif") else {
        return;
    };
    let file = d.path().join("report.sarif");
    std::fs::write(&file, &sarif_text).unwrap();
    let out = Command::new(sarif)
        .arg("summary")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sarif summary: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = results.iter().filter(|r| r["level"] == "error").count();
    assert!(
        text.contains(&format!("error: {errors}")),
        "sarif-tools counts {errors} errors: {text}"
    );
}

#[test]
fn exit_codes_fail_on_baseline_and_ignore_annotation() {
    let d = ksec_testkit::tempdir();
    let f = write(
        d.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: x\n    env:\n    - {name: DB_PASSWORD, value: hunter2-pw}\n",
    );
    // Medium finding: exit 0 at the default threshold, 1 at --fail-on medium.
    assert_eq!(scan_json(&f, &[]).1, 0);
    assert_eq!(scan_json(&f, &["--fail-on", "medium"]).1, 1);
    // Baseline: the same finding is suppressed on the next run.
    let b = d.path().join("baseline.json");
    let (_, code) = scan_json(
        &f,
        &[
            "--fail-on",
            "medium",
            "--write-baseline",
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let (v, code) = scan_json(
        &f,
        &["--fail-on", "medium", "--baseline", b.to_str().unwrap()],
    );
    assert_eq!((code, v["summary"]["baselined"].as_u64()), (0, Some(1)));
    // A broken baseline is an error (exit 2) that names the file.
    let bad = write(d.path(), "bad.json", "{}");
    let out = ksec()
        .args(["scan", "--baseline"])
        .arg(&bad)
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
    // The annotation opts the object out of that rule only.
    let g = write(
        d.path(),
        "ignored.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {ksec.dev/scan-ignore: KSEC-ENV-CREDENTIAL}\nspec:\n  containers:\n  - name: c\n    image: x\n    env:\n    - {name: DB_PASSWORD, value: hunter2-pw}\n",
    );
    let (v, _) = scan_json(&g, &["--fail-on", "low"]);
    assert!(!has(&v, "KSEC-ENV-CREDENTIAL", "ignored.yaml"));
    assert!(has(&v, "KSEC-SA-TOKEN-AUTOMOUNT", "ignored.yaml"));
    assert_eq!(v["summary"]["ignored"], 1);
}

#[test]
fn bad_inputs_are_reported_skipped_and_the_scan_goes_on() {
    let d = ksec_testkit::tempdir();
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10u8 {
        let (p, c) = ((b'a' + i - 1) as char, (b'a' + i) as char);
        laughs.push_str(&format!(
            "{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        ));
    }
    write(d.path(), "laughs.yaml", &laughs);
    write(d.path(), "broken.yaml", "a: [1, 2\nb: 3\n");
    std::fs::write(d.path().join("blob.yaml"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    write(d.path(), "huge.yaml", &"# padding\n".repeat(2000));
    std::fs::create_dir(d.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.path().join("loop/up")).unwrap();
    write(
        d.path(),
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: pw-123456}\n",
    );
    let (v, code) = scan_json(d.path(), &["--max-file-size", "10000"]);
    assert_eq!(code, 2, "skipped inputs exit 2: {v:#}");
    let skipped: Vec<String> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["file"], s["reason"]))
        .collect();
    let has_skip =
        |file: &str, why: &str| skipped.iter().any(|s| s.contains(file) && s.contains(why));
    assert!(
        has_skip("laughs.yaml", "more than 1000000 nodes"),
        "{skipped:?}"
    );
    assert!(has_skip("broken.yaml", "line 2"), "{skipped:?}");
    assert!(has_skip("blob.yaml", "binary"), "{skipped:?}");
    assert!(has_skip("huge.yaml", "limit"), "{skipped:?}");
    assert!(has_skip("up", "loop"), "{skipped:?}");
    assert!(
        has(&v, "KSEC-SECRET-PLAINTEXT", "secret.yaml"),
        "the scan went on"
    );
}

#[test]
fn git_history_finds_a_secret_committed_then_deleted() {
    let Some(_) = ksec_testkit::peer("git") else {
        return;
    };
    let d = ksec_testkit::tempdir();
    git(d.path(), &["init", "-q"]);
    write(d.path(), "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: old}\nstringData: {password: old-pw-9981}\n");
    git(d.path(), &["add", "."]);
    git(d.path(), &["commit", "-qm", "add"]);
    let first = git(d.path(), &["rev-parse", "HEAD"]).trim().to_string();
    std::fs::remove_file(d.path().join("secret.yaml")).unwrap();
    write(
        d.path(),
        "app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    );
    git(d.path(), &["add", "-A"]);
    git(d.path(), &["commit", "-qm", "remove"]);
    let (v, _) = scan_json(d.path(), &[]);
    assert!(findings(&v).is_empty(), "HEAD is clean: {v:#}");
    let (v, _) = scan_json(d.path(), &["--git"]);
    let want = format!("secret.yaml@{}", &first[..12]);
    let f = findings(&v)
        .into_iter()
        .find(|f| f["rule"] == "KSEC-SECRET-PLAINTEXT")
        .expect("history finding");
    assert_eq!(f["file"], want.as_str());
    assert_eq!(f["line"], 4);
}

fn write_chart(dir: &Path) -> PathBuf {
    let c = dir.join("chart");
    std::fs::create_dir_all(c.join("templates")).unwrap();
    write(
        &c,
        "Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    );
    write(&c, "values.yaml", "password: \"\"\nreplicas: 1\n");
    write(
        &c,
        "templates/secret.yaml",
        "{{- if .Values.password }}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\nstringData:\n  password: {{ .Values.password | quote }}\n{{- end }}\n",
    );
    write(
        &c,
        "templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: {{ .Release.Name }}}\nspec:\n  template:\n    spec:\n      automountServiceAccountToken: false\n      containers:\n      - name: c\n        image: x\n",
    );
    c
}

#[test]
fn helm_charts_are_rendered_with_their_values_by_helm_4_and_helm_3() {
    for var in ["KSEC_HELM4", "KSEC_HELM3"] {
        let helm = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.exists());
        let Some(helm) =
            helm.or_else(|| ksec_testkit::missing(var, "scripts/peers/helm.sh installs it"))
        else {
            continue;
        };
        let d = ksec_testkit::tempdir();
        let chart = write_chart(d.path());
        let helm_env = |c: &mut assert_cmd::Command| {
            for (k, sub) in [
                ("HELM_CONFIG_HOME", "cfg"),
                ("HELM_CACHE_HOME", "cache"),
                ("HELM_DATA_HOME", "data"),
            ] {
                c.env(k, d.path().join(sub));
            }
        };
        let mut c = ksec();
        helm_env(&mut c);
        let out = c
            .arg("scan")
            .arg(&chart)
            .args(["-o", "json", "--helm"])
            .arg(&helm)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            findings(&v).is_empty(),
            "{var}: empty password renders no Secret: {v:#}"
        );
        let vals = write(d.path(), "prod.yaml", "password: prod-db-pw-5521\n");
        let mut c = ksec();
        helm_env(&mut c);
        let out = c
            .arg("scan")
            .arg(&chart)
            .args(["-o", "json", "--helm"])
            .arg(&helm)
            .arg("--values")
            .arg(&vals)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            has(&v, "KSEC-SECRET-PLAINTEXT", "chart/templates/secret.yaml"),
            "{var}: {v:#}"
        );
        // A chart that fails to render is reported, and the exit code says so.
        write(
            &chart,
            "templates/broken.yaml",
            "{{ .Values.nope.deeper }}\n",
        );
        let mut c = ksec();
        helm_env(&mut c);
        let out = c
            .arg("scan")
            .arg(&chart)
            .args(["-o", "json", "--helm"])
            .arg(&helm)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["skipped"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("helm template failed"),
            "{v:#}"
        );
    }
}

#[test]
fn kustomize_directories_are_rendered_by_kubectl() {
    let Some(kubectl) = ksec_testkit::peer("kubectl") else {
        return;
    };
    let d = ksec_testkit::tempdir();
    write(
        d.path(),
        "kustomization.yaml",
        "secretGenerator:\n- name: app\n  literals:\n  - password=kust-pw-7712\nresources:\n- cm.yaml\n",
    );
    write(
        d.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    );
    let (v, _) = scan_json(d.path(), &["--kubectl", kubectl.to_str().unwrap()]);
    assert!(
        has(&v, "KSEC-SECRET-PLAINTEXT", "kustomization.yaml"),
        "{v:#}"
    );
    // Without kubectl the files are read one by one, with a note.
    let (v, _) = scan_json(d.path(), &["--kubectl", "/nonexistent/kubectl"]);
    assert_eq!(
        v["summary"]["skipped"], 1,
        "a kubectl that cannot run is reported: {v:#}"
    );
}

/// A `helm` or `kubectl` that never ends: the run is killed at the time limit, with
/// whatever it started, and the input is reported skipped naming the command and limit.
#[test]
fn a_renderer_past_its_time_limit_is_killed_and_named() {
    use std::os::unix::fs::PermissionsExt;
    let d = ksec_testkit::tempdir();
    let chart = write_chart(d.path());
    // The background sleep holds stdout open: killing only the script would not end the read.
    let stuck = write(
        d.path(),
        "stuck",
        "#!/bin/sh\nPATH=/usr/bin:/bin\nsleep 120 &\nsleep 120\n",
    );
    std::fs::set_permissions(&stuck, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kust = d.path().join("kust");
    std::fs::create_dir(&kust).unwrap();
    write(&kust, "kustomization.yaml", "resources: []\n");
    for (input, flag, command) in [
        (&chart, "--helm", "helm template"),
        (&kust, "--kubectl", "kubectl kustomize"),
    ] {
        let start = std::time::Instant::now();
        let (v, code) = scan_json(
            input,
            &["--tool-timeout", "1500ms", flag, stuck.to_str().unwrap()],
        );
        let took = start.elapsed();
        assert_eq!(code, 2, "{command}: {v:#}");
        assert!(
            took < std::time::Duration::from_secs(60),
            "{command}: {took:?}"
        );
        let reason = v["skipped"][0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!(
                "{command} did not finish within 1.5 s and was killed"
            )),
            "{reason}"
        );
    }
    // git, found on PATH, is held to the same limit.
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(&stuck, bin.join("git")).unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    write(
        &repo,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let out = ksec()
        .env("PATH", &bin)
        .arg("scan")
        .arg(&repo)
        .args(["-o", "json", "--git", "--tool-timeout", "1500ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = v["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("git rev-parse did not finish within 1.5 s and was killed"),
        "{reason}"
    );
    // A limit that is not a duration is refused by the argument parser.
    let out = ksec()
        .arg("scan")
        .arg(&chart)
        .args(["--tool-timeout", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tool-timeout"));
}

/// helm and kubectl quote what they read in their errors (a chart's `fail` message with
/// the value it checked, kustomize's literal sources, schema errors): none of it reaches
/// the report; the file and the kind of failure do.
#[test]
fn renderer_errors_are_summarised_without_the_values_they_quote() {
    let leak = "short-pw-8812";
    let d = ksec_testkit::tempdir();
    let chart = write_chart(d.path());
    write(
        &chart,
        "values.yaml",
        &format!("password: {leak}\nreplicas: one-{leak}\n"),
    );
    write(
        &chart,
        "templates/check.yaml",
        "{{- if lt (len .Values.password) 20 }}{{ fail (printf \"password %s is too short\" .Values.password) }}{{ end }}\n",
    );
    for var in ["KSEC_HELM4", "KSEC_HELM3"] {
        let helm = std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.exists());
        let Some(helm) =
            helm.or_else(|| ksec_testkit::missing(var, "scripts/peers/helm.sh installs it"))
        else {
            continue;
        };
        let run = |chart: &Path| {
            let out = ksec()
                .env("HELM_CONFIG_HOME", d.path().join("cfg"))
                .env("HELM_CACHE_HOME", d.path().join("cache"))
                .env("HELM_DATA_HOME", d.path().join("data"))
                .arg("scan")
                .arg(chart)
                .args(["-o", "json", "--helm"])
                .arg(&helm)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(!text.contains(leak), "{var}: {text}");
            assert_eq!(out.status.code(), Some(2), "{var}: {text}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["skipped"][0]["reason"].as_str().unwrap().to_string()
        };
        let reason = run(&chart);
        assert_eq!(
            reason,
            "helm template failed: `fail` or `required` at shop/templates/check.yaml:1:41 stopped the rendering (the chart's message is not shown: it may quote a value)",
            "{var}"
        );
        // A schema error quotes the rejected value (helm 3) or its type (helm 4).
        let schema = d.path().join(format!("schema-{var}"));
        std::fs::create_dir_all(schema.join("templates")).unwrap();
        for f in ["Chart.yaml", "values.yaml"] {
            std::fs::copy(chart.join(f), schema.join(f)).unwrap();
        }
        write(
            &schema,
            "values.schema.json",
            r#"{"type": "object", "properties": {"replicas": {"type": "integer", "pattern": "^[0-9]+$"}}}"#,
        );
        let reason = run(&schema);
        assert!(reason.contains("values.schema.json"), "{var}: {reason}");
    }
    if let Some(kubectl) = ksec_testkit::peer("kubectl") {
        let kust = d.path().join("kust");
        std::fs::create_dir(&kust).unwrap();
        write(
            &kust,
            "kustomization.yaml",
            &format!("secretGenerator:\n- name: app\n  literals: [\"{leak}\"]\n"),
        );
        let out = ksec()
            .arg("scan")
            .arg(&kust)
            .args(["-o", "json", "--kubectl", kubectl.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains(leak), "{text}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let reason = v["skipped"][0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("kubectl kustomize failed (exit status 1)")
                && reason.contains("run `kubectl kustomize`"),
            "{reason}"
        );
    }
}

/// The peers scan the same corpus: ksec finds every true finding they find, and none of
/// their false positives on the bait.
#[test]
fn checkov_and_detect_secrets_on_the_same_corpus() {
    let d = ksec_testkit::tempdir();
    let bait = corpus(d.path());
    let (v, _) = scan_json(d.path(), &["--fail-on", "low"]);
    let ours: Vec<(String, u64, String)> = findings(&v)
        .iter()
        .map(|f| {
            let file = f["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (
                file,
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // A ksec finding on the same file that starts at most 8 lines above the peer's line
    // (a Secret is one finding at `data`, a peer reports each value's line).
    let found = |file: &str, line: u64| {
        ours.iter()
            .any(|(f, l, _)| f == file && *l <= line && line <= l + 8)
    };
    let mut bait_hits = 0;
    if let Some(ds) = ksec_testkit::peer("detect-secrets") {
        let out = Command::new(ds)
            .current_dir(d.path())
            .args(["scan", "--all-files", "."])
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = r["results"].as_object().unwrap();
        assert!(!results.is_empty(), "detect-secrets found nothing: {r}");
        for (file, hits) in results {
            let file = file.rsplit('/').next().unwrap();
            for h in hits.as_array().unwrap() {
                let line = h["line_number"].as_u64().unwrap();
                if bait.contains(&file) {
                    bait_hits += 1;
                    assert!(
                        !ours.iter().any(|(f, _, _)| f == file),
                        "ksec flags bait {file}"
                    );
                } else if !is_known_false_positive(d.path(), file, line) {
                    assert!(
                        found(file, line),
                        "detect-secrets {} at {file}:{line} not found by ksec: {ours:?}",
                        h["type"]
                    );
                }
            }
        }
    }
    if let Some(checkov) = ksec_testkit::peer("checkov") {
        let out = Command::new(checkov)
            .current_dir(d.path())
            .args([
                "-d",
                ".",
                "--framework",
                "kubernetes",
                "secrets",
                "-o",
                "json",
                "--skip-download",
                "--quiet",
            ])
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let reports = match r {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut checked = 0;
        for rep in &reports {
            for c in rep["results"]["failed_checks"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let id = c["check_id"].as_str().unwrap();
                let file = c["file_path"].as_str().unwrap().rsplit('/').next().unwrap();
                let range = c["file_line_range"].as_array().unwrap();
                let (start, end) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
                let in_range = |rules: &[&str]| {
                    ours.iter().any(|(f, l, r)| {
                        f == file
                            && *l >= start.saturating_sub(1)
                            && *l <= end
                            && rules.contains(&r.as_str())
                    })
                };
                let ok = match id {
                    "CKV_K8S_35" => in_range(&[
                        "KSEC-SECRET-ENV",
                        "KSEC-SECRET-ENVFROM",
                        "KSEC-SECRET-VOLUME",
                    ]),
                    "CKV_K8S_38" => in_range(&["KSEC-SA-TOKEN-AUTOMOUNT"]),
                    "CKV2_K8S_5" => ours
                        .iter()
                        .any(|(f, _, r)| f == file && r.starts_with("KSEC-RBAC")),
                    s if s.starts_with("CKV_SECRET") => {
                        if bait.contains(&file) {
                            bait_hits += 1;
                            !ours.iter().any(|(f, _, _)| f == file)
                        } else {
                            is_known_false_positive(d.path(), file, start) || found(file, start)
                        }
                    }
                    _ => continue, // not about Secrets
                };
                checked += 1;
                assert!(
                    ok,
                    "checkov {id} at {file}:{start}-{end} not matched by ksec: {ours:?}"
                );
            }
        }
        assert!(
            checked > 0,
            "checkov reported nothing about Secrets on the corpus"
        );
    }
    eprintln!("peers flagged {bait_hits} bait value(s) that ksec rightly does not");
}

/// Peer hits that are resource names or references, not credentials.
fn is_known_false_positive(dir: &Path, file: &str, line: u64) -> bool {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    let l = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    [
        "secretName:",
        "secretKeyRef",
        "serviceAccountName:",
        "$(DB_PASSWORD)",
        "_FILE",
    ]
    .iter()
    .any(|m| l.contains(m))
}
