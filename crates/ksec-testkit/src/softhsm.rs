//! A SoftHSM 2 token made for one test or benchmark: its own token directory and
//! `softhsm2.conf`, initialised with `softhsm2-util`, AES keys made with OpenSC's
//! `pkcs11-tool` (tools that are not ours).
use crate::{missing, peer, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's softhsm2 package puts the PKCS#11 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh token; its files go when it is dropped.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    tool: PathBuf,
    /// The `softhsm2.conf` to put in `SOFTHSM2_CONF` (SoftHSM reads it once per process).
    pub conf: PathBuf,
    /// The token label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
}

impl SoftHsm {
    /// Initialises token `label` with user PIN `pin`. `None` when `softhsm2-util`,
    /// `pkcs11-tool` or the module is missing (a failure under `CI=true`).
    pub fn new(label: &str, pin: &str) -> Option<Self> {
        let util = peer("softhsm2-util")?;
        let tool = peer("pkcs11-tool")?;
        if !Path::new(MODULE).exists() {
            return missing("libsofthsm2.so", MODULE);
        }
        Some(Self::with(util, tool, label, pin))
    }

    /// As [`new`](Self::new), with known binaries and no peer policy (benchmarks).
    pub fn with(util: PathBuf, tool: PathBuf, label: &str, pin: &str) -> Self {
        let dir = tempdir();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("make the token directory");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let hsm = Self {
            dir,
            tool,
            conf,
            label: label.into(),
            pin: pin.into(),
        };
        hsm.run(
            Command::new(util)
                .args(["--init-token", "--free", "--label", label])
                .args(["--pin", pin, "--so-pin", pin]),
        );
        hsm
    }

    /// Makes an AES-256 secret key labelled `key_label` on the token.
    pub fn keygen(&self, key_label: &str) {
        self.run(
            Command::new(&self.tool)
                .args(["--module", MODULE, "--token-label", &self.label])
                .args(["--login", "--pin", &self.pin])
                .args(["--keygen", "--key-type", "aes:32", "--label", key_label]),
        );
    }

    /// A file holding the PIN and a newline (the form `--pkcs11-pin-file` reads).
    pub fn pin_file(&self) -> PathBuf {
        let p = self.dir.path().join("pin");
        std::fs::write(&p, format!("{}\n", self.pin)).expect("write the PIN file");
        p
    }

    /// A scratch directory that lives as long as the token.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, c: &mut Command) {
        let out = c
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run a SoftHSM tool");
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
