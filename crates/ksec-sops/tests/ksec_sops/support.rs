//! Shared helpers: keyrings from fixture identities, temporary GnuPG homes.
use ksec_sops::keys::age::AgeService;
use ksec_sops::keys::pgp::GpgService;
use ksec_sops::keys::Keyring;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn fixtures() -> Option<PathBuf> {
    ksec_testkit::fixtures().map(|f| f.join("sops"))
}

/// A keyring holding the age identities in `files`.
pub fn age_keyring(files: &[&Path]) -> Keyring {
    let mut a = AgeService::empty();
    for f in files {
        let t = std::fs::read_to_string(f).expect("identity file");
        a.add_identities(&t, &f.display().to_string());
    }
    Keyring::new(vec![Box::new(a)])
}

/// A temporary GnuPG home with `keys` imported; `None` (skip) without gpg.
pub fn gpg_home(keys: &[&Path]) -> Option<tempfile::TempDir> {
    let gpg = ksec_testkit::peer("gpg")?;
    let dir = tempfile::Builder::new()
        .prefix("ksec-gpg")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    for k in keys {
        let st = Command::new(&gpg)
            .arg("--homedir")
            .arg(dir.path())
            .args(["--batch", "--quiet", "--import"])
            .arg(k)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "gpg --import {}: {}",
            k.display(),
            String::from_utf8_lossy(&st.stderr)
        );
    }
    Some(dir)
}

pub fn gpg_keyring(home: &Path) -> Keyring {
    Keyring::new(vec![
        Box::new(AgeService::empty()),
        Box::new(GpgService::with_home(home)),
    ])
}
