//! `ksec controller`: flags and SEALED_SECRETS_* variables are checked before any API
//! call, and errors name the flag. (The controller itself is tested in ksec-controller.)
use crate::common::ksec;
use predicates::str::contains;

#[test]
fn help_lists_bitnamis_flags_with_their_variables() {
    let out = ksec().args(["controller", "--help"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for flag in [
        "key-prefix",
        "key-size",
        "key-ttl",
        "my-cn",
        "key-renew-period",
        "key-cutoff-time",
        "key-order-priority",
        "privatekey-labels",
        "privatekey-annotations",
        "all-namespaces",
        "additional-namespaces",
        "label-selector",
        "update-status",
        "skip-recreate",
        "watch-for-secrets",
        "max-unseal-retries",
        "listen-addr",
        "listen-metrics-addr",
        "rate-limit",
        "rate-limit-burst",
        "log-level",
        "log-format",
    ] {
        assert!(text.contains(&format!("--{flag}")), "missing --{flag}");
        let var = format!("SEALED_SECRETS_{}", flag.to_uppercase().replace('-', "_"));
        assert!(text.contains(&var), "missing {var}");
    }
}

#[test]
fn bad_values_from_flags_and_environment_fail_naming_the_flag() {
    ksec()
        .args(["controller", "--key-order-priority=Newest"])
        .assert()
        .failure()
        .stderr(contains("--key-order-priority"));
    ksec()
        .args(["controller"])
        .env("SEALED_SECRETS_KEY_CUTOFF_TIME", "yesterday")
        .assert()
        .failure()
        .stderr(contains("--key-cutoff-time"));
    ksec()
        .args(["controller"])
        .env("SEALED_SECRETS_LOG_FORMAT", "xml")
        .assert()
        .failure()
        .stderr(contains("--log-format"));
    ksec()
        .args(["controller", "--key-renew-period=30d"])
        .assert()
        .failure()
        .stderr(contains("not a duration"));
}
