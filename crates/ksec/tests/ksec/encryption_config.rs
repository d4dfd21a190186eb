//! `ksec encryption-config generate|check`.
use crate::common::*;
use predicates::str::contains;

#[test]
fn generated_files_check_clean_and_broken_ones_fail_naming_the_field() {
    let dir = ksec_testkit::tempdir();
    for provider in ["kms", "secretbox", "aesgcm"] {
        let f = dir.path().join(format!("{provider}.yaml"));
        ksec()
            .args([
                "encryption-config",
                "generate",
                "--provider",
                provider,
                "-w",
            ])
            .arg(&f)
            .assert()
            .success();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        ksec()
            .args(["encryption-config", "check"])
            .arg(&f)
            .assert()
            .success()
            .stdout(contains("valid"));
    }
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {name: k, endpoint: 'http://x'}\n",
    );
    ksec()
        .args(["encryption-config", "check"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(contains("resources[0].providers[0].kms.endpoint"))
        .stderr(contains("kube-apiserver would refuse to start"));
}

/// A KMS v1 provider: refused as the apiserver refuses it since 1.29, with the hint to
/// check with `--kms-v1` when the apiserver runs with that feature gate; accepted then.
#[test]
fn kms_v1_providers_get_the_feature_gate_hint() {
    let dir = ksec_testkit::tempdir();
    let v1 = write(
        dir.path(),
        "v1.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {name: k, endpoint: 'unix:///k.sock'}\n",
    );
    ksec()
        .args(["encryption-config", "check"])
        .arg(&v1)
        .assert()
        .failure()
        .stderr(contains("resources[0].providers[0].kms.apiVersion: KMS v1"))
        .stderr(contains(
            "hint: if the apiserver runs with that feature gate, check with --kms-v1",
        ));
    ksec()
        .args(["encryption-config", "check", "--kms-v1"])
        .arg(&v1)
        .assert()
        .success()
        .stdout(contains("valid"));
}
