//! The one place ksec touches cryptographic primitives.
//!
//! Everything here wraps [aws-lc-rs](https://docs.rs/aws-lc-rs) (constant-time RSA,
//! FIPS-capable AES-GCM), except the 32-byte-nonce AES-GCM that SOPS needs, which
//! aws-lc-rs cannot do and which comes from RustCrypto's `aes-gcm`.
//! The rest of the workspace never calls a primitive directly, so one review of this
//! crate covers all of ksec's own cryptography.
//!
//! Secrets travel in [`SecretBytes`], which zeroizes on drop and never prints its
//! contents. Errors never carry key material.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
pub mod cbc;
mod der;
pub mod hash;
pub mod hmac;
pub mod pem;
pub mod rand;
pub mod rsa;
mod secret;
pub mod secretbox;
pub mod x509;

pub use secret::SecretBytes;

/// Errors from cryptographic operations. They say what failed, never with what.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Authenticated decryption failed: wrong key, wrong label/AAD, or tampered data.
    #[error(
        "decryption failed: wrong key, wrong label or associated data, or the data was altered"
    )]
    Decrypt,
    /// Encryption failed (for RSA-OAEP: the plaintext is too long for the key).
    #[error("encryption failed: {0}")]
    Encrypt(&'static str),
    /// A key had the wrong length or form.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Randomness could not be drawn from the system.
    #[error("the system random number generator failed")]
    Random,
    /// A certificate could not be parsed or built.
    #[error("certificate: {0}")]
    Certificate(String),
}

/// Result alias of this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
