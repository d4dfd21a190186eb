//! SOPS-compatible encrypted files.
//!
//! What it models: a document tree ([`tree`]) read from and written to five stores
//! ([`stores`]: YAML, JSON, dotenv, INI, binary); the value cipher
//! `ENC[AES256_GCM,…]` ([`cipher`]); the rules that pick which values are
//! encrypted and the MAC over the plaintext ([`rules`]); the `sops` metadata block in
//! every layout sops 3.0–3.13 wrote ([`metadata`]); master keys (age through the
//! `age` crate, PGP through the `gpg` binary, Shamir across key groups: [`keys`]);
//! age plugins — `age1NAME1…` recipients, `AGE-PLUGIN-NAME-1…` identities, run
//! without prompts as `age-plugin-NAME` from `PATH` ([`keys::age_plugin`]);
//! `.sops.yaml` creation rules ([`config`]); and whole-file encrypt/decrypt
//! ([`file`]).
//!
//! Compatible with: files written by sops 3.0 through 3.13 are read; files written
//! here are read by sops 3.11+ and laid out the way sops writes them (YAML indent 4,
//! JSON with tabs, sorted flattened metadata in dotenv/INI) so mixed teams get
//! small diffs.
//!
//! Written by hand, and why: no maintained Rust YAML crate round-trips comments
//! (and `serde_yaml` is unmaintained), and sops's comment, key-order and block-scalar
//! behaviour must be matched, so [`stores::yaml`] owns a small YAML parse tree and an
//! emitter modelled on go-yaml v3's output. The JSON store has its own small parser
//! too, to reject duplicate keys and keep integers apart from floats as sops does.
//! Both are fuzzed (`fuzz/`) and exercised by property tests.
//!
//! How it is tested: unit and property tests next to the code; `tests/ksec-sops.rs`
//! decrypts every fixture written by the real sops (`$KSEC_FIXTURES/sops`), and
//! runs interop round trips with the real `sops`, `age`/`age-keygen` and `gpg`
//! binaries in both directions for every store. With the `test-plugin` feature
//! the crate also builds `age-plugin-ksectest`, a toy age plugin (not secure,
//! for tests only) that the tests drive through ksec, the `age` CLI and sops to
//! check plugin recipients and identities both ways.
//!
//! Performance (`scripts/bench-sops`, one age recipient, release build, same run
//! as sops 3.11.0 on a 2-core machine): 10 MiB YAML encrypts in 2.7 s against
//! 89.6 s for sops (0.03×) using 212 MiB against 1.9 GiB, and decrypts in 2.5 s
//! against 131 s; 1 MiB JSON encrypts in 0.35 s against 27.6 s (14 MiB JSON: 2.5 s
//! and 216 MiB for ksec; sops had not finished after 14 minutes); 1 KiB files are
//! faster than sops in both directions with a fifth of its memory. Parsing and
//! emitting are linear; the metadata is appended to the output without copying
//! the tree.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cipher;
pub mod config;
pub mod file;
pub mod keys;
pub mod metadata;
pub mod rules;
pub mod stores;
pub mod time;
pub mod tree;

pub use file::Format;
pub use tree::{Document, Item, Value};

/// Errors of this crate. They name the file part, key path or line that is wrong
/// and never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be parsed in its format.
    #[error("{format} parse error: {msg}")]
    Parse {
        /// `YAML`, `JSON`, …
        format: &'static str,
        /// What is wrong and where (line, key).
        msg: String,
    },
    /// The file has no `sops` metadata.
    #[error("sops metadata not found: the file is not encrypted (or not in this format)")]
    MetadataNotFound,
    /// The file is already encrypted (it has a top-level `sops` key).
    #[error("the file already has a top-level 'sops' entry (or 'sops_' keys): it is already encrypted; use edit, or rename that entry if it is plain data")]
    AlreadyEncrypted,
    /// The metadata block is malformed.
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    /// An `ENC[…]` value is malformed.
    #[error("the value at '{path}' is not a valid sops encrypted value: {why}")]
    MalformedValue {
        /// The key path.
        path: String,
        /// Which field is wrong.
        why: String,
    },
    /// A value did not authenticate under the data key.
    #[error("the value at '{path}' does not decrypt with this file's data key (was it moved or altered?)")]
    ValueDecrypt {
        /// The key path.
        path: String,
    },
    /// A value that the rules say is encrypted is not a string.
    #[error("the value at '{path}' should be encrypted but is a plain {kind}")]
    NotEncrypted {
        /// The key path.
        path: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The MAC does not match the content.
    #[error("MAC mismatch: the file was changed without its key, or is damaged (use --ignore-mac to read it anyway)")]
    MacMismatch,
    /// The file has no MAC.
    #[error("the file has no MAC (use --ignore-mac to read it anyway)")]
    MacMissing,
    /// No master key could unwrap the data key.
    #[error("could not decrypt the data key with any master key; tried:\n  {}", if tried.is_empty() { "(no keys)".to_string() } else { tried.join("\n  ") })]
    NoKey {
        /// Every key tried and why it failed.
        tried: Vec<String>,
    },
    /// Wrapping the data key for a recipient failed.
    #[error("could not encrypt the data key for {recipient}: {why}")]
    KeyWrap {
        /// The recipient.
        recipient: String,
        /// Why.
        why: String,
    },
    /// Configuration (`.sops.yaml`, options) is invalid.
    #[error("{0}")]
    Config(String),
    /// The top level is not a mapping.
    #[error("{0}")]
    Unsupported(String),
    /// A crypto primitive failed.
    #[error(transparent)]
    Crypto(#[from] ksec_crypto::CryptoError),
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error: {0}")]
    Internal(&'static str),
}
