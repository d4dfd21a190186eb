//! Sealed Secrets, compatible with Bitnami's kubeseal and controller
//! (`bitnami.com/v1alpha1`), byte for byte.
//!
//! - [`scope`]: strict / namespace-wide / cluster-wide and the RSA-OAEP label each binds.
//! - [`hybrid`]: the sealed value format (RSA-OAEP-SHA256 of a one-time AES-256-GCM key).
//! - [`Secret`], [`SealedSecret`]: the resources, read from YAML/JSON ([`docs`]) and
//!   written in kubeseal's exact layout ([`render`]).
//! - [`seal()`](seal::seal), [`merge_into`](seal::merge_into) (with quiet diffs),
//!   [`unseal`](unseal::unseal), and [`keys`] (key pairs and certificates in the
//!   controller's formats).
//!
//! All cryptography goes through `ksec-crypto` (aws-lc-rs, constant-time RSA).
//! Tests: unit and property tests here; interop tests in `tests/` against three
//! independent implementations (kubesealpy, aes-gcm-rsa-oaep, @linode/kubeseal-encrypt).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod docs;
pub mod hybrid;
pub mod keys;
pub mod meta;
pub mod render;
pub mod scope;
pub mod seal;
pub mod sealed;
pub mod secret;
pub mod template;
pub mod unseal;

#[cfg(test)]
mod test_keys;

pub use scope::Scope;
pub use seal::{SealError, SealOptions};
pub use sealed::SealedSecret;
pub use secret::Secret;
