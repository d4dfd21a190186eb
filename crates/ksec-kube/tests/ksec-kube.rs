//! Integration tests of ksec-kube against ksec-testkit's HTTPS test cluster, and against
//! kubectl's own reading of the same kubeconfigs.
#![allow(clippy::unwrap_used)]

#[path = "ksec-kube/credentials_tests.rs"]
mod credentials_tests;
#[path = "ksec-kube/kubeconfig_tests.rs"]
mod kubeconfig_tests;
#[path = "ksec-kube/overrides_tests.rs"]
mod overrides_tests;
