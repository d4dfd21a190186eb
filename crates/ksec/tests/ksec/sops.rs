//! `ksec sops` and the drop-in `sops`, driven like a user would, against the real
//! sops and age-keygen: exit codes, edit's buffer hygiene, .sops.yaml, set/unset.
use crate::common::{ksec, ksec_path, write};
use std::path::PathBuf;
use std::process::Command;

struct Env {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
    tmp: PathBuf,
}

fn env() -> Option<Env> {
    let keygen = ksec_testkit::peer("age-keygen")?;
    let dir = tempfile::Builder::new()
        .prefix("ksec-sops-cli")
        .tempdir()
        .unwrap();
    let key = dir.path().join("keys.txt");
    assert!(Command::new(keygen)
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap()
        .status
        .success());
    let recipient = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    Some(Env {
        dir,
        key,
        recipient,
        tmp,
    })
}

impl Env {
    fn ksec(&self) -> assert_cmd::Command {
        let mut c = ksec();
        c.current_dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.key)
            .env("TMPDIR", &self.tmp)
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env_remove("SOPS_CONFIG");
        c
    }
    fn encrypt(&self, name: &str, plain: &str) -> PathBuf {
        let p = write(self.dir.path(), name, plain);
        let out = self
            .ksec()
            .args(["sops", "encrypt", "--age", &self.recipient, "-i"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }
    fn no_buffers_left(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "edit left files behind: {left:?}");
    }
    fn real_sops(&self, args: &[&str]) -> Option<std::process::Output> {
        let sops = ksec_testkit::peer("sops")?;
        Some(
            Command::new(sops)
                .args(args)
                .current_dir(self.dir.path())
                .env("SOPS_AGE_KEY_FILE", &self.key)
                .env("SOPS_DISABLE_VERSION_CHECK", "1")
                .output()
                .unwrap(),
        )
    }
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn exit_codes_match_sops() {
    let Some(e) = env() else { return };
    let f = e.encrypt("a.yaml", "password: hunter2\nnote_unencrypted: hi\n");
    let enc = std::fs::read(&f).unwrap();
    // 203: already encrypted; the file is untouched.
    let o = e
        .ksec()
        .args(["sops", "encrypt", "--age", &e.recipient, "-i"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&o), 203);
    assert_eq!(std::fs::read(&f).unwrap(), enc);
    // 51: MAC mismatch after an unencrypted value changed.
    let tampered = String::from_utf8(enc.clone())
        .unwrap()
        .replace("note_unencrypted: hi", "note_unencrypted: ho");
    let t = write(e.dir.path(), "t.yaml", &tampered);
    let o = e.ksec().args(["sops", "decrypt"]).arg(&t).output().unwrap();
    assert_eq!(code(&o), 51, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "no plaintext on a MAC failure");
    let o = e
        .ksec()
        .args(["sops", "decrypt", "--ignore-mac"])
        .arg(&t)
        .output()
        .unwrap();
    assert!(o.status.success());
    // 128: no usable key, and the message lists what was tried.
    let o = e
        .ksec()
        .env("SOPS_AGE_KEY_FILE", "/nonexistent")
        .args(["sops", "-d"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&o), 128);
    assert!(String::from_utf8_lossy(&o.stderr).contains(&e.recipient));
    // 200: edit without changes.
    let o = e
        .ksec()
        .env("EDITOR", "true")
        .env_remove("SOPS_EDITOR")
        .args(["sops", "edit"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&o), 200);
    assert_eq!(std::fs::read(&f).unwrap(), enc);
    e.no_buffers_left();
}

#[test]
fn edit_reencrypts_changes_and_cleans_up() {
    let Some(e) = env() else { return };
    let f = e.encrypt("b.yaml", "a: one\nb: two\n");
    let o = e
        .ksec()
        .env("SOPS_EDITOR", "sed -i s/two/three/")
        .args(["sops", "edit"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.no_buffers_left();
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(!text.contains("three") && text.contains("ENC["));
    if let Some(out) = e.real_sops(&["decrypt", f.to_str().unwrap()]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: one\nb: three\n");
    }
    // An editor that fails leaves the file and no buffer behind.
    let before = std::fs::read(&f).unwrap();
    let o = e
        .ksec()
        .env("SOPS_EDITOR", "sh -c 'echo x >> \"$0\"; exit 3'")
        .args(["sops", "edit"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.no_buffers_left();
}

#[test]
fn drop_in_sops_name_and_legacy_flags() {
    let Some(e) = env() else { return };
    let link = e.dir.path().join("sops");
    std::os::unix::fs::symlink(ksec_path(), &link).unwrap();
    let plain = write(e.dir.path(), "c.json", "{\"k\": \"v\", \"n\": 1}\n");
    let run = |args: &[&str]| {
        Command::new(&link)
            .args(args)
            .current_dir(e.dir.path())
            .env("SOPS_AGE_KEY_FILE", &e.key)
            .env("TMPDIR", &e.tmp)
            .output()
            .unwrap()
    };
    let o = run(&["-e", "--age", &e.recipient, plain.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let enc = write(
        e.dir.path(),
        "c.enc.json",
        std::str::from_utf8(&o.stdout).unwrap(),
    );
    let o = run(&["-d", enc.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "{\n\t\"k\": \"v\",\n\t\"n\": 1\n}\n"
    );
    let o = run(&["decrypt", "--extract", "[\"k\"]", enc.to_str().unwrap()]);
    assert_eq!(o.stdout, b"v");
    let o = run(&["filestatus", enc.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "{\"encrypted\":true}"
    );
}

#[test]
fn sops_yaml_rules_both_ways() {
    let Some(e) = env() else { return };
    std::fs::create_dir_all(e.dir.path().join("secrets")).unwrap();
    write(
        e.dir.path(),
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n  - path_regex: .*\n    age: >-\n      {}\n",
            e.recipient, e.recipient
        ),
    );
    let plain = "apiVersion: v1\nkind: Secret\nstringData:\n    password: hunter2\n";
    let f = write(&e.dir.path().join("secrets"), "s.yaml", plain);
    let o = e
        .ksec()
        .args(["sops", "encrypt", "-i", "secrets/s.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("kind: Secret") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains("encrypted_regex: ^(data|stringData)$"));
    if let Some(out) = e.real_sops(&["decrypt", "secrets/s.yaml"]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), plain);
    }
    // The other direction: sops applies the same rule, ksec decrypts.
    let g = write(&e.dir.path().join("secrets"), "t.yaml", plain);
    if let Some(out) = e.real_sops(&["encrypt", "-i", "secrets/t.yaml"]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let o = e.ksec().args(["sops", "decrypt"]).arg(&g).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), plain);
    }
}

#[test]
fn set_and_unset_are_read_by_sops() {
    let Some(e) = env() else { return };
    let f = e.encrypt("d.yaml", "a:\n    b: 1\nc: x\n");
    let fs = f.to_str().unwrap().to_string();
    let o = e
        .ksec()
        .args(["sops", "set", &fs, "[\"a\"][\"new\"]", "{\"k\": true}"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = e
        .ksec()
        .args(["sops", "unset", &fs, "[\"c\"]"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = "a:\n    b: 1\n    new:\n        k: true\n";
    let o = e.ksec().args(["sops", "decrypt", &fs]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    if let Some(out) = e.real_sops(&["decrypt", &fs]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
}

#[test]
fn edit_cleans_up_on_signals_and_sweeps_stale_buffers() {
    let Some(e) = env() else { return };
    let f = e.encrypt("s.yaml", "a: secret\n");
    let before = std::fs::read(&f).unwrap();
    // A buffer left by a killed process (pid that cannot exist) is swept.
    let stale = e.tmp.join("ksec-sops-edit-4194305-abc");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("s.yaml"), "a: secret\n").unwrap();
    for sig in ["INT", "TERM", "HUP"] {
        let mut child = std::process::Command::new(ksec_path())
            .args(["sops", "edit"])
            .arg(&f)
            .current_dir(e.dir.path())
            .env("SOPS_AGE_KEY_FILE", &e.key)
            .env("TMPDIR", &e.tmp)
            .env("SOPS_EDITOR", "sleep 20; :")
            .spawn()
            .unwrap();
        // Wait until the buffer exists, then signal ksec (not the editor).
        let start = std::time::Instant::now();
        loop {
            let n = std::fs::read_dir(&e.tmp).unwrap().count();
            if n >= 1 && !stale.exists() {
                break;
            }
            assert!(
                start.elapsed().as_secs() < 20,
                "edit never created its buffer"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "SIG{sig}: {status}");
        e.no_buffers_left();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            before,
            "SIG{sig} changed the file"
        );
    }
}

#[test]
fn exec_env_and_exec_file() {
    let Some(e) = env() else { return };
    let f = e.encrypt("e.yaml", "DB_PASSWORD: hunter2\nPORT: 5432\n");
    let fs = f.to_str().unwrap();
    let o = e
        .ksec()
        .args([
            "sops",
            "exec-env",
            fs,
            "test \"$DB_PASSWORD:$PORT\" = hunter2:5432",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = e
        .ksec()
        .args(["sops", "exec-env", fs, "exit 7"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 7);
    let o = e
        .ksec()
        .args(["sops", "exec-file", fs, "cat {}"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "DB_PASSWORD: hunter2\nPORT: 5432\n"
    );
    e.no_buffers_left();
}
