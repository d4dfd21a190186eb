//! `ksec seal` / `kubeseal` / `ksec unseal` / `ksec reseal` behaviour, end to end.
use crate::common::*;
use predicates::str::contains;

fn seal_to(dir: &std::path::Path, extra: &[&str]) -> std::path::PathBuf {
    let input = write(dir, "secret.yaml", SECRET_YAML);
    let out = dir.join("sealed.yaml");
    seal_cmd(&testdata("test-cert-a.pem"), &input, &out)
        .args(extra)
        .assert()
        .success();
    out
}

#[test]
fn seal_then_unseal_round_trips_for_every_scope() {
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let dir = ksec_testkit::tempdir();
        let sealed = seal_to(dir.path(), &["--scope", scope]);
        let text = std::fs::read_to_string(&sealed).unwrap();
        assert!(
            text.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"),
            "{text}"
        );
        let out = ksec()
            .args(["unseal", "-o", "json", "--key"])
            .arg(testdata("test-key-a.pem"))
            .arg("-f")
            .arg(&sealed)
            .assert()
            .success()
            .stderr(contains("prod/db: password opened by"))
            .get_output()
            .stdout
            .clone();
        let secret = parse(&out);
        assert_eq!(data_value(&secret, "password"), b"hunter2", "{scope}");
        assert_eq!(data_value(&secret, "user"), b"admin", "{scope}");
        assert_eq!(secret["metadata"]["annotations"]["team"], "payments");
    }
}

#[test]
fn json_by_default_in_kubeseal_layout() {
    let dir = ksec_testkit::tempdir();
    let input = write(dir.path(), "secret.yaml", SECRET_YAML);
    let out = ksec()
        .args(["seal", "--cert"])
        .arg(testdata("test-cert-a.pem"))
        .arg("-f")
        .arg(&input)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n  \"metadata\": {\n    \"name\": \"db\",\n    \"namespace\": \"prod\",\n    \"creationTimestamp\": null\n  },\n  \"spec\": {\n    \"template\": {\n"), "{text}");
    assert!(text.ends_with("}\n"));
}

#[test]
fn kubeseal_symlink_behaves_as_kubeseal() {
    let dir = ksec_testkit::tempdir();
    let link = dir.path().join("kubeseal");
    std::os::unix::fs::symlink(ksec_path(), &link).unwrap();
    assert_cmd::Command::new(&link)
        .arg("--version")
        .assert()
        .success()
        .stdout(contains("kubeseal version: "));
    let out = assert_cmd::Command::new(&link)
        .env("SEALED_SECRETS_CERT", testdata("test-cert-a.pem"))
        .args(["--format", "yaml", "--scope", "cluster-wide"])
        .write_stdin(SECRET_YAML)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = parse(&out);
    assert_eq!(
        v["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"],
        "true"
    );
    // Cluster-only modes explain what to do instead of failing obscurely.
    assert_cmd::Command::new(&link)
        .arg("--fetch-cert")
        .assert()
        .failure()
        .stderr(contains("pass --cert"));
}

#[test]
fn raw_mode_needs_name_and_namespace_and_opens_with_the_right_label() {
    let dir = ksec_testkit::tempdir();
    let value = write(dir.path(), "value.txt", "s3cret");
    ksec()
        .args(["seal", "--raw", "--namespace", "prod", "--from-file"])
        .arg(&value)
        .arg("--cert")
        .arg(testdata("test-cert-a.pem"))
        .assert()
        .failure()
        .stderr(contains(
            "must provide the --name flag with --raw and --scope strict",
        ));
    let out = ksec()
        .args([
            "seal",
            "--raw",
            "--namespace",
            "prod",
            "--name",
            "db",
            "--from-file",
        ])
        .arg(format!("pw={}", value.display()))
        .arg("--cert")
        .arg(testdata("test-cert-a.pem"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sealed = ksec_seal::hybrid::from_base64(std::str::from_utf8(&out).unwrap()).unwrap();
    let key = ksec_crypto::rsa::RsaPrivateKey::from_pem(
        &std::fs::read(testdata("test-key-a.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ksec_seal::hybrid::open(&key, &sealed, b"prod/db")
            .unwrap()
            .expose(),
        b"s3cret"
    );
    assert!(ksec_seal::hybrid::open(&key, &sealed, b"prod").is_err());
}

#[test]
fn merge_into_with_a_key_changes_only_changed_values() {
    let dir = ksec_testkit::tempdir();
    let sealed = seal_to(dir.path(), &[]);
    let before = std::fs::read_to_string(&sealed).unwrap();
    let update = write(
        dir.path(),
        "update.yaml",
        &SECRET_YAML.replace("hunter2", "hunter3"),
    );
    ksec()
        .args(["seal", "--cert"])
        .arg(testdata("test-cert-a.pem"))
        .arg("--merge-into")
        .arg(&sealed)
        .arg("--recovery-private-key")
        .arg(testdata("test-key-a.pem"))
        .arg("-f")
        .arg(&update)
        .assert()
        .success()
        .stderr(contains("1 value(s) unchanged"));
    let after = std::fs::read_to_string(&sealed).unwrap();
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "exactly one line (password) differs: {changed:?}"
    );
    assert!(changed[0].0.trim_start().starts_with("password: "));
    let out = unseal_json(testdata("test-key-a.pem"), &sealed);
    assert_eq!(data_value(&parse(&out), "password"), b"hunter3");
}

#[test]
fn several_certificates_give_one_output_per_cluster() {
    let dir = ksec_testkit::tempdir();
    let input = write(dir.path(), "secret.yaml", SECRET_YAML);
    let a = dir.path().join("prod.pem");
    let b = dir.path().join("stage.pem");
    std::fs::copy(testdata("test-cert-a.pem"), &a).unwrap();
    std::fs::copy(testdata("test-cert-b.pem"), &b).unwrap();
    ksec()
        .args(["seal", "--cert"])
        .arg(&a)
        .arg("--cert")
        .arg(&b)
        .arg("-f")
        .arg(&input)
        .arg("-w")
        .arg(dir.path().join("db.yaml"))
        .assert()
        .success();
    for (file, key, other) in [
        ("db.prod.yaml", "test-key-a.pem", "test-key-b.pem"),
        ("db.stage.yaml", "test-key-b.pem", "test-key-a.pem"),
    ] {
        let f = dir.path().join(file);
        unseal(testdata(key), &f).success();
        unseal(testdata(other), &f).failure();
    }
}

#[test]
fn multi_document_input_seals_every_secret() {
    let dir = ksec_testkit::tempdir();
    let two = format!(
        "{SECRET_YAML}---\n{}",
        SECRET_YAML.replace("name: db", "name: cache")
    );
    let input = write(dir.path(), "two.yaml", &two);
    let out = dir.path().join("sealed.yaml");
    seal_cmd(&testdata("test-cert-a.pem"), &input, &out)
        .assert()
        .success();
    let docs = ksec_seal::docs::parse_documents(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        docs.iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["db", "cache"]
    );
}

#[test]
fn recovery_unseal_and_key_backups_as_lists() {
    let dir = ksec_testkit::tempdir();
    let sealed = seal_to(dir.path(), &[]);
    // A backup as `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` makes it.
    let key_pem = std::fs::read(testdata("test-key-a.pem")).unwrap();
    let cert_pem = std::fs::read(testdata("test-cert-a.pem")).unwrap();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let backup = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: sealed-secrets-keyx1, namespace: kube-system}}\n  type: kubernetes.io/tls\n  data:\n    tls.crt: {}\n    tls.key: {}\n",
        b64(&cert_pem),
        b64(&key_pem)
    );
    let backup = write(dir.path(), "backup.yaml", &backup);
    let out = ksec()
        .args(["seal", "--recovery-unseal", "--recovery-private-key"])
        .arg(format!(
            "{},{}",
            testdata("test-key-b.pem").display(),
            backup.display()
        ))
        .arg("-f")
        .arg(&sealed)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(data_value(&parse(&out), "password"), b"hunter2");
}

#[test]
fn reseal_moves_a_directory_to_a_new_key_offline() {
    let dir = ksec_testkit::tempdir();
    let sealed = seal_to(dir.path(), &[]);
    let sub = dir.path().join("apps/shop");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::rename(&sealed, sub.join("db.yaml")).unwrap();
    write(
        &sub,
        "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    std::fs::remove_file(dir.path().join("secret.yaml")).unwrap();
    ksec()
        .args(["reseal", "-k"])
        .arg(testdata("test-key-a.pem"))
        .arg("--cert")
        .arg(testdata("test-cert-b.pem"))
        .arg(dir.path())
        .assert()
        .success()
        .stderr(contains("1 file(s) resealed"));
    let f = sub.join("db.yaml");
    unseal(testdata("test-key-b.pem"), &f).success();
    unseal(testdata("test-key-a.pem"), &f).failure();
}

#[test]
fn reseal_moves_a_legacy_spec_data_sealed_secret_to_the_new_key() {
    // The legacy v1 format: the whole Secret as one sealed blob under spec.data.
    let key_a = ksec_crypto::rsa::RsaPrivateKey::from_pem(
        &std::fs::read(testdata("test-key-a.pem")).unwrap(),
    )
    .unwrap();
    let inner = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"prod"},"data":{"password":"aHVudGVyMg=="}}"#;
    let blob = ksec_seal::hybrid::seal(key_a.public_key(), inner, b"prod/db").unwrap();
    let dir = ksec_testkit::tempdir();
    let file = write(
        dir.path(),
        "legacy.yaml",
        &format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: db, namespace: prod}}\nspec:\n  data: {}\n",
            ksec_seal::hybrid::to_base64(&blob)
        ),
    );
    ksec()
        .args(["reseal", "-k"])
        .arg(testdata("test-key-a.pem"))
        .arg("--cert")
        .arg(testdata("test-cert-b.pem"))
        .arg(&file)
        .assert()
        .success()
        .stderr(contains("1 value(s) resealed"));
    let out = unseal_json(testdata("test-key-b.pem"), &file);
    assert_eq!(data_value(&parse(&out), "password"), b"hunter2");
    unseal(testdata("test-key-a.pem"), &file).failure();
}

#[test]
fn reseal_keeps_the_template_and_its_go_templates_byte_for_byte() {
    let dir = ksec_testkit::tempdir();
    let sealed = seal_to(dir.path(), &[]);
    // A template as kubeseal writes it (ksec's YAML layout is kubeseal's).
    let mut v = parse(&std::fs::read(&sealed).unwrap());
    v["spec"]["template"]["data"] =
        serde_json::json!({"url": "{{ index . \"user\" }}:{{ .password | trim }}@db"});
    let with_template = ksec_seal::render::document(&v, ksec_seal::render::Format::Yaml);
    assert!(with_template.contains("url: "), "{with_template}");
    std::fs::write(&sealed, &with_template).unwrap();
    let template_of = |text: &str| parse(text.as_bytes())["spec"]["template"].clone();
    let before = template_of(&with_template);
    ksec()
        .args(["reseal", "-k"])
        .arg(testdata("test-key-a.pem"))
        .arg("--cert")
        .arg(testdata("test-cert-b.pem"))
        .arg(&sealed)
        .assert()
        .success()
        .stderr(contains("2 value(s) resealed"));
    let after = std::fs::read_to_string(&sealed).unwrap();
    assert_eq!(template_of(&after), before);
    let template_lines = |t: &str| -> Vec<String> {
        t.lines()
            .skip_while(|l| *l != "  template:")
            .map(String::from)
            .collect()
    };
    assert_eq!(template_lines(&after), template_lines(&with_template));
    let out = unseal_json(testdata("test-key-b.pem"), &sealed);
    assert_eq!(data_value(&parse(&out), "url"), b"admin:hunter2@db");
}

#[test]
fn completions_man_pages_and_demo() {
    ksec()
        .args(["completion", "bash"])
        .assert()
        .success()
        .stdout(contains("_ksec"));
    ksec()
        .args(["completion", "zsh"])
        .assert()
        .success()
        .stdout(contains("#compdef ksec"));
    ksec()
        .args(["completion", "fish"])
        .assert()
        .success()
        .stdout(contains("complete -c ksec"));
    let dir = ksec_testkit::tempdir();
    ksec()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .assert()
        .success();
    let page = std::fs::read_to_string(dir.path().join("ksec-seal.1")).unwrap();
    assert!(page.contains("recovery\\-private\\-key"), "{page}");
    ksec()
        .arg("--version")
        .assert()
        .success()
        .stdout(contains("ksec "));
    ksec()
        .arg("demo")
        .assert()
        .success()
        .stdout(contains("refused, as it must be"))
        .stdout(contains("Demo finished"));
}

#[test]
fn certificate_from_an_http_url() {
    let Some(py) = ksec_testkit::peer("python3") else {
        return;
    };
    let port = ksec_testkit::free_port();
    let _server = ksec_testkit::ChildGuard::spawn(
        "python http.server",
        std::process::Command::new(py)
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(testdata(""))
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    ksec_testkit::wait_for_port(port, std::time::Duration::from_secs(10));
    let url = format!("http://127.0.0.1:{port}/test-cert-a.pem");
    let out = ksec()
        .args(["seal", "--cert", &url])
        .write_stdin(SECRET_YAML)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sealed = parse(&out);
    assert_eq!(sealed["kind"], "SealedSecret");
    let dir = ksec_testkit::tempdir();
    let f = write(dir.path(), "s.json", &String::from_utf8(out).unwrap());
    unseal(testdata("test-key-a.pem"), &f).success();
    let missing = format!("http://127.0.0.1:{port}/nope.pem");
    ksec()
        .args(["seal", "--cert", &missing])
        .write_stdin(SECRET_YAML)
        .assert()
        .failure()
        .stderr(contains("404"));
}
