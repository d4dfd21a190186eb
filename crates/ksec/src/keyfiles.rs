//! Private key files as the commands take them: PEM, key Secrets, `kind: List` backups,
//! and age-encrypted key backups (`ksec keys backup`), opened with age or SSH identities.
use crate::io;
use anyhow::{anyhow, bail, Result};
use ksec_seal::backup::{self, Backup, Identities};
use ksec_seal::keys::{self, SealingKey};
use std::path::{Path, PathBuf};

/// Loads age or SSH identity files (`-i`). The hint names the flag.
pub fn load_identities(files: &[PathBuf]) -> Result<Identities> {
    let mut ids = Identities::new();
    for f in files {
        let bytes = zeroize::Zeroizing::new(io::read_file(f)?);
        ids.add_file(&bytes, &f.display().to_string())
            .map_err(|e| anyhow!("{e}; -i takes an age identity file (age-keygen -o key.txt) or an unencrypted SSH private key"))?;
    }
    Ok(ids)
}

/// Opens a key backup: encrypted (with the identities of `-i`) or a plain manifest of key
/// Secrets.
pub fn open_backup(file: &Path, identity_files: &[PathBuf]) -> Result<Backup> {
    let name = file.display().to_string();
    let bytes = zeroize::Zeroizing::new(io::read_file(file)?);
    if !backup::is_encrypted(&bytes) {
        return Ok(Backup::from_manifest(&bytes, &name)?);
    }
    if identity_files.is_empty() {
        bail!("{name} is an age-encrypted key backup: pass -i IDENTITY (the age or SSH private key of one of its recipients)");
    }
    let ids = load_identities(identity_files)?;
    Backup::decrypt(&bytes, &ids, &name).map_err(|e| match e.innermost() {
        ksec_seal::Error::NoMatchingIdentity { .. } => anyhow!(
            "{e}; pass -i with the private key of one of the recipients it was made for (ksec keys backup --age …)"
        ),
        _ => e.into(),
    })
}

/// Loads private keys from files (PEM, key Secrets, Lists), and from encrypted backups
/// with `identities`.
pub fn load_keys(files: &[PathBuf], identities: &[PathBuf]) -> Result<Vec<SealingKey>> {
    let mut out = vec![];
    for f in files {
        let bytes = zeroize::Zeroizing::new(io::read_file(f)?);
        if backup::is_encrypted(&bytes) {
            out.extend(open_backup(f, identities)?.sealing_keys());
        } else {
            out.extend(keys::load_private_keys(&bytes, &f.display().to_string())?);
        }
    }
    Ok(out)
}
