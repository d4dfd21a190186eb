//! PKCS#11 HSMs through `cryptoki`: AES-256-GCM inside the token, so the key never
//! leaves it (the backend needs the `pkcs11` cargo feature; its configuration
//! type is always there, so a configuration file parses the same in every build).
//!
//! The module (`.so`) is loaded at run time; no headers or vendor SDK are needed to
//! build. The user PIN comes from `pin_file` or an environment variable
//! (`KSEC_PKCS11_PIN` by default), never from the configuration or a command line.
//! A pool of `sessions` sessions serves concurrent calls; PKCS#11 calls block, so
//! they run on tokio's blocking threads, under the configured timeout.
//!
//! Wrapped format: `0x01 ‖ len(kcv) ‖ kcv ‖ IV (12) ‖ ciphertext ‖ tag (16)`, where
//! `kcv` is the key's check value (`CKA_CHECK_VALUE`; the key's `CKA_ID` when the
//! token has none). Unwrap finds the key by that value, so after a rotation (a new
//! key under the same label, the old one relabelled) old ciphertexts still unwrap.
//! The AAD is `"ksec/pkcs11/v1\0" ‖ kcv ‖ "\0" ‖ context`; the key id is
//! `pkcs11:token=<label>;object=<label>;kcv=<hex>`.
use crate::RetryPolicy;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[cfg(feature = "pkcs11")]
mod token;
#[cfg(feature = "pkcs11")]
pub use token::Pkcs11Backend;

/// Configuration of the PKCS#11 backend (`pkcs11:` block). The PIN comes from a
/// file or an environment variable, never from the configuration or a flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the vendor's PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Label of the token.
    pub token_label: String,
    /// Label (`CKA_LABEL`) of the AES key in the token.
    pub key_label: String,
    /// File holding the user PIN.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Environment variable holding the user PIN (default `KSEC_PKCS11_PIN`).
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Sessions opened for concurrent calls.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// Timeouts; `None` leaves them to the caller (see [`Pkcs11Config::retry_policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
}

fn default_sessions() -> usize {
    4
}

impl Pkcs11Config {
    /// The key labelled `key_label` on the token labelled `token_label` of `module`, with
    /// the defaults for everything else (the PIN from `KSEC_PKCS11_PIN`).
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: impl Into<String>,
        key_label: impl Into<String>,
    ) -> Self {
        Self {
            module: module.into(),
            token_label: token_label.into(),
            key_label: key_label.into(),
            pin_file: None,
            pin_env: None,
            sessions: default_sessions(),
            retry: None,
        }
    }

    /// The policy the backend runs under: the configured one, else the default for
    /// a local device (one attempt: a token that fails once fails again).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone().unwrap_or_else(|| RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        })
    }
}
