//! Opening encrypted files, in three steps that a caller may drive itself:
//! parse ([`LockedFile`]: values still encrypted, master keys listed), recover
//! the data key ([`Unlocker`]: from local key services, or from anywhere the
//! caller fetched it — a KMS, Vault, another process), then unlock
//! ([`OpenFile`]: values decrypted, MAC checked). Nothing here does network
//! I/O or blocks on a service, so async callers stay in charge of their runtime.
use crate::cipher::ValueCipher;
use crate::error::KeyAttempt;
use crate::keys::{DataKey, Keyring, Recipient};
use crate::metadata::{KeyGroup, MasterKey, Metadata};
use crate::pass::decrypt_document;
use crate::tree::{Document, Value};
use crate::{stores, EmitOptions, Error, Format};
use ksec_crypto::SecretBytes;
use zeroize::Zeroizing;

/// Whether to check the MAC when opening a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MacCheck {
    /// Refuse a file whose MAC is missing or does not match (the default).
    #[default]
    Verify,
    /// Open it anyway (sops's `--ignore-mac`).
    Ignore,
}

/// A parsed SOPS file whose values are still encrypted.
pub struct LockedFile {
    format: Format,
    doc: Document,
    metadata: Metadata,
}

impl std::fmt::Debug for LockedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedFile")
            .field("format", &self.format)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl LockedFile {
    /// Parses an encrypted file and its `sops` metadata.
    pub fn parse(input: &[u8], format: Format) -> Result<Self, Error> {
        let (doc, meta) = stores::load_encrypted(format, input)?;
        let metadata = Metadata::from_value(&meta)?;
        Ok(Self {
            format,
            doc,
            metadata,
        })
    }

    /// The format it was read in (and is written back in).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Its metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The master keys that could open it, by key group. One group: any key
    /// gives the data key. Several: each group holds a Shamir share, and
    /// [`shares_needed`](Self::shares_needed) groups must be opened.
    pub fn key_groups(&self) -> &[KeyGroup] {
        &self.metadata.key_groups
    }

    /// How many key groups must give their secret.
    pub fn shares_needed(&self) -> usize {
        let groups = self.metadata.key_groups.len();
        if groups > 1 {
            let t = self.metadata.shamir_threshold.unwrap_or(groups as u64);
            usize::try_from(t).unwrap_or(usize::MAX)
        } else {
            1
        }
    }

    /// Starts recovering the data key.
    pub fn unlocker(&self) -> Unlocker<'_> {
        Unlocker {
            file: self,
            secrets: vec![None; self.metadata.key_groups.len()],
            tried: Vec::new(),
        }
    }

    /// Checks that `key` is this file's data key by decrypting the MAC, without
    /// decrypting the values. A file without a MAC has nothing to check it by:
    /// [`unlock`](Self::unlock) finds out.
    pub fn verify_data_key(&self, key: &DataKey) -> Result<(), Error> {
        let mut cipher = ValueCipher::new(key.clone());
        if self.metadata.mac.is_empty() {
            return Ok(());
        }
        cipher
            .decrypt(
                &self.metadata.mac,
                &crate::time::mac_aad(&self.metadata.last_modified),
                "sops.mac",
            )
            .map(drop)
            .map_err(|_| Error::WrongDataKey)
    }

    /// Recovers the data key with the local key services of `keys`, then
    /// unlocks.
    pub fn open(self, keys: &Keyring, mac: MacCheck) -> Result<OpenFile, Error> {
        let mut unlocker = self.unlocker();
        unlocker.try_keyring(keys);
        let key = unlocker.finish()?;
        self.unlock(key, mac)
    }

    /// Decrypts every value with the data key and (unless `mac` is
    /// [`MacCheck::Ignore`]) checks the MAC.
    pub fn unlock(self, key: DataKey, mac: MacCheck) -> Result<OpenFile, Error> {
        let Self {
            format,
            mut doc,
            metadata,
        } = self;
        let mut cipher = ValueCipher::new(key);
        let digest = match decrypt_document(&mut doc, &mut cipher, &metadata.rules, true) {
            Ok(d) => d,
            // A value that does not authenticate, under a key that cannot even
            // open the MAC: the key is wrong, not the value.
            Err(Error::ValueDecrypt { .. })
                if !metadata.mac.is_empty() && !mac_opens(&mut cipher, &metadata) =>
            {
                return Err(Error::WrongDataKey)
            }
            Err(e) => return Err(e),
        };
        if mac == MacCheck::Verify {
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
            let matches = matches!(&stored, Value::Str(s) if s.eq_ignore_ascii_case(&digest));
            if !matches {
                return Err(Error::MacMismatch);
            }
        }
        Ok(OpenFile {
            format,
            doc,
            metadata,
            cipher,
        })
    }
}

fn mac_opens(cipher: &mut ValueCipher, metadata: &Metadata) -> bool {
    cipher
        .decrypt(
            &metadata.mac,
            &crate::time::mac_aad(&metadata.last_modified),
            "sops.mac",
        )
        .is_ok()
}

/// Collects the secrets of a file's key groups (the data key, or Shamir shares
/// of it) from wherever they come from, and gives the data key once enough
/// groups are open. A caller with keys behind a network service drives it:
/// [`try_keyring`](Self::try_keyring) for local keys, then for each key of
/// [`pending`](Self::pending) it unwraps [`MasterKey::enc`] itself and reports
/// [`insert`](Self::insert) or [`failed`](Self::failed).
#[derive(Debug)]
pub struct Unlocker<'f> {
    file: &'f LockedFile,
    secrets: Vec<Option<SecretBytes>>,
    tried: Vec<KeyAttempt>,
}

impl<'f> Unlocker<'f> {
    /// True once enough key groups are open.
    pub fn is_ready(&self) -> bool {
        self.secrets.iter().filter(|s| s.is_some()).count() >= self.file.shares_needed()
    }

    /// The keys of the groups not open yet, as `(group index, key)`.
    pub fn pending(&self) -> impl Iterator<Item = (usize, &'f MasterKey)> + '_ {
        let file = self.file;
        file.metadata
            .key_groups
            .iter()
            .enumerate()
            .filter(|(g, _)| self.secrets[*g].is_none())
            .flat_map(|(g, keys)| keys.iter().map(move |k| (g, k)))
    }

    /// Records the secret that a key of `group` held.
    pub fn insert(&mut self, group: usize, secret: SecretBytes) {
        if let Some(slot) = self.secrets.get_mut(group) {
            *slot = Some(secret);
        }
    }

    /// Records why `key` could not be used (named in the error when no key
    /// works). A later reason for the same key replaces the earlier one, so a
    /// key that [`try_keyring`](Self::try_keyring) had no service for and the
    /// caller then tried itself is listed once, with the caller's reason.
    pub fn failed(&mut self, key: &MasterKey, reason: impl std::fmt::Display) {
        let key = key.describe();
        let reason = reason.to_string();
        match self.tried.iter_mut().find(|t| t.key == key) {
            Some(earlier) => earlier.reason = reason,
            None => self.tried.push(KeyAttempt { key, reason }),
        }
    }

    /// The keys tried so far and why they failed.
    pub fn tried(&self) -> &[KeyAttempt] {
        &self.tried
    }

    /// Tries the keys of every group not open yet with the services of `keys`,
    /// in its decryption order: local keys one at a time (the first key of a
    /// group that works opens it), and the keys of remote services (KMS, Vault)
    /// all at once, at the place of the first remote key type in the order —
    /// after age and PGP by default. Keys of types `keys` has no service for
    /// are noted, not tried.
    pub fn try_keyring(&mut self, keys: &Keyring) {
        let remote_rank = self
            .pending()
            .filter(|(_, k)| keys.service(k.kind()).is_some_and(|s| s.is_remote()))
            .map(|(_, k)| keys.rank(k.kind()))
            .min()
            .unwrap_or(usize::MAX);
        self.try_local(keys, |rank| rank < remote_rank);
        if !self.is_ready() {
            self.try_remote(keys);
        }
        if !self.is_ready() {
            self.try_local(keys, |rank| rank >= remote_rank);
        }
    }

    fn try_local(&mut self, keys: &Keyring, in_stage: impl Fn(usize) -> bool) {
        for (g, group) in self.file.metadata.key_groups.iter().enumerate() {
            if self.is_ready() {
                break;
            }
            if self.secrets[g].is_some() {
                continue;
            }
            let mut ordered: Vec<&MasterKey> = group
                .iter()
                .filter(|k| in_stage(keys.rank(k.kind())))
                .collect();
            ordered.sort_by_key(|k| keys.rank(k.kind()));
            for key in ordered {
                match keys.service(key.kind()) {
                    None => {
                        self.failed(key, crate::keys::no_service_reason(key.kind()));
                        continue;
                    }
                    Some(s) if s.is_remote() => continue,
                    Some(_) => {}
                }
                match keys.unwrap(key) {
                    Ok(secret) => {
                        self.secrets[g] = Some(secret);
                        break;
                    }
                    Err(e) => self.failed(key, e),
                }
            }
        }
    }

    /// Hands every pending key of each remote service to it at once; a group
    /// opens with its first key that answers, and the rest are abandoned as
    /// soon as enough groups are open.
    fn try_remote(&mut self, keys: &Keyring) {
        for service in keys.remote_services() {
            if self.is_ready() {
                return;
            }
            let batch: Vec<(usize, &'f MasterKey)> = self
                .pending()
                .filter(|(_, k)| service.kinds().contains(&k.kind()))
                .filter(|(_, k)| keys.service(k.kind()).is_some_and(|s| s.is_remote()))
                .collect();
            if batch.is_empty() {
                continue;
            }
            let only_keys: Vec<&MasterKey> = batch.iter().map(|(_, k)| *k).collect();
            service.unwrap_all(&only_keys, &mut |i, result| {
                let Some(&(g, key)) = batch.get(i) else {
                    return !self.is_ready();
                };
                match result {
                    Ok(secret) => {
                        if self.secrets[g].is_none() {
                            self.secrets[g] = Some(secret);
                        }
                    }
                    Err(e) => self.failed(key, e),
                }
                !self.is_ready()
            });
        }
    }

    /// The data key: the one group's secret, or the Shamir shares combined.
    /// Without enough open groups, [`Error::NoKey`] lists every key tried.
    pub fn finish(self) -> Result<DataKey, Error> {
        let needed = self.file.shares_needed();
        let open: Vec<SecretBytes> = self.secrets.into_iter().flatten().collect();
        if open.len() < needed || open.is_empty() {
            return Err(Error::NoKey { tried: self.tried });
        }
        if self.file.metadata.key_groups.len() > 1 {
            return DataKey::combine(&open);
        }
        let secret = open
            .into_iter()
            .next()
            .ok_or(Error::Internal("no secret"))?;
        let len = secret.len();
        DataKey::from_secret(secret).map_err(|_| Error::NoKey {
            tried: vec![KeyAttempt {
                key: String::new(),
                reason: format!("a key gave a data key of {len} bytes, expected 32"),
            }],
        })
    }
}

/// A decrypted file, with what is needed to write it back encrypted under the
/// same data key (unchanged values keep their ciphertexts, as sops does).
pub struct OpenFile {
    format: Format,
    doc: Document,
    metadata: Metadata,
    cipher: ValueCipher,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("format", &self.format)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl OpenFile {
    /// The format it was read in (and is written back in).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The plaintext tree.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The plaintext tree, to change before [`seal`](Self::seal).
    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// Replaces the plaintext tree (an edited version of it).
    pub fn replace_document(&mut self, doc: Document) {
        self.doc = doc;
    }

    /// The metadata (the MAC is the one read).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The file's data key.
    pub fn data_key(&self) -> &DataKey {
        self.cipher.key()
    }

    /// When `other` has the same data key, values of this file that equal one
    /// of `other`'s (same path, same plaintext) get `other`'s ciphertext when
    /// sealed, as its own unchanged values do (a merge keeps both sides'
    /// ciphertexts).
    pub fn adopt_ciphertexts(&mut self, other: &OpenFile) {
        if self.data_key() == other.data_key() {
            self.cipher.absorb(&other.cipher);
        }
    }

    /// The plaintext tree, as its format (or another) writes it.
    pub fn to_plaintext(
        &self,
        format: Format,
        options: &EmitOptions,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.doc.emit(format, options)
    }

    /// The plaintext tree, leaving the metadata behind.
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Encrypts the tree again under the same data key — values that did not
    /// change keep their ciphertexts — with a new MAC and `lastmodified`.
    pub fn seal(self, options: &EmitOptions) -> Result<Vec<u8>, Error> {
        let Self {
            format,
            mut doc,
            metadata,
            mut cipher,
        } = self;
        crate::encryptor::seal(&mut doc, metadata, &mut cipher, format, options)
    }

    /// Wraps the same data key for new recipient groups (`updatekeys`): values
    /// keep their ciphertexts; only the metadata changes once sealed.
    pub fn set_recipients(
        &mut self,
        groups: &[Vec<Recipient>],
        shamir_threshold: Option<u64>,
        keys: &Keyring,
    ) -> Result<(), Error> {
        self.metadata.key_groups = keys.wrap_groups(groups, shamir_threshold, self.cipher.key())?;
        self.metadata.shamir_threshold = if groups.len() > 1 {
            Some(shamir_threshold.unwrap_or(groups.len() as u64))
        } else {
            None
        };
        Ok(())
    }

    /// Encrypts the tree under a fresh data key (`rotate`) for `groups`, by
    /// default the file's current recipients, keeping its rules and threshold.
    pub fn rotate(
        self,
        groups: Option<Vec<Vec<Recipient>>>,
        keys: &Keyring,
        options: &EmitOptions,
    ) -> Result<Vec<u8>, Error> {
        let groups = match groups {
            Some(g) => g,
            None => self.metadata.recipients()?,
        };
        let threshold = self.metadata.shamir_threshold;
        self.rekey(groups, threshold, keys, options)
    }

    /// Encrypts the tree under a fresh data key for `groups` (any `threshold`
    /// of them needed when there are several), keeping the rules. This is how
    /// a key is removed honestly: whoever held it may have kept the old data
    /// key, so every value is encrypted again under a new one.
    pub fn rekey(
        self,
        groups: Vec<Vec<Recipient>>,
        shamir_threshold: Option<u64>,
        keys: &Keyring,
        options: &EmitOptions,
    ) -> Result<Vec<u8>, Error> {
        let mut encryptor = crate::Encryptor::new()
            .key_groups(groups)
            .rules(self.metadata.rules.clone())
            .emit_options(*options);
        if let Some(t) = shamir_threshold {
            encryptor = encryptor.shamir_threshold(t);
        }
        let format = self.format;
        encryptor.encrypt_document(self.into_document(), format, keys)
    }
}

/// True if `input` is a SOPS file in `format` (it has valid `sops` metadata).
pub fn is_encrypted(input: &[u8], format: Format) -> bool {
    LockedFile::parse(input, format).is_ok()
}

/// Decrypts a SOPS file with the local keys of `keys` (MAC checked) and returns
/// its plaintext in the same format. [`Decryptor`] has the options.
pub fn decrypt(input: &[u8], format: Format, keys: &Keyring) -> Result<Zeroizing<Vec<u8>>, Error> {
    Decryptor::new(keys).decrypt(input, format)
}

/// Decrypts files, with options: ignore the MAC, write another format, print
/// one value.
#[derive(Debug, Clone)]
pub struct Decryptor<'k> {
    keys: &'k Keyring,
    mac: MacCheck,
    output_format: Option<Format>,
    emit: EmitOptions,
    extract: Option<crate::TreePath>,
}

impl<'k> Decryptor<'k> {
    /// Decrypts with the services of `keys`.
    pub fn new(keys: &'k Keyring) -> Self {
        Self {
            keys,
            mac: MacCheck::Verify,
            output_format: None,
            emit: EmitOptions::default(),
            extract: None,
        }
    }

    /// Whether to check the MAC.
    pub fn mac(mut self, mac: MacCheck) -> Self {
        self.mac = mac;
        self
    }

    /// Writes the plaintext in this format (default: the input's).
    pub fn output_format(mut self, format: Format) -> Self {
        self.output_format = Some(format);
        self
    }

    /// The layout of the plaintext.
    pub fn emit_options(mut self, options: EmitOptions) -> Self {
        self.emit = options;
        self
    }

    /// Returns only the value at `path`, as sops's `--extract` prints it.
    pub fn extract(mut self, path: crate::TreePath) -> Self {
        self.extract = Some(path);
        self
    }

    /// Parses, unlocks and checks a file.
    pub fn open(&self, input: &[u8], format: Format) -> Result<OpenFile, Error> {
        LockedFile::parse(input, format)?.open(self.keys, self.mac)
    }

    /// Decrypts a file to plaintext bytes.
    pub fn decrypt(&self, input: &[u8], format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
        let open = self.open(input, format)?;
        let out = self.output_format.unwrap_or(format);
        match &self.extract {
            Some(path) => Ok(open.document().get(path)?.emit(out, &self.emit)),
            None => open.to_plaintext(out, &self.emit),
        }
    }
}
