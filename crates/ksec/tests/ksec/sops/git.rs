//! The git drivers in a real git repository: `git-setup`, a merge of changes
//! to different values without a conflict (the result decrypts, MAC valid,
//! both changes in), a real conflict that leaves nothing decrypted in the work
//! tree, and `git diff` in plaintext with a key, ciphertext without; never a
//! textconv cache.
use super::{code, env, Env};
use std::path::Path;
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    out
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let o = git(dir, args);
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ksec sops ARGS` in the repository, with the age key (git runs the drivers
/// with the environment of the git process, which `git_with_key` sets).
fn ksec_ok(e: &Env, repo: &Path, args: &[&str]) {
    let o = e.ksec().current_dir(repo).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ksec {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn git_with_key(e: &Env, dir: &Path, key: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", e.dir.path().join("xdg"))
        .env("TMPDIR", &e.tmp)
        .env_remove("SOPS_AGE_KEY");
    match key {
        Some(k) => c.env("SOPS_AGE_KEY_FILE", k),
        None => c.env("SOPS_AGE_KEY_FILE", "/nonexistent/keys.txt"),
    };
    c.output().unwrap()
}

fn decrypted(e: &Env, repo: &Path, file: &str) -> String {
    let o = e
        .ksec()
        .current_dir(repo)
        .args(["sops", "decrypt", file])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "decrypt {file} (MAC checked): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn git_drivers_merge_diff_and_never_cache_plaintext() {
    let Some(e) = env() else { return };
    if ksec_testkit::peer("git").is_none() {
        return;
    }
    let repo = e.dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git_ok(&repo, &["init", "-q", "-b", "main", "."]);
    std::fs::write(
        repo.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {}\n",
            e.recipient
        ),
    )
    .unwrap();
    std::fs::create_dir(repo.join("secrets")).unwrap();
    std::fs::write(
        repo.join("secrets/app.yaml"),
        "db:\n    user: admin\n    password: one\napi: key1\nother: x\n",
    )
    .unwrap();
    ksec_ok(&e, &repo, &["sops", "encrypt", "-i", "secrets/app.yaml"]);

    // git-setup: drivers from the creation rule's path_regex, no cache.
    ksec_ok(&e, &repo, &["sops", "git-setup"]);
    let attributes = std::fs::read_to_string(repo.join(".gitattributes")).unwrap();
    assert_eq!(
        attributes, "secrets/** diff=ksec-sops merge=ksec-sops\n",
        "{attributes}"
    );
    let config = git_ok(&repo, &["config", "--local", "--list"]);
    assert!(config.contains("diff.ksec-sops.textconv="), "{config}");
    assert!(config.contains("merge.ksec-sops.driver="), "{config}");
    assert!(!config.contains("cachetextconv"), "{config}");
    // A second run changes nothing.
    ksec_ok(&e, &repo, &["sops", "git-setup"]);
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitattributes")).unwrap(),
        attributes
    );
    git_ok(&repo, &["add", "-A"]);
    git_ok(&repo, &["commit", "-qm", "base"]);

    // Two branches change different values of the same file.
    git_ok(&repo, &["checkout", "-qb", "feature"]);
    ksec_ok(
        &e,
        &repo,
        &[
            "sops",
            "set",
            "secrets/app.yaml",
            "[\"api\"]",
            "\"api-feature-2\"",
        ],
    );
    git_ok(&repo, &["commit", "-qam", "feature: api key"]);
    git_ok(&repo, &["checkout", "-q", "main"]);
    ksec_ok(
        &e,
        &repo,
        &[
            "sops",
            "set",
            "secrets/app.yaml",
            "[\"db\"][\"password\"]",
            "\"pw-main-2\"",
        ],
    );
    git_ok(&repo, &["commit", "-qam", "main: password"]);
    let o = git_with_key(
        &e,
        &repo,
        Some(&e.key),
        &["merge", "-q", "feature", "-m", "merge"],
    );
    assert!(
        o.status.success(),
        "a merge of different values has no conflict: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        decrypted(&e, &repo, "secrets/app.yaml"),
        "db:\n    user: admin\n    password: pw-main-2\napi: api-feature-2\nother: x\n"
    );
    if let Some(out) = e.real_sops(&["decrypt", "repo/secrets/app.yaml"]) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "db:\n    user: admin\n    password: pw-main-2\napi: api-feature-2\nother: x\n",
            "sops checks the merged MAC: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let merged = std::fs::read_to_string(repo.join("secrets/app.yaml")).unwrap();
    assert!(!merged.contains("api-feature-2") && !merged.contains("pw-main-2"));

    // git diff: plaintext with the key, the encrypted file without.
    let with_key = git_with_key(
        &e,
        &repo,
        Some(&e.key),
        &["diff", "HEAD~1", "--", "secrets/app.yaml"],
    );
    let with_key = String::from_utf8_lossy(&with_key.stdout);
    assert!(
        with_key.contains("-api: key1") && with_key.contains("+api: api-feature-2"),
        "{with_key}"
    );
    let without = git_with_key(
        &e,
        &repo,
        None,
        &["diff", "HEAD~1", "--", "secrets/app.yaml"],
    );
    let without = String::from_utf8_lossy(&without.stdout);
    assert!(
        without.contains("ENC[AES256_GCM") && !without.contains("api-feature-2"),
        "{without}"
    );
    // No textconv cache: nothing under refs/notes.
    let refs = git_ok(&repo, &["for-each-ref"]);
    assert!(!refs.contains("refs/notes"), "{refs}");

    // Both branches change the same value: a conflict, nothing decrypted.
    git_ok(&repo, &["checkout", "-qb", "other"]);
    ksec_ok(
        &e,
        &repo,
        &[
            "sops",
            "set",
            "secrets/app.yaml",
            "[\"other\"]",
            "\"other-theirs-9\"",
        ],
    );
    git_ok(&repo, &["commit", "-qam", "other: x"]);
    git_ok(&repo, &["checkout", "-q", "main"]);
    ksec_ok(
        &e,
        &repo,
        &[
            "sops",
            "set",
            "secrets/app.yaml",
            "[\"other\"]",
            "\"other-ours-9\"",
        ],
    );
    git_ok(&repo, &["commit", "-qam", "main: x"]);
    let o = git_with_key(
        &e,
        &repo,
        Some(&e.key),
        &["merge", "other", "-m", "conflict"],
    );
    assert!(
        !o.status.success(),
        "the same value changed twice conflicts"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("[\"other\"]"),
        "the conflict names the path: {stderr}"
    );
    assert!(
        !stderr.contains("other-theirs-9") && !stderr.contains("other-ours-9"),
        "{stderr}"
    );
    let status = git_ok(&repo, &["status", "--porcelain"]);
    assert!(status.contains("UU secrets/app.yaml"), "{status}");
    // The work tree holds our side, still encrypted: no plaintext anywhere.
    let work = std::fs::read_to_string(repo.join("secrets/app.yaml")).unwrap();
    assert!(work.contains("ENC[AES256_GCM") && work.contains("sops:"));
    for secret in [
        "other-theirs-9",
        "other-ours-9",
        "pw-main-2",
        "api-feature-2",
        "admin",
    ] {
        assert!(!work.contains(secret), "{secret} in the work tree");
    }
    assert_eq!(
        decrypted(&e, &repo, "secrets/app.yaml"),
        "db:\n    user: admin\n    password: pw-main-2\napi: api-feature-2\nother: other-ours-9\n"
    );
    git_ok(&repo, &["merge", "--abort"]);
    assert_eq!(code(&git(&repo, &["diff", "--quiet"])), 0);
}

#[test]
fn git_setup_asks_for_a_pattern_when_path_regex_is_not_a_glob() {
    let Some(e) = env() else { return };
    if ksec_testkit::peer("git").is_none() {
        return;
    }
    let repo = e.dir.path().join("repo2");
    std::fs::create_dir(&repo).unwrap();
    git_ok(&repo, &["init", "-q", "."]);
    std::fs::write(
        repo.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: (dev|prod)/.*\\.yaml$\n    age: {}\n",
            e.recipient
        ),
    )
    .unwrap();
    let o = e
        .ksec()
        .current_dir(&repo)
        .args(["sops", "git-setup"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--pattern"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!repo.join(".gitattributes").exists());
    ksec_ok(
        &e,
        &repo,
        &[
            "sops",
            "git-setup",
            "--pattern",
            "*.enc.yaml",
            "--pattern",
            "prod/**",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitattributes")).unwrap(),
        "*.enc.yaml diff=ksec-sops merge=ksec-sops\nprod/** diff=ksec-sops merge=ksec-sops\n"
    );
}
