//! Shared helpers: helm-secrets' fixtures, the real sops and gpg.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Tests that import PGP keys (and so make scratch folders) run one at a time, so
/// each can check that its folders and gpg-agents are gone afterwards.
pub(crate) static SCRATCH: Mutex<()> = Mutex::new(());

/// helm-secrets' test assets (`tests/assets`).
pub(crate) fn assets() -> Option<PathBuf> {
    ksec_testkit::fixtures().map(|f| f.join("sops/helm-secrets/tests/assets"))
}

/// A values fixture (`values/sops/NAME`).
pub(crate) fn values(name: &str) -> Option<PathBuf> {
    assets().map(|a| a.join("values/sops").join(name))
}

/// A private GnuPG home with helm-secrets' PGP key imported (for the real sops).
pub(crate) fn gpg_home() -> Option<tempfile::TempDir> {
    let gpg = ksec_testkit::peer("gpg")?;
    let home = tempfile::Builder::new()
        .prefix("ksec-helm-test-gpg")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new(gpg)
        .arg("--homedir")
        .arg(home.path())
        .args(["--batch", "--quiet", "--import"])
        .arg(assets()?.join("gpg/private.gpg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(home)
}

/// Stops the gpg-agent of a test's GnuPG home.
pub(crate) fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .output();
}

/// What the real `sops --decrypt` prints for `file`, with these variables.
pub(crate) fn sops_decrypt(file: &Path, env: &[(&str, &Path)]) -> Option<Vec<u8>> {
    let sops = ksec_testkit::peer("sops")?;
    let mut cmd = Command::new(sops);
    cmd.arg("--decrypt")
        .arg(file)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "sops --decrypt {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// Scratch folders of this process that still exist.
pub(crate) fn leftover_scratch() -> Vec<PathBuf> {
    let prefix = format!("ksec-helm-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Processes whose command line mentions `needle` (a gpg-agent left running).
pub(crate) fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

/// Settings as helm-secrets' defaults.
pub(crate) fn settings() -> ksec_helm::Settings {
    ksec_helm::Settings::default()
}
