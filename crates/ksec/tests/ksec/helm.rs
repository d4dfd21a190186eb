//! `ksec helm` with the real Helm 4 and Helm 3 (from `KSEC_HELM4` / `KSEC_HELM3`,
//! installed by scripts/peers/helm.sh), values encrypted by the real sops for keys
//! made by the real age-keygen and gpg. Each Helm runs with its own
//! HELM_PLUGINS/HELM_CONFIG_HOME/HELM_CACHE_HOME/HELM_DATA_HOME and TMPDIR in a
//! temporary folder, and after every run that folder (temp, chart and values
//! folders, Helm's homes) is searched for leftover plaintext.
use crate::common::ksec_path;
use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The real Helm binaries: (major version, path). A missing one is skipped on a
/// laptop and fails under CI.
fn helms() -> Vec<(u8, PathBuf)> {
    let mut out = Vec::new();
    for (major, var) in [(4u8, "KSEC_HELM4"), (3, "KSEC_HELM3")] {
        match std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file())
        {
            Some(p) => out.push((major, p)),
            None => {
                let _: Option<()> = ksec_testkit::missing(
                    &format!("helm {major}"),
                    &format!(
                        "{var} does not name a helm binary (scripts/peers/helm.sh installs it)"
                    ),
                );
            }
        }
    }
    out
}

/// A unique text to find (or not) later.
fn marker(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{t:x}-{n}")
}

/// An age key (real age-keygen) and a PGP key (real gpg) for one test.
struct Keys {
    dir: tempfile::TempDir,
    age_key: PathBuf,
    recipient: String,
    /// The GnuPG home holding the PGP key (the "user's keyring").
    gnupg: PathBuf,
    fp: String,
    /// The armored private key, for secrets+gpg-import://.
    pgp_key: PathBuf,
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.gnupg)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

fn keys() -> Option<Keys> {
    let keygen = ksec_testkit::peer("age-keygen")?;
    let gpg = ksec_testkit::peer("gpg")?;
    ksec_testkit::peer("sops")?;
    let dir = tempfile::Builder::new()
        .prefix("ksec-helm-keys")
        .tempdir()
        .unwrap();
    let age_key = dir.path().join("age.txt");
    let recipient = crate::common::age_keygen(&keygen, &age_key);
    let gnupg = dir.path().join("gnupg");
    crate::common::private_dir(&gnupg);
    let gpg_run = |args: &[&str]| {
        let out = Command::new(&gpg)
            .arg("--homedir")
            .arg(&gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    gpg_run(&[
        "--quick-gen-key",
        "ksec helm test <helm@ksec.test>",
        "future-default",
        "default",
        "never",
    ]);
    let listing = String::from_utf8(gpg_run(&["--list-secret-keys", "--with-colons"])).unwrap();
    let fp = listing
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .unwrap();
    let pgp_key = dir.path().join("private.asc");
    std::fs::write(&pgp_key, gpg_run(&["--armor", "--export-secret-keys", &fp])).unwrap();
    Some(Keys {
        dir,
        age_key,
        recipient,
        gnupg,
        fp,
        pgp_key,
    })
}

/// One Helm with its own homes, a chart, and a folder of values files.
struct Setup<'k> {
    keys: &'k Keys,
    root: tempfile::TempDir,
    helm: PathBuf,
    major: u8,
}

const CHART_TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: values
data:
  password: {{ required "password is required" .Values.password | quote }}
  values: {{ toJson .Values | b64enc | quote }}
{{- if .Values.expect }}{{ if ne .Values.password .Values.expect }}
  mismatch: [broken yaml, as lint mode lets `fail` and `required` pass
{{- end }}{{ end }}
"#;

impl<'k> Setup<'k> {
    fn new(keys: &'k Keys, major: u8, helm: &Path) -> Self {
        let root = tempfile::Builder::new()
            .prefix("ksec-helm-cli")
            .tempdir()
            .unwrap();
        for d in [
            "home/plugins",
            "home/config",
            "home/cache",
            "home/data",
            "tmp",
            "empty-gnupg",
            "chart/templates",
            "values",
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::set_permissions(
            root.path().join("empty-gnupg"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(
            root.path().join("chart/Chart.yaml"),
            "apiVersion: v2\nname: values\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(root.path().join("chart/values.yaml"), "password: \"\"\n").unwrap();
        std::fs::write(
            root.path().join("chart/templates/values.yaml"),
            CHART_TEMPLATE,
        )
        .unwrap();
        let s = Setup {
            keys,
            root,
            helm: helm.to_path_buf(),
            major,
        };
        let out = s
            .ksec()
            .args(["helm", "plugin", "install", "--helm"])
            .arg(helm)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "plugin install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    /// The environment of every run: private Helm homes, TMPDIR, HOME, no keys
    /// unless a test adds them.
    fn isolate(&self, c: &mut Command) {
        c.current_dir(self.root.path())
            .env("HELM_PLUGINS", self.path("home/plugins"))
            .env("HELM_CONFIG_HOME", self.path("home/config"))
            .env("HELM_CACHE_HOME", self.path("home/cache"))
            .env("HELM_DATA_HOME", self.path("home/data"))
            .env("TMPDIR", self.path("tmp"))
            .env("HOME", self.root.path())
            .env("XDG_CONFIG_HOME", self.path("home/xdg"))
            .env("GNUPGHOME", self.path("empty-gnupg"))
            .env("KUBECONFIG", "/nonexistent")
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
        for v in [
            "SOPS_AGE_KEY_FILE",
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_CMD",
            "SOPS_AGE_RECIPIENTS",
            "SOPS_PGP_FP",
            "SOPS_CONFIG",
            "ARGOCD_APP_NAME",
            "HELM_BIN",
            "HELM_KUBECONTEXT",
        ] {
            c.env_remove(v);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("HELM_SECRETS_") {
                c.env_remove(k);
            }
        }
    }

    fn helm(&self) -> Command {
        let mut c = Command::new(&self.helm);
        self.isolate(&mut c);
        c
    }

    fn ksec(&self) -> Command {
        let mut c = Command::new(ksec_path());
        self.isolate(&mut c);
        c
    }

    fn sops(&self) -> Command {
        let mut c = Command::new(ksec_testkit::peer("sops").unwrap());
        self.isolate(&mut c);
        c
    }

    /// Writes `plain` to `values/NAME` and encrypts it in place with the real sops.
    fn encrypt(&self, name: &str, plain: &str, to: &[&str]) -> PathBuf {
        let p = self.path("values").join(name);
        std::fs::write(&p, plain).unwrap();
        let out = self
            .sops()
            .env("GNUPGHOME", &self.keys.gnupg)
            .arg("encrypt")
            .args(to)
            .arg("--in-place")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops encrypt {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!std::fs::read_to_string(&p)
            .unwrap()
            .contains(plain.lines().next().unwrap_or("-")));
        p
    }

    fn encrypt_age(&self, name: &str, plain: &str) -> PathBuf {
        self.encrypt(name, plain, &["--age", &self.keys.recipient])
    }

    fn encrypt_pgp(&self, name: &str, plain: &str) -> PathBuf {
        self.encrypt(name, plain, &["--pgp", &self.keys.fp])
    }

    /// What the real sops decrypts `file` to.
    fn sops_decrypt(&self, file: &Path) -> Vec<u8> {
        let out = self
            .sops()
            .env("SOPS_AGE_KEY_FILE", &self.keys.age_key)
            .env("GNUPGHOME", &self.keys.gnupg)
            .arg("decrypt")
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Fails if any file under the test folder (temp, chart, values, Helm's homes)
    /// holds one of `secrets`, or if a scratch folder or `.dec` file is left.
    fn assert_no_plaintext(&self, secrets: &[&str]) {
        let mut stack = vec![self.root.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let t = e.file_type().unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(
                    !name.ends_with(".dec"),
                    "helm {}: {} left behind",
                    self.major,
                    p.display()
                );
                assert!(
                    !name.starts_with("ksec-helm-"),
                    "helm {}: scratch folder {} left behind",
                    self.major,
                    p.display()
                );
                if t.is_dir() {
                    stack.push(p);
                } else if t.is_file() {
                    let bytes = std::fs::read(&p).unwrap_or_default();
                    for s in secrets {
                        let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
                        assert!(
                            !found,
                            "helm {}: plaintext {s:?} left in {}",
                            self.major,
                            p.display()
                        );
                    }
                }
            }
        }
    }
}

/// The values Helm rendered (the chart prints them as base64 JSON).
fn rendered(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("values: "))
        .unwrap_or_else(|| {
            panic!(
                "no rendered values in {text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let json = base64::engine::general_purpose::STANDARD
        .decode(line.trim_matches('"'))
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn ok(major: u8, what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "helm {major}: {what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A failed render: non-zero, nothing rendered, and `needles` in standard error.
fn refused(major: u8, what: &str, out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "helm {major}: {what} succeeded");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("kind: ConfigMap"),
        "helm {major}: {what} rendered"
    );
    for n in needles {
        assert!(err.contains(n), "helm {major}: {what}: {n:?} not in {err}");
    }
}

#[test]
fn helm_template_serves_every_protocol_on_helm_4_and_3() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let pgp_pw = marker("pgp");
        let file_text = format!("{}\nsecond line\n\n\n", marker("file"));
        s.encrypt_age(
            "secrets.yaml",
            &format!("password: {pw}\nmultiline: |+\n  line1\n  line2\n\n"),
        );
        s.encrypt_pgp("pgp.yaml", &format!("password: {pgp_pw}\n"));
        s.encrypt_age("file.txt", &file_text);
        let age_key = keys.age_key.display().to_string();
        let pgp_key = keys.pgp_key.display().to_string();

        // secrets:// and ksec:// with the environment's age key; --set-file byte for byte.
        for scheme in ["secrets", "ksec"] {
            let out = s
                .helm()
                .env("SOPS_AGE_KEY_FILE", &keys.age_key)
                .args(["template", "chart", "-f"])
                .arg(format!("{scheme}://values/secrets.yaml"))
                .args(["--set-file", &format!("file={scheme}://values/file.txt")])
                .output()
                .unwrap();
            ok(major, scheme, &out);
            let v = rendered(&out);
            assert_eq!(v["password"], pw.as_str());
            assert_eq!(v["multiline"], "line1\nline2\n\n");
            assert_eq!(
                v["file"],
                file_text.as_str(),
                "helm {major}: trailing newlines kept"
            );
        }
        // The import protocols, with no key in the environment.
        let out = s
            .helm()
            .args([
                "template",
                "chart",
                "-f",
                &format!("secrets+age-import://{age_key}?values/secrets.yaml"),
            ])
            .output()
            .unwrap();
        ok(major, "age-import", &out);
        assert_eq!(rendered(&out)["password"], pw.as_str());
        let out = s
            .helm()
            .args([
                "template",
                "chart",
                "-f",
                &format!("secrets+gpg-import://{pgp_key}?values/pgp.yaml"),
            ])
            .output()
            .unwrap();
        ok(major, "gpg-import", &out);
        assert_eq!(rendered(&out)["password"], pgp_pw.as_str());
        // PGP through the user's keyring.
        let out = s
            .helm()
            .env("GNUPGHOME", &keys.gnupg)
            .args(["template", "chart", "-f", "secrets://values/pgp.yaml"])
            .output()
            .unwrap();
        ok(major, "pgp keyring", &out);
        assert_eq!(rendered(&out)["password"], pgp_pw.as_str());

        // '?': a missing file is empty values; without it, an error naming the file.
        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .args([
                "template",
                "chart",
                "-f",
                "secrets://values/secrets.yaml",
                "-f",
                "secrets://?values/missing.yaml",
            ])
            .output()
            .unwrap();
        ok(major, "optional missing file", &out);
        assert_eq!(rendered(&out)["password"], pw.as_str());
        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .args([
                "template",
                "chart",
                "-f",
                "secrets://values/secrets.yaml",
                "-f",
                "secrets://values/missing.yaml",
            ])
            .output()
            .unwrap();
        refused(
            major,
            "missing file",
            &out,
            &["values/missing.yaml", "does not exist"],
        );
        s.assert_no_plaintext(&[&pw, &pgp_pw, file_text.lines().next().unwrap()]);
    }
}

#[test]
fn wrapper_mode_template_and_lint_hand_over_urls_or_private_copies() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let file_text = format!("{}\n\n", marker("file"));
        s.encrypt_age("secrets.yaml", &format!("password: {pw}\n"));
        s.encrypt_age("file.txt", &file_text);
        std::fs::write(s.path("values/plain.yaml"), "extra: plain\n").unwrap();
        // helm-secrets would reuse a stale decrypted copy (#548); ksec never reads one.
        std::fs::write(s.path("values/secrets.yaml.dec"), "password: stale\n").unwrap();

        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .args([
                "secrets",
                "template",
                "chart",
                "-f",
                "values/secrets.yaml",
                "--values=values/plain.yaml",
                "--set-file",
                "file=values/file.txt",
            ])
            .output()
            .unwrap();
        ok(major, "helm secrets template", &out);
        let v = rendered(&out);
        assert_eq!(v["password"], pw.as_str());
        assert_eq!(v["extra"], "plain");
        assert_eq!(v["file"], file_text.as_str());
        std::fs::remove_file(s.path("values/secrets.yaml.dec")).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("decrypting values/secrets.yaml"), "{err}");
        assert!(
            !err.contains("values/plain.yaml"),
            "a plain file is passed as it is: {err}"
        );

        // lint sees the secret values: the chart fails unless password == expect.
        let expect = format!("expect={pw}");
        let out = s
            .helm()
            .args(["secrets", "lint", "chart", "--strict", "--set", &expect])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "helm {major}: lint without the secret values passed"
        );
        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .args([
                "secrets",
                "lint",
                "chart",
                "--strict",
                "--set",
                &expect,
                "-f",
                "values/secrets.yaml",
            ])
            .output()
            .unwrap();
        ok(major, "helm secrets lint", &out);

        // A Helm without the getter plugin: private copies, gone when Helm is done.
        std::fs::create_dir_all(s.path("no-plugins")).unwrap();
        let out = s
            .ksec()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .env("HELM_PLUGINS", s.path("no-plugins"))
            .env("HELM_SECRETS_HELM_PATH", &helm)
            .args([
                "helm",
                "secrets",
                "template",
                "chart",
                "-f",
                "values/secrets.yaml",
                "--set-file",
                "file=values/file.txt",
            ])
            .output()
            .unwrap();
        ok(major, "wrapper without getter", &out);
        let v = rendered(&out);
        assert_eq!(v["password"], pw.as_str());
        assert_eq!(v["file"], file_text.as_str());
        assert!(String::from_utf8_lossy(&out.stderr).contains("private folder"));
        s.assert_no_plaintext(&[&pw, file_text.trim_end()]);
    }
}

#[test]
fn secrets_commands_round_trip_with_the_real_sops() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        std::fs::write(
            s.path("values/.sops.yaml"),
            format!(
                "creation_rules:\n  # the team key\n  - age: {}\n",
                keys.recipient
            ),
        )
        .unwrap();
        let pw = marker("pw");
        // In sops's own layout (indent 4), so that sops's decryption gives it back.
        let plain = format!("# a comment\npassword: {pw}\nlist:\n    - a\n    - b\n");
        let file = s.path("values/new.yaml");
        std::fs::write(&file, &plain).unwrap();
        let run = |args: &[&str]| {
            s.helm()
                .env("SOPS_AGE_KEY_FILE", &keys.age_key)
                .arg("secrets")
                .args(args)
                .output()
                .unwrap()
        };

        let out = run(&["encrypt", "values/new.yaml"]);
        ok(major, "encrypt", &out);
        assert!(!String::from_utf8_lossy(&out.stdout).contains(&pw));
        std::fs::write(s.path("values/to-stdout.yaml"), &out.stdout).unwrap();
        assert_eq!(
            s.sops_decrypt(&s.path("values/to-stdout.yaml")),
            plain.as_bytes()
        );
        std::fs::remove_file(s.path("values/to-stdout.yaml")).unwrap();

        ok(
            major,
            "encrypt -i",
            &run(&["encrypt", "-i", "values/new.yaml"]),
        );
        assert_eq!(s.sops_decrypt(&file), plain.as_bytes());
        let out = run(&["encrypt", "-i", "values/new.yaml"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("already encrypted"));

        let out = run(&["decrypt", "values/new.yaml"]);
        ok(major, "decrypt", &out);
        assert_eq!(
            out.stdout,
            s.sops_decrypt(&file),
            "helm {major}: decrypt prints what sops prints"
        );
        let out = run(&["decrypt", "--terraform", "values/new.yaml"]);
        ok(major, "decrypt --terraform", &out);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let b = base64::engine::general_purpose::STANDARD
            .decode(j["content_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(b, s.sops_decrypt(&file));

        // edit: the editor replaces the password; sops reads the new one.
        let pw2 = marker("pw2");
        // Outside the searched folder: the script names both passwords.
        let editor = keys.dir.path().join(format!("editor-{major}.sh"));
        std::fs::write(
            &editor,
            format!("#!/bin/sh\nsed -i 's/{pw}/{pw2}/' \"$1\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .env("EDITOR", &editor)
            .args(["secrets", "edit", "values/new.yaml"])
            .output()
            .unwrap();
        ok(major, "edit", &out);
        let after = String::from_utf8(s.sops_decrypt(&file)).unwrap();
        assert!(after.contains(&pw2) && !after.contains(&pw), "{after}");

        let out = run(&["dir"]);
        ok(major, "dir", &out);
        assert_eq!(
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            s.path("home/plugins/secrets")
        );
        ok(major, "--version", &run(&["--version"]));
        s.assert_no_plaintext(&[&pw, &pw2]);

        // decrypt -i writes the plaintext where asked (that is its job).
        ok(
            major,
            "decrypt -i",
            &run(&["decrypt", "-i", "values/new.yaml"]),
        );
        assert!(std::fs::read_to_string(&file).unwrap().contains(&pw2));
    }
}

#[test]
fn failed_renders_say_why_render_nothing_and_leave_nothing() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let good = s.encrypt_age("secrets.yaml", &format!("password: {pw}\nother: x\n"));
        let text = std::fs::read_to_string(&good).unwrap();
        let at = text.find("mac: ENC[AES256_GCM,data:").unwrap() + 30;
        let mut tampered = text.clone();
        let c = if &tampered[at..at + 1] == "A" {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(at..at + 1, c);
        std::fs::write(s.path("values/tampered.yaml"), tampered).unwrap();
        std::fs::write(s.path("values/truncated.yaml"), &text[..text.len() / 2]).unwrap();
        // Encrypted for a key nobody here has.
        let other = tempfile::tempdir().unwrap();
        let other_key = other.path().join("k.txt");
        assert!(Command::new(ksec_testkit::peer("age-keygen").unwrap())
            .arg("-o")
            .arg(&other_key)
            .output()
            .unwrap()
            .status
            .success());
        let other_recipient = std::fs::read_to_string(&other_key)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
            .unwrap();
        let other_pw = marker("other");
        s.encrypt(
            "foreign.yaml",
            &format!("password: {other_pw}\n"),
            &["--age", &other_recipient],
        );

        let template = |url: &str, env: &[(&str, &str)]| {
            let mut c = s.helm();
            c.env("SOPS_AGE_KEY_FILE", &keys.age_key);
            for (k, v) in env {
                c.env(k, v);
            }
            c.args(["template", "chart", "-f", url]).output().unwrap()
        };
        refused(
            major,
            "tampered",
            &template("secrets://values/tampered.yaml", &[]),
            &["values/tampered.yaml"],
        );
        refused(
            major,
            "truncated",
            &template("secrets://values/truncated.yaml", &[]),
            &["values/truncated.yaml"],
        );
        refused(
            major,
            "foreign key",
            &template("secrets://values/foreign.yaml", &[]),
            &[
                "values/foreign.yaml",
                &format!("age recipient {other_recipient}"),
                "secrets+age-import://",
            ],
        );
        std::fs::write(s.root.path().join("outside.yaml"), "password: outside\n").unwrap();
        refused(
            major,
            "path traversal",
            &template(
                "secrets://values/../outside.yaml",
                &[("HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL", "false")],
            ),
            &["'..'", "HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL"],
        );
        let age_key = keys.age_key.display().to_string();
        refused(
            major,
            "import under Argo CD",
            &template(
                &format!("secrets+age-import://{age_key}?values/secrets.yaml"),
                &[("ARGOCD_APP_NAME", "app")],
            ),
            &["HELM_SECRETS_ALLOW_AGE_IMPORT"],
        );
        refused(
            major,
            "vals",
            &template("secrets://vals!values/secrets.yaml", &[]),
            &["\"vals\""],
        );
        // Wrapper mode fails the same way.
        let out = s
            .helm()
            .env("SOPS_AGE_KEY_FILE", &keys.age_key)
            .args(["secrets", "template", "chart", "-f", "values/tampered.yaml"])
            .output()
            .unwrap();
        refused(major, "wrapper tampered", &out, &["values/tampered.yaml"]);
        s.assert_no_plaintext(&[&pw, &other_pw]);
    }
}

/// Sends SIGINT to a process group (Ctrl-C in a terminal), with the shell's kill.
fn interrupt_group(pgid: u32) {
    // dash's kill takes a number for the signal before a negative pid.
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -2 -{pgid}"))
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_for(what: &str, budget: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < budget, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ends the stand-in process (a `sleep`) whose id `file` holds, if SIGINT did not.
fn stop_by_pid_file(file: &Path) {
    let pid = std::fs::read_to_string(file).unwrap();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -9 {} 2>/dev/null", pid.trim()))
        .status();
    std::fs::remove_file(file).unwrap();
}

fn scratch_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ksec-helm-"))
        .map(|e| e.path())
        .collect()
}

#[test]
fn sigint_removes_private_copies_and_imported_keyrings() {
    use std::os::unix::process::CommandExt;
    let Some(keys) = keys() else { return };
    let Some((major, helm)) = helms().into_iter().next() else {
        return;
    };
    let s = Setup::new(&keys, major, &helm);
    let pw = marker("pw");
    s.encrypt_age("secrets.yaml", &format!("password: {pw}\n"));
    let pgp_pw = marker("pgp");
    s.encrypt_pgp("pgp.yaml", &format!("password: {pgp_pw}\n"));
    let tmp = s.path("tmp");
    let started = s.path("started");

    // 1. Wrapper mode without a getter: Ctrl-C while Helm runs on the private copy.
    let slow_helm = s.path("slow-helm.sh");
    std::fs::write(
        &slow_helm,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 60\n",
            started.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &slow_helm,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(s.path("no-plugins")).unwrap();
    let mut child = s
        .ksec()
        .env("SOPS_AGE_KEY_FILE", &keys.age_key)
        .env("HELM_PLUGINS", s.path("no-plugins"))
        .env("HELM_SECRETS_HELM_PATH", &slow_helm)
        .args([
            "helm",
            "secrets",
            "template",
            "chart",
            "-f",
            "values/secrets.yaml",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("helm to start", Duration::from_secs(120), || {
        started.exists()
    });
    let dirs = scratch_dirs(&tmp);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let copies: Vec<_> = std::fs::read_dir(&dirs[0]).unwrap().flatten().collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        copies[0].metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    interrupt_group(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        scratch_dirs(&tmp).is_empty(),
        "the private copy survived SIGINT"
    );
    stop_by_pid_file(&started);

    // 2. The real Helm running the getter with secrets+gpg-import://: Ctrl-C while
    //    gpg imports the key into the private keyring.
    let slow_gpg = s.path("slow-gpg.sh");
    let gpg = ksec_testkit::peer("gpg").unwrap();
    std::fs::write(
        &slow_gpg,
        format!(
            "#!/bin/sh\ncase \"$*\" in *--import*) echo $$ > {}; exec sleep 60;; esac\nexec {} \"$@\"\n",
            started.display(),
            gpg.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &slow_gpg,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let child = s
        .helm()
        .env("SOPS_GPG_EXEC", &slow_gpg)
        .args([
            "template",
            "chart",
            "-f",
            &format!(
                "secrets+gpg-import://{}?values/pgp.yaml",
                keys.pgp_key.display()
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("gpg --import to start", Duration::from_secs(120), || {
        started.exists()
    });
    assert_eq!(scratch_dirs(&tmp).len(), 1);
    interrupt_group(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kind: ConfigMap"));
    wait_for("the keyring to go", Duration::from_secs(30), || {
        scratch_dirs(&tmp).is_empty()
    });
    stop_by_pid_file(&started);
    s.assert_no_plaintext(&[&pw, &pgp_pw]);
}

#[test]
fn kubernetes_import_protocols_through_helm() {
    use ksec_testkit::cluster::{ApiServer, Credentials, FakeApi};
    let Some(keys) = keys() else { return };
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let server = ApiServer::start(FakeApi::new());
    server.api().load_str(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: helm-keys\n  namespace: argocd\ndata:\n  key.txt: {}\n  key.asc: {}\n",
        b64(&keys.age_key),
        b64(&keys.pgp_key)
    ));
    let kubeconfig = keys.dir.path().join("kubeconfig");
    // Its only context is not the current one: Helm's --kube-context must reach ksec.
    server
        .kubeconfig_builder(Credentials::Token)
        .context("keys")
        .namespace("argocd")
        .not_current()
        .write(&kubeconfig);
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let pgp_pw = marker("pgp");
        s.encrypt_age("secrets.yaml", &format!("password: {pw}\n"));
        s.encrypt_pgp("pgp.yaml", &format!("password: {pgp_pw}\n"));
        let template = |url: &str| {
            s.helm()
                .env("KUBECONFIG", &kubeconfig)
                .args(["template", "chart", "--kube-context", "keys", "-f", url])
                .output()
                .unwrap()
        };
        let out = template(
            "secrets+age-import-kubernetes://argocd/helm-keys#key.txt?values/secrets.yaml",
        );
        ok(major, "age-import-kubernetes", &out);
        assert_eq!(rendered(&out)["password"], pw.as_str());
        let out = template("secrets+gpg-import-kubernetes://helm-keys#key.asc?values/pgp.yaml");
        ok(major, "gpg-import-kubernetes (context namespace)", &out);
        assert_eq!(rendered(&out)["password"], pgp_pw.as_str());
        let out =
            template("secrets+age-import-kubernetes://argocd/helm-keys#nope?values/secrets.yaml");
        refused(
            major,
            "missing data key",
            &out,
            &["argocd/helm-keys", "key.asc, key.txt"],
        );
        let out =
            template("secrets+age-import-kubernetes://argocd/absent#key.txt?values/secrets.yaml");
        refused(major, "missing Secret", &out, &["argocd/absent"]);
        s.assert_no_plaintext(&[&pw, &pgp_pw]);
    }
}

#[test]
fn plugin_install_loads_on_both_helms_and_respects_helm_secrets() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let out = s.helm().args(["plugin", "list"]).output().unwrap();
        ok(major, "plugin list", &out);
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(
            list.contains("secrets-getter") && list.lines().any(|l| l.starts_with("secrets ")),
            "{list}"
        );
        assert!(
            out.stderr.is_empty()
                || !String::from_utf8_lossy(&out.stderr).contains("failed to load")
        );
        let plugins = s.path("home/plugins");
        let link = plugins.join("secrets-getter/ksec");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            ksec_path().canonicalize().unwrap()
        );

        // helm-secrets in the way: refused, then replaced with --force.
        std::fs::remove_dir_all(plugins.join("secrets")).unwrap();
        std::fs::create_dir_all(plugins.join("secrets")).unwrap();
        std::fs::write(
            plugins.join("secrets/plugin.yaml"),
            "name: \"secrets\"\nversion: \"4.7.0\"\nplatformCommand:\n  - command: \"$HELM_PLUGIN_DIR/scripts/run.sh\"\n",
        )
        .unwrap();
        let install = |force: bool| {
            let mut c = s.ksec();
            c.args(["helm", "plugin", "install", "--helm"]).arg(&helm);
            if force {
                c.arg("--force");
            }
            c.output().unwrap()
        };
        let out = install(false);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("secrets 4.7.0") && err.contains("--force"),
            "{err}"
        );
        ok(major, "install --force", &install(true));
        assert!(std::fs::read_to_string(plugins.join("secrets/plugin.yaml"))
            .unwrap()
            .contains("ksec"));

        // uninstall removes ksec's plugins and nothing else.
        std::fs::create_dir_all(plugins.join("other")).unwrap();
        std::fs::write(
            plugins.join("other/plugin.yaml"),
            "name: \"other\"\nversion: \"1.0.0\"\ncommand: \"true\"\n",
        )
        .unwrap();
        let out = s
            .ksec()
            .args(["helm", "plugin", "uninstall", "--plugins-dir"])
            .arg(&plugins)
            .output()
            .unwrap();
        ok(major, "uninstall", &out);
        assert!(!plugins.join("secrets").exists() && !plugins.join("secrets-getter").exists());
        assert!(plugins.join("other/plugin.yaml").exists());
        let list =
            String::from_utf8_lossy(&s.helm().args(["plugin", "list"]).output().unwrap().stdout)
                .into_owned();
        assert!(!list.contains("secrets"), "{list}");
    }
}

/// Argo CD's set-up: ksec linked as `helm` before the real one on PATH, wrapper mode
/// on, values files passed by absolute path (as Argo CD resolves `$values/…`).
#[test]
fn ksec_as_helm_wraps_the_real_helm_for_argo_cd() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let secrets = s.encrypt_age("secrets.yaml", &format!("password: {pw}\n"));
        let bin = s.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(ksec_path(), bin.join("helm")).unwrap();
        let real_dir = helm.parent().unwrap();
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            real_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let as_argocd = |args: &[&str]| {
            let mut c = Command::new(bin.join("helm"));
            s.isolate(&mut c);
            c.env("PATH", &path)
                .env("ARGOCD_APP_NAME", "app")
                .env("HELM_SECRETS_WRAPPER_ENABLED", "true")
                .env("SOPS_AGE_KEY_FILE", &keys.age_key)
                .args(args)
                .output()
                .unwrap()
        };
        let out = as_argocd(&["template", "chart", "-f", &secrets.display().to_string()]);
        ok(major, "wrapped template", &out);
        assert_eq!(rendered(&out)["password"], pw.as_str());
        let out = as_argocd(&["version", "--short"]);
        ok(major, "helm version through the wrapper", &out);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("v{major}.")));
        // Argo CD's safer default: no '..'.
        let out = as_argocd(&["template", "chart", "-f", "values/../values/secrets.yaml"]);
        refused(
            major,
            "traversal under Argo CD",
            &out,
            &["HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL"],
        );
        s.assert_no_plaintext(&[&pw]);
    }
}

/// `HELM_SECRETS_URL_VARIABLE_EXPANSION=true`: `${NAME}` in an http(s) values URL is
/// the environment variable, in the downloader (`-f secrets://URL`) and in wrapper
/// mode (`helm secrets template -f URL`), with a token in the URL's user part sent
/// as basic auth (helm-secrets' documented use) and never shown; off by default; an
/// unset variable is an error naming it; a local path is never expanded.
#[test]
fn url_variable_expansion_in_http_values_urls() {
    let Some(keys) = keys() else { return };
    for (major, helm) in helms() {
        let s = Setup::new(&keys, major, &helm);
        let pw = marker("pw");
        let token = marker("token");
        std::fs::create_dir_all(s.path("values/staging")).unwrap();
        s.encrypt_age("staging/secrets.yaml", &format!("password: {pw}\n"));
        let server = ksec_testkit::files_server::FilesServer::start(s.path("values"));
        let url = format!(
            "http://${{KSEC_TOKEN}}@127.0.0.1:{}/${{KSEC_ENV}}/secrets.yaml",
            server.port
        );
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
        );
        let run = |expansion: Option<&str>, env: &[(&str, &str)], args: &[&str]| {
            let mut c = s.helm();
            c.env("SOPS_AGE_KEY_FILE", &keys.age_key)
                .env_remove("KSEC_ENV")
                .env_remove("KSEC_TOKEN");
            if let Some(v) = expansion {
                c.env("HELM_SECRETS_URL_VARIABLE_EXPANSION", v);
            }
            for (k, v) in env {
                c.env(k, v);
            }
            c.args(args).output().unwrap()
        };
        let vars = [("KSEC_ENV", "staging"), ("KSEC_TOKEN", token.as_str())];
        let getter_url = format!("secrets://{url}");

        // The downloader, and wrapper mode with a plain http URL.
        for (what, args) in [
            ("secrets://", vec!["template", "chart", "-f", &getter_url]),
            (
                "wrapper",
                vec!["secrets", "template", "chart", "-f", url.as_str()],
            ),
        ] {
            let before = server.requests().len();
            let out = run(Some("true"), &vars, &args);
            ok(major, what, &out);
            assert_eq!(
                rendered(&out)["password"],
                pw.as_str(),
                "helm {major}: {what}"
            );
            let requests = server.requests();
            let r = requests.last().unwrap();
            assert_eq!(
                requests.len(),
                before + 1,
                "helm {major}: {what}: fetched once"
            );
            assert_eq!(r.target, "/staging/secrets.yaml");
            assert_eq!(r.authorization.as_deref(), Some(basic.as_str()));
            assert!(!String::from_utf8_lossy(&out.stderr).contains(&token));
        }

        // Off (helm-secrets' default): the URL is requested as written.
        for expansion in [None, Some("false")] {
            let out = run(expansion, &vars, &["template", "chart", "-f", &getter_url]);
            refused(major, "expansion off", &out, &["404"]);
            assert_ne!(
                server.requests().last().unwrap().target,
                "/staging/secrets.yaml"
            );
        }

        // An unset variable: refused before any request, naming it, token unseen.
        let before = server.requests().len();
        let out = run(
            Some("true"),
            &[("KSEC_TOKEN", token.as_str())],
            &["template", "chart", "-f", &getter_url],
        );
        refused(major, "unset variable", &out, &["${KSEC_ENV} is not set"]);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&token));
        // Also with '?': a typo must not render empty secrets.
        let optional = format!("secrets://?{url}");
        let out = run(
            Some("true"),
            &[("KSEC_TOKEN", token.as_str())],
            &["template", "chart", "-f", &optional],
        );
        refused(
            major,
            "unset variable, '?'",
            &out,
            &["${KSEC_ENV} is not set"],
        );
        assert_eq!(server.requests().len(), before);

        // A local path is never expanded (as in helm-secrets), so a variable cannot
        // move it around the HELM_SECRETS_VALUES_ALLOW_* checks.
        let out = run(
            Some("true"),
            &[("KSEC_ENV", "staging"), ("ARGOCD_APP_NAME", "app")],
            &[
                "template",
                "chart",
                "-f",
                "secrets://values/${KSEC_ENV}/secrets.yaml",
            ],
        );
        refused(
            major,
            "local path",
            &out,
            &["values/${KSEC_ENV}/secrets.yaml", "does not exist"],
        );
        s.assert_no_plaintext(&[&pw, &token]);
    }
}
