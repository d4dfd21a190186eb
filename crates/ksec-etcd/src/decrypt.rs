//! Decrypting stored values back to their plaintext, as kube-apiserver's read path does
//! (`value.PrefixTransformers` over the providers configured for the resource):
//!
//! | provider | after the prefix | cipher |
//! |---|---|---|
//! | `aesgcm` | 12-byte nonce, ciphertext + tag | AES-GCM, AAD = the etcd key |
//! | `aescbc` | 16-byte IV, ciphertext | AES-CBC, PKCS#7, no AAD |
//! | `secretbox` | 24-byte nonce, tag + ciphertext | XSalsa20-Poly1305, no AAD |
//! | `kms` v1 | u16 length, wrapped DEK, then AES-GCM data (or AES-CBC before 1.25) | DEK from the plugin |
//! | `kms` v2 | `EncryptedObject` protobuf | DEK (type 0) or seed (type 1) from the plugin |
//!
//! With a seed (type 1) each write has its own key: HKDF-SHA256 *expand only* of the seed
//! with the first 32 bytes of `encryptedData` as info, then a 12-byte nonce; AAD = the
//! etcd key. The first provider whose prefix matches decides (no fallback after a
//! failure), as in the apiserver; only the `identity` provider passes on encrypted data.
//! Unlike the apiserver, plaintext is returned even when the configuration lists no
//! `identity` provider: this is for recovery, and plaintext needs no key.
//!
//! Unwrapped data keys are cached by their wrapped form (as the apiserver caches them),
//! so a KMS v2 store costs one plugin call per data key, not per object.
use crate::encryption_config::{
    group_resource, EncryptionConfiguration, Key, KmsApiVersion, Provider,
};
use crate::error::{Result, ValueError};
use crate::kms::KmsConnection;
use crate::kmsv2::EncryptedObject;
use crate::storage::{self, DekSource, Storage, ENCRYPTED_PREFIX, PROTOBUF_MAGIC};
use ksec_crypto::{aead, cbc, secretbox, SecretBytes};
use ksec_keys::KeyBackend;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Unwrapped data keys kept at most (the cache is emptied when full).
const DEK_CACHE_MAX: usize = 4096;
/// The HKDF info length and minimum seed size of KMS v2 seeds (`aes_extended_nonce.go`).
const SEED_INFO_LEN: usize = 32;

/// A plaintext value and how it was stored.
#[derive(Debug)]
pub struct Decrypted {
    /// How the value was stored (provider, key name, KMS key id).
    pub storage: Storage,
    /// The plaintext: a `k8s\0` protobuf object or JSON.
    pub plaintext: SecretBytes,
}

/// Decrypts values with the keys and KMS providers of an EncryptionConfiguration.
pub struct Decryptor {
    config: EncryptionConfiguration,
    kms: HashMap<(KmsApiVersion, String), KmsConnection>,
    deks: Mutex<HashMap<Vec<u8>, SecretBytes>>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("resources", &self.config.resources.len())
            .field("kms_providers", &self.kms.len())
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A decryptor for `config`. KMS providers are reached through their plugin socket
    /// (connected on first use) unless [`use_key_backend`](Self::use_key_backend) says otherwise.
    pub fn new(config: EncryptionConfiguration) -> Self {
        // KMS v1 names may repeat (without automatic reload); as in the apiserver, the
        // first provider with a prefix is the one that reads it.
        let mut kms = HashMap::new();
        for k in config.kms_providers() {
            kms.entry((k.api_version, k.name.clone()))
                .or_insert_with(|| KmsConnection::plugin(&k.endpoint, k.socket_path(), k.timeout));
        }
        Self {
            config,
            kms,
            deks: Mutex::new(HashMap::new()),
        }
    }

    /// Unwraps the data keys of KMS provider `name` (v1 and v2) with `backend` instead of
    /// its plugin: the key-encryption key a `ksec kms serve` plugin used.
    pub fn use_key_backend(&mut self, name: &str, backend: Arc<dyn KeyBackend>) -> Result<()> {
        self.config.kms_provider(name)?;
        for ((_, n), conn) in self.kms.iter_mut() {
            if n == name {
                *conn = KmsConnection::Backend(backend.clone());
            }
        }
        Ok(())
    }

    /// The providers kube-apiserver uses for `resource` (`secrets`, `deployments.apps`):
    /// the entries naming it, else `*.<group>`, else `*.*`, in configuration order.
    pub fn providers_for(&self, resource: &str) -> Vec<&Provider> {
        let want = group_resource(resource);
        for target in [want, (want.0, "*"), ("*", "*")] {
            let found: Vec<&Provider> = self
                .config
                .resources
                .iter()
                .filter(|rc| rc.resources.iter().any(|r| group_resource(r) == target))
                .flat_map(|rc| &rc.providers)
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        vec![]
    }

    /// Decrypts one stored value of `resource` found at `etcd_key` (the AES-GCM and KMS
    /// additional data).
    pub async fn decrypt(
        &self,
        resource: &str,
        etcd_key: &[u8],
        value: &[u8],
    ) -> Result<Decrypted, ValueError> {
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        for p in self.providers_for(resource) {
            let attempt = match p {
                Provider::Identity => {
                    if value.starts_with(ENCRYPTED_PREFIX) {
                        continue;
                    }
                    return Ok(plain(value));
                }
                Provider::Aesgcm(keys) => {
                    self.with_keys(keys, b"k8s:enc:aesgcm:v1:", value, Cipher::Gcm, etcd_key)
                }
                Provider::Aescbc(keys) => {
                    self.with_keys(keys, b"k8s:enc:aescbc:v1:", value, Cipher::Cbc, etcd_key)
                }
                Provider::Secretbox(keys) => self.with_keys(
                    keys,
                    b"k8s:enc:secretbox:v1:",
                    value,
                    Cipher::Secretbox,
                    etcd_key,
                ),
                Provider::Kms(k) => {
                    let prefix = match k.api_version {
                        KmsApiVersion::V1 => format!("k8s:enc:kms:v1:{}:", k.name),
                        KmsApiVersion::V2 => format!("k8s:enc:kms:v2:{}:", k.name),
                    };
                    let Some(body) = value.strip_prefix(prefix.as_bytes()) else {
                        continue;
                    };
                    let Some(conn) = self.kms.get(&(k.api_version, k.name.clone())) else {
                        continue;
                    };
                    return match k.api_version {
                        KmsApiVersion::V1 => self.kms_v1(&k.name, conn, body, etcd_key).await,
                        KmsApiVersion::V2 => self.kms_v2(&k.name, conn, body, etcd_key).await,
                    };
                }
            };
            if let Some(result) = attempt {
                return result;
            }
        }
        match storage::split(value)? {
            None => Ok(plain(value)),
            Some(p) => Err(ValueError::NoProvider {
                provider: p.kind.label(),
                name: p.name.to_string(),
                resource: resource.to_string(),
            }),
        }
    }

    /// An `aesgcm`/`aescbc`/`secretbox` provider: `None` when its prefix does not match.
    fn with_keys(
        &self,
        keys: &[Key],
        prefix: &[u8],
        value: &[u8],
        cipher: Cipher,
        etcd_key: &[u8],
    ) -> Option<Result<Decrypted, ValueError>> {
        let body = value.strip_prefix(prefix)?;
        let provider = cipher.label();
        let Some(key) = keys
            .iter()
            .find(|k| body.starts_with(k.name.as_bytes()) && body.get(k.name.len()) == Some(&b':'))
        else {
            let name = storage::split(value)
                .ok()
                .flatten()
                .map(|p| p.name.to_string())
                .unwrap_or_default();
            return Some(Err(ValueError::UnknownKey { provider, name }));
        };
        let data = &body[key.name.len() + 1..];
        let storage = match cipher {
            Cipher::Gcm => Storage::Aesgcm {
                key: key.name.clone(),
            },
            Cipher::Cbc => Storage::Aescbc {
                key: key.name.clone(),
            },
            Cipher::Secretbox => Storage::Secretbox {
                key: key.name.clone(),
            },
        };
        let plaintext = match cipher {
            Cipher::Gcm => open_gcm(key.secret.expose(), data, etcd_key, provider, &key.name),
            Cipher::Cbc => open_cbc(key.secret.expose(), data, provider, &key.name),
            Cipher::Secretbox => open_secretbox(key.secret.expose(), data, &key.name),
        };
        Some(plaintext.map(|plaintext| Decrypted { storage, plaintext }))
    }

    async fn kms_v1(
        &self,
        name: &str,
        conn: &KmsConnection,
        body: &[u8],
        etcd_key: &[u8],
    ) -> Result<Decrypted, ValueError> {
        let (wrapped, data) = storage::kms_v1_parts(body)?;
        let mut cache_key = b"v1:".to_vec();
        cache_key.extend_from_slice(wrapped);
        let dek = self.dek(cache_key, name, conn.decrypt_v1(wrapped)).await?;
        // 1.25+ writes AES-GCM; older data is AES-CBC, which the apiserver still reads.
        let plaintext = match open_gcm(dek.expose(), data, etcd_key, "kms v1", name) {
            Ok(p) => p,
            Err(_) => open_cbc(dek.expose(), data, "kms v1", name)?,
        };
        Ok(Decrypted {
            storage: Storage::KmsV1 { name: name.into() },
            plaintext,
        })
    }

    async fn kms_v2(
        &self,
        name: &str,
        conn: &KmsConnection,
        body: &[u8],
        etcd_key: &[u8],
    ) -> Result<Decrypted, ValueError> {
        let o = EncryptedObject::decode(body)?;
        // As the apiserver's cache key: source type, wrapped source, key id, annotations.
        let mut cache_key = vec![b'2', o.source_type as u8];
        for part in [o.encrypted_dek_source, o.key_id.as_bytes()] {
            cache_key.extend_from_slice(&(part.len() as u64).to_be_bytes());
            cache_key.extend_from_slice(part);
        }
        for (k, v) in &o.annotations {
            for part in [k.as_bytes(), v] {
                cache_key.extend_from_slice(&(part.len() as u64).to_be_bytes());
                cache_key.extend_from_slice(part);
            }
        }
        let source = self
            .dek(
                cache_key,
                name,
                conn.decrypt_v2(o.encrypted_dek_source, o.key_id, &o.annotations),
            )
            .await?;
        let plaintext = match o.source_type {
            DekSource::AesGcmKey => {
                open_gcm(source.expose(), o.encrypted_data, etcd_key, "kms v2", name)?
            }
            DekSource::HkdfSeed => {
                if source.len() < SEED_INFO_LEN {
                    return Err(ValueError::Kms {
                        provider: name.into(),
                        reason: format!(
                            "invalid seed length {} used for key generation",
                            source.len()
                        ),
                    });
                }
                let data = o.encrypted_data;
                let info = data.get(..SEED_INFO_LEN).ok_or(ValueError::Truncated {
                    what: "the HKDF info of encryptedData",
                    need: SEED_INFO_LEN,
                    have: data.len(),
                })?;
                let key = ksec_crypto::hash::hkdf_sha256_expand(source.expose(), info, 32)
                    .map_err(|e| ValueError::Kms {
                        provider: name.into(),
                        reason: e.to_string(),
                    })?;
                open_gcm(
                    key.expose(),
                    &data[SEED_INFO_LEN..],
                    etcd_key,
                    "kms v2",
                    name,
                )?
            }
        };
        Ok(Decrypted {
            storage: Storage::KmsV2 {
                name: name.into(),
                key_id: o.key_id.into(),
                dek_source: o.source_type,
            },
            plaintext,
        })
    }

    /// A data key from the cache, or from the KMS (then cached).
    async fn dek(
        &self,
        cache_key: Vec<u8>,
        provider: &str,
        unwrap: impl std::future::Future<Output = Result<SecretBytes, String>>,
    ) -> Result<SecretBytes, ValueError> {
        if let Some(k) = self
            .deks
            .lock()
            .ok()
            .and_then(|c| c.get(&cache_key).cloned())
        {
            return Ok(k);
        }
        let dek = unwrap.await.map_err(|reason| ValueError::Kms {
            provider: provider.to_string(),
            reason,
        })?;
        if let Ok(mut c) = self.deks.lock() {
            if c.len() >= DEK_CACHE_MAX {
                c.clear();
            }
            c.insert(cache_key, dek.clone());
        }
        Ok(dek)
    }
}

#[derive(Clone, Copy)]
enum Cipher {
    Gcm,
    Cbc,
    Secretbox,
}

impl Cipher {
    fn label(self) -> &'static str {
        match self {
            Cipher::Gcm => "aesgcm",
            Cipher::Cbc => "aescbc",
            Cipher::Secretbox => "secretbox",
        }
    }
}

fn plain(value: &[u8]) -> Decrypted {
    Decrypted {
        storage: Storage::Identity {
            format: storage::plain_format(value),
        },
        plaintext: SecretBytes::from_slice(value),
    }
}

/// AES-GCM: 12-byte nonce, then ciphertext and tag; AAD = the etcd key.
fn open_gcm(
    key: &[u8],
    data: &[u8],
    etcd_key: &[u8],
    provider: &'static str,
    name: &str,
) -> Result<SecretBytes, ValueError> {
    if data.len() < aead::NONCE_LEN + aead::TAG_LEN {
        return Err(ValueError::Truncated {
            what: "the AES-GCM nonce and tag",
            need: aead::NONCE_LEN + aead::TAG_LEN,
            have: data.len(),
        });
    }
    let (nonce, ct) = data.split_at(aead::NONCE_LEN);
    let nonce: &[u8; aead::NONCE_LEN] = nonce.try_into().map_err(|_| ValueError::Empty)?;
    aead::open_any(key, nonce, etcd_key, ct).map_err(|_| ValueError::Decrypt {
        provider,
        name: name.to_string(),
    })
}

/// AES-CBC: 16-byte IV, then the padded ciphertext. Unauthenticated, so the plaintext
/// must look like a stored object.
fn open_cbc(
    key: &[u8],
    data: &[u8],
    provider: &'static str,
    name: &str,
) -> Result<SecretBytes, ValueError> {
    if data.len() < 2 * cbc::BLOCK_LEN {
        return Err(ValueError::Truncated {
            what: "the AES-CBC IV and one block",
            need: 2 * cbc::BLOCK_LEN,
            have: data.len(),
        });
    }
    let (iv, ct) = data.split_at(cbc::BLOCK_LEN);
    let iv: &[u8; cbc::BLOCK_LEN] = iv.try_into().map_err(|_| ValueError::Empty)?;
    let p = cbc::decrypt(key, iv, ct).map_err(|_| ValueError::Decrypt {
        provider,
        name: name.to_string(),
    })?;
    if !(p.expose().starts_with(PROTOBUF_MAGIC) || p.expose().first() == Some(&b'{')) {
        return Err(ValueError::NotAnObject {
            provider,
            name: name.to_string(),
        });
    }
    Ok(p)
}

/// secretbox: 24-byte nonce, then tag and ciphertext.
fn open_secretbox(key: &[u8], data: &[u8], name: &str) -> Result<SecretBytes, ValueError> {
    if data.len() < secretbox::NONCE_LEN + secretbox::TAG_LEN {
        return Err(ValueError::Truncated {
            what: "the secretbox nonce and tag",
            need: secretbox::NONCE_LEN + secretbox::TAG_LEN,
            have: data.len(),
        });
    }
    let (nonce, boxed) = data.split_at(secretbox::NONCE_LEN);
    let nonce: &[u8; secretbox::NONCE_LEN] = nonce.try_into().map_err(|_| ValueError::Empty)?;
    secretbox::open(key, nonce, boxed).map_err(|_| ValueError::Decrypt {
        provider: "secretbox",
        name: name.to_string(),
    })
}

#[cfg(test)]
#[path = "decrypt_tests.rs"]
mod tests;
