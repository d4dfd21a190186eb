//! The library on the inputs other scanners get wrong: SOPS files written by sops,
//! SealedSecrets, audit policies judged first-match, EncryptionConfigurations with
//! inline keys, dotenv files, lists and the ignore annotation.
use ksec_scan::{Options, Report, Scanner, Severity};

fn scan(name: &str, text: &str) -> Report {
    scan_with(Options::default(), name, text)
}

fn scan_with(opts: Options, name: &str, text: &str) -> Report {
    let mut s = Scanner::new(opts);
    s.scan_text(name, text);
    s.finish()
}

fn rules(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn sops_files_written_by_sops_are_not_leaks() {
    let Some(fx) = ksec_testkit::fixtures() else {
        return;
    };
    for f in [
        "sops/getsops-sops/functional-tests/res/format.enc.yaml",
        "sops/getsops-sops/functional-tests/res/format.enc.json",
        "sops/getsops-sops/functional-tests/res/format.enc.env",
        "sops/getsops-sops/functional-tests/res/multiple_keys.yaml",
        "sops/getsops-sops/example.yaml",
        "sops/helm-secrets/tests/assets/values/sops/secrets.yaml",
    ] {
        let text = std::fs::read_to_string(fx.join(f)).unwrap();
        let r = scan(f, &text);
        assert!(r.findings.is_empty(), "{f}: {:?}", r.findings);
        assert!(r.skipped.is_empty(), "{f}: {:?}", r.skipped);
    }
    // no_mac.yaml: a MAC-less file is a finding.
    let f = "sops/getsops-sops/functional-tests/res/no_mac.yaml";
    let r = scan(f, &std::fs::read_to_string(fx.join(f)).unwrap());
    assert_eq!(rules(&r), ["KSEC-SOPS-NO-MAC"]);
    // Every recipient retired.
    let f = "sops/getsops-sops/functional-tests/res/format.enc.yaml";
    let text = std::fs::read_to_string(fx.join(f)).unwrap();
    let opts = Options {
        retired_recipients: vec!["FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4".into()],
        ..Options::default()
    };
    let r = scan_with(opts, f, &text);
    assert_eq!(rules(&r), ["KSEC-SOPS-RETIRED-KEYS"], "{:?}", r.findings);
}

#[test]
fn sops_values_left_unencrypted_by_the_rules() {
    let text = "db_password_unencrypted: hunter2-plain\nname: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\nregion_unencrypted: eu-west-1\nsops:\n    lastmodified: '2024-01-01T00:00:00Z'\n    mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    unencrypted_suffix: _unencrypted\n    age:\n    -   recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n        enc: x\n    version: 3.9.0\n";
    let r = scan("values.enc.yaml", text);
    // Left in plaintext on purpose, still a password: medium; region is not a credential.
    assert_eq!(rules(&r), ["KSEC-SOPS-UNENCRYPTED"], "{:?}", r.findings);
    assert_eq!(r.findings[0].severity, Severity::Medium);
    let text = text.replace("hunter2-plain", "AKIAZ7QH3LPXW4NRT2VB");
    let r = scan("values.enc.yaml", &text);
    assert_eq!(rules(&r), ["KSEC-SOPS-UNENCRYPTED"]);
    assert_eq!(
        r.findings[0].severity,
        Severity::High,
        "a detector recognised it"
    );
    assert_eq!(r.findings[0].path, "db_password_unencrypted");
    assert_eq!(r.findings[0].line, 1);
}

#[test]
fn sealed_secrets_template_data_and_scope() {
    let ok = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s, namespace: n}\nspec:\n  encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq}\n  template:\n    metadata: {name: s}\n    data: {url: 'postgres://u:{{ index . \"password\" }}@db'}\n";
    assert!(scan("s.yaml", ok).findings.is_empty());
    let bad = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: s\n  namespace: n\n  annotations: {sealedsecrets.bitnami.com/cluster-wide: \"true\"}\nspec:\n  encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq}\n  template:\n    data: {api_key: literal-key-123}\n";
    let r = scan("s.yaml", bad);
    assert_eq!(
        rules(&r),
        ["KSEC-SEALED-CLUSTER-WIDE", "KSEC-SEALED-TEMPLATE-DATA"]
    );
    assert!(!ksec_scan::output::json(&r).contains("literal-key-123"));
}

#[test]
fn audit_policy_first_match_wins() {
    let policy =
        |rules: &str| format!("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n{rules}");
    // A broad RequestResponse rule above the Secrets rule logs Secret values.
    let r = scan("audit.yaml", &policy("- level: RequestResponse\n- level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n"));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(
        (r.findings[0].severity, r.findings[0].path.as_str()),
        (Severity::High, "rules[0]")
    );
    // Metadata first for Secrets: fine, even with a broad rule below.
    let r = scan("audit.yaml", &policy("- level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n- level: RequestResponse\n"));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // Nothing matches Secrets: not audited.
    let r = scan(
        "audit.yaml",
        &policy("- level: Metadata\n  resources: [{group: \"\", resources: [pods]}]\n"),
    );
    assert_eq!(
        (r.findings[0].severity, r.findings[0].path.as_str()),
        (Severity::Medium, "rules")
    );
    // A user-restricted Request rule leaks for that user, and the search goes on.
    let r = scan(
        "audit.yaml",
        &policy("- level: Request\n  users: [admin]\n- level: None\n"),
    );
    assert_eq!(r.findings.len(), 2, "{:?}", r.findings);
}

#[test]
fn encryption_config_keys_in_a_committed_file() {
    let cfg = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n      - name: k1\n        secret: YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=\n  - identity: {}\n";
    let r = scan("enc.yaml", cfg);
    let f = r
        .findings
        .iter()
        .find(|f| f.path.ends_with("keys[0].secret"))
        .expect("inline key finding");
    assert_eq!(
        (f.rule.as_str(), f.severity, f.line),
        ("KSEC-ENCRYPTION-CONFIG", Severity::High, 9)
    );
    assert!(!ksec_scan::output::table(&r).contains("YWJjZGVm"));
    let identity_first = cfg
        .replace("  - secretbox:", "  - identity: {}\n  - secretbox:")
        .replace("  - identity: {}\n\n", "\n");
    let r = scan("enc.yaml", &identity_first);
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("identity is first")),
        "{:?}",
        r.findings
    );
}

#[test]
fn lists_dotenv_and_ignore_annotation() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n  stringData: {token: abc-123-def}\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: b\n    annotations: {ksec.dev/scan-ignore: \"KSEC-SECRET-PLAINTEXT\"}\n  stringData: {token: abc-123-def}\n";
    let r = scan("list.yaml", list);
    assert_eq!(r.findings.len(), 1);
    assert_eq!((r.findings[0].name.as_str(), r.findings[0].line), ("a", 7));
    assert_eq!(r.summary.ignored, 1);
    let r = scan("prod.env", "# comment\nDB_PASSWORD=hunter2-pw\nDB_PASSWORD_FILE=/run/pw\nPORT=8080\nURL=postgres://u:${PW}@db\n");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(
        (r.findings[0].path.as_str(), r.findings[0].line),
        ("DB_PASSWORD", 2)
    );
}
