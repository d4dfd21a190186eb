//! Integration tests of the key backends against their real peers (started here on
//! 127.0.0.1): OpenBao for Vault Transit, moto for AWS KMS, SoftHSM 2 for PKCS#11.
#![allow(clippy::unwrap_used)]
#[path = "ksec-keys/awskms.rs"]
mod awskms;
#[path = "ksec-keys/common.rs"]
mod common;
#[path = "ksec-keys/local.rs"]
mod local;
#[cfg(feature = "pkcs11")]
#[path = "ksec-keys/pkcs11.rs"]
mod pkcs11;
#[path = "ksec-keys/vault.rs"]
mod vault;
