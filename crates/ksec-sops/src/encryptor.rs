//! Encrypting: the [`Encryptor`] builder, and sealing a tree under a data key.
use crate::cipher::ValueCipher;
use crate::keys::{DataKey, Keyring, Recipient};
use crate::metadata::{KeyGroup, Metadata};
use crate::pass::encrypt_document;
use crate::rules::{Rules, DEFAULT_UNENCRYPTED_SUFFIX};
use crate::tree::{Document, Value};
use crate::{stores, EmitOptions, Error, Format};

/// The sops version written into new files' metadata.
pub const SOPS_VERSION: &str = "3.11.0";

/// Encrypts plaintext files: for whom (key groups of recipients, a Shamir
/// threshold), which values (the rules), and how the result is laid out.
///
/// ```
/// # fn main() -> Result<(), ksec_sops::Error> {
/// use ksec_sops::{Encryptor, Format, Recipient, Rules};
/// let encryptor = Encryptor::new()
///     .recipients([Recipient::age("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")])
///     .rules(Rules { encrypted_regex: Some(Rules::regex("encrypted_regex", "^password$")?), ..Rules::default() })
///     .indent(2);
/// # let _ = encryptor;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Encryptor {
    key_groups: Vec<Vec<Recipient>>,
    shamir_threshold: Option<u64>,
    rules: Rules,
    output_format: Option<Format>,
    emit: EmitOptions,
}

impl Encryptor {
    /// No recipients yet, the default rules (`unencrypted_suffix: _unencrypted`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key group: every recipient in it can decrypt alone (with one
    /// group), or gives one Shamir share (with several).
    pub fn recipients(mut self, group: impl IntoIterator<Item = Recipient>) -> Self {
        self.key_groups.push(group.into_iter().collect());
        self
    }

    /// Replaces the key groups.
    pub fn key_groups(mut self, groups: Vec<Vec<Recipient>>) -> Self {
        self.key_groups = groups;
        self
    }

    /// How many key groups are needed to decrypt (default: all of them).
    pub fn shamir_threshold(mut self, threshold: u64) -> Self {
        self.shamir_threshold = Some(threshold);
        self
    }

    /// Which values are encrypted and what the MAC covers.
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Writes the encrypted file in this format (default: the input's).
    pub fn output_format(mut self, format: Format) -> Self {
        self.output_format = Some(format);
        self
    }

    /// Indentation of YAML/JSON output.
    pub fn indent(mut self, indent: usize) -> Self {
        self.emit.indent = Some(indent);
        self
    }

    /// The whole layout of the output.
    pub fn emit_options(mut self, options: EmitOptions) -> Self {
        self.emit = options;
        self
    }

    /// The recipient groups.
    pub fn recipient_groups(&self) -> &[Vec<Recipient>] {
        &self.key_groups
    }

    /// The encryption rules.
    pub fn encryption_rules(&self) -> &Rules {
        &self.rules
    }

    /// Parses a plaintext file in `format` and encrypts it.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        format: Format,
        keys: &Keyring,
    ) -> Result<Vec<u8>, Error> {
        let doc = Document::parse(plaintext, format)?;
        self.encrypt_document(doc, self.output_format.unwrap_or(format), keys)
    }

    /// Encrypts a tree under a fresh data key, wrapped for every recipient with
    /// the services of `keys`, and writes it in `format`.
    pub fn encrypt_document(
        &self,
        doc: Document,
        format: Format,
        keys: &Keyring,
    ) -> Result<Vec<u8>, Error> {
        self.check()?;
        let key = DataKey::generate()?;
        let groups = keys.wrap_groups(&self.key_groups, self.shamir_threshold, &key)?;
        self.encrypt_with_key(doc, format, key, groups)
    }

    /// Encrypts a tree under `key`, whose wrapped copies the caller made itself
    /// (sans-IO: a KMS or Vault reached asynchronously), for example with
    /// [`DataKey::shares`] and [`Keyring::wrap`]. The recipients set on this
    /// builder are not used; its threshold and rules are.
    pub fn encrypt_with_key(
        &self,
        mut doc: Document,
        format: Format,
        key: DataKey,
        key_groups: Vec<KeyGroup>,
    ) -> Result<Vec<u8>, Error> {
        if key_groups.iter().all(Vec::is_empty) {
            return Err(Error::NoRecipients);
        }
        if self.rules.count() > 1 {
            return Err(Error::ConflictingRules);
        }
        let mut rules = self.rules.clone();
        if rules.count() == 0 {
            rules.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.into());
        }
        let groups = key_groups.len();
        let metadata = Metadata {
            key_groups,
            shamir_threshold: (groups > 1).then(|| self.shamir_threshold.unwrap_or(groups as u64)),
            last_modified: String::new(),
            mac: String::new(),
            rules,
            version: SOPS_VERSION.into(),
        };
        let mut cipher = ValueCipher::new(key);
        seal(&mut doc, metadata, &mut cipher, format, &self.emit)
    }

    fn check(&self) -> Result<(), Error> {
        if self.key_groups.iter().all(Vec::is_empty) {
            return Err(Error::NoRecipients);
        }
        if self.rules.count() > 1 {
            return Err(Error::ConflictingRules);
        }
        Ok(())
    }
}

/// Encrypts the tree with the cipher's key, stamps `lastmodified`, stores the MAC,
/// and writes the file.
pub(crate) fn seal(
    doc: &mut Document,
    mut metadata: Metadata,
    cipher: &mut ValueCipher,
    format: Format,
    emit: &EmitOptions,
) -> Result<Vec<u8>, Error> {
    let mac = encrypt_document(doc, cipher, &metadata.rules)?;
    metadata.last_modified = crate::time::now_rfc3339();
    metadata.version = SOPS_VERSION.into();
    metadata.mac = cipher.encrypt(
        &Value::Str(mac),
        &crate::time::mac_aad(&metadata.last_modified),
    )?;
    stores::emit_encrypted(format, doc, &metadata.to_value(), emit)
}
