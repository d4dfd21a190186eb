//! The one error type of this crate. Variants name what is wrong — the format and
//! line, the key path, the master key, the `.sops.yaml` file — and never contain a
//! secret value. They never name command-line flags either: a program that wraps
//! this crate adds its own hints (the `ksec` binary adds "use --ignore-mac").
use crate::Format;
use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be parsed in its format.
    #[error("{format} parse error: {}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Parse {
        /// The format being read.
        format: Format,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong there.
        message: String,
    },
    /// The file has no `sops` metadata.
    #[error("sops metadata not found: the file is not encrypted (or not in this format)")]
    MetadataNotFound,
    /// The file is already encrypted (it has a top-level `sops` key).
    #[error(
        "the file already has a top-level 'sops' entry (or 'sops_' keys): it is already encrypted"
    )]
    AlreadyEncrypted,
    /// The metadata block is malformed.
    #[error("invalid sops metadata: {message}")]
    Metadata {
        /// What is wrong, naming the field (`sops.lastmodified is missing`).
        message: String,
    },
    /// An `ENC[…]` value is malformed.
    #[error("the value at '{path}' is not a valid sops encrypted value: {reason}")]
    MalformedValue {
        /// The key path.
        path: String,
        /// Which field is wrong.
        reason: String,
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
    #[error("MAC mismatch: the file was changed without its key, or is damaged")]
    MacMismatch,
    /// The file has no MAC.
    #[error("the file has no MAC")]
    MacMissing,
    /// No master key (or not enough key groups) gave the data key.
    #[error(
        "could not decrypt the data key with any master key; tried:\n  {}",
        list_attempts(tried)
    )]
    NoKey {
        /// Every key tried and why it failed.
        tried: Vec<KeyAttempt>,
    },
    /// A data key given to [`LockedFile::unlock`](crate::LockedFile::unlock) does not open the file.
    #[error("the data key does not open this file (its MAC does not decrypt with it)")]
    WrongDataKey,
    /// A data key is not 32 bytes long.
    #[error("a data key must be 32 bytes, not {len}")]
    DataKeyLength {
        /// The length given.
        len: usize,
    },
    /// A key service could not use a master key.
    #[error("{reason}")]
    KeyService {
        /// Why (from age, gpg or the key's service; never key material).
        reason: String,
    },
    /// Wrapping the data key for a recipient failed.
    #[error("could not encrypt the data key for {recipient}: {reason}")]
    KeyWrap {
        /// The recipient (`age age1…`, `pgp FINGERPRINT`).
        recipient: String,
        /// Why.
        reason: String,
    },
    /// A key type this process has no key service for.
    #[error("cannot encrypt a data key for {key}: there is no key service for {kind} keys here (ksec handles age, pgp, and with network keys hc_vault and kms)")]
    UnsupportedKeyType {
        /// The key type (`kms`, `hc_vault`, …).
        kind: String,
        /// The key, as [`MasterKey::describe`](crate::MasterKey::describe) or the recipient text.
        key: String,
    },
    /// A recipient's text (a Vault URI, an encryption context) is malformed.
    #[error("invalid {kind} recipient {recipient:?}: {reason}")]
    InvalidRecipient {
        /// The key type (`hc_vault`, `kms`).
        kind: String,
        /// The text as given.
        recipient: String,
        /// What is wrong.
        reason: String,
    },
    /// Encryption was asked for without any recipient.
    #[error("no recipients to encrypt the data key for")]
    NoRecipients,
    /// More than one of the six encryption rules is set.
    #[error("more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex and encrypted_comment_regex is set; sops allows only one")]
    ConflictingRules,
    /// A rule's regular expression does not compile.
    #[error("{field}: invalid regular expression: {reason}")]
    InvalidRegex {
        /// Where it was given (`encrypted_regex`, `.sops.yaml: creation_rules[0].path_regex`).
        field: String,
        /// The regex engine's message.
        reason: String,
    },
    /// A `.sops.yaml` could not be read or understood.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong (with its line when it is a parse error).
        reason: String,
    },
    /// `.sops.yaml` has no creation rule for a file, and no recipient was given.
    #[error("no creation rule in {} matches {}", config.display(), file.display())]
    NoCreationRule {
        /// The configuration file.
        config: PathBuf,
        /// The file being encrypted.
        file: PathBuf,
    },
    /// Shamir secret sharing could not split or combine the data key.
    #[error("Shamir secret sharing: {reason}")]
    Shamir {
        /// What is wrong (threshold, shares).
        reason: String,
    },
    /// A value path (`["a"][0]`) is malformed or does not fit the document.
    #[error("path {path}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The document cannot be written in a format (dotenv is flat, INI has one
    /// level of sections, binary needs one `data` string).
    #[error("{reason}")]
    Emit {
        /// The format being written.
        format: Format,
        /// Which key does not fit, and why.
        reason: String,
    },
    /// An environment variable's value is not one this crate understands.
    #[error("{variable}: {reason}")]
    Environment {
        /// The variable (`SOPS_HC_VAULT_ALLOWLIST`, …).
        variable: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A file or folder could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A key group was named by an index the file does not have.
    #[error("the file has {groups} key group(s); there is no group {index}")]
    NoSuchGroup {
        /// The index asked for (0-based).
        index: usize,
        /// How many key groups the file has.
        groups: usize,
    },
    /// A change of key groups would leave a Shamir threshold above the number
    /// of groups, so that no one could decrypt the file.
    #[error("the Shamir threshold would be {threshold} with only {groups} key group(s): no one could decrypt the file")]
    ThresholdTooHigh {
        /// The threshold the file would have.
        threshold: u64,
        /// The key groups it would have.
        groups: usize,
    },
    /// A creation rule's `path_regex` does not reduce to a `.gitattributes` glob.
    #[error("{}: creation_rules[{rule}]{}", config.display(), match path_regex {
        Some(re) => format!(".path_regex {re} is not a literal directory or suffix"),
        None => " has no path_regex (it matches every file)".to_string(),
    })]
    PathRuleNotGlob {
        /// The configuration file.
        config: PathBuf,
        /// The rule's index in `creation_rules`.
        rule: usize,
        /// The rule's `path_regex`; `None` when it has none (it matches every file).
        path_regex: Option<String>,
    },
    /// `.sops.yaml` has no creation rules at all.
    #[error("{} has no creation rules", config.display())]
    NoCreationRules {
        /// The configuration file.
        config: PathBuf,
    },
    /// A plaintext buffer was given a name that is not a plain file name (it
    /// would put the plaintext outside the private folder).
    #[error("a plaintext buffer needs a plain file name, not {name:?}")]
    BufferName {
        /// The name given.
        name: PathBuf,
    },
    /// A crypto primitive failed.
    #[error(transparent)]
    Crypto(#[from] ksec_crypto::CryptoError),
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// One master key tried while recovering a data key, and why it did not work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttempt {
    /// The key, as [`MasterKey::describe`](crate::MasterKey::describe) gives it.
    pub key: String,
    /// Why it failed.
    pub reason: String,
}

impl std::fmt::Display for KeyAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

fn list_attempts(tried: &[KeyAttempt]) -> String {
    if tried.is_empty() {
        return "(no keys)".to_string();
    }
    tried
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

impl Error {
    pub(crate) fn metadata(message: impl Into<String>) -> Self {
        Error::Metadata {
            message: message.into(),
        }
    }

    pub(crate) fn key_service(reason: impl Into<String>) -> Self {
        Error::KeyService {
            reason: reason.into(),
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn path(path: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Path {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}
