//! Integration tests of ksec-scan. One test binary for the crate; modules by theme.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "cluster")]
#[path = "ksec-scan/cluster.rs"]
mod cluster;
#[cfg(all(feature = "cluster", feature = "rego"))]
#[path = "ksec-scan/cluster_policy.rs"]
mod cluster_policy;
#[path = "ksec-scan/conformance.rs"]
mod conformance;
#[path = "ksec-scan/inputs.rs"]
mod inputs;
#[path = "ksec-scan/properties.rs"]
mod properties;
