//! PGP master keys through the `gpg` binary, as sops does: the user's keyring
//! (`GNUPGHOME`) holds the private keys; `SOPS_GPG_EXEC` names another binary.
use super::{KeyService, Recipient};
use crate::metadata::MasterKey;
use crate::Error;
use ksec_crypto::SecretBytes;
use std::io::Write;
use std::process::{Command, Stdio};

/// gpg as a key service.
pub struct GpgService {
    exe: String,
    home: Option<std::path::PathBuf>,
}

impl GpgService {
    /// `$SOPS_GPG_EXEC`, else `gpg`.
    pub fn from_env() -> Self {
        Self {
            exe: std::env::var("SOPS_GPG_EXEC").unwrap_or_else(|_| "gpg".into()),
            home: None,
        }
    }

    /// gpg with its keyring in `home` (`--homedir`).
    pub fn with_home(home: &std::path::Path) -> Self {
        Self {
            home: Some(home.to_path_buf()),
            ..Self::from_env()
        }
    }

    fn run(&self, args: &[&str], input: &[u8]) -> Result<SecretBytes, String> {
        let mut cmd = Command::new(&self.exe);
        if let Some(h) = &self.home {
            cmd.arg("--homedir").arg(h);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.exe))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input)
                .map_err(|e| format!("writing to {}: {e}", self.exe))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", self.exe))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            return Err(format!("{} failed: {last}", self.exe));
        }
        Ok(SecretBytes::new(out.stdout))
    }
}

impl KeyService for GpgService {
    fn kinds(&self) -> &[&'static str] {
        &["pgp"]
    }

    fn wrap(&self, to: &Recipient, dek: &SecretBytes) -> Result<MasterKey, Error> {
        let out = self
            .run(
                &[
                    "--batch",
                    "--no-tty",
                    "--yes",
                    "--no-default-recipient",
                    "--armor",
                    "--encrypt",
                    "--trust-model",
                    "always",
                    "-r",
                    &to.id,
                ],
                dek.expose(),
            )
            .map_err(Error::key_service)?;
        let enc = String::from_utf8(out.expose().to_vec())
            .map_err(|_| Error::key_service("gpg wrote a message that is not text"))?;
        Ok(MasterKey::Pgp {
            fp: to.id.clone(),
            created_at: crate::time::now_rfc3339(),
            enc: enc.trim_end_matches('\n').to_string(),
        })
    }

    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error> {
        match key {
            MasterKey::Pgp { enc, .. } => self
                .run(
                    &["--batch", "--no-tty", "--quiet", "--decrypt"],
                    enc.as_bytes(),
                )
                .map_err(Error::key_service),
            _ => Err(Error::key_service("not a pgp key")),
        }
    }
}
