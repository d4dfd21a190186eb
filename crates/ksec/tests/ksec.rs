//! Integration tests that drive the real `ksec` binary the way a user does.
//! One test binary for the crate (link time); modules by theme.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "ksec/charts.rs"]
mod charts;
#[path = "ksec/cluster.rs"]
mod cluster;
#[path = "ksec/common.rs"]
mod common;
#[path = "ksec/controller.rs"]
mod controller;
#[path = "ksec/deploy.rs"]
mod deploy;
#[path = "ksec/encryption_config.rs"]
mod encryption_config;
#[path = "ksec/errors.rs"]
mod errors;
#[path = "ksec/etcd.rs"]
mod etcd;
#[path = "ksec/helm.rs"]
mod helm;
#[path = "ksec/interop.rs"]
mod interop;
#[path = "ksec/keys.rs"]
mod keys;
#[path = "ksec/kms.rs"]
mod kms;
#[path = "ksec/kube_flags.rs"]
mod kube_flags;
#[path = "ksec/scan.rs"]
mod scan;
#[path = "ksec/scan_cluster.rs"]
mod scan_cluster;
#[cfg(feature = "rego")]
#[path = "ksec/scan_cluster_policy.rs"]
mod scan_cluster_policy;
#[path = "ksec/seal.rs"]
mod seal;
#[path = "ksec/sops.rs"]
mod sops;
