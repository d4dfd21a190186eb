//! Key-encryption-key (KEK) backends for ksec's envelope encryption.
//!
//! Every part of ksec encrypts content with a fresh data key and has that data key
//! *wrapped* by a key held somewhere safer. This crate is that "somewhere": one async
//! [`KeyBackend`] trait and its implementations.
//!
//! | backend | module | KEK lives in | wrapped key carries |
//! |---|---|---|---|
//! | local key file | [`local`] | a file of base64 AES-256 keys (first wraps, all unwrap) | key fingerprint, nonce |
//! | Vault / OpenBao Transit | [`vault`] | a transit key | `vault:vN:` prefix (the key version) |
//! | AWS KMS | [`awskms`] | a KMS key (ARN or alias) | the KMS ciphertext blob (names the key) |
//! | PKCS#11 HSM (`pkcs11` feature) | [`pkcs11`] | an AES key inside the token | key check value, IV |
//!
//! A [`WrapContext`] binds each wrapped key to where it is used: it is the AWS
//! encryption context, Vault's associated data (or derivation context), and the
//! AES-GCM AAD of the local and PKCS#11 backends; unwrapping under another context fails.
//!
//! Every network call has a timeout and transient failures (unreachable service,
//! 5xx, throttling) are retried a bounded number of times with backoff
//! ([`RetryPolicy`]); permanent failures (wrong credentials, wrong key, tampered
//! ciphertext) are never retried. Errors ([`KeyError`]) never contain key material.
//!
//! Backends are built from plain serde configuration blocks ([`BackendConfig`], YAML
//! or JSON; each backend module owns its block's type), whose errors name the field.
//! A caller with a time budget per call (the KMS plugin: kube-apiserver's 3 s) fits
//! the retry policy of blocks that set none into it ([`BackendConfig::set_call_budget`]).
//!
//! ```
//! use ksec_keys::local::LocalBackend;
//! use ksec_keys::{BackendConfig, KeyBackend, SecretBytes, WrapContext};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A KEK: one fresh key line, as `ksec kms rotate-key` writes to a key file.
//! let line = ksec_keys::local::generate_key_line()?;
//! let kek = LocalBackend::from_text("kms-keys".as_ref(), &line)?;
//!
//! // Wrap a data key bound to where it is used; only the same context unwraps it.
//! let dek = SecretBytes::from_slice(&[7; 32]);
//! let ctx = WrapContext::new().with("namespace", "shop");
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let wrapped = rt.block_on(kek.wrap(&dek, &ctx))?;
//! assert_eq!(wrapped.key_id, kek.key_id());
//! assert_eq!(rt.block_on(kek.unwrap(&wrapped, &ctx))?, dek);
//! assert!(rt.block_on(kek.unwrap(&wrapped, &WrapContext::new())).is_err());
//!
//! // The same backends from configuration; errors name the field.
//! let cfg = BackendConfig::from_yaml("vault: {address: https://vault:8200, key: kube}", None)?;
//! assert_eq!(cfg.kind(), "vault");
//! let typo = BackendConfig::from_yaml("vault: {adress: https://vault:8200, key: kube}", None);
//! assert!(typo.unwrap_err().to_string().contains("adress"));
//! # Ok(())
//! # }
//! ```
//!
//! Compatibility: the Vault backend speaks the Transit HTTP API as Vault and OpenBao
//! serve it; the AWS backend signs its own requests with Signature Version 4 (a lean
//! client: see [`awskms`] for why not the SDK); ciphertexts are the services' own, so
//! other tools (sops, the AWS CLI, `bao write transit/decrypt`) can unwrap them.
//!
//! Testing: unit tests next to the code; the integration tests in
//! `tests/ksec-keys/` start the real peers on 127.0.0.1 (an OpenBao dev server,
//! moto for AWS KMS, a SoftHSM 2 token set up with `softhsm2-util` and
//! `pkcs11-tool`) and check round trips, rotation, context mismatch, wrong
//! credentials, peers stopped mid-run, timeouts and concurrency.
#![forbid(unsafe_code)]

pub mod awskms;
mod config;
mod error;
mod http;
pub mod local;
pub mod pkcs11;
mod retry;
pub mod vault;

pub use config::BackendConfig;
pub use error::{KeyError, Result};
pub use ksec_crypto::SecretBytes;
pub use retry::RetryPolicy;

use std::collections::BTreeMap;
use std::fmt;

/// The stable identity of a key-encryption key *as it is now*: it changes when
/// the KEK changes (a new version of a Vault key, another AWS key behind an alias,
/// a new first line in a key file), so a consumer can tell that data wrapped under
/// an older id needs rewrapping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a text id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// What a wrapped data key is bound to: string pairs, sorted by key.
///
/// AWS KMS takes it as the encryption context, Vault Transit as associated data
/// (or, for derived keys, as the derivation context), and the local and PKCS#11
/// backends as AES-GCM additional data ([`WrapContext::aad`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrapContext {
    pairs: BTreeMap<String, String>,
}

impl WrapContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a pair (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.insert(key.into(), value.into());
        self
    }
    /// The pairs in key order.
    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.pairs
    }
    /// True without pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
    /// An unambiguous byte encoding (length-prefixed pairs in key order), used as AAD.
    pub fn aad(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.pairs {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for WrapContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// A data key wrapped by a backend. The ciphertext is self-describing: it carries
/// what unwrap needs (the Vault key version, the KMS key, the local key's
/// fingerprint), so [`KeyBackend::unwrap`] works after rotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// The [`KeyId`] of the KEK that wrapped it (informational; unwrap reads the ciphertext).
    pub key_id: KeyId,
    /// The backend's ciphertext, as the service itself returns it.
    pub ciphertext: Vec<u8>,
}

/// The result of a health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The current key id (refreshed by the check).
    pub key_id: KeyId,
    /// A short human-readable detail (service version, key state).
    pub detail: String,
}

/// One key-encryption key.
#[async_trait::async_trait]
pub trait KeyBackend: Send + Sync + fmt::Debug {
    /// The backend kind (`local`, `vault`, `aws-kms`, `pkcs11`), for messages and metrics.
    fn kind(&self) -> &'static str;

    /// The id of the KEK that [`wrap`](Self::wrap) uses now. Cheap (no I/O): backends
    /// refresh it on wrap and [`health`](Self::health).
    fn key_id(&self) -> KeyId;

    /// Wraps `dek` under the current KEK, bound to `ctx`.
    async fn wrap(&self, dek: &SecretBytes, ctx: &WrapContext) -> Result<WrappedKey>;

    /// Unwraps a data key wrapped by this KEK (any of its versions) under the same `ctx`.
    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<SecretBytes>;

    /// Checks that the backend can wrap and unwrap now, and refreshes [`key_id`](Self::key_id).
    async fn health(&self) -> Result<Health>;
}

/// The health probe of the remote backends: wrap a fresh random key and unwrap it again,
/// so "healthy" means the backend really works, not merely that it answers.
pub(crate) async fn probe_round_trip<B: KeyBackend + ?Sized>(backend: &B) -> Result<()> {
    let service_error = |message: String| KeyError::Service {
        backend: backend.kind(),
        status: None,
        message,
        transient: false,
    };
    let probe = ksec_crypto::rand::secret(32).map_err(|e| service_error(e.to_string()))?;
    let ctx = WrapContext::new().with("ksec", "health");
    let w = backend.wrap(&probe, &ctx).await?;
    if backend.unwrap(&w, &ctx).await? != probe {
        return Err(service_error(
            "health probe: unwrap returned other bytes than were wrapped".into(),
        ));
    }
    Ok(())
}

/// Entry points for the fuzz targets and benchmarks: not API, may change in any
/// release.
#[doc(hidden)]
pub mod internal {
    /// The AWS shared config/credentials file parser (INI) on outside text.
    pub fn parse_aws_profiles(
        text: &str,
        config_file: bool,
    ) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
        crate::awskms::credentials::parse_ini(text, config_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_aad_is_unambiguous_and_ordered() {
        let a = WrapContext::new().with("ab", "c").with("x", "y");
        let b = WrapContext::new().with("a", "bc").with("x", "y");
        assert_ne!(a.aad(), b.aad());
        let c: WrapContext = [("x", "y"), ("ab", "c")].into_iter().collect();
        assert_eq!(a.aad(), c.aad());
        assert!(WrapContext::new().aad().is_empty());
    }
}
