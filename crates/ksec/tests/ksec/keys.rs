//! `ksec keys`: keys and certificates in the controller's formats; encrypted backups and
//! restores.
use crate::cluster::{key_a_secret, key_secret, KEY_A};
use crate::common::*;
use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
use predicates::prelude::*;
use predicates::str::contains;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn new_key_secret_is_shaped_like_the_controllers_and_works() {
    let dir = ksec_testkit::tempdir();
    let key_file = dir.path().join("key.yaml");
    ksec()
        .args(["keys", "new", "--bits", "2048", "-w"])
        .arg(&key_file)
        .assert()
        .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v = parse(&std::fs::read(&key_file).unwrap());
    assert_eq!(v["type"], "kubernetes.io/tls");
    assert_eq!(v["metadata"]["namespace"], "kube-system");
    assert_eq!(
        v["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    assert!(v["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("sealed-secrets-key"));
    assert!(String::from_utf8(data_value(&v, "tls.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // cert → seal → unseal with the Secret as the key file.
    let cert = ksec()
        .args(["keys", "cert"])
        .arg(&key_file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, &cert).unwrap();
    let parsed = ksec_crypto::x509::Certificate::from_pem(&cert).unwrap();
    assert_eq!(
        parsed.common_name, None,
        "the controller's default --my-cn is empty"
    );
    assert_eq!(parsed.not_after - parsed.not_before, 87_600 * 3600);
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.yaml");
    seal_cmd(&cert_file, &secret, &sealed).assert().success();
    unseal(&key_file, &sealed).success();
    ksec()
        .args(["keys", "list"])
        .arg(&key_file)
        .assert()
        .success()
        .stdout(contains("SHA256:"))
        .stdout(contains(" 2048 "));
}

#[test]
fn pem_output_and_fingerprint_match_openssh() {
    let dir = ksec_testkit::tempdir();
    ksec()
        .args(["keys", "new", "--bits", "2048", "--pem-dir"])
        .arg(dir.path())
        .assert()
        .success();
    let listed = ksec()
        .args(["keys", "list"])
        .arg(dir.path().join("tls.key"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let listed = String::from_utf8(listed).unwrap();
    let Some(ssh_keygen) = ksec_testkit::peer("ssh-keygen") else {
        return;
    };
    let out = std::process::Command::new(ssh_keygen)
        .arg("-lf")
        .arg(dir.path().join("tls.key"))
        .output()
        .unwrap();
    let theirs = String::from_utf8(out.stdout).unwrap();
    let fp = theirs
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        fp.starts_with("SHA256:") && listed.contains(&fp),
        "ours: {listed}\nssh-keygen: {theirs}"
    );
}

// Encrypted key backups: identities made by the real age-keygen and ssh-keygen, backups
// opened by the real age, and restores onto the HTTPS test cluster.

const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// `age-keygen -o DIR/NAME`: the identity file and its recipient.
fn age_keygen(dir: &Path, name: &str) -> Option<(PathBuf, String)> {
    let keygen = ksec_testkit::peer("age-keygen")?;
    let id = dir.join(name);
    let out = Command::new(&keygen).arg("-o").arg(&id).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&keygen).arg("-y").arg(&id).output().unwrap();
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(recipient.starts_with("age1"));
    Some((id, recipient))
}

/// `ssh-keygen -t ed25519 -N ""`: the private key file and the public key line.
fn ssh_keygen(dir: &Path) -> Option<(PathBuf, String)> {
    let keygen = ksec_testkit::peer("ssh-keygen")?;
    let key = dir.join("id_ed25519");
    let out = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ops@example", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    Some((key, public.trim().to_string()))
}

/// `age -d -i IDENTITY FILE`: the decrypted backup.
fn age_decrypt(identity: &Path, file: &Path) -> Option<Vec<u8>> {
    let age = ksec_testkit::peer("age")?;
    let out = Command::new(age)
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

fn key_a_yaml(dir: &Path) -> PathBuf {
    write(
        dir,
        "key-a.yaml",
        &serde_json::to_string(&key_a_secret("kube-system", KEY_A)).unwrap(),
    )
}

#[test]
fn backups_open_with_age_and_ssh_identities_and_the_real_age() {
    let dir = ksec_testkit::tempdir();
    let Some((id, recipient)) = age_keygen(dir.path(), "key.txt") else {
        return;
    };
    let Some((ssh_key, ssh_public)) = ssh_keygen(dir.path()) else {
        return;
    };
    let keys = key_a_yaml(dir.path());
    let backup = dir.path().join("keys.age");
    let out = ksec()
        .args([
            "keys",
            "backup",
            "--age",
            &recipient,
            "--age",
            &ssh_public,
            "-f",
        ])
        .arg(&keys)
        .arg("-w")
        .arg(&backup)
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let report = String::from_utf8(out).unwrap();
    assert!(
        report.contains("kube-system/sealed-secrets-keyaaaaa SHA256:"),
        "{report}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!text.contains("PRIVATE KEY") && !text.contains(KEY_A));
    // The real age opens it with either identity: a List of Bitnami key Secrets.
    for identity in [&id, &ssh_key] {
        let Some(plain) = age_decrypt(identity, &backup) else {
            return;
        };
        let list = parse(&plain);
        assert_eq!(list["kind"], "List");
        let s = &list["items"][0];
        assert_eq!(s["metadata"]["name"], KEY_A);
        assert_eq!(s["metadata"]["labels"][KEY_LABEL], "active");
        assert_eq!(s["type"], "kubernetes.io/tls");
        assert_eq!(
            data_value(s, "tls.key"),
            std::fs::read(testdata("test-key-a.pem")).unwrap()
        );
    }
    // ksec unseal, keys list and keys cert open it with -i.
    let secret = write(dir.path(), "s.yaml", SECRET_YAML);
    let sealed = dir.path().join("sealed.yaml");
    seal_cmd(&testdata("test-cert-a.pem"), &secret, &sealed)
        .assert()
        .success();
    for identity in [&id, &ssh_key] {
        ksec()
            .args(["unseal", "-k"])
            .arg(&backup)
            .arg("-i")
            .arg(identity)
            .arg("-f")
            .arg(&sealed)
            .assert()
            .success()
            .stdout(contains("password"));
    }
    ksec()
        .args(["keys", "list", "-i"])
        .arg(&id)
        .arg(&backup)
        .assert()
        .success()
        .stdout(contains("SHA256:"));
    // Without -i, or with an identity it was not made for: named, what to do, nothing written.
    let unsealed = dir.path().join("unsealed.yaml");
    let Some((other, _)) = age_keygen(dir.path(), "other.txt") else {
        return;
    };
    ksec()
        .args(["unseal", "-k"])
        .arg(&backup)
        .arg("-f")
        .arg(&sealed)
        .arg("-w")
        .arg(&unsealed)
        .assert()
        .failure()
        .stderr(contains("keys.age is an age-encrypted key backup: pass -i"));
    ksec()
        .args(["unseal", "-k"])
        .arg(&backup)
        .arg("-i")
        .arg(&other)
        .arg("-f")
        .arg(&sealed)
        .arg("-w")
        .arg(&unsealed)
        .assert()
        .failure()
        .stderr(contains("keys.age: none of the 1 identities opens it").and(contains("pass -i")));
    assert!(!unsealed.exists());
    // kubeseal's recovery flag takes no identity: it says how to open the backup.
    ksec()
        .args(["seal", "--recovery-unseal", "--recovery-private-key"])
        .arg(&backup)
        .arg("-f")
        .arg(&sealed)
        .assert()
        .failure()
        .stderr(contains("pass -i"));
}

#[test]
fn bad_backup_input_is_named_and_nothing_is_written() {
    let dir = ksec_testkit::tempdir();
    let keys = key_a_yaml(dir.path());
    let out = dir.path().join("keys.age");
    let backup = |args: &[&str], file: &Path| {
        ksec()
            .args(["keys", "backup"])
            .args(args)
            .arg("-f")
            .arg(file)
            .arg("-w")
            .arg(&out)
            .assert()
            .failure()
    };
    backup(&["--age", "age1notarecipient"], &keys)
        .stderr(contains("--age: recipient \"age1notarecipient\""));
    backup(&["--age", "ssh-dss AAAAB3NzaC1kc3MAAACBAP"], &keys).stderr(contains("ssh-dss"));
    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let cm = write(
        dir.path(),
        "cm.yaml",
        "kind: ConfigMap\nmetadata: {name: x}\n",
    );
    backup(&["--age", recipient], &cm).stderr(contains("cm.yaml").and(contains("not a Secret")));
    let twice = write(
        dir.path(),
        "twice.yaml",
        &format!(
            "{}\n{}\n",
            std::fs::read_to_string(&keys).unwrap(),
            std::fs::read_to_string(&keys).unwrap()
        ),
    );
    backup(&["--age", recipient], &twice).stderr(contains(
        "twice.yaml: Secret kube-system/sealed-secrets-keyaaaaa appears twice",
    ));
    assert!(!out.exists());
    // An identity file that is not one.
    let fake = write(
        dir.path(),
        "fake.age",
        "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
    );
    ksec()
        .args(["keys", "list", "-i"])
        .arg(&cm)
        .arg(&fake)
        .assert()
        .failure()
        .stderr(contains("cm.yaml").and(contains("-i takes an age identity file")));
}

/// A cluster holding key A in kube-system and a second key in `team`.
fn cluster_with_two_keys(dir: &Path) -> ApiServer {
    let second = dir.join("second.yaml");
    ksec()
        .args([
            "keys",
            "new",
            "--bits",
            "2048",
            "-n",
            "team",
            "--name",
            "sealed-secrets-keysecnd",
            "-w",
        ])
        .arg(&second)
        .assert()
        .success();
    let api = FakeApi::new();
    api.insert("core/secrets", key_a_secret("kube-system", KEY_A));
    api.insert("core/secrets", parse(&std::fs::read(&second).unwrap()));
    // Not a key: left out of backups.
    api.insert(
        "core/secrets",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "team"}, "data": {"x": "eQ=="}}),
    );
    ApiServer::start(api)
}

#[test]
fn backup_from_a_cluster_restores_onto_another_and_never_overwrites() {
    let dir = ksec_testkit::tempdir();
    let Some((id, recipient)) = age_keygen(dir.path(), "key.txt") else {
        return;
    };
    let source = cluster_with_two_keys(dir.path());
    let backup = dir.path().join("keys.age");
    ksec()
        .args(["keys", "backup", "--age", &recipient, "-w"])
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(source.kubeconfig(Credentials::Token))
        .assert()
        .success();
    let Some(plain) = age_decrypt(&id, &backup) else {
        return;
    };
    let list = parse(&plain);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&KEY_A) && names.contains(&"sealed-secrets-keysecnd"));
    for s in list["items"].as_array().unwrap() {
        assert!(
            s["metadata"].get("uid").is_none() && s["metadata"].get("resourceVersion").is_none()
        );
    }
    // -n reads one namespace.
    let one = dir.path().join("one.age");
    ksec()
        .args(["keys", "backup", "--age", &recipient, "-n", "team", "-w"])
        .arg(&one)
        .arg("--kubeconfig")
        .arg(source.kubeconfig(Credentials::ClientCertificate))
        .assert()
        .success();
    let Some(plain) = age_decrypt(&id, &one) else {
        return;
    };
    assert_eq!(parse(&plain)["items"].as_array().unwrap().len(), 1);
    // Without the right to list Secrets everywhere: the way out is -n.
    source
        .api()
        .fail(|m, p| (m.as_str() == "GET" && p == "/api/v1/secrets").then_some(403));
    ksec()
        .args(["keys", "backup", "--age", &recipient, "-w"])
        .arg(dir.path().join("refused.age"))
        .arg("--kubeconfig")
        .arg(source.kubeconfig(Credentials::Token))
        .assert()
        .failure()
        .stderr(contains("403").and(contains("pass -n NAMESPACE")));
    assert!(!dir.path().join("refused.age").exists());
    source.api().clear_faults();

    // A new cluster: the dry run lists, writes nothing and shows no key material.
    let target = ApiServer::start(FakeApi::new());
    let kubeconfig = target.kubeconfig(Credentials::ClientCertificate);
    let restore = || {
        let mut c = ksec();
        c.args(["keys", "restore", "-i"])
            .arg(&id)
            .arg(&backup)
            .arg("--kubeconfig")
            .arg(&kubeconfig);
        c
    };
    let listing = stdout_of(restore().arg("--dry-run"));
    let listing = String::from_utf8(listing).unwrap();
    assert!(
        listing.contains("NAMESPACE")
            && listing.contains("FINGERPRINT")
            && listing.contains("NOT AFTER"),
        "{listing}"
    );
    assert!(
        listing.contains("kube-system") && listing.contains(KEY_A) && listing.contains("create"),
        "{listing}"
    );
    let key_b64 = &source
        .api()
        .get("core/secrets", "kube-system", KEY_A)
        .unwrap()["data"]["tls.key"];
    assert!(!listing.contains("PRIVATE") && !listing.contains(&key_b64.as_str().unwrap()[..32]));
    assert!(
        target.api().writes().is_empty(),
        "{:?}",
        target.api().writes()
    );
    // The restore creates Bitnami key Secrets where they were.
    restore().assert().success().stderr(contains(
        "created Secret kube-system/sealed-secrets-keyaaaaa",
    ));
    for (ns, name) in [("kube-system", KEY_A), ("team", "sealed-secrets-keysecnd")] {
        let theirs = source.api().get("core/secrets", ns, name).unwrap();
        let ours = target.api().get("core/secrets", ns, name).unwrap();
        assert_eq!(ours["data"], theirs["data"]);
        assert_eq!(ours["type"], "kubernetes.io/tls");
        assert_eq!(ours["metadata"]["labels"][KEY_LABEL], "active");
    }
    // Again: the keys are there; an error, and nothing written.
    let writes = target.api().writes().len();
    restore().assert().failure().stderr(
        contains("nothing was restored")
            .and(contains("already has this key"))
            .and(contains("--skip-existing")),
    );
    assert_eq!(target.api().writes().len(), writes);
    restore()
        .arg("--skip-existing")
        .assert()
        .success()
        .stderr(contains("nothing to restore"));
    assert_eq!(target.api().writes().len(), writes);
    // Into another namespace: created there.
    restore().args(["-n", "sealed"]).assert().success();
    assert!(target.api().get("core/secrets", "sealed", KEY_A).is_some());
    // A Secret of that name holding another key (or none) is never overwritten.
    let other = ApiServer::start(FakeApi::new());
    other.api().insert(
        "core/secrets",
        key_secret(
            "kube-system",
            KEY_A,
            &std::fs::read(testdata("test-key-b.pem")).unwrap(),
            &std::fs::read(testdata("test-cert-b.pem")).unwrap(),
        ),
    );
    ksec()
        .args(["keys", "restore", "-i"])
        .arg(&id)
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(other.kubeconfig(Credentials::Token))
        .assert()
        .failure()
        .stderr(contains("kube-system/sealed-secrets-keyaaaaa: a Secret of that name exists and holds another key"));
    assert!(other.api().writes().is_empty());
    assert_eq!(other.api().list("core/secrets").len(), 1);
}

#[test]
fn a_failed_restore_leaves_nothing_behind() {
    let dir = ksec_testkit::tempdir();
    let Some((id, recipient)) = age_keygen(dir.path(), "key.txt") else {
        return;
    };
    let source = cluster_with_two_keys(dir.path());
    let backup = dir.path().join("keys.age");
    ksec()
        .args(["keys", "backup", "--age", &recipient, "-w"])
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(source.kubeconfig(Credentials::Token))
        .assert()
        .success();
    // The second namespace refuses the write: the first key is taken back.
    let target = ApiServer::start(FakeApi::new());
    target
        .api()
        .fail(|m, p| (m.as_str() == "POST" && p.contains("/namespaces/team/")).then_some(403));
    ksec()
        .args(["keys", "restore", "-i"])
        .arg(&id)
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(target.kubeconfig(Credentials::ClientCertificate))
        .assert()
        .failure()
        .stderr(
            contains("nothing was restored")
                .and(contains("team/sealed-secrets-keysecnd"))
                .and(contains("403")),
        );
    assert!(
        target.api().list("core/secrets").is_empty(),
        "{:?}",
        target.api().list("core/secrets")
    );
    // An identity the backup was not made for: named, nothing asked of the cluster.
    target.api().clear_faults();
    let Some((other, _)) = age_keygen(dir.path(), "other.txt") else {
        return;
    };
    let before = target.requests().len();
    ksec()
        .args(["keys", "restore", "-i"])
        .arg(&other)
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(target.kubeconfig(Credentials::ClientCertificate))
        .assert()
        .failure()
        .stderr(contains("keys.age: none of the 1 identities opens it"));
    assert_eq!(target.requests().len(), before, "{:?}", target.requests());
    assert!(target.api().list("core/secrets").is_empty());
    // No cluster at all.
    ksec()
        .args(["keys", "restore", "-i"])
        .arg(&id)
        .arg(&backup)
        .arg("--kubeconfig")
        .arg(dir.path().join("missing"))
        .assert()
        .failure()
        .stderr(contains("missing"));
}
