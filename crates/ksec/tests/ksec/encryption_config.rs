//! `ksec encryption-config generate` and `check`.
use super::common;
use std::os::unix::fs::PermissionsExt;

#[test]
fn generate_then_check_every_provider() {
    let dir = ksec_testkit::tempdir();
    for p in ["kms", "aesgcm", "aescbc", "secretbox"] {
        let f = dir.path().join(format!("{p}.yaml"));
        common::ksec()
            .args([
                "encryption-config",
                "generate",
                "--provider",
                p,
                "--resources",
                "secrets,configmaps",
                "-o",
            ])
            .arg(&f)
            .assert()
            .success();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.contains("kind: EncryptionConfiguration") && text.contains("identity: {}"),
            "{text}"
        );
        let out = common::ksec()
            .args(["encryption-config", "check"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let kms = std::fs::read_to_string(dir.path().join("kms.yaml")).unwrap();
    assert!(
        kms.contains("apiVersion: v2") && kms.contains("unix:///var/run/kmsplugin/kms.sock"),
        "{kms}"
    );
}

#[test]
fn check_explains_what_the_apiserver_would_refuse() {
    let dir = ksec_testkit::tempdir();
    let f = dir.path().join("enc.yaml");
    std::fs::write(
        &f,
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [Secrets]
    providers:
      - kms: {apiVersion: v2, name: ksec, endpoint: 'tcp://10.0.0.1:1', cachesize: 5}
      - aesgcm: {keys: [{name: k, secret: 'AAAA'}]}
",
    )
    .unwrap();
    let out = common::ksec()
        .args(["encryption-config", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for m in [
        "resources[0].resources[0]",
        "resources[0].providers[0].kms.endpoint",
        "resources[0].providers[0].kms.cachesize",
        "resources[0].providers[1].aesgcm.keys[0].secret",
        "would refuse",
    ] {
        assert!(err.contains(m), "{m}: {err}");
    }
    std::fs::write(
        &f,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresource: []\n",
    )
    .unwrap();
    let out = common::ksec()
        .args(["encryption-config", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resource"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
