//! age plugins with a real plugin binary on both sides: `age-plugin-ksectest`
//! (built from `tests/plugin/` by the `test-plugin` feature, on the official
//! `age-plugin` crate) driven by ksec, by the real `age` CLI and by the real
//! sops.
//!
//! The `age` crate finds plugins on this process's `PATH`, which a test cannot
//! change safely while other tests run. So each test here re-runs itself in a
//! child test process with the `PATH` it needs (`child`); the `*_child` tests
//! are `#[ignore]`d and do nothing unless started that way.
use super::support::{decrypt_to, encrypt};
use ksec_sops::keys::age::{encrypt_armored, AgeService};
use ksec_sops::keys::{Keyring, Recipient};
use ksec_sops::Encryptor;
use ksec_sops::Format;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_age-plugin-ksectest");
const CHILD: &str = "KSEC_TEST_PLUGIN_CHILD";
const PLAIN: &str = "db:\n    user: admin\n    password: s3cr3t\n";

fn plugin_dir() -> PathBuf {
    Path::new(PLUGIN).parent().unwrap().to_path_buf()
}

/// `PATH` with the test plugin's directory first.
fn path_with_plugin() -> std::ffi::OsString {
    let mut dirs = vec![plugin_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// `PATH` without the test plugin's directory.
fn path_without_plugin() -> std::ffi::OsString {
    let dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| !d.join("age-plugin-ksectest").exists())
        .collect();
    std::env::join_paths(dirs).unwrap()
}

/// Runs the ignored test `plugin::{name}` in a child test process with `path`.
fn child(name: &str, path: std::ffi::OsString) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("plugin::{name}"), "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("PATH", path)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A peer the child skipped (outside CI) is reported here too.
    for l in stderr.lines().filter(|l| l.starts_with("SKIPPED")) {
        eprintln!("{name}: {l}");
    }
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed:\n{stdout}\n{stderr}"
    );
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// A new plugin identity file (`flags`: `--ask`, `--ask-wrap`) and its recipient.
fn generate(dir: &Path, name: &str, flags: &[&str]) -> (PathBuf, String) {
    let out = Command::new(PLUGIN)
        .arg("--generate")
        .args(flags)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .expect("recipient comment")
        .to_string();
    assert!(recipient.starts_with("age1ksectest1"), "{recipient}");
    let p = dir.join(name);
    std::fs::write(&p, &text).unwrap();
    (p, recipient)
}

fn keyring(identity_files: &[&Path]) -> Keyring {
    let mut a = AgeService::empty();
    for f in identity_files {
        a.add_identities(
            &std::fs::read_to_string(f).unwrap(),
            &f.display().to_string(),
        );
    }
    Keyring::new(vec![Box::new(a)])
}

fn opts(recipients: &[&str]) -> Encryptor {
    Encryptor::new().key_groups(vec![recipients.iter().map(|r| Recipient::age(r)).collect()])
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ksec-ageplug")
        .tempdir()
        .unwrap()
}

/// `age -d -i identity` of an armored payload.
fn age_decrypt(age: &Path, identity: &Path, payload: &str) -> Vec<u8> {
    let mut c = Command::new(age)
        .args(["-d", "-i"])
        .arg(identity)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), payload.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sops(sops: &Path, key_file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(sops)
        .args(args)
        .env("SOPS_AGE_KEY_FILE", key_file)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_CONFIG")
        .output()
        .unwrap()
}

/// ksec encrypts to a plugin recipient (next to an X25519 one); the real age
/// CLI opens the plugin's payload with the plugin identity and gets the same
/// data key as from the X25519 payload; sops and ksec decrypt the file with the
/// plugin identity alone.
#[test]
fn ksec_encrypts_to_plugin_age_and_sops_decrypt() {
    child(
        "ksec_encrypts_to_plugin_age_and_sops_decrypt_child",
        path_with_plugin(),
    );
}

#[test]
#[ignore = "run by ksec_encrypts_to_plugin_age_and_sops_decrypt"]
fn ksec_encrypts_to_plugin_age_and_sops_decrypt_child() {
    if !in_child() {
        return;
    }
    let Some(age) = ksec_testkit::peer("age") else {
        return;
    };
    let Some(keygen) = ksec_testkit::peer("age-keygen") else {
        return;
    };
    let Some(sops_bin) = ksec_testkit::peer("sops") else {
        return;
    };
    let dir = tempdir();
    let (plug_id, plug_r) = generate(dir.path(), "plugin.txt", &[]);
    let x_id = dir.path().join("x25519.txt");
    let x_r = &super::support::age_keygen(&keygen, &x_id);

    let enc = encrypt(
        Format::Json,
        Format::Json,
        br#"{"password": "s3cr3t"}"#,
        &opts(&[&plug_r, x_r]),
        &Keyring::new(vec![Box::new(AgeService::empty())]),
    )
    .expect("ksec encrypts to a plugin recipient");
    let v: serde_json::Value = serde_json::from_slice(&enc).unwrap();
    let keys = v["sops"]["age"].as_array().unwrap();
    assert_eq!(keys[0]["recipient"], plug_r.as_str());
    let via_plugin = age_decrypt(&age, &plug_id, keys[0]["enc"].as_str().unwrap());
    let via_x25519 = age_decrypt(&age, &x_id, keys[1]["enc"].as_str().unwrap());
    assert_eq!(via_plugin.len(), 32);
    assert_eq!(via_plugin, via_x25519, "the plugin carried the data key");

    // The whole file: sops and ksec with the plugin identity only.
    let f = dir.path().join("enc.json");
    std::fs::write(&f, &enc).unwrap();
    let out = sops(&sops_bin, &plug_id, &["decrypt", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs["password"], "s3cr3t");
    let ours = decrypt_to(Format::Json, Format::Json, &enc, &keyring(&[&plug_id]))
        .expect("ksec decrypts with the plugin identity");
    assert_eq!(ours, out.stdout);
}

/// The real age CLI and sops encrypt to a plugin recipient; ksec decrypts with
/// the plugin identity, from an identity file and from `SOPS_AGE_KEY`-style text.
#[test]
fn age_and_sops_encrypt_to_plugin_ksec_decrypts() {
    child(
        "age_and_sops_encrypt_to_plugin_ksec_decrypts_child",
        path_with_plugin(),
    );
}

#[test]
#[ignore = "run by age_and_sops_encrypt_to_plugin_ksec_decrypts"]
fn age_and_sops_encrypt_to_plugin_ksec_decrypts_child() {
    if !in_child() {
        return;
    }
    let Some(age) = ksec_testkit::peer("age") else {
        return;
    };
    let Some(sops_bin) = ksec_testkit::peer("sops") else {
        return;
    };
    let dir = tempdir();
    let (plug_id, plug_r) = generate(dir.path(), "plugin.txt", &[]);

    // A payload as sops stores it, made by the age CLI.
    let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(7) ^ 0x5a).collect();
    let mut c = Command::new(&age)
        .args(["-a", "-r", &plug_r])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), &secret).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload = String::from_utf8(out.stdout).unwrap();
    let mut svc = AgeService::empty();
    // Identity text with a comment and an X25519 identity next to the plugin one.
    let (x, _) = ksec_sops::keys::age::generate();
    let text = format!("{}\n{}\n", std::fs::read_to_string(&plug_id).unwrap(), *x);
    svc.add_identities(&text, "SOPS_AGE_KEY");
    let got = svc
        .decrypt_payload(&payload)
        .expect("ksec opens age's payload");
    assert_eq!(got.expose(), &secret[..]);

    // A whole file by sops.
    let src = dir.path().join("plain.yaml");
    std::fs::write(&src, PLAIN).unwrap();
    let out = sops(
        &sops_bin,
        &plug_id,
        &["encrypt", "--age", &plug_r, src.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "sops encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&plug_r));
    let ours = decrypt_to(
        Format::Yaml,
        Format::Yaml,
        &out.stdout,
        &keyring(&[&plug_id]),
    )
    .expect("ksec decrypts sops's file with the plugin identity");
    assert_eq!(String::from_utf8_lossy(&ours), PLAIN);
}

/// Without `age-plugin-ksectest` on PATH, encrypting and decrypting fail with
/// errors naming the missing binary.
#[test]
fn missing_plugin_is_named() {
    child("missing_plugin_is_named_child", path_without_plugin());
}

#[test]
#[ignore = "run by missing_plugin_is_named"]
fn missing_plugin_is_named_child() {
    if !in_child() {
        return;
    }
    let dir = tempdir();
    let (plug_id, plug_r) = generate(dir.path(), "plugin.txt", &[]);
    let e = encrypt(
        Format::Yaml,
        Format::Yaml,
        PLAIN.as_bytes(),
        &opts(&[&plug_r]),
        &Keyring::new(vec![Box::new(AgeService::empty())]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("age-plugin-ksectest not found on PATH"),
        "encrypt: {e}"
    );

    // A file for an X25519 key only opens with the X25519 identity even though a
    // plugin identity in the same text cannot be served.
    let (x, x_r) = ksec_sops::keys::age::generate();
    let enc = encrypt(
        Format::Yaml,
        Format::Yaml,
        PLAIN.as_bytes(),
        &opts(&[&x_r]),
        &Keyring::new(vec![Box::new(AgeService::empty())]),
    )
    .unwrap();
    let mut both = AgeService::empty();
    let text = format!("{}\n{}\n", std::fs::read_to_string(&plug_id).unwrap(), *x);
    both.add_identities(&text, "SOPS_AGE_KEY");
    let kr = Keyring::new(vec![Box::new(both)]);
    let ours = decrypt_to(Format::Yaml, Format::Yaml, &enc, &kr).unwrap();
    assert_eq!(String::from_utf8_lossy(&ours), PLAIN);

    // With the plugin identity alone, the error says which binary is missing.
    let other = encrypt(
        Format::Yaml,
        Format::Yaml,
        PLAIN.as_bytes(),
        &opts(&[&ksec_sops::keys::age::generate().1]),
        &Keyring::new(vec![Box::new(AgeService::empty())]),
    )
    .unwrap();
    let e = decrypt_to(Format::Yaml, Format::Yaml, &other, &keyring(&[&plug_id]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("age-plugin-ksectest not found on PATH"),
        "decrypt: {e}"
    );
}

/// A plugin that asks for a PIN (to decrypt, or also to encrypt) gets no answer
/// from ksec, and the error names the plugin and what it asked.
#[test]
fn plugin_asking_for_input_is_refused_clearly() {
    child(
        "plugin_asking_for_input_is_refused_clearly_child",
        path_with_plugin(),
    );
}

#[test]
#[ignore = "run by plugin_asking_for_input_is_refused_clearly"]
fn plugin_asking_for_input_is_refused_clearly_child() {
    if !in_child() {
        return;
    }
    let dir = tempdir();
    let none = || Keyring::new(vec![Box::new(AgeService::empty())]);

    let (ask_id, ask_r) = generate(dir.path(), "ask.txt", &["--ask"]);
    let enc = encrypt(
        Format::Yaml,
        Format::Yaml,
        PLAIN.as_bytes(),
        &opts(&[&ask_r]),
        &none(),
    )
    .expect("this plugin needs no PIN to encrypt");
    let e = decrypt_to(Format::Yaml, Format::Yaml, &enc, &keyring(&[&ask_id]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("age-plugin-ksectest asked for input") && e.contains("ksectest PIN"),
        "decrypt: {e}"
    );

    let (_, wrap_r) = generate(dir.path(), "ask-wrap.txt", &["--ask-wrap"]);
    let e = encrypt(
        Format::Yaml,
        Format::Yaml,
        PLAIN.as_bytes(),
        &opts(&[&wrap_r]),
        &none(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("age-plugin-ksectest asked for input") && e.contains("without prompts"),
        "encrypt: {e}"
    );
}

/// Malformed plugin recipients and identities are refused with what is wrong.
#[test]
fn malformed_plugin_keys_are_refused() {
    let e = encrypt_armored("age1ksectest1qqqq", b"x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("age plugin recipient"), "{e}");
    let mut svc = AgeService::empty();
    svc.add_identities("# c\nAGE-PLUGIN-KSECTEST-1NOTBECH32\n", "test");
    assert!(
        svc.sources[0].contains("line 2") && svc.sources[0].contains("age plugin identity"),
        "{:?}",
        svc.sources
    );
    assert!(
        !svc.sources[0].contains("NOTBECH32"),
        "no key text in messages"
    );
}
