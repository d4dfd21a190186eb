//! Master keys: who can unwrap a file's data key.
//!
//! A [`KeyService`] handles one or more key types (`age`, `pgp`, and later the
//! backends of `ksec-keys`: `kms`, `gcp_kms`, `azure_kv`, `hc_vault`). A
//! [`Keyring`] holds the services available to this process and recovers the
//! data key the way sops does: groups in order, keys in a group by the
//! decryption order, the first key that works wins; Shamir shares across groups.
use crate::metadata::{KeyGroup, MasterKey, Metadata};
use crate::Error;
use ksec_crypto::SecretBytes;

pub mod age;
pub mod age_plugin;
pub mod pgp;
pub mod shamir;

/// A recipient to encrypt a new data key to: a key type and its identity text
/// (an age recipient, a PGP fingerprint, a KMS ARN…).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// `age`, `pgp`, …
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
}

/// One way of wrapping and unwrapping data keys.
pub trait KeyService: Send + Sync {
    /// The key types (`MasterKey::kind`) this service handles.
    fn kinds(&self) -> &[&'static str];
    /// Encrypts `dek` to `to`, returning the metadata entry to store.
    fn wrap(&self, to: &Recipient, dek: &SecretBytes) -> Result<MasterKey, String>;
    /// Decrypts the data key (or Shamir share) stored in `key`.
    fn unwrap(&self, key: &MasterKey) -> Result<SecretBytes, String>;
}

/// The key services of this process.
pub struct Keyring {
    services: Vec<Box<dyn KeyService>>,
    /// Key types in the order they are tried within a group.
    pub decryption_order: Vec<String>,
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
    /// the default `keys.txt`, `GNUPGHOME`).
    pub fn from_env() -> Self {
        Self::new(vec![
            Box::new(age::AgeService::from_env()),
            Box::new(pgp::GpgService::from_env()),
        ])
    }

    /// Adds a service (for example a KMS backend).
    pub fn push(&mut self, s: Box<dyn KeyService>) {
        self.services.push(s);
    }

    fn service(&self, kind: &str) -> Option<&dyn KeyService> {
        self.services
            .iter()
            .find(|s| s.kinds().contains(&kind))
            .map(|b| b.as_ref())
    }

    /// Wraps a fresh data key for every recipient group; several groups split the
    /// key with Shamir secret sharing (`threshold` shares needed).
    pub fn wrap_groups(
        &self,
        groups: &[Vec<Recipient>],
        threshold: Option<u64>,
        dek: &SecretBytes,
    ) -> Result<Vec<KeyGroup>, Error> {
        let parts: Vec<SecretBytes> = if groups.len() <= 1 {
            vec![dek.clone()]
        } else {
            let t = threshold.unwrap_or(groups.len() as u64) as usize;
            shamir::split(dek.expose(), groups.len(), t).map_err(Error::Config)?
        };
        let mut out = Vec::new();
        for (g, part) in groups.iter().zip(parts.iter()) {
            let mut kg = Vec::new();
            for r in g {
                let s = self.service(&r.kind).ok_or_else(|| {
                    Error::Config(format!("key type {} is not supported by ksec yet", r.kind))
                })?;
                kg.push(s.wrap(r, part).map_err(|why| Error::KeyWrap {
                    recipient: format!("{} {}", r.kind, r.id),
                    why,
                })?);
            }
            out.push(kg);
        }
        Ok(out)
    }

    /// Recovers the data key of a file, listing every key tried when none works.
    pub fn data_key(&self, m: &Metadata) -> Result<SecretBytes, Error> {
        let mut tried = Vec::new();
        let mut parts = Vec::new();
        for g in &m.key_groups {
            let mut keys: Vec<&MasterKey> = g.iter().collect();
            let rank = |k: &MasterKey| {
                self.decryption_order
                    .iter()
                    .position(|o| o == k.kind())
                    .unwrap_or(self.decryption_order.len())
            };
            keys.sort_by_key(|k| rank(k));
            let mut got = None;
            for k in keys {
                let Some(s) = self.service(k.kind()) else {
                    tried.push(format!(
                        "{}: key type not supported by ksec yet",
                        k.describe()
                    ));
                    continue;
                };
                match s.unwrap(k) {
                    Ok(p) => {
                        got = Some(p);
                        break;
                    }
                    Err(e) => tried.push(format!("{}: {e}", k.describe())),
                }
            }
            if let Some(p) = got {
                parts.push(p);
            }
        }
        if m.key_groups.len() > 1 {
            let need = m.shamir_threshold.unwrap_or(m.key_groups.len() as u64) as usize;
            if parts.len() < need {
                return Err(Error::NoKey { tried });
            }
            let shares: Vec<&[u8]> = parts.iter().map(|p| p.expose()).collect();
            return shamir::combine(&shares).map_err(Error::Config);
        }
        match parts.pop() {
            Some(p) if p.len() == 32 => Ok(p),
            Some(p) => Err(Error::NoKey {
                tried: vec![format!(
                    "a key gave a data key of {} bytes, expected 32",
                    p.len()
                )],
            }),
            None => Err(Error::NoKey { tried }),
        }
    }
}
