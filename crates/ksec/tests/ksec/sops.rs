//! `ksec sops` and the drop-in `sops`, driven like a user would, against the real
//! sops and age-keygen: exit codes, edit's buffer hygiene, .sops.yaml, set/unset.
use crate::common::{age_keygen, ksec, ksec_path, write};
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
    let recipient = age_keygen(&keygen, &key);
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
    /// Runs `ksec sops edit FILE` with an editor that sleeps, waits until its
    /// buffer exists (and `stale` was swept), then sends it SIG`sig` (ksec, not
    /// the editor) and returns how it exited.
    fn edit_until_signalled(
        &self,
        file: &std::path::Path,
        sig: &str,
        stale: &std::path::Path,
    ) -> std::process::ExitStatus {
        let mut child = std::process::Command::new(ksec_path())
            .args(["sops", "edit"])
            .arg(file)
            .current_dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.key)
            .env("TMPDIR", &self.tmp)
            .env("SOPS_EDITOR", "sleep 5; :")
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        loop {
            let n = std::fs::read_dir(&self.tmp).unwrap().count();
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
        // The shell's builtin kill: no procps needed on a fresh machine.
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{sig} {}", child.id()))
            .status()
            .unwrap();
        assert!(st.success());
        child.wait().unwrap()
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
        let status = e.edit_until_signalled(&f, sig, &stale);
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

#[test]
fn edit_creates_a_new_file() {
    let Some(e) = env() else { return };
    let f = e.dir.path().join("new.yaml");
    let o = e
        .ksec()
        .env("SOPS_EDITOR", "printf 'x: 1\\nname: two\\n' >")
        .args(["sops", "edit", "--age", &e.recipient])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.no_buffers_left();
    assert!(std::fs::read_to_string(&f).unwrap().contains("ENC["));
    if let Some(out) = e.real_sops(&["decrypt", f.to_str().unwrap()]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x: 1\nname: two\n");
    }
}

#[test]
fn age_identities_from_every_source() {
    let Some(e) = env() else { return };
    let f = e.encrypt("id.yaml", "k: v\n");
    let key_text = std::fs::read_to_string(&e.key).unwrap();
    let dec = |envs: &[(&str, &str)]| {
        let mut c = e.ksec();
        c.env_remove("SOPS_AGE_KEY_FILE");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.args(["sops", "decrypt"]).arg(&f).output().unwrap()
    };
    let o = dec(&[("SOPS_AGE_KEY", &key_text)]);
    assert_eq!(
        o.stdout,
        b"k: v\n",
        "SOPS_AGE_KEY: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cmd = format!("cat '{}'", e.key.display());
    let o = dec(&[("SOPS_AGE_KEY_CMD", &cmd)]);
    assert_eq!(
        o.stdout,
        b"k: v\n",
        "SOPS_AGE_KEY_CMD: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The default location under XDG_CONFIG_HOME.
    let xdg = e.dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("sops/age")).unwrap();
    std::fs::copy(&e.key, xdg.join("sops/age/keys.txt")).unwrap();
    let o = dec(&[]);
    assert_eq!(
        o.stdout,
        b"k: v\n",
        "keys.txt: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_file(xdg.join("sops/age/keys.txt")).unwrap();
    // Nothing: exit 128 and the places looked at are named.
    let o = dec(&[]);
    assert_eq!(code(&o), 128);
    assert!(String::from_utf8_lossy(&o.stderr).contains("keys.txt"));
}

#[test]
fn edit_with_invalid_result_fails_cleanly_without_a_terminal() {
    let Some(e) = env() else { return };
    let f = e.encrypt("inv.yaml", "a: 1\n");
    let before = std::fs::read(&f).unwrap();
    let o = e
        .ksec()
        .env("SOPS_EDITOR", "printf 'a: 1\\na: 2\\n' >")
        .args(["sops", "edit"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already defined"));
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.no_buffers_left();
}

#[test]
fn rotate_and_updatekeys_are_read_by_sops() {
    let Some(e) = env() else { return };
    let Some(keygen) = ksec_testkit::peer("age-keygen") else {
        return;
    };
    let key2 = e.dir.path().join("keys2.txt");
    assert!(Command::new(keygen)
        .arg("-o")
        .arg(&key2)
        .output()
        .unwrap()
        .status
        .success());
    let r2 = std::fs::read_to_string(&key2)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let value_line = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let sops_with = |key: &std::path::Path, f: &std::path::Path| {
        ksec_testkit::peer("sops").map(|s| {
            Command::new(s)
                .args(["decrypt"])
                .arg(f)
                .env("SOPS_AGE_KEY_FILE", key)
                .env("SOPS_DISABLE_VERSION_CHECK", "1")
                .output()
                .unwrap()
        })
    };
    // rotate: a new data key, and a recipient added.
    let f = e.encrypt("r.yaml", "k: v\n");
    let before = value_line(&f);
    let o = e
        .ksec()
        .args(["sops", "rotate", "-i", "--add-age", &r2])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_ne!(value_line(&f), before, "a rotated file has new ciphertexts");
    if let Some(out) = sops_with(&key2, &f) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "k: v\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // updatekeys adding a key: the same data key, the values untouched.
    let g = e.encrypt("u.yaml", "k: w\n");
    let before = value_line(&g);
    write(
        e.dir.path(),
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}, {r2}\n", e.recipient),
    );
    let o = e
        .ksec()
        .args(["sops", "updatekeys", "-y"])
        .arg(&g)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(value_line(&g), before, "adding a key keeps the data key");
    // updatekeys dropping the first key: whoever held it may have kept the
    // data key, so there is a new one and every value is encrypted again.
    write(
        e.dir.path(),
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {r2}\n"),
    );
    let o = e
        .ksec()
        .args(["sops", "updatekeys", "-y"])
        .arg(&g)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("new data key"),
        "the removal says so: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(
        value_line(&g),
        before,
        "removing a key makes a new data key"
    );
    if let Some(out) = sops_with(&key2, &g) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "k: w\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let o = e
        .ksec()
        .env("SOPS_AGE_KEY_FILE", &key2)
        .args(["sops", "decrypt"])
        .arg(&g)
        .output()
        .unwrap();
    assert_eq!(o.stdout, b"k: w\n");
    let o = e.ksec().args(["sops", "decrypt"]).arg(&g).output().unwrap();
    assert_eq!(code(&o), 128, "the removed key no longer opens the file");
}

/// Nine levels of nine aliases: 9^9 strings once expanded (342 bytes). Before
/// the aliasing bound, `ksec sops encrypt` allocated ~6 GB on it and aborted.
const BILLION_LAUGHS: &str =
    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
";

/// Address space allowed to a ksec process that reads a hostile file: the
/// refusal must fit (the binary itself needs ~20 MiB of it).
const BOUNDED_KIB: u32 = 256 * 1024;

impl Env {
    /// `ksec ARGS` under `ulimit -v`, so a parse that allocated without bound
    /// would abort instead of passing; also timed.
    fn ksec_bounded(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -v {BOUNDED_KIB} && exec \"$0\" \"$@\""))
            .arg(ksec_path())
            .args(args)
            .current_dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.key)
            .env("TMPDIR", &self.tmp)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_CONFIG");
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let start = std::time::Instant::now();
        let out = c.output().unwrap();
        assert!(
            start.elapsed().as_secs() < 20,
            "ksec {args:?} took {:?}",
            start.elapsed()
        );
        out
    }
}

fn assert_refused_aliasing(o: &std::process::Output, file: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(o), 2, "{err}");
    assert!(
        err.contains("excessive aliasing") && err.contains(file) && err.contains("line 4"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing is written on a refusal");
}

#[test]
fn billion_laughs_is_refused_in_bounded_memory() {
    let Some(e) = env() else { return };
    // encrypt: the plaintext is the bomb.
    let plain = write(e.dir.path(), "laughs.yaml", BILLION_LAUGHS);
    let o = e.ksec_bounded(
        &["sops", "encrypt", "--age", &e.recipient, "laughs.yaml"],
        &[],
    );
    assert_refused_aliasing(&o, "laughs.yaml");
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), BILLION_LAUGHS);
    // decrypt and edit: the bomb inside a file that carries sops metadata.
    let f = e.encrypt("meta.yaml", "k: v\n");
    let armed = format!("{BILLION_LAUGHS}{}", std::fs::read_to_string(&f).unwrap());
    let armed_file = write(e.dir.path(), "armed.yaml", &armed);
    let o = e.ksec_bounded(&["sops", "decrypt", "armed.yaml"], &[]);
    assert_refused_aliasing(&o, "armed.yaml");
    let o = e.ksec_bounded(&["sops", "edit", "armed.yaml"], &[("SOPS_EDITOR", "true")]);
    assert_refused_aliasing(&o, "armed.yaml");
    assert_eq!(std::fs::read_to_string(&armed_file).unwrap(), armed);
    // edit: the editor writes the bomb into the buffer of a good file.
    let before = std::fs::read(&f).unwrap();
    let editor = format!("cp '{}'", plain.display());
    let o = e.ksec_bounded(&["sops", "edit", "meta.yaml"], &[("SOPS_EDITOR", &editor)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("excessive aliasing") && err.contains("line 4"),
        "{err}"
    );
    assert_eq!(std::fs::read(&f).unwrap(), before, "the file is unchanged");
    e.no_buffers_left();
}

/// The exit codes `ksec sops` shares with sops that the other tests do not pin.
#[test]
fn remaining_exit_codes_match_sops() {
    let Some(e) = env() else { return };
    // 2: the input does not parse.
    let bad = write(e.dir.path(), "bad.yaml", "a: 1\na: 2\n");
    let o = e
        .ksec()
        .args(["sops", "encrypt", "--age", &e.recipient])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.yaml"));
    // 100: decrypting a file that is not encrypted.
    let plain = write(e.dir.path(), "plain.yaml", "a: 1\n");
    let o = e
        .ksec()
        .args(["sops", "decrypt"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(code(&o), 100, "{}", String::from_utf8_lossy(&o.stderr));
    // 51 also for a file without a MAC, with the hint.
    let f = e.encrypt("nomac.yaml", "k: v\n");
    let text = std::fs::read_to_string(&f).unwrap();
    let no_mac: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let nm = write(e.dir.path(), "nomac2.yaml", &no_mac);
    let o = e
        .ksec()
        .args(["sops", "decrypt"])
        .arg(&nm)
        .output()
        .unwrap();
    assert_eq!(code(&o), 51, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--ignore-mac"));
    // 1: everything else, e.g. a .sops.yaml without a rule for the file, named.
    write(
        e.dir.path(),
        ".sops.yaml",
        "creation_rules:\n  - path_regex: ^only/\n    age: age1x\n",
    );
    let o = e
        .ksec()
        .args(["sops", "encrypt"])
        .arg(&plain)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(
        err.contains("no creation rule") && err.contains("--age"),
        "{err}"
    );
    // 1: a bad regular expression in a flag is named by its flag.
    let o = e
        .ksec()
        .args([
            "sops",
            "encrypt",
            "--age",
            &e.recipient,
            "--encrypted-regex",
            "(",
        ])
        .arg(&plain)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("--encrypted-regex"), "{err}");
    // 2: a command-line usage error (clap's code, as sops's urfave/cli).
    let o = e
        .ksec()
        .args(["sops", "decrypt", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
}

#[test]
fn edit_exits_130_on_sigint() {
    let Some(e) = env() else { return };
    let f = e.encrypt("sig.yaml", "a: secret\n");
    let status = e.edit_until_signalled(&f, "INT", &e.tmp.join("none"));
    assert_eq!(status.code(), Some(130));
    e.no_buffers_left();
}

#[path = "sops/git.rs"]
mod git;
#[path = "sops/many.rs"]
mod many;
#[path = "sops/network.rs"]
mod network;
#[path = "sops/vault_env.rs"]
mod vault_env;
