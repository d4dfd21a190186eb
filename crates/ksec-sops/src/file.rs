//! Whole files: encrypt a plaintext file for a set of recipients, decrypt an
//! encrypted one (checking its MAC), and re-encrypt an edited tree with the same
//! data key.
use crate::cipher::ValueCipher;
use crate::keys::{Keyring, Recipient};
use crate::metadata::Metadata;
use crate::rules::{decrypt_document, encrypt_document, Rules};
use crate::stores::{self, EmitOptions};
use crate::tree::Document;
use crate::Error;
use ksec_crypto::SecretBytes;
use std::path::Path;

/// The sops version written into new files' metadata.
pub const SOPS_VERSION: &str = "3.11.0";

/// A file format (sops's `--input-type`/`--output-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// Anything else: the whole file is one value.
    Binary,
}

impl Format {
    /// The format sops picks from a file name.
    pub fn from_path(p: &Path) -> Self {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "env" => Format::Dotenv,
            "ini" => Format::Ini,
            _ if name == ".env" => Format::Dotenv,
            _ => Format::Binary,
        }
    }

    /// Parses `--input-type`/`--output-type` values.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }
}

/// What to encrypt for and how.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Recipient groups (one group unless Shamir is wanted).
    pub groups: Vec<Vec<Recipient>>,
    /// Shares needed with several groups.
    pub shamir_threshold: Option<u64>,
    /// Encryption rules (none set: `unencrypted_suffix: _unencrypted`).
    pub rules: Rules,
    /// Output layout.
    pub emit: EmitOptions,
}

/// A decrypted file with what is needed to write it back encrypted.
pub struct Opened {
    /// The plaintext tree.
    pub doc: Document,
    /// Its metadata (MAC still the old one).
    pub metadata: Metadata,
    /// The cipher under the file's data key, with its IV stash.
    pub cipher: ValueCipher,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Encrypts a parsed plaintext document for new recipients; returns the file bytes.
pub fn encrypt_document_for(
    mut doc: Document,
    format: Format,
    opts: &EncryptOptions,
    keyring: &Keyring,
) -> Result<Vec<u8>, Error> {
    if opts.groups.iter().all(Vec::is_empty) {
        return Err(Error::Config(
            "no recipients: pass --age/--pgp, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml".into(),
        ));
    }
    if opts.rules.count() > 1 {
        return Err(Error::Config(
            "use only one of the unencrypted/encrypted suffix, regex and comment-regex options"
                .into(),
        ));
    }
    let dek = ksec_crypto::rand::secret(32)?;
    let groups = keyring.wrap_groups(&opts.groups, opts.shamir_threshold, &dek)?;
    let mut rules = opts.rules.clone();
    if rules.count() == 0 {
        rules.unencrypted_suffix = Some(crate::rules::DEFAULT_UNENCRYPTED_SUFFIX.into());
    }
    let metadata = Metadata {
        key_groups: groups,
        shamir_threshold: if opts.groups.len() > 1 {
            Some(opts.shamir_threshold.unwrap_or(opts.groups.len() as u64))
        } else {
            None
        },
        last_modified: String::new(),
        mac: String::new(),
        rules,
        version: SOPS_VERSION.into(),
    };
    let mut cipher = ValueCipher::new(dek);
    seal(&mut doc, metadata, &mut cipher, format, opts.emit)
}

/// Encrypts the tree with the cipher's key, stamps `lastmodified`, stores the MAC,
/// and writes the file.
pub fn seal(
    doc: &mut Document,
    mut metadata: Metadata,
    cipher: &mut ValueCipher,
    format: Format,
    emit: EmitOptions,
) -> Result<Vec<u8>, Error> {
    let mac = encrypt_document(doc, cipher, &metadata.rules)?;
    metadata.last_modified = crate::time::now_rfc3339();
    metadata.version = SOPS_VERSION.into();
    metadata.mac = cipher.encrypt(
        &crate::tree::Value::Str(mac),
        &crate::time::mac_aad(&metadata.last_modified),
    )?;
    stores::emit_encrypted(format, doc, &metadata.to_value(), emit)
}

/// Decrypts an encrypted file. The MAC is checked unless `ignore_mac`.
pub fn open(
    format: Format,
    input: &[u8],
    keyring: &Keyring,
    ignore_mac: bool,
) -> Result<Opened, Error> {
    let (mut doc, meta) = stores::load_encrypted(format, input)?;
    let metadata = Metadata::from_value(&meta)?;
    let dek: SecretBytes = keyring.data_key(&metadata)?;
    let mut cipher = ValueCipher::new(dek);
    let mac = decrypt_document(&mut doc, &mut cipher, &metadata.rules)?;
    if !ignore_mac {
        if metadata.mac.is_empty() {
            return Err(Error::MacMissing);
        }
        let stored = cipher
            .decrypt(
                &metadata.mac,
                &crate::time::mac_aad(&metadata.last_modified),
                "sops.mac",
            )
            .map_err(|_| Error::MacMismatch)?;
        let ok = matches!(&stored, crate::tree::Value::Str(s) if s.eq_ignore_ascii_case(&mac));
        if !ok {
            return Err(Error::MacMismatch);
        }
    }
    Ok(Opened {
        doc,
        metadata,
        cipher,
    })
}

/// Decrypts a file and writes its plaintext in `out_format`.
pub fn decrypt_to(
    format: Format,
    out_format: Format,
    input: &[u8],
    keyring: &Keyring,
    ignore_mac: bool,
    emit: EmitOptions,
) -> Result<Vec<u8>, Error> {
    let o = open(format, input, keyring, ignore_mac)?;
    stores::emit_plain(out_format, &o.doc, emit)
}

/// Parses and encrypts a plaintext file.
pub fn encrypt(
    format: Format,
    out_format: Format,
    input: &[u8],
    opts: &EncryptOptions,
    keyring: &Keyring,
) -> Result<Vec<u8>, Error> {
    let doc = stores::load_plain(format, input)?;
    encrypt_document_for(doc, out_format, opts, keyring)
}

/// The recipients of a file's key groups, to encrypt a new data key for the same
/// people (`rotate`). Key types ksec cannot wrap for yet are an error.
pub fn recipients_of(m: &Metadata) -> Result<Vec<Vec<Recipient>>, Error> {
    m.key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| match k {
                    crate::metadata::MasterKey::Age { recipient, .. } => Ok(Recipient::age(recipient)),
                    crate::metadata::MasterKey::Pgp { fp, .. } => Ok(Recipient::pgp(fp)),
                    other => Err(Error::Config(format!(
                        "cannot encrypt a new data key for {}: that key type is not supported by ksec yet",
                        other.describe()
                    ))),
                })
                .collect()
        })
        .collect()
}

/// `rotate`: decrypts the file and encrypts it again under a fresh data key for
/// `groups` (by default its current recipients), keeping its rules.
pub fn rotate(
    format: Format,
    input: &[u8],
    keyring: &Keyring,
    groups: Option<Vec<Vec<Recipient>>>,
    emit: EmitOptions,
) -> Result<Vec<u8>, Error> {
    let o = open(format, input, keyring, false)?;
    let opts = EncryptOptions {
        groups: match groups {
            Some(g) => g,
            None => recipients_of(&o.metadata)?,
        },
        shamir_threshold: o.metadata.shamir_threshold,
        rules: o.metadata.rules.clone(),
        emit,
    };
    let Opened { doc, .. } = o;
    encrypt_document_for(doc, format, &opts, keyring)
}

/// `updatekeys`: wraps the file's existing data key for a new set of recipient
/// groups; values keep their ciphertexts (only the metadata and MAC stamp change).
pub fn update_keys(
    format: Format,
    input: &[u8],
    keyring: &Keyring,
    groups: &[Vec<Recipient>],
    shamir_threshold: Option<u64>,
    emit: EmitOptions,
) -> Result<Vec<u8>, Error> {
    let mut o = open(format, input, keyring, false)?;
    let dek = o.cipher.key().clone();
    o.metadata.key_groups = keyring.wrap_groups(groups, shamir_threshold, &dek)?;
    o.metadata.shamir_threshold = if groups.len() > 1 {
        Some(shamir_threshold.unwrap_or(groups.len() as u64))
    } else {
        None
    };
    seal(&mut o.doc, o.metadata.clone(), &mut o.cipher, format, emit)
}
