//! The crate's one error type. Per-object problems ([`ValueError`]) are typed on their
//! own, because audit and decrypt report them next to the etcd key and carry on.
//! Messages name the file, endpoint, provider, key name or etcd key; they never contain
//! key material or stored values.
use crate::encryption_config::Finding;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An EncryptionConfiguration could not be read as one YAML or JSON document.
    #[error("{origin}: {reason}")]
    ConfigSyntax {
        /// The file (or `(text)`).
        origin: String,
        /// What the parser said.
        reason: String,
    },
    /// An EncryptionConfiguration that kube-apiserver would refuse.
    #[error("{origin}: kube-apiserver would refuse this EncryptionConfiguration: {}", errors(.findings))]
    ConfigInvalid {
        /// The file.
        origin: String,
        /// Every error found, with its field path.
        findings: Vec<Finding>,
    },
    /// `generate` was asked for a provider that does not exist.
    #[error("unknown provider {provider:?}: expected kms, secretbox, aesgcm, aescbc or identity")]
    UnknownProvider {
        /// The name given.
        provider: String,
    },
    /// A KMS key backend was given for a provider name the configuration does not have.
    #[error(
        "the EncryptionConfiguration has no KMS provider named {provider:?} (it has: {known})"
    )]
    NoSuchKmsProvider {
        /// The name given.
        provider: String,
        /// The names it has, comma-separated.
        known: String,
    },
    /// One stored value could not be classified or decrypted.
    #[error("{key}: {problem}")]
    Value {
        /// The etcd key.
        key: String,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// etcd could not be reached, or refused a request.
    #[error("etcd at {endpoints}: {reason}")]
    Etcd {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// What failed.
        reason: String,
    },
    /// A TLS file for the etcd connection is missing or unusable.
    #[error("{}: {reason}", .path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A snapshot file could not be read.
    #[error("snapshot {}: {source}", .path.display())]
    SnapshotIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is not a readable etcd snapshot.
    #[error("snapshot {}: {problem}", .path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: SnapshotError,
    },
    /// Writing recovered objects failed (the caller's writer: the caller knows its name).
    #[error(transparent)]
    Write(std::io::Error),
    /// The system random number generator failed (generating keys).
    #[error(transparent)]
    Crypto(#[from] ksec_crypto::CryptoError),
}

fn errors(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why one stored value could not be classified or decrypted. The etcd key is reported
/// next to it (see [`Error::Value`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    #[error("the stored value is empty")]
    Empty,
    /// The value ends before a part it must have.
    #[error("the stored value is truncated: {what} needs {need} bytes, {have} are left")]
    Truncated {
        /// The part (`nonce`, `encrypted DEK`, …).
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// An encryption prefix kube-apiserver does not write.
    #[error("unknown encryption prefix {prefix:?} (kube-apiserver writes k8s:enc:aescbc|aesgcm|secretbox:v1:, k8s:enc:kms:v1: and k8s:enc:kms:v2:)")]
    UnknownPrefix {
        /// The prefix as stored (up to the provider's version).
        prefix: String,
    },
    /// The configuration lists no provider of this kind for this resource.
    #[error("stored by {provider} {name:?}, but the EncryptionConfiguration has no such provider for {resource:?}")]
    NoProvider {
        /// `aescbc`, `aesgcm`, `secretbox`, `kms v1`, `kms v2`.
        provider: &'static str,
        /// Key name or KMS provider name in the prefix.
        name: String,
        /// The resource looked up.
        resource: String,
    },
    /// The provider is configured, but not the key the value names.
    #[error("stored under {provider} key {name:?}, which the EncryptionConfiguration does not have (a removed key?)")]
    UnknownKey {
        /// `aescbc`, `aesgcm`, `secretbox`.
        provider: &'static str,
        /// The key name in the prefix.
        name: String,
    },
    /// Authenticated decryption failed: another key with the same name, or altered data
    /// (for AES-GCM and KMS also a value moved to another etcd key).
    #[error("{provider} key {name:?} does not open it (another key under this name, a value copied from another etcd key, or altered data)")]
    Decrypt {
        /// The provider kind.
        provider: &'static str,
        /// The key or KMS provider name.
        name: String,
    },
    /// Decryption gave something that is not a stored object (AES-CBC has no
    /// authentication: a wrong key usually shows this way).
    #[error("{provider} key {name:?} decrypts it to something that is not a Kubernetes object: probably the wrong key")]
    NotAnObject {
        /// The provider kind.
        provider: &'static str,
        /// The key or KMS provider name.
        name: String,
    },
    /// A KMS v2 value whose `EncryptedObject` is malformed or fails the apiserver's checks.
    #[error("invalid KMS v2 EncryptedObject: {reason}")]
    KmsV2Object {
        /// What is wrong.
        reason: String,
    },
    /// The KMS (plugin or key backend) could not decrypt the data key.
    #[error("KMS provider {provider:?} could not decrypt the data key: {reason}")]
    Kms {
        /// The KMS provider name.
        provider: String,
        /// What it said (never key material).
        reason: String,
    },
    /// A decrypted or plaintext value that is not a decodable Kubernetes object.
    #[error("not a decodable Kubernetes object: {reason}")]
    Object {
        /// What is wrong.
        reason: String,
    },
}

/// Why a snapshot file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The trailing SHA-256 does not match the database.
    #[error("the SHA-256 at the end of the file does not match the database: the file is damaged or was altered")]
    HashMismatch,
    /// Neither meta page is a valid bbolt meta page.
    #[error("not a bbolt database (etcd's backend): {reason}")]
    NotBolt {
        /// What is wrong with the meta pages.
        reason: String,
    },
    /// A page is out of range or malformed.
    #[error("page {page}: {reason}")]
    Page {
        /// The page id.
        page: u64,
        /// What is wrong.
        reason: String,
    },
    /// The database has no `key` bucket: not an etcd v3 backend.
    #[error("no `key` bucket: not an etcd v3 database")]
    NoKeyBucket,
    /// An entry of the `key` bucket is malformed.
    #[error("revision entry {entry}: {reason}")]
    Entry {
        /// The revision key, in hex.
        entry: String,
        /// What is wrong.
        reason: String,
    },
}
