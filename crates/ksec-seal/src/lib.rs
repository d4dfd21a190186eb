//! Sealed Secrets, compatible with Bitnami's kubeseal and controller
//! (`bitnami.com/v1alpha1`), byte for byte.
//!
//! What it models: a [`Secret`] is sealed for one controller's public key into a
//! [`SealedSecret`] that is safe to commit; only the controller's private keys open it,
//! and only under the name and namespace its [`Scope`] binds. The verbs are kubeseal's
//! (`pkg/kubeseal`), as library functions:
//!
//! - reading manifests: [`read_secrets`], [`read_sealed_secrets`] (multi-document YAML,
//!   JSON streams, `kind: List`), [`docs`] underneath;
//! - [`Sealer`]: seal a Secret, a raw value, or merge into an existing SealedSecret;
//! - [`unseal`]: open with private keys, saying which key opened each value
//!   ([`unseal_all`] for a whole manifest);
//! - [`reseal`]: move every value (and the legacy `spec.data` blob) to a new key, keeping
//!   `spec.template` byte for byte ([`reseal_manifest`] for whole files, [`reseal_files`]
//!   for many, counted);
//! - [`render`]: kubeseal's exact JSON and YAML layout, so files diff cleanly;
//! - [`hybrid`]: the sealed value format; [`keys`]: key pairs and certificates in the
//!   controller's formats; [`backup`]: encrypted backups of the sealing keys (age, with
//!   the `age` feature) and restore planning;
//! - files: [`load_key_files`], [`open_backup`], [`backup_from_files`] and
//!   [`read_certificate`] (a file, or a URL with the `fetch` feature), as kubeseal's
//!   `--cert` and `--recovery-private-key` take them;
//! - `cluster` (feature `cluster`): the controller through the API server's service
//!   proxy (certificate, verify, rotate) and the key Secrets of a cluster (read for a
//!   backup, restored with rollback), on `ksec-kube`'s client.
//!
//! ```
//! use ksec_crypto::rsa::RsaPrivateKey;
//! use ksec_seal::{read_secrets, reseal, unseal, Scope, Sealer};
//!
//! let manifest = b"apiVersion: v1
//! kind: Secret
//! metadata: {name: db, namespace: prod}
//! stringData: {password: hunter2}
//! ";
//! let secret = read_secrets(manifest, "secret.yaml")?.remove(0);
//! // The controller's key (RSA-4096 in a cluster; smaller here to keep the example fast).
//! let key = RsaPrivateKey::generate(2048)?;
//! let sealed = Sealer::new(key.public_key().clone()).seal(secret)?;
//! assert_eq!(sealed.scope(), Scope::Strict);
//!
//! let opened = unseal(&sealed, &[&key])?;
//! assert_eq!(opened.secret.data["password"].expose(), b"hunter2");
//!
//! // Moved under another namespace, the values do not open: the scope is bound in.
//! let mut moved = sealed.clone();
//! moved.metadata.set_namespace("dev");
//! assert!(unseal(&moved, &[&key]).is_err());
//!
//! // Key rotation: re-seal for a new key, offline.
//! let new_key = RsaPrivateKey::generate(2048)?;
//! let rotated = reseal(&sealed, &[&key], new_key.public_key())?;
//! assert_eq!(unseal(&rotated, &[&new_key])?.secret.data["password"].expose(), b"hunter2");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! All cryptography goes through `ksec-crypto` (aws-lc-rs, constant-time RSA). Errors
//! ([`Error`]) name the file, document, object and key, never a value.
//!
//! Tests: unit and property tests here; `tests/ksec-seal.rs` runs the readers on random
//! input and seals/unseals against three independent implementations (kubesealpy,
//! aes-gcm-rsa-oaep, @linode/kubeseal-encrypt); the `ksec` binary's tests do the same
//! through the command line. Fuzz targets in `/fuzz` (`seal_*`).
#![forbid(unsafe_code)]

pub mod backup;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod docs;
mod error;
mod files;
pub mod hybrid;
pub mod keys;
mod meta;
pub mod render;
mod reseal;
mod scope;
mod seal;
mod sealed;
mod secret;
mod template;
mod unseal;

#[cfg(test)]
mod test_keys;

pub use docs::{read_one_sealed_secret, read_sealed_secrets, read_secrets};
pub use error::{Cause, Error, Result, ValueProblem};
#[cfg(feature = "age")]
pub use files::read_identities;
pub use files::{
    backup_from_files, load_key_files, manifest_files, open_backup, output_for_certificate,
    read_certificate,
};
pub use meta::{ObjectMeta, LAST_APPLIED_ANNOTATIONS};
pub use render::Format;
pub use reseal::{
    reseal, reseal_files, reseal_manifest, FileReseal, ResealSummary, ResealedManifest, WriteResult,
};
pub use scope::{Scope, CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
pub use seal::{MergeReport, MergedManifest, SealOptions, Sealer};
pub use sealed::{SealedSecret, SecretTemplate, API_VERSION, KIND};
pub use secret::Secret;
pub use unseal::{unseal, unseal_all, Unsealed};

/// Entry points for fuzz targets and benchmarks; not a stable API.
#[doc(hidden)]
pub mod internal {
    /// Renders a `spec.template.data` template over decrypted values.
    pub use crate::template::render as render_template;
}
