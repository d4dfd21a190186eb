//! The keys a render decrypts with: the environment's (as `ksec sops` finds them:
//! `SOPS_AGE_KEY*`, the default age `keys.txt`, the gpg keyring), plus what a URL
//! imports — an age identity file or Secret, added to the age identities; a PGP
//! private key, imported into a private gpg home that replaces the user's keyring for
//! this run, as helm-secrets does (`HELM_SECRETS_LOAD_GPG_KEYS` goes there too).
//! Imported key material stays in memory, except the gpg home gpg itself needs, which
//! lives in a [`ScratchDir`].
use crate::error::{Error, Result};
use crate::scratch::ScratchDir;
use crate::settings::Settings;
use ksec_sops::keys::age::AgeService;
use ksec_sops::keys::pgp::GpgService;
use ksec_sops::{Keyring, LockedFile, MacCheck, OpenFile, Zeroizing};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A key to add for one URL.
pub enum ImportedKey {
    /// age identities (the text of an age key file).
    Age {
        /// Where it came from, for messages.
        from: String,
        /// The identity file's text.
        text: Zeroizing<String>,
    },
    /// A PGP private key (armored or binary).
    Gpg {
        /// Where it came from, for messages.
        from: String,
        /// The key.
        key: Zeroizing<Vec<u8>>,
    },
}

impl std::fmt::Debug for ImportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportedKey::Age { from, .. } => write!(f, "ImportedKey::Age({from})"),
            ImportedKey::Gpg { from, .. } => write!(f, "ImportedKey::Gpg({from})"),
        }
    }
}

/// The keys of one run.
pub struct Keys {
    keyring: Keyring,
    /// Holds the private gpg home while the keyring may use it.
    _scratch: Option<ScratchDir>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("keyring", &self.keyring)
            .field("private_gpg_home", &self._scratch.is_some())
            .finish()
    }
}

impl Keys {
    /// The environment's keys, plus `import`, plus `HELM_SECRETS_LOAD_GPG_KEYS`.
    pub fn new(settings: &Settings, import: Option<ImportedKey>) -> Result<Self> {
        let mut age = AgeService::from_env();
        let mut gpg_keys: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
        if let Some(list) = &settings.load_gpg_keys {
            for path in list.split_whitespace() {
                gpg_keys.extend(read_gpg_key_files(Path::new(path))?);
            }
        }
        match import {
            Some(ImportedKey::Age { from, text }) => {
                let before = age.sources.len();
                age.add_identities(&text, &from);
                if let Some(bad) = age.sources[before..]
                    .iter()
                    .find(|s| s.contains("unreadable"))
                {
                    return Err(Error::KeyImport {
                        kind: "age",
                        from,
                        reason: bad.clone(),
                    });
                }
            }
            Some(ImportedKey::Gpg { from, key }) => gpg_keys.push((from, key)),
            None => {}
        }
        let mut scratch = None;
        let gpg = if gpg_keys.is_empty() {
            GpgService::from_env()
        } else {
            let mut dir = ScratchDir::new()?;
            let home = dir.gpg_home()?;
            for (from, key) in &gpg_keys {
                gpg_import(&home, from, key)?;
            }
            scratch = Some(dir);
            GpgService::with_home(&home)
        };
        let mut keyring = Keyring::new(vec![Box::new(age), Box::new(gpg)]);
        if let Ok(order) = std::env::var("SOPS_DECRYPTION_ORDER") {
            keyring.set_decryption_order(ksec_text::split_list(&order).map(str::to_string));
        }
        Ok(Keys {
            keyring,
            _scratch: scratch,
        })
    }

    /// The keyring (for encryption, which wraps data keys with it).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Opens a SOPS file: local keys, MAC checked.
    pub fn open(&self, locked: LockedFile) -> std::result::Result<OpenFile, ksec_sops::Error> {
        locked.open(&self.keyring, MacCheck::Verify)
    }
}

/// A key file, or every file of a folder (helm-secrets' `HELM_SECRETS_LOAD_GPG_KEYS`).
fn read_gpg_key_files(path: &Path) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
    let read = |p: &Path| -> Result<(String, Zeroizing<Vec<u8>>)> {
        let bytes = std::fs::read(p).map_err(|e| Error::KeyImport {
            kind: "gpg",
            from: p.display().to_string(),
            reason: format!("HELM_SECRETS_LOAD_GPG_KEYS names it but it cannot be read: {e}"),
        })?;
        Ok((p.display().to_string(), Zeroizing::new(bytes)))
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(format!("cannot list {}", path.display()), e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.iter().map(|p| read(p)).collect()
    } else {
        Ok(vec![read(path)?])
    }
}

/// Imports a PGP private key into the gpg home `home`, through gpg's standard input.
fn gpg_import(home: &Path, from: &str, key: &[u8]) -> Result<()> {
    let exe = std::env::var("SOPS_GPG_EXEC").unwrap_or_else(|_| "gpg".into());
    let fail = |reason: String| Error::KeyImport {
        kind: "gpg",
        from: from.to_string(),
        reason,
    };
    let mut child = Command::new(&exe)
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--no-tty",
            "--no-permission-warning",
            "--quiet",
            "--import",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {exe} (PGP keys need gpg, as with sops): {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(key)
            .map_err(|e| fail(format!("writing to {exe}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("{exe}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(fail(format!("gpg --import failed: {last}")));
    }
    Ok(())
}
