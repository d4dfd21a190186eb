//! Private key files as the commands take them (`ksec_seal::load_key_files`): the hints
//! that name the flags (-i).
use anyhow::{anyhow, Result};
use ksec_seal::backup::Backup;
use ksec_seal::keys::SealingKey;
use ksec_seal::Error;
use std::path::{Path, PathBuf};

/// A key file error, with the flag that fixes it.
fn with_hint(e: Error) -> anyhow::Error {
    match &e {
        Error::IdentityFile(_) => anyhow!("{e}; -i takes an age identity file (age-keygen -o key.txt) or an unencrypted SSH private key"),
        Error::EncryptedBackup { .. } => anyhow!("{e}: pass -i IDENTITY (the age or SSH private key of one of its recipients)"),
        _ if matches!(e.innermost(), Error::NoMatchingIdentity { .. }) => anyhow!(
            "{e}; pass -i with the private key of one of the recipients it was made for (ksec keys backup --age …)"
        ),
        _ => e.into(),
    }
}

/// Opens a key backup: encrypted (with the identities of `-i`) or a plain manifest of key
/// Secrets.
pub fn open_backup(file: &Path, identity_files: &[PathBuf]) -> Result<Backup> {
    ksec_seal::open_backup(file, identity_files).map_err(with_hint)
}

/// Loads private keys from files (PEM, key Secrets, Lists), and from encrypted backups
/// with `identities`.
pub fn load_keys(files: &[PathBuf], identities: &[PathBuf]) -> Result<Vec<SealingKey>> {
    ksec_seal::load_key_files(files, identities).map_err(with_hint)
}
