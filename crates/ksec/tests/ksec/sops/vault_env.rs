//! How `ksec sops` finds what Vault needs when the environment gives it, against a
//! real OpenBao dev server and the real sops: the token from `~/.vault-token` when
//! `VAULT_TOKEN` is unset (sops's `hcvault` key source), `VAULT_TOKEN` winning over
//! the file, a missing or empty file named in the error, and `VAULT_NAMESPACE`
//! (the `X-Vault-Namespace` header) reaching a Transit key that exists only inside
//! an OpenBao namespace.
use super::network::ok;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `ksec sops ARGS` (or the real sops) in `dir` with `HOME=home`, no Vault
/// variables but `env`, and no local keys.
fn run(bin: &Path, dir: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(bin);
    if bin == crate::common::ksec_path().as_path() {
        c.arg("sops");
    }
    c.args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env("SOPS_AGE_KEY_FILE", home.join("no-age.txt"))
        .env("GNUPGHOME", home.join("no-gnupg"));
    for v in [
        "VAULT_TOKEN",
        "VAULT_NAMESPACE",
        "VAULT_ADDR",
        "VAULT_CACERT",
        "BAO_TOKEN",
        "SOPS_HC_VAULT_ALLOWLIST",
        "SOPS_AGE_KEY",
        "SOPS_CONFIG",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn failed(what: &str, o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{what} succeeded");
    assert!(o.stdout.is_empty(), "{what} printed something");
    for n in needles {
        assert!(err.contains(n), "{what}: {n:?} not in {err}");
    }
}

#[test]
fn vault_token_from_home_file_and_vault_token_wins() {
    let Some(sops) = ksec_testkit::peer("sops") else {
        return;
    };
    let Some(bao) = ksec_testkit::openbao::OpenBao::start() else {
        return;
    };
    let ksec = crate::common::ksec_path();
    // A token of its own (not the dev root token), as `bao login` would store it.
    let token = bao.cli(&["token", "create", "-field=token", "-policy=root"]);
    let dir = ksec_testkit::tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join(".vault-token"), format!("{token}\n")).unwrap();
    std::fs::write(dir.path().join("p.yaml"), "k: from-token-file\n").unwrap();
    let uri = format!("{}/v1/transit/keys/ksec", bao.addr);

    // No VAULT_TOKEN: ksec encrypts and decrypts with the file's token; the real
    // sops, reading the same file, decrypts ksec's output and the other way round.
    let enc = ok(
        "ksec encrypt (token file)",
        run(
            &ksec,
            dir.path(),
            &home,
            &[],
            &["encrypt", "--hc-vault-transit", &uri, "p.yaml"],
        ),
    );
    assert!(!String::from_utf8_lossy(&enc).contains("from-token-file"));
    std::fs::write(dir.path().join("ksec.enc.yaml"), &enc).unwrap();
    for bin in [&ksec, &sops] {
        let out = run(bin, dir.path(), &home, &[], &["decrypt", "ksec.enc.yaml"]);
        assert_eq!(ok("decrypt (token file)", out), b"k: from-token-file\n");
    }
    let enc = ok(
        "sops encrypt (token file)",
        run(
            &sops,
            dir.path(),
            &home,
            &[],
            &["encrypt", "--hc-vault-transit", &uri, "p.yaml"],
        ),
    );
    std::fs::write(dir.path().join("sops.enc.yaml"), &enc).unwrap();
    let out = run(&ksec, dir.path(), &home, &[], &["decrypt", "sops.enc.yaml"]);
    assert_eq!(
        ok("ksec decrypt (sops, token file)", out),
        b"k: from-token-file\n"
    );

    // VAULT_TOKEN wins over the file: a bad one fails although the file is good…
    let out = run(
        &ksec,
        dir.path(),
        &home,
        &[("VAULT_TOKEN", "not-a-token")],
        &["decrypt", "ksec.enc.yaml"],
    );
    failed("bad VAULT_TOKEN, good file", &out, &[&uri]);
    // …and a good one works with a bad file.
    std::fs::write(home.join(".vault-token"), "not-a-token\n").unwrap();
    let out = run(
        &ksec,
        dir.path(),
        &home,
        &[("VAULT_TOKEN", &token)],
        &["decrypt", "ksec.enc.yaml"],
    );
    assert_eq!(
        ok("good VAULT_TOKEN, bad file", out),
        b"k: from-token-file\n"
    );

    // An empty file, or none: an error naming the file looked in, nothing sent.
    let file = home.join(".vault-token").display().to_string();
    std::fs::write(home.join(".vault-token"), "\n").unwrap();
    let out = run(&ksec, dir.path(), &home, &[], &["decrypt", "ksec.enc.yaml"]);
    failed(
        "empty token file",
        &out,
        &["VAULT_TOKEN is not set", &file, "is empty"],
    );
    std::fs::remove_file(home.join(".vault-token")).unwrap();
    let out = run(&ksec, dir.path(), &home, &[], &["decrypt", "ksec.enc.yaml"]);
    failed(
        "no token file",
        &out,
        &["VAULT_TOKEN is not set", &file, "does not exist"],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&token));
}

#[test]
fn vault_namespace_reaches_a_transit_key_inside_an_openbao_namespace() {
    let Some(sops) = ksec_testkit::peer("sops") else {
        return;
    };
    let Some(bao) = ksec_testkit::openbao::OpenBao::start() else {
        return;
    };
    let ksec = crate::common::ksec_path();
    // OpenBao has namespaces since 2.3; the key's mount exists only in `team`.
    bao.transit_in_namespace("team", "team-transit", "nskey");
    let uri = format!("{}/v1/team-transit/keys/nskey", bao.addr);
    let dir = ksec_testkit::tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(dir.path().join("p.yaml"), "k: in-a-namespace\n").unwrap();
    let team = [("VAULT_TOKEN", "root"), ("VAULT_NAMESPACE", "team")];

    let enc = ok(
        "ksec encrypt in team",
        run(
            &ksec,
            dir.path(),
            &home,
            &team,
            &["encrypt", "--hc-vault-transit", &uri, "p.yaml"],
        ),
    );
    std::fs::write(dir.path().join("ksec.enc.yaml"), &enc).unwrap();
    for bin in [&ksec, &sops] {
        let out = run(bin, dir.path(), &home, &team, &["decrypt", "ksec.enc.yaml"]);
        assert_eq!(ok("decrypt in team", out), b"k: in-a-namespace\n");
    }
    let enc = ok(
        "sops encrypt in team",
        run(
            &sops,
            dir.path(),
            &home,
            &team,
            &["encrypt", "--hc-vault-transit", &uri, "p.yaml"],
        ),
    );
    std::fs::write(dir.path().join("sops.enc.yaml"), &enc).unwrap();
    let out = run(
        &ksec,
        dir.path(),
        &home,
        &team,
        &["decrypt", "sops.enc.yaml"],
    );
    assert_eq!(ok("ksec decrypt (sops, team)", out), b"k: in-a-namespace\n");

    // Without the namespace the mount is not there (the header is what finds it);
    // another namespace does not have it either.
    for env in [
        vec![("VAULT_TOKEN", "root")],
        vec![("VAULT_TOKEN", "root"), ("VAULT_NAMESPACE", "other")],
    ] {
        let out = run(
            &ksec,
            dir.path(),
            &home,
            &env,
            &["decrypt", "ksec.enc.yaml"],
        );
        failed("decrypt outside team", &out, &[&uri]);
    }
}
