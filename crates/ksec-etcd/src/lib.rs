//! Encryption at rest in etcd, as kube-apiserver does it.
//!
//! - [`encryption_config`]: the `EncryptionConfiguration` file
//!   (`apiserver.config.k8s.io/v1`): parsed strictly, validated with the same rules and
//!   messages as kube-apiserver's `ValidateEncryptionConfiguration`, plus warnings for
//!   choices that are valid but unwise; and generated with fresh keys.
//!
//! Tested with the apiserver's own validation cases restated as unit tests, and property
//! tests that every generated configuration validates. The etcd value formats (identity,
//! aescbc, aesgcm, secretbox, KMS v1/v2) for `ksec etcd audit/decrypt` come with their issue.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod duration;
pub mod encryption_config;
