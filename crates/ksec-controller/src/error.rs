//! The one error type of the controller: bad settings, failed API calls (the
//! `kube::Error` kept as the source), and why a SealedSecret could not be synced. The
//! messages of the last kind go into the SealedSecret's status and events, so they name
//! objects and keys, never values; none names a command-line flag (the `ksec` binary
//! maps [`Setting`]s to its flags).
use std::fmt;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A setting of the controller, for messages about bad values. The `ksec controller`
/// command maps each to its flag (`--key-size`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// RSA size of new keys.
    KeySize,
    /// Name prefix of key Secrets.
    KeyPrefix,
    /// Which key counts as the newest.
    KeyOrderPriority,
    /// A new key at start if the newest is older than this time.
    KeyCutoffTime,
    /// Extra labels on new key Secrets.
    PrivateKeyLabels,
    /// Extra annotations on new key Secrets.
    PrivateKeyAnnotations,
    /// Requests per second to /v1/verify and /v1/rotate.
    RateLimit,
    /// Leader election: lease duration and renewal interval.
    Lease,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::KeySize => "key size",
            Setting::KeyPrefix => "key prefix",
            Setting::KeyOrderPriority => "key order priority",
            Setting::KeyCutoffTime => "key cutoff time",
            Setting::PrivateKeyLabels => "private key labels",
            Setting::PrivateKeyAnnotations => "private key annotations",
            Setting::RateLimit => "rate limit",
            Setting::Lease => "leader election lease",
        })
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting that cannot be used.
    #[error("{setting}: {problem}")]
    Setting {
        /// Which setting.
        setting: Setting,
        /// What is wrong with its value and what would work.
        problem: String,
    },
    /// A duration in ksec's syntax where the controller takes Go's (no `d` unit), so
    /// that settings keep working with Bitnami's controller.
    #[error("{value:?} is not a duration in Go's syntax: Go has no d (days) unit; use hours (720h for 30 days)")]
    DaysInGoDuration {
        /// The text as given.
        value: String,
    },
    /// A duration that does not parse.
    #[error(transparent)]
    Duration(#[from] ksec_text::Error),
    /// A listen address that is neither Go's `:PORT` nor `HOST:PORT`.
    #[error("{value:?} is not a listen address (examples: :8080, 127.0.0.1:8080)")]
    ListenAddress {
        /// The text as given.
        value: String,
    },
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What the controller was doing (`list key Secrets`).
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A sealing key could not be generated or written as a key Secret.
    #[error("sealing keys: {source}")]
    Keys {
        /// The cause.
        #[source]
        source: ksec_seal::Error,
    },
    /// A generated key did not make a valid key Secret object (a bug; the object is not
    /// quoted, it holds the private key).
    #[error("sealing keys: cannot build the key Secret object")]
    KeySecretShape,
    /// Key generation on a worker thread did not finish.
    #[error("sealing keys: key generation stopped: {0}")]
    KeyGenerationStopped(#[source] tokio::task::JoinError),
    /// An HTTP listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    // Why a SealedSecret is not synced (status, events, `/v1/verify`, `/v1/rotate`).
    /// The object is not a well-formed SealedSecret.
    #[error("malformed SealedSecret: {source}")]
    Malformed {
        /// What is wrong with it.
        #[source]
        source: ksec_seal::Error,
    },
    /// No sealing key is registered (yet).
    #[error("no sealing keys are registered yet")]
    NoKeys,
    /// No registered key opened the SealedSecret.
    #[error("{source} (tried {tried} key(s); was it sealed for another namespace or name, or with another controller's certificate?)")]
    Unseal {
        /// How many keys were tried.
        tried: usize,
        /// Which values failed and why.
        #[source]
        source: ksec_seal::Error,
    },
    /// Re-sealing for `/v1/rotate` failed (a value did not open).
    #[error("{source}")]
    Reseal {
        /// Which value failed and why.
        #[source]
        source: ksec_seal::Error,
    },
    /// The object could not be turned into JSON to read it as a SealedSecret.
    #[error("malformed SealedSecret: cannot encode it as JSON: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Unsealing on a worker thread did not finish.
    #[error("unsealing stopped: {0}")]
    UnsealStopped(#[source] tokio::task::JoinError),
    /// The Secret exists and is not the controller's to write.
    #[error("Resource {name:?} already exists and is not managed by SealedSecret")]
    Unmanaged {
        /// The Secret's name.
        name: String,
    },
    /// The Secret could not be read or written.
    #[error("cannot {action} Secret {secret}: {source}")]
    Update {
        /// `read`, `create` or `update`.
        action: &'static str,
        /// `namespace/name` of the Secret.
        secret: String,
        /// The API's answer.
        #[source]
        source: kube::Error,
    },
    /// The Secret is immutable and its values changed: only deleting it helps.
    #[error("the Secret is immutable and its data changed; delete Secret {namespace}/{name} so the controller recreates it ({})", api_message(.source))]
    Immutable {
        /// Namespace of the Secret.
        namespace: String,
        /// Its name.
        name: String,
        /// The API server's refusal.
        #[source]
        source: kube::Error,
    },

    // Requests to /v1/verify and /v1/rotate (answered 400).
    /// The body is not YAML or JSON.
    #[error("cannot parse the request body: {source}")]
    RequestBody {
        /// The parser's error.
        #[source]
        source: ksec_seal::Error,
    },
    /// The body is YAML/JSON but not a SealedSecret.
    #[error("not a SealedSecret: {source}")]
    NotASealedSecret {
        /// What is wrong with it.
        #[source]
        source: ksec_seal::Error,
    },
    /// The body holds more or fewer than one document.
    #[error("expected exactly one SealedSecret document, found {found}")]
    DocumentCount {
        /// How many there are.
        found: usize,
    },
}

/// The API server's own message of a refusal, without the client's wrapping.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

impl Error {
    /// True for reasons that lie in the SealedSecret itself (counted as `unseal` errors,
    /// reported as `ErrUnsealFailed`), false for failures to write its Secret.
    pub fn is_unseal_failure(&self) -> bool {
        matches!(
            self,
            Error::Malformed { .. }
                | Error::NoKeys
                | Error::Unseal { .. }
                | Error::Reseal { .. }
                | Error::Encode { .. }
                | Error::UnsealStopped(_)
                | Error::RequestBody { .. }
                | Error::NotASealedSecret { .. }
                | Error::DocumentCount { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_setting_not_a_flag() {
        let e = Error::Setting {
            setting: Setting::KeySize,
            problem: "100 is not a usable RSA size".into(),
        };
        assert_eq!(e.to_string(), "key size: 100 is not a usable RSA size");
        assert!(!e.to_string().contains("--"));
    }
}
