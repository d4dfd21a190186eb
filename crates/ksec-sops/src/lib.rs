//! SOPS-compatible encrypted files.
//!
//! What it models: a document tree ([`Document`]) read from and written to five
//! formats ([`Format`]: YAML, JSON, dotenv, INI, binary); the value cipher
//! `ENC[AES256_GCM,…]`; the rules that pick which values are encrypted and the
//! MAC over the plaintext ([`Rules`]); the `sops` metadata block in every layout
//! sops 3.0–3.13 wrote ([`Metadata`], [`MasterKey`]); master keys ([`keys`]: age
//! through the `age` crate, age plugins run without prompts as `age-plugin-NAME`
//! from `PATH`, PGP through the `gpg` binary, Shamir secret sharing across key
//! groups); `.sops.yaml` creation rules ([`Config`]) and how flags override them
//! ([`EncryptionOverrides`]); and value paths such as `["a"][0]` ([`TreePath`]).
//!
//! The front door is small, like sops's `decrypt` package: [`decrypt`] and
//! [`Decryptor`] to read, [`Encryptor`] to write. Opening is sans-IO when the
//! caller wants it: a [`LockedFile`] lists the master keys that could open it
//! ([`MasterKey::identity`]: age recipient, PGP fingerprint, KMS ARN, Vault
//! address and key…), an [`Unlocker`] collects the data key (or Shamir shares)
//! from wherever the caller fetched it, and [`LockedFile::unlock`] decrypts and
//! checks the MAC. Local age and PGP keys go through the same path
//! ([`Unlocker::try_keyring`]).
//!
//! AWS KMS and Vault / OpenBao Transit keys (`kms`, `hc_vault`) are read,
//! written and compared as sops does ([`Recipient::kms`],
//! [`Recipient::hc_vault`], `.sops.yaml`); with the `network-keys` feature the
//! `network` module reaches them through `ksec-keys` (a remote [`KeyService`]
//! whose keys are tried after the local ones, all at once, on one runtime) and
//! `network::decrypt_from_env` is the one-call entry point for other programs.
//! [`merge`] merges three versions of an encrypted file by their plaintext (the
//! git merge driver's core), and [`git`] derives the `.gitattributes` lines and
//! the diff driver's text. The commands of sops that change who can open a file
//! are planned on the locked file, then applied to the open one ([`Rotation`],
//! [`KeyUpdate`] against a creation rule, [`GroupsUpdate`]); [`batch`] finds
//! the files of a folder a command works on, runs it on every core and sums up
//! what happened; [`buffer`] holds plaintext in a private folder while an
//! editor or a command needs it as a file.
//!
//! ```
//! # fn main() -> Result<(), ksec_sops::Error> {
//! use ksec_sops::keys::age::{self, AgeService};
//! use ksec_sops::{decrypt, Encryptor, Format, KeyIdentity, Keyring, LockedFile, MacCheck, Recipient};
//!
//! // An age key pair, as `age-keygen` makes one, and a keyring that holds it.
//! let (identity, recipient) = age::generate();
//! let mut identities = AgeService::empty();
//! identities.add_identities(&identity, "example key");
//! let keys = Keyring::new(vec![Box::new(identities)]);
//!
//! let plain = b"user: admin\npassword: hunter2\n";
//! let file = Encryptor::new()
//!     .recipients([Recipient::age(&recipient)])
//!     .encrypt(plain, Format::Yaml, &keys)?;
//! assert!(!String::from_utf8_lossy(&file).contains("hunter2"));
//! assert_eq!(decrypt(&file, Format::Yaml, &keys)?.as_slice(), plain);
//!
//! // The same, sans-IO: list the keys, fetch the data key, unlock.
//! let locked = LockedFile::parse(&file, Format::Yaml)?;
//! let mut unlocker = locked.unlocker();
//! let pending: Vec<_> = unlocker.pending().collect();
//! for (group, key) in pending {
//!     assert_eq!(key.identity(), KeyIdentity::Age { recipient: recipient.clone() });
//!     match keys.unwrap(key) {
//!         Ok(secret) => unlocker.insert(group, secret),
//!         Err(e) => unlocker.failed(key, e),
//!     }
//! }
//! let data_key = unlocker.finish()?;
//! let open = locked.unlock(data_key, MacCheck::Verify)?;
//! let password = open.document().get(&"[\"password\"]".parse()?)?;
//! assert_eq!(password.as_str(), Some("hunter2"));
//! # Ok(()) }
//! ```
//!
//! Compatible with: files written by sops 3.0 through 3.13 are read; files written
//! here are read by sops 3.11+ and laid out the way sops writes them (YAML indent 4,
//! JSON with tabs, sorted flattened metadata in dotenv/INI) so mixed teams get
//! small diffs.
//!
//! Written by hand, and why: no maintained Rust YAML crate round-trips comments
//! (and `serde_yaml` is unmaintained), and sops's comment, key-order and block-scalar
//! behaviour must be matched, so the YAML store owns a small parse tree and an
//! emitter modelled on go-yaml v3's output. The JSON store has its own small parser
//! too, to reject duplicate keys and keep integers apart from floats as sops does.
//!
//! Bounded input: every reader bounds what it builds. YAML nests at most 256
//! levels and expands aliases under go-yaml v3's "excessive aliasing" rule (the
//! share of nodes that come from aliases), so every file sops accepts is
//! accepted, plus hard caps on the nodes and text that aliases may copy; a
//! "billion laughs" file is refused with its line, having cost a few thousand
//! nodes. JSON nests at most 512 levels; the list indices of flattened dotenv/INI
//! metadata are bounded by the file; everything else grows linearly.
//!
//! How it is tested: unit and property tests next to the code; `tests/ksec-sops.rs`
//! decrypts every fixture written by the real sops (`$KSEC_FIXTURES/sops`), and
//! runs interop round trips with the real `sops`, `age`/`age-keygen` and `gpg`
//! binaries in both directions for every store; `tests/alloc.rs` measures that
//! parsing allocates at most a fixed multiple of its input; every parser has a
//! fuzz target in `/fuzz`. With the `test-plugin` feature the crate also builds
//! `age-plugin-ksectest`, a toy age plugin (not secure, for tests only) that the
//! tests drive through ksec, the `age` CLI and sops to check plugin recipients
//! and identities both ways.
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

pub mod batch;
pub mod buffer;
mod cipher;
mod config;
mod encryptor;
mod error;
mod format;
pub mod git;
pub mod keys;
mod locked;
mod master_key;
pub mod merge;
mod metadata;
#[cfg(feature = "network-keys")]
pub mod network;
mod options;
mod pass;
mod path;
mod rekey;
mod rules;
mod stores;
mod time;
mod tree;

pub use config::{Config, CreationRule, PathGlob};
pub use encryptor::{Encryptor, SOPS_VERSION};
pub use error::{Error, KeyAttempt};
pub use format::{EmitOptions, Format};
pub use keys::{
    parse_encryption_context, DataKey, KeyChanges, KeyService, Keyring, Recipient, RecipientChanges,
};
pub use locked::{decrypt, is_encrypted, Decryptor, LockedFile, MacCheck, OpenFile, Unlocker};
pub use master_key::{KeyIdentity, MasterKey};
pub use metadata::{KeyGroup, Metadata};
pub use options::EncryptionOverrides;
pub use path::{PathSegment, TreePath};
pub use rekey::{GroupChange, GroupsUpdate, KeyUpdate, Rotation, Updated};
pub use rules::Rules;
pub use tree::{Document, Item, Value};
pub use zeroize::Zeroizing;

/// Entry points for the fuzz targets and benchmarks; not part of the API.
#[doc(hidden)]
pub mod internal {
    use crate::Error;

    /// Parses an `ENC[AES256_GCM,…]` value and formats it again.
    pub fn reformat_enc_value(text: &str) -> Result<String, Error> {
        crate::cipher::EncValue::parse(text)
            .map(|v| v.format())
            .map_err(|reason| Error::MalformedValue {
                path: String::new(),
                reason,
            })
    }

    /// Parses YAML and returns go-yaml's (decoded, aliased) node counts of its
    /// last document, as the aliasing rule sees them.
    pub fn yaml_node_counts(input: &[u8]) -> Result<(u64, u64), Error> {
        crate::stores::yaml::node_counts(input)
    }

    /// At most this many YAML nodes may come from alias expansion.
    pub const MAX_ALIASED_NODES: u64 = crate::stores::yaml::MAX_ALIASED_NODES;

    /// Merges three plaintext documents as the merge driver does; returns the
    /// merged document and the conflicting paths.
    pub fn merge_documents(
        base: &crate::Document,
        ours: &crate::Document,
        theirs: &crate::Document,
    ) -> (crate::Document, Vec<String>) {
        let mut conflicts = Vec::new();
        let merged = crate::merge::merge_plain(base, ours, theirs, &mut conflicts);
        (merged, conflicts)
    }

    /// The `.gitattributes` glob a `path_regex` reduces to, if any.
    pub fn path_regex_glob(regex: &str) -> Option<String> {
        crate::config::regex_to_glob(regex)
    }
}
