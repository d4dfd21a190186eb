//! Helpers shared by the integration tests.
#![allow(dead_code)]
use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The ksec binary under test.
pub fn ksec() -> Command {
    let mut c = Command::cargo_bin("ksec").expect("ksec binary");
    c.env_remove("SEALED_SECRETS_CERT")
        .env("KUBECONFIG", "/nonexistent");
    c
}

/// `ksec seal --cert CERT -f INPUT -w OUT`, ready for more arguments.
pub fn seal_cmd(cert: &Path, input: &Path, out: &Path) -> Command {
    let mut c = ksec();
    c.args(["seal", "--cert"])
        .arg(cert)
        .arg("-f")
        .arg(input)
        .arg("-w")
        .arg(out);
    c
}

/// The binary's path (for symlinks).
pub fn ksec_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("ksec")
}

/// ksec's own pre-generated test keys (testdata/keys).
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keys")
        .join(name)
}

pub const SECRET_YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  annotations:
    team: payments
type: Opaque
stringData:
  password: hunter2
data:
  user: YWRtaW4=
";

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Parses the first YAML/JSON document of `text`.
pub fn parse(text: &[u8]) -> serde_json::Value {
    ksec_seal::docs::parse_documents(text).unwrap().remove(0)
}

/// Decodes `data.KEY` of a Secret document.
pub fn data_value(secret: &serde_json::Value, key: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no data.{key} in {secret}"));
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// `ksec unseal -k KEY -f FILE`, ready for `.success()` or `.failure()`.
pub fn unseal(
    key: impl AsRef<std::ffi::OsStr>,
    file: impl AsRef<std::ffi::OsStr>,
) -> assert_cmd::assert::Assert {
    ksec()
        .args(["unseal", "-k"])
        .arg(key)
        .arg("-f")
        .arg(file)
        .assert()
}

/// The JSON Secret(s) that `ksec unseal -o json -k KEY -f FILE` prints; fails the test otherwise.
pub fn unseal_json(key: impl AsRef<std::ffi::OsStr>, file: impl AsRef<std::ffi::OsStr>) -> Vec<u8> {
    stdout_of(
        ksec()
            .args(["unseal", "-o", "json", "-k"])
            .arg(key)
            .arg("-f")
            .arg(file),
    )
}

/// Standard output of a command that must succeed.
pub fn stdout_of(cmd: &mut Command) -> Vec<u8> {
    cmd.assert().success().get_output().stdout.clone()
}

pub use ksec_testkit::age_keygen;

/// Creates `path` as a private (0700) folder, as a GnuPG home must be.
pub fn private_dir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
}
