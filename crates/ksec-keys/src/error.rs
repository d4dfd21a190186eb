//! Typed errors of the key backends. Messages say what failed and what to do; they
//! never contain key material (service messages are quoted, truncated, and come from
//! services that do not echo plaintext).
use std::path::PathBuf;
use std::time::Duration;

/// Result alias of this crate.
pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// What went wrong in a key backend. `Clone`, so that a cached health result can
/// be handed to several callers.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A configuration field is missing or invalid.
    #[error("{backend} backend: configuration field `{field}`: {message}")]
    Config {
        /// Backend kind.
        backend: &'static str,
        /// The field, as written in the configuration (`vault.address`).
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A configuration document could not be parsed.
    #[error("key backend configuration{}: {message}", .source_name.as_ref().map(|s| format!(" in {s}")).unwrap_or_default())]
    ConfigDocument {
        /// File name or other origin, when known.
        source_name: Option<String>,
        /// The parser's message (it names the field and line).
        message: String,
    },
    /// A key file is unreadable, malformed, or too widely readable.
    #[error("key file {}: {message}", .path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (line numbers, never key bytes) and what to do.
        message: String,
    },
    /// The service could not be reached (connection refused, DNS, TLS). Transient.
    #[error("{backend} backend: cannot reach {endpoint}: {message}")]
    Unavailable {
        /// Backend kind.
        backend: &'static str,
        /// Address that failed.
        endpoint: String,
        /// Cause.
        message: String,
    },
    /// An operation did not finish in time. Transient.
    #[error("{backend} backend: {operation} timed out after {after:?}")]
    Timeout {
        /// Backend kind.
        backend: &'static str,
        /// The operation (`wrap`, `unwrap`, `login`, …).
        operation: &'static str,
        /// The limit that was reached.
        after: Duration,
    },
    /// Credentials were refused (wrong token, wrong PIN, expired credentials).
    #[error("{backend} backend: authentication failed: {message}")]
    Auth {
        /// Backend kind.
        backend: &'static str,
        /// Cause, and which credential source was used.
        message: String,
    },
    /// The key does not exist or cannot be used.
    #[error("{backend} backend: key {key}: {message}")]
    Key {
        /// Backend kind.
        backend: &'static str,
        /// The key's name/ARN/label.
        key: String,
        /// Cause.
        message: String,
    },
    /// A wrapped key could not be unwrapped: another key, another context, or tampered.
    #[error("{backend} backend: cannot unwrap: {message}")]
    Unwrap {
        /// Backend kind.
        backend: &'static str,
        /// Cause (never the data).
        message: String,
    },
    /// The service answered with an error not covered above.
    #[error("{backend} backend: service error{}: {message}", .status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Service {
        /// Backend kind.
        backend: &'static str,
        /// HTTP status, when there is one.
        status: Option<u16>,
        /// The service's message, truncated.
        message: String,
        /// Whether a retry may succeed (5xx, throttling).
        transient: bool,
    },
}

impl KeyError {
    /// True for failures a retry may cure: unreachable service, timeouts, 5xx,
    /// throttling. Wrong credentials or ciphertexts are never transient.
    pub fn is_transient(&self) -> bool {
        match self {
            KeyError::Unavailable { .. } | KeyError::Timeout { .. } => true,
            KeyError::Service { transient, .. } => *transient,
            _ => false,
        }
    }

    pub(crate) fn config(
        backend: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        KeyError::Config {
            backend,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Cuts a service message to a readable length (and on a char boundary).
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    let s = s.trim();
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
