//! Master keys: who can unwrap a file's data key.
//!
//! A [`KeyService`] handles one or more key types (`age`, `pgp`, and through
//! other crates `kms`, `gcp_kms`, `azure_kv`, `hc_vault`). A [`Keyring`] holds
//! the services of this process; it wraps new data keys and unwraps stored ones
//! the way sops does: keys in a group by the decryption order, the first key
//! that works wins, Shamir shares across groups (see
//! [`Unlocker`](crate::Unlocker) for the sans-IO path a caller drives itself).
use crate::metadata::{KeyGroup, MasterKey};
use crate::{Error, KeyIdentity};
use ksec_crypto::SecretBytes;

pub mod age;
mod age_plugin;
pub(crate) mod cloud;
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

/// Compared in constant time.
impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for DataKey {}

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
/// (an age recipient, a PGP fingerprint, a KMS ARN, a Vault key URI…).
///
/// Two recipients are the same key when their `kind` and `id` are equal; for
/// AWS KMS the id is sops's text identity, which includes the role, the
/// encryption context and the profile (as sops compares keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// `age`, `pgp`, `kms`, `hc_vault`, … (as [`MasterKey::kind`] names the
    /// entries it makes).
    pub kind: String,
    /// The recipient as sops writes it: `age1…`, a fingerprint,
    /// `ARN[+ROLE][|k:v,…][|PROFILE]`, `https://vault:8200/v1/transit/keys/NAME`.
    pub id: String,
    detail: Detail,
}

/// What the network key types need beyond their text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    None,
    Kms(cloud::KmsKey),
    Vault(cloud::VaultKey),
}

impl Recipient {
    /// An age recipient.
    pub fn age(id: &str) -> Self {
        Self::other("age", id.trim())
    }

    /// A PGP fingerprint.
    pub fn pgp(fp: &str) -> Self {
        Self::other("pgp", &fp.trim().replace(' ', ""))
    }

    /// An AWS KMS key as `--kms` and a creation rule's `kms` string name it:
    /// `ARN[+ROLE_ARN]`, bound to an encryption context, with an optional
    /// AWS profile.
    pub fn kms(
        arn_and_role: &str,
        context: &[(String, String)],
        aws_profile: Option<&str>,
    ) -> Self {
        Self::from_kms(cloud::KmsKey::from_arn_and_role(
            arn_and_role,
            context,
            aws_profile,
        ))
    }

    /// An AWS KMS key given field by field (a `key_groups` entry of `.sops.yaml`).
    pub fn kms_key(
        arn: &str,
        role: Option<&str>,
        context: &[(String, String)],
        aws_profile: Option<&str>,
    ) -> Self {
        Self::from_kms(cloud::KmsKey::new(
            arn.trim().to_string(),
            role.map(str::to_string),
            context.to_vec(),
            aws_profile.map(str::to_string),
        ))
    }

    fn from_kms(key: cloud::KmsKey) -> Self {
        Self {
            kind: "kms".into(),
            id: key.id(),
            detail: Detail::Kms(key),
        }
    }

    /// A Vault / OpenBao Transit key:
    /// `https://vault.example.org:8200/v1/transit/keys/NAME`.
    pub fn hc_vault(uri: &str) -> Result<Self, Error> {
        Ok(Self::from_vault(cloud::VaultKey::parse(uri.trim())?))
    }

    fn from_vault(key: cloud::VaultKey) -> Self {
        Self {
            kind: "hc_vault".into(),
            id: key.uri(),
            detail: Detail::Vault(key),
        }
    }

    /// A recipient of another type (`gcp_kms`, `azure_kv`, `hckms`), kept as
    /// named.
    pub fn other(kind: &str, id: &str) -> Self {
        Self {
            kind: kind.to_string(),
            id: id.to_string(),
            detail: Detail::None,
        }
    }

    /// What the key is and where it lives.
    pub fn identity(&self) -> KeyIdentity {
        match (&self.detail, self.kind.as_str()) {
            (Detail::Kms(k), _) => KeyIdentity::AwsKms {
                arn: k.arn.clone(),
                role: k.role.clone(),
                context: k.context.clone(),
                aws_profile: k.aws_profile.clone(),
            },
            (Detail::Vault(k), _) => KeyIdentity::HcVault {
                address: k.address.clone(),
                engine_path: k.engine_path.clone(),
                key_name: k.key_name.clone(),
            },
            (Detail::None, "age") => KeyIdentity::Age {
                recipient: self.id.clone(),
            },
            (Detail::None, "pgp") => KeyIdentity::Pgp {
                fingerprint: self.id.clone(),
            },
            (Detail::None, kind) => KeyIdentity::Unknown {
                kind: kind.to_string(),
            },
        }
    }

    pub(crate) fn kms_key_detail(&self) -> Option<&cloud::KmsKey> {
        match &self.detail {
            Detail::Kms(k) => Some(k),
            _ => None,
        }
    }

    // Used by the network key services only.
    #[cfg_attr(not(feature = "network-keys"), allow(dead_code))]
    pub(crate) fn vault_key_detail(&self) -> Option<&cloud::VaultKey> {
        match &self.detail {
            Detail::Vault(k) => Some(k),
            _ => None,
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

    /// The metadata entry for this recipient holding `enc` (the wrapped data
    /// key or Shamir share, as the key's service returned it), laid out as sops
    /// writes it, stamped now. `None` for the key types whose entries this
    /// crate does not write (GCP, Azure, HuaweiCloud).
    pub fn entry(&self, enc: &str) -> Option<MasterKey> {
        let now = crate::time::now_rfc3339();
        Some(match (&self.detail, self.kind.as_str()) {
            (Detail::Kms(k), _) => MasterKey::Other {
                kind: "kms".into(),
                fields: cloud::kms_entry(k, &now, enc),
            },
            (Detail::Vault(k), _) => MasterKey::Other {
                kind: "hc_vault".into(),
                fields: cloud::vault_entry(k, &now, enc),
            },
            (Detail::None, "age") => MasterKey::Age {
                recipient: self.id.clone(),
                enc: enc.to_string(),
            },
            (Detail::None, "pgp") => MasterKey::Pgp {
                fp: self.id.clone(),
                created_at: now,
                enc: enc.to_string(),
            },
            _ => return None,
        })
    }
}

/// Parses a KMS encryption context as `--encryption-context` gives it:
/// `key:value,key2:value2` (sorted by key). sops drops a malformed context with
/// a warning; this is an error instead, so a key is never bound to less than
/// was asked.
pub fn parse_encryption_context(text: &str) -> Result<Vec<(String, String)>, Error> {
    cloud::parse_context(text)
}

impl MasterKey {
    /// The recipient this entry was made for, to wrap a new data key for the
    /// same key (`rotate`) or compare with a creation rule (`updatekeys`).
    /// `None` for a key type this crate does not know.
    pub fn recipient(&self) -> Option<Recipient> {
        match self {
            MasterKey::Age { recipient, .. } => Some(Recipient::age(recipient)),
            MasterKey::Pgp { fp, .. } => Some(Recipient::pgp(fp)),
            MasterKey::Other { kind, .. } => match self.identity() {
                KeyIdentity::AwsKms {
                    arn,
                    role,
                    context,
                    aws_profile,
                } => Some(Recipient::kms_key(
                    &arn,
                    role.as_deref(),
                    &context,
                    aws_profile.as_deref(),
                )),
                KeyIdentity::HcVault {
                    address,
                    engine_path,
                    key_name,
                } => Some(Recipient::from_vault(cloud::VaultKey {
                    address,
                    engine_path,
                    key_name,
                })),
                KeyIdentity::GcpKms { resource_id } => Some(Recipient::other(kind, &resource_id)),
                KeyIdentity::AzureKeyVault {
                    vault_url,
                    name,
                    version,
                } => Some(Recipient::other(
                    kind,
                    &format!("{}/keys/{name}/{version}", vault_url.trim_end_matches('/')),
                )),
                KeyIdentity::HuaweiKms { key_id } => Some(Recipient::other(kind, &key_id)),
                _ => None,
            },
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
    /// Compares a file's key groups with recipient groups (keys are the same
    /// when their recipients are equal, as sops compares its keys' text forms).
    pub fn between(file: &[KeyGroup], groups: &[Vec<Recipient>]) -> Self {
        let old: Vec<(Option<Recipient>, String)> = file
            .iter()
            .flatten()
            .map(|k| (k.recipient(), k.describe()))
            .collect();
        let new: Vec<&Recipient> = groups.iter().flatten().collect();
        let in_new = |r: &Option<Recipient>| r.as_ref().is_some_and(|r| new.contains(&r));
        let in_old = |r: &Recipient| old.iter().any(|(o, _)| o.as_ref() == Some(r));
        // Per group, the same keys in any order (the file lists them by type).
        let same_groups = file.len() == groups.len()
            && file.iter().zip(groups).all(|(f, g)| {
                let have: Vec<Option<Recipient>> = f.iter().map(MasterKey::recipient).collect();
                f.len() == g.len()
                    && g.iter().all(|r| have.iter().any(|h| h.as_ref() == Some(r)))
                    && have
                        .iter()
                        .all(|h| h.as_ref().is_some_and(|h| g.contains(h)))
            });
        KeyChanges {
            added: new
                .iter()
                .filter(|r| !in_old(r))
                .map(|r| r.describe())
                .collect(),
            removed: old
                .iter()
                .filter(|(r, _)| !in_new(r))
                .map(|(_, d)| d.clone())
                .collect(),
            up_to_date: same_groups,
        }
    }
}

/// One way of wrapping and unwrapping data keys: local keys (age identities,
/// the gpg keyring) or keys behind a network service (AWS KMS, Vault Transit:
/// `network::NetworkKeys` with the `network-keys` feature).
///
/// The interface is synchronous; a remote service says so with
/// [`is_remote`](Self::is_remote) and unwraps many keys at once in
/// [`unwrap_all`](Self::unwrap_all), so that one slow service never holds up
/// another.
pub trait KeyService: Send + Sync {
    /// The key types ([`MasterKey::kind`]) this service handles.
    fn kinds(&self) -> &[&'static str];
    /// Encrypts `secret` (a data key or Shamir share) to `to`, returning the
    /// metadata entry to store.
    fn wrap(&self, to: &Recipient, secret: &SecretBytes) -> Result<MasterKey, Error>;
    /// Decrypts the data key (or Shamir share) stored in `key`.
    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, Error>;
    /// True if the keys sit behind a network service. A [`Keyring`] tries such
    /// keys after the local ones of the decryption order, all at once through
    /// [`unwrap_all`](Self::unwrap_all).
    fn is_remote(&self) -> bool {
        false
    }
    /// Unwraps several keys, calling `report(index, result)` for each as it
    /// finishes; when `report` returns `false` the rest are abandoned. A remote
    /// service runs them concurrently (the first to finish is reported first);
    /// the default tries them in turn.
    fn unwrap_all(
        &self,
        keys: &[&MasterKey],
        report: &mut dyn FnMut(usize, Result<SecretBytes, Error>) -> bool,
    ) {
        for (i, k) in keys.iter().enumerate() {
            if !report(i, self.unwrap(k)) {
                break;
            }
        }
    }
}

/// Why a key of type `kind` was not tried: no service here handles it.
pub(crate) fn no_service_reason(kind: &str) -> String {
    match kind {
        "kms" | "hc_vault" => format!(
            "no key service for {kind} keys here (ksec-sops's network-keys feature provides one)"
        ),
        "gcp_kms" => "ksec cannot use GCP Cloud KMS keys".into(),
        "azure_kv" => "ksec cannot use Azure Key Vault keys".into(),
        "hckms" => "ksec cannot use HuaweiCloud KMS keys".into(),
        other => format!("unknown key type {other}"),
    }
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

    pub(crate) fn service(&self, kind: &str) -> Option<&dyn KeyService> {
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
            None => Err(Error::key_service(no_service_reason(key.kind()))),
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

    /// The remote services, each once.
    pub(crate) fn remote_services(&self) -> impl Iterator<Item = &dyn KeyService> {
        self.services
            .iter()
            .filter(|s| s.is_remote())
            .map(|b| b.as_ref())
    }

    /// The rank of key type `kind` in the decryption order.
    pub(crate) fn rank(&self, kind: &str) -> usize {
        self.decryption_order
            .iter()
            .position(|o| o == kind)
            .unwrap_or(self.decryption_order.len())
    }
}
