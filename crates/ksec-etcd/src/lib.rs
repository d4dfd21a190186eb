//! Encryption at rest in etcd, as kube-apiserver does it: prove what is stored, and
//! recover it.
//!
//! - [`encryption_config`]: the `EncryptionConfiguration` file, checked with the
//!   apiserver's own rules and messages ([`encryption_config::check`], every finding
//!   with its field path), typed for decryption, and generated with fresh keys.
//! - [`storage`]: how a stored value is protected, read from the value alone: plaintext
//!   (`identity`), `aescbc`, `aesgcm`, `secretbox` with their key names, KMS v1 with its
//!   provider, KMS v2 with its provider, key id and DEK-source type.
//! - [`decrypt`]: the apiserver's read path: each provider's cipher, KMS data keys
//!   unwrapped by the provider's plugin over its unix socket or by a
//!   [`ksec_keys::KeyBackend`]; [`object`] decodes the plaintext (`k8s\0` protobuf
//!   `v1.Secret`/`ConfigMap`, or JSON) into manifests.
//! - [`etcd`] (a read-only client: paginated listings and the history etcd still keeps)
//!   and [`snapshot`] (a bbolt reader for `etcdctl snapshot save` files, no etcd needed),
//!   behind one [`source::Source`], opened from a [`source::Location`], that reads a
//!   [`source::Scope`] of resources where kube-apiserver keeps them
//!   ([`registry::resource_prefix`]).
//! - [`audit::audit`] turns every value of a scope into a verdict and a summary, and
//!   [`recover::recover`] decrypts every value into manifests; both stream values as
//!   they are read and report progress to a [`source::ReadObserver`].
//!
//! ```
//! use ksec_etcd::decrypt::Decryptor;
//! use ksec_etcd::encryption_config::EncryptionConfiguration;
//! use ksec_etcd::object::{self, Object};
//! use ksec_etcd::storage::{classify, Storage};
//!
//! // A value as kube-apiserver's secretbox provider writes it: prefix, nonce, box.
//! let key = [7u8; 32];
//! let nonce = [1u8; 24];
//! let mut value = b"k8s:enc:secretbox:v1:key1:".to_vec();
//! value.extend_from_slice(&nonce);
//! value.extend(ksec_crypto::secretbox::seal(&key, &nonce, br#"{"kind":"Widget"}"#)?);
//!
//! // Auditing needs no key.
//! assert_eq!(classify(&value)?, Storage::Secretbox { key: "key1".into() });
//!
//! // Decrypting needs the EncryptionConfiguration.
//! let yaml = format!(
//!     "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
//!      - resources: [widgets.example.com]\n  providers:\n  - secretbox:\n      keys:\n      \
//!      - {{name: key1, secret: {}}}\n",
//!     base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
//! );
//! let config = EncryptionConfiguration::from_text(yaml.as_bytes(), "enc.yaml")?;
//! let decryptor = Decryptor::new(config);
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let plain = rt.block_on(decryptor.decrypt(
//!     "widgets.example.com",
//!     b"/registry/example.com/widgets/default/w1",
//!     &value,
//! ))?;
//! let Object::Json(widget) = object::decode(plain.plaintext.expose())? else { panic!() };
//! assert_eq!(widget["kind"], "Widget");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Compatibility: the value formats are kube-apiserver's, byte for byte (read from
//! `k8s.io/apiserver/pkg/storage/value/encrypt`); the etcd protos are etcd's (trimmed,
//! see `proto/README.md`); the snapshot reader follows bbolt's on-disk layout.
//!
//! Testing: unit and property tests next to the code. The crate's integration tests
//! (`tests/ksec-etcd/`) decrypt the real values kube-apiserver 1.27 and 1.28 wrote under
//! KMS v2 (`$KSEC_FIXTURES/kubernetes/kmsv2-legacy`), and read a real etcd 3.4 started
//! on 127.0.0.1 (pages, history, `etcdctl snapshot save` files) against what was written
//! and against `etcdctl get`. The `ksec` binary's tests fill a real etcd through an
//! independent Python writer (`cryptography`, PyNaCl, grpcio through `ksec kms serve`)
//! with every format, and audit and decrypt it live and from snapshots. The bbolt reader
//! and the value decoders have fuzz targets (`fuzz/fuzz_targets/etcd_*`).
#![forbid(unsafe_code)]

pub mod audit;
mod bbolt;
pub mod decrypt;
pub mod encryption_config;
mod error;
pub mod etcd;
mod kms;
mod kmsv2;
pub mod object;
pub mod recover;
pub mod registry;
pub mod snapshot;
pub mod source;
pub mod storage;
mod wire;

pub use error::{Error, Result, SnapshotError, ValueError};

/// The EncryptionConfiguration check other tools build on (`ksec scan` among them):
/// [`check(text, options)`](encryption_config::check) returns every finding with its
/// field path ([`check_document`] on a parsed document). The same items as in
/// [`encryption_config`], kept stable at the root.
pub use encryption_config::{check, check_document, CheckOptions, Finding, FindingKind, Severity};

/// Code generated from the vendored etcd protos (`proto/`), committed so that a build
/// needs no code generator; a test regenerates it and fails when it is stale.
mod proto {
    pub(crate) mod mvccpb {
        #![allow(missing_docs, unreachable_pub, clippy::all)]
        include!("proto/mvccpb.rs");

        impl std::fmt::Debug for KeyValue {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("KeyValue")
                    .field("key", &String::from_utf8_lossy(&self.key))
                    .field("mod_revision", &self.mod_revision)
                    .field(
                        "value",
                        &format_args!("{} bytes, redacted", self.value.len()),
                    )
                    .finish_non_exhaustive()
            }
        }
    }
    pub(crate) mod etcdserverpb {
        #![allow(missing_docs, unreachable_pub, clippy::all)]
        include!("proto/etcdserverpb.rs");
    }
}

/// One stored value: an etcd key at one revision.
#[derive(Clone)]
pub struct Record {
    /// The etcd key (`/registry/secrets/NAMESPACE/NAME`).
    pub key: bytes::Bytes,
    /// The value as stored.
    pub value: bytes::Bytes,
    /// The revision it was written at.
    pub mod_revision: i64,
    /// The revision the key was created at.
    pub create_revision: i64,
    /// How many times the key was written since its creation.
    pub version: i64,
    /// True when this is the key's value now (false for a value only history keeps).
    pub current: bool,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("mod_revision", &self.mod_revision)
            .field("current", &self.current)
            .field(
                "value",
                &format_args!("{} bytes, redacted", self.value.len()),
            )
            .finish()
    }
}

/// A 16-byte digest of an etcd key: the per-key tables of history and snapshot reads
/// hold these instead of the keys.
pub(crate) fn key_hash(key: &[u8]) -> [u8; 16] {
    let d = ksec_crypto::hash::sha256(key);
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Hooks for the fuzz targets and benchmarks. Not part of the API.
#[doc(hidden)]
pub mod internal {
    /// Reads an in-memory bbolt database as a snapshot (every revision under `/`).
    pub fn read_bolt(bytes: &[u8]) -> Result<usize, crate::SnapshotError> {
        crate::snapshot::scan_bytes(bytes, b"/", true)
    }

    /// Every decoder of stored values on `bytes`: classification, the KMS v2
    /// `EncryptedObject`, the plaintext object decoder and its manifests, and the read
    /// path of a configuration with one key per local provider (the key name `k`).
    pub fn decode_value(bytes: &[u8]) {
        let _ = crate::storage::classify(bytes);
        let _ = crate::kmsv2::EncryptedObject::decode(bytes);
        if let Ok(o) = crate::object::decode(bytes) {
            let _ = o.manifest(true);
            let _ = o.manifest(false);
        }
        DECRYPTOR.with(|(rt, d)| {
            if let Ok(p) = rt.block_on(d.decrypt("secrets", b"/registry/secrets/ns/name", bytes)) {
                let _ = crate::object::decode(p.plaintext.expose());
            }
        });
    }

    thread_local! {
        static DECRYPTOR: (tokio::runtime::Runtime, crate::decrypt::Decryptor) = {
            let k = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
            let text = format!(
                "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {{keys: [{{name: k, secret: {k}}}]}}\n  - aescbc: {{keys: [{{name: k, secret: {k}}}]}}\n  - secretbox: {{keys: [{{name: k, secret: {k}}}]}}\n  - identity: {{}}\n"
            );
            let config = crate::encryption_config::EncryptionConfiguration::from_text(text.as_bytes(), "fuzz")
                .expect("the fuzz configuration is valid");
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime");
            (rt, crate::decrypt::Decryptor::new(config))
        };
    }
}
