//! The one place ksec touches cryptographic primitives.
//!
//! Everything here wraps [aws-lc-rs](https://docs.rs/aws-lc-rs) (constant-time RSA,
//! FIPS-capable AES-GCM and AES-CBC), except the 32-byte-nonce AES-GCM that SOPS needs
//! and the XSalsa20-Poly1305 of kube-apiserver's `secretbox` provider, which aws-lc-rs
//! cannot do and which come from RustCrypto's `aes-gcm` and `crypto_secretbox`.
//! The rest of the workspace never calls a primitive directly, so one review of this
//! crate covers all of ksec's own cryptography.
//!
//! Secrets travel in [`SecretBytes`], which zeroizes on drop and never prints its
//! contents. Errors never carry key material.
//!
//! ```
//! use ksec_crypto::{aead, rand, rsa::RsaPrivateKey};
//!
//! // Envelope encryption, the pattern under every part of ksec: a fresh data key seals the
//! // content, and an RSA key (here a fresh 2048-bit one) wraps the data key.
//! let dek = rand::secret(32)?;
//! let nonce = rand::array::<12>()?;
//! let sealed = aead::seal(dek.expose(), &nonce, b"context", b"s3cr3t")?;
//! let kek = RsaPrivateKey::generate(2048)?;
//! let wrapped = kek.public_key().encrypt_oaep_sha256(dek.expose(), b"label")?;
//!
//! let dek_again = kek.decrypt_oaep_sha256(&wrapped, b"label")?;
//! let opened = aead::open(dek_again.expose(), &nonce, b"context", &sealed)?;
//! assert_eq!(opened.expose(), b"s3cr3t");
//! assert!(kek.decrypt_oaep_sha256(&wrapped, b"another label").is_err());
//! # Ok::<(), ksec_crypto::CryptoError>(())
//! ```
//!
//! Randomness comes from the OS through aws-lc, built without its CPU-jitter source so
//! that short-lived processes start fast; [`rand`] explains that trade-off.
//!
//! Tested with unit tests and property tests next to the code (known-answer vectors for
//! AES-GCM with 12- and 32-byte nonces, RSA-OAEP round trips and tampering, PEM/DER/PKCS#8
//! readers); the other crates' interop tests (kubesealpy, sops, kube-apiserver's KMS v2
//! values) exercise it against independent implementations.
#![forbid(unsafe_code)]

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
pub mod tls;
pub mod x509;

pub use secret::SecretBytes;

/// Errors from cryptographic operations. They say what failed, never with what.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
