//! Shared helpers: keyrings from fixture identities, temporary GnuPG homes.
use ksec_sops::keys::age::AgeService;
use ksec_sops::keys::pgp::GpgService;
use ksec_sops::keys::Keyring;
use ksec_sops::{
    Decryptor, Document, EmitOptions, Encryptor, Error, Format, LockedFile, MacCheck, OpenFile,
};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn fixtures() -> Option<PathBuf> {
    ksec_testkit::fixtures().map(|f| f.join("sops"))
}

pub(crate) use ksec_testkit::age_keygen;

/// A keyring holding the age identities in `files`.
pub(crate) fn age_keyring(files: &[&Path]) -> Keyring {
    let mut a = AgeService::empty();
    for f in files {
        let t = std::fs::read_to_string(f).expect("identity file");
        a.add_identities(&t, &f.display().to_string());
    }
    Keyring::new(vec![Box::new(a)])
}

/// A temporary GnuPG home with `keys` imported; `None` (skip) without gpg.
pub(crate) fn gpg_home(keys: &[&Path]) -> Option<tempfile::TempDir> {
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

pub(crate) fn gpg_keyring(home: &Path) -> Keyring {
    Keyring::new(vec![
        Box::new(AgeService::empty()),
        Box::new(GpgService::with_home(home)),
    ])
}

/// Encrypts `plain`, read as `input`, with `encryptor`, writing `output`.
pub(crate) fn encrypt(
    input: Format,
    output: Format,
    plain: &[u8],
    encryptor: &Encryptor,
    keys: &Keyring,
) -> Result<Vec<u8>, Error> {
    encryptor
        .clone()
        .output_format(output)
        .encrypt(plain, input, keys)
}

/// Decrypts `file`, read as `input`, to plaintext in `output` (MAC checked).
pub(crate) fn decrypt_to(
    input: Format,
    output: Format,
    file: &[u8],
    keys: &Keyring,
) -> Result<Vec<u8>, Error> {
    Decryptor::new(keys)
        .output_format(output)
        .decrypt(file, input)
        .map(|p| p.to_vec())
}

/// Parses and unlocks `file` with the local keys of `keys`.
pub(crate) fn open(
    format: Format,
    file: &[u8],
    keys: &Keyring,
    mac: MacCheck,
) -> Result<OpenFile, Error> {
    LockedFile::parse(file, format)?.open(keys, mac)
}

/// Parses a plaintext file.
pub(crate) fn load_plain(format: Format, input: &[u8]) -> Result<Document, Error> {
    Document::parse(input, format)
}

/// Writes a plaintext file.
pub(crate) fn emit_plain(
    format: Format,
    doc: &Document,
    options: EmitOptions,
) -> Result<Vec<u8>, Error> {
    doc.emit(format, &options).map(|b| b.to_vec())
}
