//! Master keys: who can unwrap a file's data key.
//!
//! A [`KeyService`] handles one or more key types (`age`, `pgp`, and through
//! other crates `kms`, `gcp_kms`, `azure_kv`, `hc_vault`). A [`Keyring`] holds
//! the services of this process; it wraps new data keys and unwraps stored ones
//! the way sops does: keys in a group by the decryption order, the first key
//! that works wins, Shamir shares across groups (see
//! [`Unlocker`](crate::Unlocker) for the sans-IO path a caller drives itself).
use crate::metadata::{KeyGroup, MasterKey};
use crate::Error;
use ksec_crypto::SecretBytes;

pub mod age;
mod age_plugin;
pub mod pgp;
mod shamir;

/// A file's 32-byte data key: every value is encrypted under it.
#[derive(Clone)]
pub struct DataKey(SecretBytes);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// The length of a data key.
    pub const LEN: usize = 32;

    /// A fresh random data key.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(ksec_crypto::rand::secret(Self::LEN)?))
    }

    /// A data key obtained elsewhere (unwrapped by a KMS, Vault, …).
    pub fn from_secret(key: SecretBytes) -> Result<Self, Error> {
        if key.len() != Self::LEN {
            return Err(Error::DataKeyLength { len: key.len() });
        }
        Ok(Self(key))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// What each of `groups` key groups must hold: the key itself for one group,
    /// Shamir shares of it for several (any `threshold` of them recover it;
    /// default: all).
    pub fn shares(&self, groups: usize, threshold: Option<u64>) -> Result<Vec<SecretBytes>, Error> {
        if groups <= 1 {
            return Ok(vec![self.0.clone()]);
        }
        let threshold = usize::try_from(threshold.unwrap_or(groups as u64)).unwrap_or(usize::MAX);
        shamir::split(self.expose(), groups, threshold)
    }

    /// Recovers a data key from Shamir shares (one per key group).
    pub fn combine(shares: &[SecretBytes]) -> Result<Self, Error> {
        let parts: Vec<&[u8]> = shares.iter().map(SecretBytes::expose).collect();
        Self::from_secret(shamir::combine(&parts)?)
    }
}

/// A recipient to encrypt a new data key to: a key type and its identity text
/// (an age recipient, a PGP fingerprint, a KMS ARN…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// `age`, `pgp`, … (as [`MasterKey::kind`] names the entries it makes).
    pub kind: String,
    /// The recipient as the user wrote it.
    pub id: String,
}

impl Recipient {
    /// An age recipient.
    pub fn age(id: &str) -> Self {
        Self {
            kind: "age".into(),
            id: id.trim().to_string(),
        }
    }

    /// A PGP fingerprint.
    pub fn pgp(fp: &str) -> Self {
        Self {
            kind: "pgp".into(),
            id: fp.trim().replace(' ', ""),
        }
    }

    /// A one-line description, in the words of [`MasterKey::describe`].
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "age" => format!("age recipient {}", self.id),
            "pgp" => format!("pgp key {}", self.id),
            k => format!("{k} key {}", self.id),
        }
    }
}

/// Recipients to add to (the first group of) a file and to remove from all of
/// its groups, as `rotate --add-…/--rm-…` asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientChanges {
    /// Added to the first key group.
    pub add: Vec<Recipient>,
    /// Removed from every key group.
    pub remove: Vec<Recipient>,
}

impl RecipientChanges {
    /// True if nothing is added or removed.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The groups after the changes.
    pub fn apply(&self, mut groups: Vec<Vec<Recipient>>) -> Vec<Vec<Recipient>> {
        for g in &mut groups {
            g.retain(|r| !self.remove.contains(r));
        }
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        groups[0].extend(self.add.iter().cloned());
        groups
    }
}

/// How a file's master keys differ from the recipients a creation rule names
/// now (`updatekeys`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyChanges {
    /// Keys the rule adds, described.
    pub added: Vec<String>,
    /// Keys the rule drops, described.
    pub removed: Vec<String>,
    /// True if the file already has exactly the rule's keys and groups.
    pub up_to_date: bool,
}

impl KeyChanges {
    /// Compares a file's key groups with recipient groups.
    pub fn between(file: &[KeyGroup], groups: &[Vec<Recipient>]) -> Self {
        let old: Vec<String> = file.iter().flatten().map(MasterKey::describe).collect();
        let new: Vec<String> = groups.iter().flatten().map(Recipient::describe).collect();
        KeyChanges {
            added: new.iter().filter(|i| !old.contains(i)).cloned().collect(),
            removed: old.iter().filter(|i| !new.contains(i)).cloned().collect(),
            up_to_date: old == new && file.len() == groups.len(),
        }
    }
}

/// One way of wrapping and unwrapping data keys, synchronously (local keys:
/// age identities, the gpg keyring). Keys reached over the network are better
/// driven by the caller through [`Unlocker`](crate::Unlocker).
pub trait KeyService: Send + Sync {
    /// The key types ([`MasterKey::kind`]) this service handles.
    fn kinds(&self) -> &[&'static str];
    /// Encrypts `secret` (a data key or Shamir share) to `to`, returning the
    /// metadata entry to store.
    fn wrap(&self, to: &Recipient, secret: &SecretBytes) -> Result<MasterKey, Error>;
    /// Decrypts the data key (or Shamir share) stored in `key`.
    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error>;
}

/// The key services of this process, and the order key types are tried in.
pub struct Keyring {
    services: Vec<Box<dyn KeyService>>,
    decryption_order: Vec<String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("services", &self.services.len())
            .field("decryption_order", &self.decryption_order)
            .finish()
    }
}

impl Keyring {
    /// A keyring with the given services and sops's default order (age, then pgp).
    pub fn new(services: Vec<Box<dyn KeyService>>) -> Self {
        Self {
            services,
            decryption_order: vec!["age".into(), "pgp".into()],
        }
    }

    /// age identities and gpg as the environment sets them up (`SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
    /// the default `keys.txt`, `GNUPGHOME`, `SOPS_GPG_EXEC`).
    pub fn from_env() -> Self {
        Self::new(vec![
            Box::new(age::AgeService::from_env()),
            Box::new(pgp::GpgService::from_env()),
        ])
    }

    /// Adds a service (for example a KMS backend).
    pub fn push(&mut self, service: Box<dyn KeyService>) {
        self.services.push(service);
    }

    /// Sets the order key types are tried in within a group (sops's
    /// `--decryption-order`); types not named come last.
    pub fn set_decryption_order<S: Into<String>>(&mut self, order: impl IntoIterator<Item = S>) {
        self.decryption_order = order.into_iter().map(Into::into).collect();
    }

    /// The order key types are tried in.
    pub fn decryption_order(&self) -> &[String] {
        &self.decryption_order
    }

    fn service(&self, kind: &str) -> Option<&dyn KeyService> {
        self.services
            .iter()
            .find(|s| s.kinds().contains(&kind))
            .map(|b| b.as_ref())
    }

    /// True if a service of this keyring handles key type `kind`.
    pub fn handles(&self, kind: &str) -> bool {
        self.service(kind).is_some()
    }

    /// Wraps `secret` for one recipient.
    pub fn wrap(&self, to: &Recipient, secret: &SecretBytes) -> Result<MasterKey, Error> {
        let service = self
            .service(&to.kind)
            .ok_or_else(|| Error::UnsupportedKeyType {
                kind: to.kind.clone(),
                key: to.describe(),
            })?;
        service.wrap(to, secret).map_err(|e| Error::KeyWrap {
            recipient: format!("{} {}", to.kind, to.id),
            reason: e.to_string(),
        })
    }

    /// Unwraps the secret `key` holds, with the service for its type.
    pub fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error> {
        match self.service(key.kind()) {
            Some(s) => s.unwrap(key),
            None => Err(Error::key_service("key type not supported by ksec yet")),
        }
    }

    /// Wraps a data key for every recipient group; several groups split the
    /// key with Shamir secret sharing (`threshold` shares needed).
    pub fn wrap_groups(
        &self,
        groups: &[Vec<Recipient>],
        threshold: Option<u64>,
        key: &DataKey,
    ) -> Result<Vec<KeyGroup>, Error> {
        let shares = key.shares(groups.len(), threshold)?;
        groups
            .iter()
            .zip(shares.iter())
            .map(|(group, share)| group.iter().map(|r| self.wrap(r, share)).collect())
            .collect()
    }

    /// The rank of key type `kind` in the decryption order.
    pub(crate) fn rank(&self, kind: &str) -> usize {
        self.decryption_order
            .iter()
            .position(|o| o == kind)
            .unwrap_or(self.decryption_order.len())
    }
}
